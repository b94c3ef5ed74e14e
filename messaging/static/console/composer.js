// The composer, live from the first keystroke: posts the form's fields (nothing is saved) to the
// estimate endpoint and fills the counter, the phone preview, recipients and cost. Without
// JavaScript the same figures are rendered by the server when the form is shown or saved.
// It also shows only the schedule fields of the chosen mode.
function fcComposer() {
  "use strict";
  const composer = document.querySelector("[data-composer]");
  const form = composer ? composer.closest("form") : document.querySelector("#campaign_form");
  function set(id, value) { const el = document.getElementById(id); if (el) el.textContent = value; }
  function list(id, items, link) {
    const el = document.getElementById(id);
    if (!el) return;
    el.replaceChildren(...items.map(function (text) {
      const li = document.createElement("li");
      li.textContent = text + " ";
      if (link) { const a = document.createElement("a"); a.href = link; a.textContent = "Campaign text settings"; li.append(a); }
      return li;
    }));
  }
  if (composer && form) {
    const url = composer.dataset.estimateUrl;
    const settingsLink = composer.dataset.settingsUrl || "";
    let timer = null, seq = 0;
    async function refresh() {
      const mine = ++seq;
      const data = new FormData(form);
      ["media_file"].forEach(function (name) { data.delete(name); });  // never upload a file to count
      let response;
      try { response = await fetch(url, {method: "POST", body: data, headers: {"X-CSRFToken": data.get("csrfmiddlewaretoken") || ""}, credentials: "same-origin"}); }
      catch (e) { return; }
      if (!response.ok || mine !== seq) return;
      const d = await response.json();
      set("preview-text", d.preview || "Your text appears here as a fan sees it.");
      set("preview-encoding", d.encoding);
      set("preview-units", d.units);
      set("preview-parts", d.parts);
      set("preview-per-part", d.per_part);
      set("preview-non-gsm", d.non_gsm.length ? " · Not GSM-7: " + d.non_gsm.join(" ") : "");
      set("preview-recipients", d.recipients.toLocaleString("en-US"));
      set("preview-parts-total", d.parts_total.toLocaleString("en-US"));
      set("preview-cost", d.cost.toFixed(2));
      // Time to send with the talent's senders (issue 17): shown as rendered by the server until the
      // estimate answer carries it.
      if (typeof d.duration === "string") set("preview-duration", d.duration);
      list("preview-warnings", d.warnings, settingsLink);
      list("preview-errors", d.errors, "");
      composer.dataset.updated = String(mine);
    }
    function soon() { clearTimeout(timer); timer = setTimeout(refresh, 150); }
    form.addEventListener("input", function (event) { if (event.target.name === "body") soon(); });
    form.addEventListener("change", function (event) { if ((event.target.name || "").startsWith("audience-")) soon(); });
  }
  // Schedule fields follow the mode.
  const modes = document.querySelectorAll("input[name=schedule_mode]");
  if (modes.length) {
    const rows = {
      at: [".field-send_at"],
      local_time: [".field-local_date", ".field-local_time", ".field-late_policy"],
    };
    function apply() {
      const picked = (document.querySelector("input[name=schedule_mode]:checked") || {}).value || "now";
      Object.keys(rows).forEach(function (mode) {
        rows[mode].forEach(function (selector) {
          document.querySelectorAll(selector).forEach(function (el) { el.classList.toggle("fc-hidden-by-mode", mode !== picked); });
        });
      });
    }
    modes.forEach(function (input) { input.addEventListener("change", apply); });
    apply();
  }
}
if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", fcComposer); else fcComposer();
