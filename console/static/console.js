// Airlock console: live updates. The server announces that something
// changed (SSE, /console/events); the page then fetches its own content
// again, as the viewer may see it, and swaps it in. Forms keep working
// without this script.
(function () {
  "use strict";
  if (!document.body || document.body.dataset.live !== "1" || !window.EventSource) return;
  var content = document.getElementById("content");
  var status = document.getElementById("live-status");
  var timer = null, busy = false, again = false;

  // Someone using a form on the page: never swap it out from under them.
  function typing() {
    var a = document.activeElement;
    if (a && content.contains(a) && (a.tagName === "INPUT" || a.tagName === "SELECT" || a.tagName === "BUTTON")) return true;
    var inputs = content.querySelectorAll("input[type=text]");
    for (var i = 0; i < inputs.length; i++) if (inputs[i].value !== "") return true;
    return false;
  }

  function refresh() {
    timer = null;
    if (busy) { again = true; return; }
    if (typing()) { timer = setTimeout(refresh, 1000); return; } // never wipe a reason being typed
    busy = true;
    var url = new URL(window.location.href);
    url.searchParams.set("fragment", "1");
    url.searchParams.delete("done");
    fetch(url.toString(), { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (r) {
        if (r.redirected || r.status === 401) { window.location.reload(); return null; }
        return r.ok ? r.text() : null;
      })
      .then(function (html) {
        if (html !== null && html !== undefined) {
          content.innerHTML = html;
          document.body.dataset.refreshed = String(Date.now());
        }
      })
      .catch(function () {})
      .finally(function () {
        busy = false;
        if (again) { again = false; schedule(); }
      });
  }

  function schedule() {
    if (!timer) timer = setTimeout(refresh, 150);
  }

  var es = new EventSource("/console/events");
  es.addEventListener("open", function () {
    if (status) { status.hidden = false; status.textContent = "live"; }
    document.body.dataset.live_connected = "1";
  });
  es.addEventListener("change", schedule);
  es.addEventListener("error", function () {
    if (status) status.textContent = "reconnecting…";
  });
})();
