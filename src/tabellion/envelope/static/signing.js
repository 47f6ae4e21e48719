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

// A passkey before signing: WebAuthn options from the server, the browser's answer back.
const passkey = document.getElementById("passkey");
if (passkey && window.PublicKeyCredential) {
  const fromB64 = (text) => {
    const plain = atob(text.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((text.length + 3) % 4));
    return Uint8Array.from(plain, (c) => c.charCodeAt(0)).buffer;
  };
  const toB64 = (buffer) => btoa(String.fromCharCode(...new Uint8Array(buffer)))
    .replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  const post = async (path, fields) => {
    const body = new URLSearchParams({ csrf_token: passkey.dataset.csrf, ...fields });
    const response = await fetch(passkey.dataset.base + path, { method: "POST", body });
    return [response.ok, await response.json()];
  };
  const failed = (message) => {
    const error = document.getElementById("passkey-error");
    error.textContent = message;
    error.hidden = false;
  };
  passkey.hidden = false;
  passkey.addEventListener("click", async () => {
    try {
      const [ok, answer] = await post("/passkey/options", {});
      if (!ok) return failed(answer.error);
      const options = answer.options;
      options.challenge = fromB64(options.challenge);
      let credential;
      if (answer.mode === "register") {
        options.user.id = fromB64(options.user.id);
        (options.excludeCredentials || []).forEach((c) => { c.id = fromB64(c.id); });
        credential = await navigator.credentials.create({ publicKey: options });
      } else {
        (options.allowCredentials || []).forEach((c) => { c.id = fromB64(c.id); });
        credential = await navigator.credentials.get({ publicKey: options });
      }
      const response = {};
      for (const name of ["clientDataJSON", "attestationObject", "authenticatorData", "signature", "userHandle"]) {
        if (credential.response[name]) response[name] = toB64(credential.response[name]);
      }
      const [done, result] = await post("/passkey/verify", {
        credential: JSON.stringify({
          id: credential.id, rawId: toB64(credential.rawId), type: credential.type,
          response, clientExtensionResults: credential.getClientExtensionResults(),
        }),
      });
      if (!done) return failed(result.error);
      window.location.reload();
    } catch (error) {
      failed(error.message || String(error));
    }
  });
}
