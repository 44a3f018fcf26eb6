
// mintmark loader: find the configuring <script data-mintmark> tag, load the
// Wasm beside this file, start. Any failure is swallowed: the beacon must
// never break the store. `data-mintmark-state` tells the store's developers
// (and our tests) that the beacon has run.
{
  const tag = document.querySelector("script[data-mintmark]");
  if (tag) {
    const d = tag.dataset;
    __wbg_init({ module_or_path: new URL("beacon_bg.wasm", import.meta.url) })
      .then(() => { start(d.endpoint || "", d.origins || "", d.paths || ""); d.mintmarkState = "started"; })
      .catch(() => { d.mintmarkState = "failed"; });
  }
}
