/* The compose form of the sender dashboard (/app/letters/new), enhanced: the form is sent
   with XMLHttpRequest so that a progress bar shows the upload of its attachments, and a file
   over the size limit is named before anything is sent. Without JavaScript the same form
   posts as usual. The answer (the review page, or the form with its errors) replaces the
   page, as a normal post would show it. */
"use strict";

function enhance() {
  var form = document.getElementById("compose");
  if (!form || !window.XMLHttpRequest || !window.FormData || !window.DOMParser) {
    return;
  }
  var box = document.getElementById("upload");
  var bar = document.getElementById("upload-progress");
  var percent = document.getElementById("upload-percent");
  var problem = document.getElementById("upload-error");
  var button = form.querySelector("button[type=submit]");
  var limit = parseInt(form.getAttribute("data-max-bytes"), 10);

  function fail(message) {
    problem.textContent = message;
    problem.hidden = false;
    box.hidden = true;
    button.disabled = false;
  }

  function show(xhr) {
    var type = xhr.getResponseHeader("Content-Type") || "";
    if (type.indexOf("text/html") !== 0) {
      // Not a page (a refused security token answers a problem document): say so here.
      var detail = "";
      try {
        detail = JSON.parse(xhr.responseText).detail || "";
      } catch (ignored) {
        detail = "";
      }
      fail(detail || form.getAttribute("data-failed"));
      return;
    }
    var page = new DOMParser().parseFromString(xhr.responseText, "text/html");
    document.replaceChild(document.adoptNode(page.documentElement), document.documentElement);
    var where = xhr.getResponseHeader("Content-Location");
    if (where && window.history && window.history.replaceState) {
      window.history.replaceState(null, "", where);
    }
    window.scrollTo(0, 0);
    // Scripts of a parsed page do not run: the form sent back with its errors is enhanced
    // again here.
    enhance();
  }

  form.addEventListener("submit", function (event) {
    var input = document.getElementById("attachments");
    var files = input && input.files ? input.files : [];
    for (var i = 0; i < files.length; i += 1) {
      if (limit && files[i].size > limit) {
        event.preventDefault();
        fail(form.getAttribute("data-too-large").replace("{name}", files[i].name));
        return;
      }
    }
    event.preventDefault();
    problem.hidden = true;
    var xhr = new XMLHttpRequest();
    xhr.open("POST", form.action);
    xhr.upload.addEventListener("progress", function (progress) {
      if (progress.lengthComputable && progress.total > 0) {
        bar.max = progress.total;
        bar.value = progress.loaded;
        percent.textContent = Math.floor((progress.loaded * 100) / progress.total) + " %";
      }
    });
    xhr.addEventListener("load", function () {
      show(xhr);
    });
    xhr.addEventListener("error", function () {
      fail(form.getAttribute("data-failed"));
    });
    bar.value = 0;
    percent.textContent = "0 %";
    box.hidden = false;
    button.disabled = true;
    xhr.send(new FormData(form));
  });
}

enhance();
