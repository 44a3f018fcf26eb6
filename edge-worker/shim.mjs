// ES-module entry for Workers runtimes: instantiate the wasm-bindgen output
// once per isolate; hand every fetch to the Rust handler and every batch
// of the delivery queue to the Rust consumer.
import wasmModule from "./edge_bg.wasm";
import { initSync, fetch as handle, deliver } from "./edge.js";

initSync({ module: wasmModule });

export default {
  fetch(request, env, ctx) {
    return handle(request, env, ctx);
  },
  queue(batch, env) {
    return deliver(batch, env);
  },
};
