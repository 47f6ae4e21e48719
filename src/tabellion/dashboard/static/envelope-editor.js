// The dashboard's envelope pages. The new-envelope form: more recipient rows. The field
// editor: fields dragged from the palette onto the page images, moved and resized in place
// (pointer events: mouse, pen and touch alike). The form's rows stay the one source of truth:
// each box writes its row's inputs (percent of the page, top-left origin, as the API), and
// the form posts them as it does without this script.
"use strict";

const recipientRows = document.getElementById("recipient-rows");
const addRecipient = document.getElementById("add-recipient");
if (recipientRows && addRecipient) {
  addRecipient.hidden = false;
  addRecipient.addEventListener("click", () => {
    const rows = recipientRows.querySelectorAll(".recipient-row");
    const last = rows[rows.length - 1];
    const next = Number(last.dataset.index) + 1;
    if (next >= Number(recipientRows.dataset.max)) {
      addRecipient.disabled = true;
      return;
    }
    const copy = last.cloneNode(true);
    copy.dataset.index = String(next);
    copy.querySelectorAll("p.error").forEach((p) => p.remove());
    copy.querySelectorAll("input, select, label").forEach((el) => {
      for (const name of ["id", "name", "for"]) {
        const value = el.getAttribute(name);
        if (value) el.setAttribute(name, value.replace(/^r\d+_/, `r${next}_`));
      }
      el.removeAttribute("aria-invalid");
      el.removeAttribute("aria-describedby");
      if (el.tagName === "INPUT") el.value = el.name.endsWith("_order") ? String(next + 1) : "";
    });
    const legend = copy.querySelector("legend");
    legend.textContent = legend.textContent.replace(/\d+/, String(next + 1));
    recipientRows.appendChild(copy);
    copy.querySelector("input").focus();
  });
}

const editor = document.getElementById("editor");
if (editor) {
  const rowsBox = document.getElementById("field-rows");
  const template = document.getElementById("row-template");
  const palette = document.getElementById("palette");
  const owner = document.getElementById("palette-recipient");
  const positions = document.getElementById("positions");
  // Default sizes, in percent of an A4 page's width and height.
  const SIZES = {
    signature: [30, 6], initials: [10, 5], name: [30, 4], email: [30, 4], date: [18, 4],
    text: [30, 4], number: [15, 4], checkbox: [3.5, 2.5],
  };
  const SIGNATURES = ["signature", "initials"];
  const boxes = new Map();
  const clamp = (value, low, high) => Math.min(Math.max(value, low), high);
  const round = (value) => Math.round(value * 100) / 100;
  const part = (row, name) => row.querySelector(`[data-part="${name}"]`);
  const numbers = (row) => ["x", "y", "width", "height"].map(
    (name) => Number(part(row, name).value.trim().replace(",", ".") || NaN));
  const sheets = () => [...document.querySelectorAll(".sheet")];
  const sheetOf = (row) => sheets().find((sheet) => sheet.dataset.document === part(row, "document").value
    && sheet.dataset.page === part(row, "page").value.trim());
  const sheetAt = (x, y) => document.elementsFromPoint(x, y).find((el) => el.classList.contains("sheet"));
  let next = 1 + Math.max(-1, ...[...rowsBox.querySelectorAll(".field-row")].map((row) => Number(row.dataset.index)));

  const draw = (row) => {
    let box = boxes.get(row);
    if (!box) {
      box = makeBox(row);
      boxes.set(row, box);
    }
    const sheet = sheetOf(row);
    const [x, y, w, h] = numbers(row);
    const removed = !row.isConnected || (part(row, "delete") && part(row, "delete").checked);
    if (!sheet || removed || ![x, y, w, h].every(Number.isFinite)) {
      box.hidden = true;
      return;
    }
    box.hidden = false;
    if (box.parentElement !== sheet) sheet.appendChild(box);
    box.style.left = x + "%";
    box.style.top = y + "%";
    box.style.width = w + "%";
    box.style.height = h + "%";
    const recipient = part(row, "recipient");
    const type = part(row, "type");
    const label = `${type.selectedOptions[0] ? type.selectedOptions[0].textContent : ""} · `
      + `${recipient.selectedOptions[0] ? recipient.selectedOptions[0].textContent : ""}`;
    box.querySelector(".label").textContent = label;
    box.setAttribute("aria-label", label);
    const colour = Math.max(0, [...owner.options].findIndex((o) => o.value === recipient.value)) % 6;
    for (let n = 0; n < 6; n += 1) box.classList.toggle("r" + n, n === colour);
    box.classList.toggle("invalid", row.querySelector("[aria-invalid=true]") !== null);
  };

  const write = (row, values) => {
    for (const [name, value] of Object.entries(values)) {
      part(row, name).value = typeof value === "number" ? String(round(value)) : value;
    }
    row.classList.add("changed");
    draw(row);
  };

  const removeRow = (row) => {
    const box = boxes.get(row);
    const drop = part(row, "delete");
    if (drop) {  // a saved field: removed when the form is saved
      drop.checked = true;
      row.hidden = true;
      draw(row);
    } else {
      row.remove();
      if (box) box.remove();
      boxes.delete(row);
    }
  };

  // Moving (the box's body) and resizing (its corner grip). The listeners are on the window:
  // a box that moves to another page changes parent, which would end a pointer capture.
  const drag = (event, row, box, mode) => {
    if (event.button !== 0 || event.target.closest(".remove")) return;
    event.preventDefault();
    box.focus({ preventScroll: true });
    box.classList.add("active");
    const startX = event.clientX;
    const startY = event.clientY;
    const [x0, y0, w0, h0] = numbers(row);
    const rect = box.getBoundingClientRect();
    const grab = [event.clientX - rect.left, event.clientY - rect.top];
    const move = (e) => {
      if (e.pointerId !== event.pointerId) return;
      e.preventDefault();
      if (mode === "resize") {
        const page = box.parentElement.getBoundingClientRect();
        write(row, {
          width: clamp(w0 + (e.clientX - startX) / page.width * 100, 1, 100 - x0),
          height: clamp(h0 + (e.clientY - startY) / page.height * 100, 1, 100 - y0),
        });
        return;
      }
      const sheet = sheetAt(e.clientX, e.clientY) || box.parentElement;
      const page = sheet.getBoundingClientRect();
      // A box moved to a page too small for it keeps its size, within the page.
      const w = Math.min(w0, 100);
      const h = Math.min(h0, 100);
      write(row, {
        document: sheet.dataset.document,
        page: sheet.dataset.page,
        x: clamp((e.clientX - grab[0] - page.left) / page.width * 100, 0, 100 - w),
        y: clamp((e.clientY - grab[1] - page.top) / page.height * 100, 0, 100 - h),
      });
    };
    const end = (e) => {
      if (e.pointerId !== event.pointerId) return;
      window.removeEventListener("pointermove", move);
      window.removeEventListener("pointerup", end);
      window.removeEventListener("pointercancel", end);
      box.classList.remove("active");
    };
    window.addEventListener("pointermove", move, { passive: false });
    window.addEventListener("pointerup", end);
    window.addEventListener("pointercancel", end);
  };

  // Arrow keys move the focused box (Shift: further); Delete removes it.
  const keys = (event, row) => {
    const step = event.shiftKey ? 5 : 0.5;
    const [x, y, w, h] = numbers(row);
    const moves = {
      ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, -step], ArrowDown: [0, step],
    };
    if (moves[event.key]) {
      event.preventDefault();
      const [dx, dy] = moves[event.key];
      write(row, { x: clamp(x + dx, 0, 100 - w), y: clamp(y + dy, 0, 100 - h) });
    } else if (event.key === "Delete" || event.key === "Backspace") {
      event.preventDefault();
      removeRow(row);
    }
  };

  const makeBox = (row) => {
    const box = document.createElement("div");
    box.className = "box";
    box.tabIndex = 0;
    box.dataset.row = row.dataset.index;
    const label = document.createElement("span");
    label.className = "label";
    const remove = document.createElement("button");
    remove.type = "button";
    remove.className = "remove";
    remove.textContent = "×";
    remove.setAttribute("aria-label", editor.dataset.labelRemove);
    remove.addEventListener("click", (event) => {
      event.stopPropagation();
      removeRow(row);
    });
    const grip = document.createElement("span");
    grip.className = "grip";
    box.append(label, remove, grip);
    box.addEventListener("pointerdown", (event) => {
      drag(event, row, box, event.target === grip ? "resize" : "move");
    });
    box.addEventListener("keydown", (event) => keys(event, row));
    return box;
  };

  const wire = (row) => {
    row.addEventListener("input", () => draw(row));
    row.addEventListener("change", () => draw(row));
    draw(row);
  };

  const newRow = () => {
    const n = String(next);
    next += 1;
    const row = template.content.cloneNode(true).querySelector(".field-row");
    for (const el of [row, ...row.querySelectorAll("*")]) {
      for (const attribute of [...el.attributes]) {
        if (attribute.value.includes("__N__")) {
          el.setAttribute(attribute.name, attribute.value.replaceAll("__N__", n));
        }
      }
    }
    rowsBox.appendChild(row);
    return row;
  };

  // A new field of ``type`` for the palette's recipient, centred on (cx, cy) in percent.
  const addField = (type, sheet, cx, cy) => {
    const [w, h] = SIZES[type] || [20, 4];
    const row = newRow();
    part(row, "recipient").value = owner.value;
    part(row, "document").value = sheet.dataset.document;
    part(row, "type").value = type;
    wire(row);
    write(row, {
      page: sheet.dataset.page,
      x: clamp(cx - w / 2, 0, 100 - w),
      y: clamp(cy - h / 2, 0, 100 - h),
      width: w,
      height: h,
    });
    boxes.get(row).focus({ preventScroll: true });
    return row;
  };

  // A tap (or Enter) on a palette field: on the page most in view, in the middle of its
  // visible part.
  const placeInView = (type) => {
    let best = null;
    let bestArea = 0;
    for (const sheet of sheets()) {
      const r = sheet.getBoundingClientRect();
      const top = Math.max(r.top, palette.getBoundingClientRect().bottom, 0);
      const bottom = Math.min(r.bottom, window.innerHeight);
      const area = Math.max(0, bottom - top) * r.width;
      if (area > bestArea) {
        best = [sheet, r, top, bottom];
        bestArea = area;
      }
    }
    if (!best) return;
    const [sheet, r, top, bottom] = best;
    addField(type, sheet, 50, ((top + bottom) / 2 - r.top) / r.height * 100);
  };

  const chips = [...palette.querySelectorAll(".chip")];
  const allow = () => {
    const chosen = owner.selectedOptions[0];
    const approver = chosen && chosen.dataset.role === "approver";
    for (const chip of chips) chip.disabled = !chosen || (approver && SIGNATURES.includes(chip.dataset.type));
  };
  owner.addEventListener("change", allow);

  for (const chip of chips) {
    let dragged = false;
    chip.addEventListener("pointerdown", (event) => {
      if (event.button !== 0 || chip.disabled) return;
      const type = chip.dataset.type;
      const startX = event.clientX;
      const startY = event.clientY;
      let ghost = null;
      dragged = false;
      const move = (e) => {
        if (e.pointerId !== event.pointerId) return;
        if (!ghost && Math.hypot(e.clientX - startX, e.clientY - startY) < 6) return;
        e.preventDefault();
        if (!ghost) {
          ghost = document.createElement("div");
          ghost.className = "ghost";
          ghost.textContent = chip.dataset.label;
          document.body.appendChild(ghost);
        }
        const [w, h] = SIZES[type] || [20, 4];
        const sheet = sheetAt(e.clientX, e.clientY) || sheets()[0];
        const r = sheet.getBoundingClientRect();
        const width = r.width * w / 100;
        const height = r.height * h / 100;
        ghost.style.width = width + "px";
        ghost.style.height = height + "px";
        ghost.style.left = (e.clientX - width / 2) + "px";
        ghost.style.top = (e.clientY - height / 2) + "px";
      };
      const end = (e) => {
        if (e.pointerId !== event.pointerId) return;
        window.removeEventListener("pointermove", move);
        window.removeEventListener("pointerup", end);
        window.removeEventListener("pointercancel", end);
        if (!ghost) return;
        ghost.remove();
        dragged = true;
        const sheet = e.type === "pointerup" ? sheetAt(e.clientX, e.clientY) : null;
        if (!sheet) return;
        const r = sheet.getBoundingClientRect();
        addField(type, sheet, (e.clientX - r.left) / r.width * 100, (e.clientY - r.top) / r.height * 100);
      };
      window.addEventListener("pointermove", move, { passive: false });
      window.addEventListener("pointerup", end);
      window.addEventListener("pointercancel", end);
    });
    chip.addEventListener("click", () => {
      if (dragged) {
        dragged = false;
        return;
      }
      placeInView(chip.dataset.type);
    });
  }

  // Empty rows are for visitors without this script: the palette replaces them.
  for (const row of [...rowsBox.querySelectorAll(".field-row")]) {
    if (!part(row, "delete") && !numbers(row).some(Number.isFinite) && !part(row, "page").value) {
      row.remove();
    } else {
      wire(row);
    }
  }
  palette.hidden = false;
  document.getElementById("palette-hint").hidden = false;
  if (!rowsBox.querySelector("[aria-invalid=true]")) positions.open = false;
  allow();
}
