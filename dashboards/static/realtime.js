// Refreshes the realtime numbers every 30 seconds from the JSON API (same
// session, same audit). Text goes in with textContent: never parsed as HTML.
(function () {
  "use strict";
  var root = document.getElementById("realtime");
  if (!root) return;
  var src = root.getAttribute("data-src");
  function cell(text, numeric) {
    var td = document.createElement("td");
    td.textContent = text;
    if (numeric) td.className = "num";
    return td;
  }
  function show(data) {
    document.getElementById("rt-visits").textContent = data.visits.display;
    document.getElementById("rt-visits").title = data.visits.error === null ? "" : "±" + data.visits.error;
    document.getElementById("rt-pageviews").textContent = data.pageviews.display;
    var from = new Date(data.from * 1000), until = new Date(data.until * 1000);
    document.getElementById("rt-updated").textContent = from.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }) + "–" + until.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
    var body = document.getElementById("rt-pages");
    body.replaceChildren();
    data.top_pages.forEach(function (p) {
      var tr = document.createElement("tr");
      tr.append(cell(p.page, false), cell(p.visits.display, true));
      body.append(tr);
    });
    if (data.folded) {
      var tr = document.createElement("tr");
      tr.className = "folded";
      tr.append(cell("other (small groups)", false), cell(data.folded.display, true));
      body.append(tr);
    }
    if (!data.top_pages.length) {
      var empty = document.createElement("tr");
      var td = cell("No page had enough visits in this window to be shown.", false);
      td.colSpan = 2;
      td.className = "muted";
      empty.append(td);
      body.append(empty);
    }
    root.setAttribute("data-loaded", "true");
  }
  function fail() {
    document.getElementById("rt-updated").textContent = "ClickHouse is not reachable; retrying";
  }
  function tick() {
    fetch(src, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { if (!r.ok) throw new Error(r.status); return r.json(); })
      .then(show, fail);
  }
  tick();
  setInterval(tick, 30000);
})();
