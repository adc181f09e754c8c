// Uploading a raw customer list from the data source page: the file is prepared in the browser
// (prepare.js: normalised, emails and phones hashed), and only the prepared rows are sent, in
// parts, through the resumable upload API (/v1/data-sources/{id}/uploads, then
// /v1/uploads/{id}/content and /complete). The upload's ID and the prepared file's SHA-256 are
// kept in localStorage, so choosing the same file again after a reload or a lost connection
// resumes where the server's copy ends.
"use strict";
(() => {
  const box = document.querySelector("[data-upload]");
  if (!box) return;
  const form = box.querySelector("form");
  const status = box.querySelector("#upload-status");
  const bar = box.querySelector("#upload-progress");
  const rejectsBox = box.querySelector("#prepare-rejects");
  const dsID = box.dataset.dataSource;
  const csrf = box.dataset.csrf;
  const partBytes = parseInt(box.dataset.partBytes, 10) || (4 << 20);
  const key = "cleanroom.upload." + dsID;
  const P = window.CleanroomPrepare;

  const say = (text, isError) => {
    status.textContent = text;
    status.classList.toggle("error", !!isError);
  };
  const api = async (method, path, body, headers = {}) => {
    const res = await fetch(path, { method, body, credentials: "same-origin", headers: { "X-CSRF-Token": csrf, ...headers } });
    const text = await res.text();
    let json = null;
    try { json = text ? JSON.parse(text) : null; } catch { /* not JSON */ }
    if (!res.ok) {
      const e = (json && json.error) || {};
      const err = new Error((e.message || `The server answered ${res.status}.`) + (e.details && e.details.hint ? " " + e.details.hint : ""));
      err.status = res.status;
      throw err;
    }
    return json;
  };
  const showRejects = (rejects, total) => {
    rejectsBox.replaceChildren();
    if (!rejects.length) return;
    const cap = document.createElement("p");
    cap.textContent = `${total} value(s) or row(s) could not be used and were left out (the first ${Math.min(rejects.length, 50)} below; no value is shown, only where it is):`;
    const table = document.createElement("table");
    table.id = "prepare-rejects-table";
    table.innerHTML = "<thead><tr><th>Line</th><th>Column</th><th>Reason</th><th>How to fix it</th></tr></thead>";
    const body = table.createTBody();
    for (const r of rejects.slice(0, 50)) {
      const tr = body.insertRow();
      for (const v of [r.line, r.column, r.reason, r.hint]) tr.insertCell().textContent = v;
    }
    rejectsBox.append(cap, table);
  };

  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const file = form.querySelector("input[type=file]").files[0];
    if (!file) { say("Choose a file first.", true); return; }
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    try {
      say("Preparing the file in this browser…");
      bar.removeAttribute("value");
      const text = await P.decodeText(new Uint8Array(await file.arrayBuffer()));
      const opts = {
        defaultCountryCode: form.elements.default_country_code.value.trim(),
        foldGmail: form.elements.fold_gmail.checked,
        segments: form.elements.segment.value.split(",").map((s) => s.trim()).filter(Boolean),
      };
      let prepared;
      try {
        prepared = await P.run(text, opts, (rows) => say(`Preparing the file in this browser: ${rows} rows read…`));
      } catch (e) {
        if (e instanceof P.PrepareError) { say(e.message + " " + e.hint, true); return; }
        throw e;
      }
      const total = Object.values(prepared.summary.rejected).reduce((a, b) => a + b, 0);
      showRejects(prepared.rejects, total);
      const bytes = new TextEncoder().encode(prepared.output);
      if (bytes.length === 0) { say("No row of the file could be used; nothing was sent. See the reasons below.", true); return; }
      const sha = await P.sha256Hex(bytes);
      // Resume the upload of this same prepared file if the server has part of it.
      let up = null;
      const saved = JSON.parse(localStorage.getItem(key) || "null");
      if (saved && saved.sha256 === sha && saved.size === bytes.length) {
        try {
          up = await api("GET", "/v1/uploads/" + saved.id);
          if (up.state !== "open") up = null;
        } catch { up = null; }
      }
      if (!up) {
        up = await api("POST", `/v1/data-sources/${dsID}/uploads`, JSON.stringify({ name: file.name, size: bytes.length, sha256: sha }),
          { "Content-Type": "application/json" });
        localStorage.setItem(key, JSON.stringify({ id: up.id, sha256: sha, size: bytes.length, name: file.name }));
      } else {
        box.dataset.resumedAt = up.received;
      }
      let offset = up.received || 0;
      bar.max = bytes.length;
      while (offset < bytes.length) {
        bar.value = offset;
        say(`Sending the prepared rows: ${Math.floor((offset * 100) / bytes.length)}% of ${bytes.length} bytes${box.dataset.resumedAt ? " (resumed)" : ""}…`);
        const part = bytes.subarray(offset, Math.min(offset + partBytes, bytes.length));
        const res = await api("PUT", `/v1/uploads/${up.id}/content`, part,
          { "Upload-Offset": String(offset), "Upload-Part-SHA256": await P.sha256Hex(part), "Content-Type": "application/octet-stream" });
        offset = res.received;
        bar.value = offset;
        if (box.dataset.pauseAfterParts && --box.dataset.pauseAfterParts <= 0) {
          // For tests of resuming: stop here as a lost connection would.
          say("Stopped after a part (test).", false);
          return;
        }
      }
      bar.value = bytes.length;
      await api("POST", `/v1/uploads/${up.id}/complete`);
      localStorage.removeItem(key);
      say(`Sent: ${prepared.summary.rowsWritten} of ${prepared.summary.rows} rows, as ${bytes.length} bytes of hashed rows. Processing…`);
      setTimeout(() => location.reload(), 300);
    } catch (e) {
      say((e && e.message) || String(e), true);
      if (e && e.status === 409) localStorage.removeItem(key);
    } finally {
      button.disabled = false;
    }
  });
})();
