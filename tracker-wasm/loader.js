// mintmark beacon loader. The store adds one tag:
//   <script defer src="/mintmark/beacon.js" data-mintmark data-endpoint="/store/_mm/collect"
//     data-origins="https://shop.example.gov" data-paths="/store"
//     data-downloads="pdf,zip" data-search="q"></script>
// and calls mintmark.purchase({...}) & co. (or pushes ["purchase", {...}]
// onto `window.mintmark` before this file has run). This file only reads the page and
// moves bytes; beacon.wasm decides everything (scope, events, what is
// personal, the JSON, the queue). Nothing here may throw into the page.
((w, d, n, L) => {
  let t = d.currentScript || d.querySelector("script[data-mintmark]"),
    c = t ? t.dataset : {},
    api = {},
    early = w.mintmark,
    pending = [],
    back = 500,
    early_errors = 0,
    x, warned, timer, busy,
    // Counts an error in the Wasm (later, if it is not loaded yet) and
    // tells the console, once per page.
    oops = (e) => {
      x ? x.oops() : early_errors++;
      warned || console.warn("mintmark:", (warned = e));
    },
    guard = (f, ...a) => {
      try {
        return f(...a);
      } catch (e) {
        oops(e);
      }
    },
    // Only a gate that saves the download outside the store; the Wasm
    // decides scope for every event with the edge's own rules.
    inScope = guard(() =>
      (c.origins || "").split(",").some((o) => new URL(o.trim()).origin == L.origin) &&
      (c.paths || "").split(",").some((p) => (p = p.trim().replace(/\/+$/, ""), L.pathname == p || L.pathname.startsWith(p + "/")))),
    // Hands fields to the Wasm behind 64 random bytes (event ids).
    call = (op, a) => guard(() => {
      let u = new Uint8Array(x.memory.buffer, x.io(), 32768);
      crypto.getRandomValues(u.subarray(0, 64));
      a = a.map((s) => String(s).slice(0, 4096).replace(/\0/g, "")).join("\0");
      x.on(op, new TextEncoder().encodeInto(a, u.subarray(64)).written) && schedule();
    }),
    X = (op, ...a) => (a.unshift(Date.now()), x ? call(op, a) : pending.push([op, a])),
    schedule = () => timer || (timer = setTimeout(() => (timer = 0, busy || guard(send)), 1e3)),
    post = (body) => fetch(c.endpoint, { method: "POST", body, keepalive: !0 }),
    // Sends what is queued. Hiding: sendBeacon (fetch keepalive if refused)
    // and assume it arrives. Otherwise one fetch at a time; 5xx, 429 or no
    // answer keeps the batch and backs off, anything else delivers it.
    send = (hiding) => {
      for (let k, i = 0; i < 9 && (k = x.batch()); i++) {
        let body = new TextDecoder().decode(new Uint8Array(x.memory.buffer, x.io(), k));
        if (!hiding) {
          busy = 1;
          return post(body).then((r) => r.status, () => 0).then((s) => {
            let ok = s && s < 500 && s != 429;
            x.done(ok);
            s > 299 && oops("HTTP " + s);
            ok ? (busy = 0, back = 500, guard(send)) : setTimeout(() => (busy = 0, guard(send)), back = Math.min(back * 2, 6e4));
          });
        }
        n.sendBeacon(c.endpoint, body) || post(body).catch(oops);
        x.done(1);
      }
    },
    // Own enumerable string and number props; `items` (top level only) as
    // line items after a \x01 mark. Depth is bounded, so cycles are harmless.
    flat = (a, o, top) => {
      for (let k of Object.keys(Object(o)).slice(0, 99)) {
        let v = o[k], y = typeof v;
        y == "number" ? a.push(k, "#" + v)
          : y == "string" ? a.push(k, "$" + v.slice(0, 999))
          : top && k == "items" && Array.isArray(v) && v.slice(0, 99).map((i) => (a.push("\x01", ""), flat(a, i)));
      }
    },
    track = (e, p) => inScope && guard(() => {
      let a = [e];
      flat(a, p, 1);
      X(3, ...a);
    }),
    view = () => X(1, L.href, d.title, d.referrer, new URLSearchParams(L.search).get(c.search ?? "q") || "");

  api.track = track;
  // The queue snippet works before and after this file ran:
  // (window.mintmark = window.mintmark || []).push(["purchase", {...}])
  api.push = (a) => inScope && guard(() => track(...a));
  "product_view add_to_cart remove_from_cart checkout_start purchase".split(" ")
    .map((e) => api[e.replace(/_(.)/g, (_, l) => l.toUpperCase())] = (p) => track(e, p));
  w.mintmark = api;
  Array.isArray(early) && early.map(api.push);
  if (!inScope) return c.mintmarkState = "off";

  fetch(new URL("beacon.wasm", t.src))
    .then((r) => r.arrayBuffer())
    .then((b) => WebAssembly.instantiate(b))
    .then(({ instance: i }) => {
      let k = n.connection || {}, s = screen;
      x = i.exports;
      X(0, c.origins, c.paths, c.downloads ?? "pdf,zip,csv,xlsx,docx,pptx,txt,rtf,epub,dmg,exe,msi",
        n.cookieEnabled, s.width, s.height, s.colorDepth, n.language,
        Intl.DateTimeFormat().resolvedOptions().timeZone, k.effectiveType, k.downlink);
      view();
      pending.map((p) => call(...p));
      for (; early_errors; early_errors--) x.oops();
      let h = history, on = (o, e, f) => o.addEventListener(e, (v) => guard(f, v), !0);
      for (let m of ["pushState", "replaceState"]) {
        let f = h[m];
        h[m] = function () {
          let r = f.apply(this, arguments);
          setTimeout(view);
          return r;
        };
      }
      on(w, "popstate", () => setTimeout(view));
      for (let e of ["click", "auxclick"]) on(d, e, (v) => (v = v.target.closest?.("a[href]")) && X(2, v.href));
      on(d, "visibilitychange", () => d.visibilityState == "hidden" && send(1));
      on(w, "pagehide", () => send(1));
      c.mintmarkState = "started";
    })
    .catch((e) => (c.mintmarkState = "failed", oops(e)));
})(window, document, navigator, location);
