// The signing page: place field markers on the page images, and let a signer draw or
// upload a signature (a typed one works without this script).
"use strict";

document.querySelectorAll(".spot").forEach((spot) => {
  spot.style.left = spot.dataset.x + "%";
  spot.style.top = spot.dataset.y + "%";
  spot.style.width = spot.dataset.w + "%";
  spot.style.height = spot.dataset.h + "%";
});

document.querySelectorAll("fieldset.sig").forEach((box) => {
  const hidden = box.querySelector("input[type=hidden]");
  const typed = box.querySelector("input.typed");
  const draw = box.querySelector(".draw");
  const canvas = draw.querySelector("canvas");
  const upload = box.querySelector(".upload");
  const pen = canvas.getContext("2d");
  draw.hidden = false;
  upload.hidden = false;
  pen.lineWidth = 3;
  pen.lineCap = "round";
  pen.strokeStyle = "#0b1f4d";
  let down = false;
  let drawn = false;
  const at = (event) => {
    const r = canvas.getBoundingClientRect();
    return [(event.clientX - r.left) * canvas.width / r.width,
            (event.clientY - r.top) * canvas.height / r.height];
  };
  canvas.addEventListener("pointerdown", (event) => {
    down = true;
    canvas.setPointerCapture(event.pointerId);
    pen.beginPath();
    pen.moveTo(...at(event));
  });
  canvas.addEventListener("pointermove", (event) => {
    if (!down) return;
    pen.lineTo(...at(event));
    pen.stroke();
    drawn = true;
  });
  const finish = () => {
    if (!down) return;
    down = false;
    if (drawn) {
      hidden.value = canvas.toDataURL("image/png");
      typed.value = "";
    }
  };
  canvas.addEventListener("pointerup", finish);
  canvas.addEventListener("pointerleave", finish);
  draw.querySelector(".clear").addEventListener("click", () => {
    pen.clearRect(0, 0, canvas.width, canvas.height);
    drawn = false;
    hidden.value = "";
  });
  typed.addEventListener("input", () => {
    if (typed.value) hidden.value = "";
  });
  upload.querySelector("input").addEventListener("change", (event) => {
    const file = event.target.files[0];
    if (!file) return;
    const reader = new FileReader();
    reader.onload = () => {
      hidden.value = reader.result;
      typed.value = "";
    };
    reader.readAsDataURL(file);
  });
});
