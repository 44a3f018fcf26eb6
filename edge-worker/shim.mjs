// ES-module entry for Workers runtimes: instantiate the wasm-bindgen output
// once per isolate and hand every fetch to the Rust handler.
import wasmModule from "./edge_bg.wasm";
import { initSync, fetch as handle } from "./edge.js";

initSync({ module: wasmModule });

export default {
  fetch(request, env, ctx) {
    return handle(request, env, ctx);
  },
};
