// Refreshes the realtime numbers every 10 seconds from the JSON API (same
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
  function fmt(n) { return Number(n).toLocaleString("en-US"); }
  function show(data) {
    document.getElementById("rt-visits").textContent = fmt(data.visits);
    document.getElementById("rt-pageviews").textContent = fmt(data.pageviews);
    document.getElementById("rt-updated").textContent = new Date(data.at * 1000).toLocaleTimeString();
    var body = document.getElementById("rt-pages");
    body.replaceChildren();
    data.top_pages.forEach(function (p) {
      var tr = document.createElement("tr");
      tr.append(cell(p.page, false), cell(fmt(p.visits), true), cell(fmt(p.pageviews), true));
      body.append(tr);
    });
    if (data.folded) {
      var tr = document.createElement("tr");
      tr.className = "folded";
      tr.append(cell("other (small groups)", false), cell(fmt(data.folded.visits), true), cell(fmt(data.folded.pageviews), true));
      body.append(tr);
    }
    if (!body.children.length) {
      var empty = document.createElement("tr");
      var td = cell("No visits in the last 5 minutes.", false);
      td.colSpan = 3;
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
  setInterval(tick, 10000);
})();
