// Small progressive enhancements; every page works without them.
document.addEventListener("click", (ev) => {
  const btn = ev.target.closest("[data-copy]");
  if (!btn) return;
  const el = document.querySelector(btn.dataset.copy);
  if (!el || !navigator.clipboard) return;
  navigator.clipboard.writeText(el.textContent.trim()).then(() => {
    const label = btn.textContent;
    btn.textContent = "Copied";
    setTimeout(() => { btn.textContent = label; }, 1500);
  });
});
document.addEventListener("change", (ev) => {
  if (ev.target.matches("[data-autosubmit]")) ev.target.form.submit();
});
// Clicking a point of a similarity curve picks the matching row of the table below it.
document.addEventListener("click", (ev) => {
  const pt = ev.target.closest("circle[data-similarity]");
  if (!pt) return;
  const card = pt.closest(".model");
  const radio = card && card.querySelector(`input[name="similarity"][value="${pt.dataset.similarity}"]`);
  if (!radio) return;
  radio.checked = true;
  card.querySelectorAll("circle.chosen").forEach((c) => c.classList.remove("chosen"));
  pt.classList.add("chosen");
});
// A result shown below a form (an estimate) is scrolled into view.
document.addEventListener("DOMContentLoaded", () => {
  const el = document.querySelector("[data-reveal]");
  if (el) el.scrollIntoView({ block: "center" });
});
// Forms with data-confirm ask first.
document.addEventListener("submit", (ev) => {
  const msg = ev.target.dataset && ev.target.dataset.confirm;
  if (msg && !window.confirm(msg)) ev.preventDefault();
});
// A busy page (a [data-busy] marker, its value a period in milliseconds) fetches itself again
// and swaps in its parts marked data-live (by id), leaving the rest alone: a form being filled in
// keeps what was typed. It stops once the fetched page is no longer busy.
(() => {
  const marker = document.querySelector("[data-busy]");
  if (!marker) return;
  const every = Math.max(100, parseInt(marker.dataset.busy, 10) || 3000);
  const poll = () => setTimeout(async () => {
    let doc;
    try {
      const res = await fetch(location.pathname + location.search, { credentials: "same-origin", cache: "no-store" });
      if (!res.ok || res.redirected) {
        // Signed out, or the thing is gone: show the page as the server now has it.
        location.reload();
        return;
      }
      doc = new DOMParser().parseFromString(await res.text(), "text/html");
    } catch (e) {
      poll(); // the server may be restarting
      return;
    }
    // Parsed without scripting, a <noscript> refresh would be live once inserted.
    doc.querySelectorAll("noscript").forEach((n) => n.remove());
    document.querySelectorAll("[data-live][id]").forEach((el) => {
      const fresh = doc.getElementById(el.id);
      if (fresh) el.replaceWith(document.importNode(fresh, true));
    });
    if (doc.querySelector("[data-busy]")) poll();
  }, every);
  poll();
})();
// The query builder of the new-cohort form: "Add condition" and "Add group" work in the page
// (without JavaScript they are submit buttons the server answers with the longer form). Each
// condition row's fields are read in order, so a new row is a copy of another, emptied.
document.addEventListener("click", (ev) => {
  const add = ev.target.closest("button[data-add-row], button[data-add-group]");
  if (!add) return;
  const builder = add.closest("[data-query-builder]");
  if (!builder) return;
  ev.preventDefault();
  if (add.matches("[data-add-row]")) {
    const body = add.closest("fieldset").querySelector("tbody");
    const row = body.rows[body.rows.length - 1].cloneNode(true);
    row.querySelectorAll("input:not([type=hidden])").forEach((i) => { i.value = ""; });
    row.querySelectorAll("select").forEach((s) => { s.selectedIndex = 0; });
    body.appendChild(row);
    row.querySelector("select, input:not([type=hidden])").focus();
    return;
  }
  const used = new Set([...builder.querySelectorAll("input[name=group]")].map((i) => i.value));
  let n = used.size + 1;
  while (used.has("g" + n)) n++;
  const group = builder.querySelector("template[data-group-template]").content.firstElementChild.cloneNode(true);
  group.querySelectorAll("input[name=group], input[name=row]").forEach((i) => { i.value = "g" + n; });
  group.querySelector("button[data-add-row]").value = "add-row:g" + n;
  group.querySelectorAll("[data-group-number]").forEach((s) => { s.textContent = n; });
  add.before(group);
  group.querySelector("select").focus();
});
// A country picker ([data-country-names]) shows each code with its name, in the browser's language.
document.querySelectorAll("[data-country-names]").forEach((sel) => {
  if (!window.Intl || !Intl.DisplayNames) return;
  const names = new Intl.DisplayNames([navigator.language || "en"], { type: "region" });
  for (const o of sel.options) {
    try { o.textContent = `${names.of(o.value)} (${o.value})`; } catch (e) { /* an unknown code keeps its code */ }
  }
});
