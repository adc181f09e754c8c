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
// Forms with data-confirm ask first.
document.addEventListener("submit", (ev) => {
  const msg = ev.target.dataset && ev.target.dataset.confirm;
  if (msg && !window.confirm(msg)) ev.preventDefault();
});
