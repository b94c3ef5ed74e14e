// The Inbox's small script (issue 13). Everything works without it; it adds:
// - the live SMS-parts counter of the reply box (the same counter as the API /api/segment-info/),
// - presence: a heartbeat every 15 s; shows who else has this conversation open (and is writing),
//   and says when the fan wrote or someone answered since the page was loaded,
// - keyboard shortcuts: r reply, n note, e done; in the list j/k next/previous, Enter opens,
// - browser notifications (opt-in button, shown only where the Notification API exists): the list
//   polls every 30 s for new texts in unassigned and own conversations; the tab title carries the
//   unread count either way. The notification names the fan, never the text.
(function () {
  "use strict";
  const csrf = (document.querySelector("input[name=csrfmiddlewaretoken]") || {}).value || "";
  const typingTarget = (e) => ["INPUT", "TEXTAREA", "SELECT"].includes(e.target.tagName) || e.target.isContentEditable;

  // --- the conversation page ---
  const root = document.querySelector("[data-presence-url]");
  if (root) {
    const body = document.querySelector("textarea[name=body]");
    const set = (id, value) => { const el = document.getElementById(id); if (el) el.textContent = value; };
    let timer = null;
    let typing = false;
    if (body) {
      body.addEventListener("input", function () {
        typing = body.value.length > 0;
        clearTimeout(timer);
        timer = setTimeout(async function () {
          const response = await fetch("/api/segment-info/", {
            method: "POST", headers: {"Content-Type": "application/json", "X-CSRFToken": csrf},
            body: JSON.stringify({text: body.value}), credentials: "same-origin",
          });
          if (!response.ok) return;
          const data = await response.json();
          set("fc-parts-count", data.segments);
          set("fc-parts-encoding", data.encoding);
          set("fc-parts-units", data.units);
          set("fc-parts-non-gsm", data.non_gsm.length ? ". Not GSM-7: " + data.non_gsm.join(" ") : "");
        }, 250);
      });
    }
    const seenInbound = root.dataset.lastInbound;
    const seenReply = root.dataset.lastReply;
    const presence = document.getElementById("fc-presence");
    async function beat(leave) {
      const form = new FormData();
      form.append("typing", typing ? "1" : "0");
      if (leave) form.append("leave", "1");
      const response = await fetch(root.dataset.presenceUrl, {method: "POST", body: form, headers: {"X-CSRFToken": csrf}, credentials: "same-origin", keepalive: !!leave});
      if (!response.ok || leave) return;
      const data = await response.json();
      const parts = [];
      if (data.others.length) {
        parts.push("Also here: " + data.others.map((o) => o.name + (o.typing ? " (writing a reply)" : "")).join(", "));
      }
      if (String(data.last_inbound_id ?? "") !== seenInbound) parts.push("The fan wrote again: reload to read it.");
      if (String(data.last_reply_id ?? "") !== seenReply) parts.push("Someone answered this fan meanwhile: reload before you send.");
      presence.textContent = parts.join(" ");
    }
    setInterval(beat, 15000);
    window.addEventListener("pagehide", () => beat(true));
    document.addEventListener("keydown", function (e) {
      if (typingTarget(e) || e.ctrlKey || e.metaKey || e.altKey) return;
      if (e.key === "r" && body) { e.preventDefault(); body.focus(); }
      if (e.key === "n") { const note = document.querySelector("textarea[name=note]"); if (note) { e.preventDefault(); note.focus(); } }
      if (e.key === "e") { const done = document.getElementById("fc-done"); if (done) { e.preventDefault(); done.click(); } }
    });
  }

  // --- the list ---
  const rows = Array.from(document.querySelectorAll("tr[data-conversation] a[href]"));
  if (rows.length) {
    let at = -1;
    document.addEventListener("keydown", function (e) {
      if (typingTarget(e) || e.ctrlKey || e.metaKey || e.altKey) return;
      if (e.key === "j" || e.key === "k") {
        e.preventDefault();
        at = Math.max(0, Math.min(rows.length - 1, at + (e.key === "j" ? 1 : -1)));
        rows[at].focus();
      }
    });
  }

  // --- notifications (the list page) ---
  const inbox = document.querySelector("[data-poll-url]");
  if (inbox) {
    const button = document.getElementById("fc-notify");
    const state = document.getElementById("fc-notify-state");
    const supported = "Notification" in window;
    const wanted = () => supported && Notification.permission === "granted" && localStorage.getItem("fc-notify") === "1";
    const show = () => {
      if (!button) return;
      button.hidden = !supported || wanted();
      if (state) state.textContent = wanted() ? "Browser notifications are on." : (supported && Notification.permission === "denied" ? "Notifications are blocked in this browser's settings." : "");
    };
    if (button && supported) {
      button.addEventListener("click", async function () {
        const answer = await Notification.requestPermission();
        if (answer === "granted") localStorage.setItem("fc-notify", "1");
        show();
      });
    }
    show();
    let since = inbox.dataset.pollSince;
    async function poll() {
      const response = await fetch(inbox.dataset.pollUrl + "?since=" + encodeURIComponent(since), {credentials: "same-origin"});
      if (!response.ok) return;
      const data = await response.json();
      since = data.now;
      document.title = document.title.replace(/^\(\d[\d,+]*\) /, "");
      if (data.unread) document.title = "(" + data.unread + ") " + document.title;
      if (!wanted()) return;
      for (const item of data.new) {
        const note = new Notification(item.title, {tag: "fc-conversation-" + item.id});
        note.onclick = () => { window.focus(); window.location.href = item.url; };
      }
    }
    setInterval(poll, 30000);
  }
})();
