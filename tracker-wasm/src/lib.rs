//! The beacon that runs in shoppers' browsers.
//!
//! It measures only inside the store scope (checked with the same
//! [`StoreScope`] the edge uses) and never reads or stores identity: no
//! cookies of its own, no storage, no PII fields. Cookies and tiers are the
//! edge's business. Size is a feature here, so JSON is written by hand
//! ([`json`]) rather than with serde or `core::fmt`.

pub mod json;

use mintmark_protocol::scope::StoreScope;
use wasm_bindgen::prelude::*;

use json::Json;

fn split_list(list: &str) -> Vec<String> {
    list.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect()
}

fn random_id(window: &web_sys::Window) -> Option<String> {
    let mut bytes = [0u8; 16];
    window.crypto().ok()?.get_random_values_with_u8_array(&mut bytes).ok()?;
    let mut out = String::with_capacity(32);
    for b in bytes {
        out.push(char::from_digit((b >> 4) as u32, 16)?);
        out.push(char::from_digit((b & 15) as u32, 16)?);
    }
    Some(out)
}

/// Starts the beacon. `origins` and `paths` are comma-separated; outside
/// them this returns without touching anything.
#[wasm_bindgen]
pub fn start(endpoint: &str, origins: &str, paths: &str) {
    let _ = run(endpoint, origins, paths);
}

fn run(endpoint: &str, origins: &str, paths: &str) -> Option<()> {
    let window = web_sys::window()?;
    let href = window.location().href().ok()?;
    let scope = StoreScope::new(split_list(origins), split_list(paths));
    if !scope.contains(&href) {
        return None;
    }
    let document = window.document()?;
    let navigator = window.navigator();
    let screen = window.screen().ok()?;

    let mut j = Json::new();
    j.obj_start();
    j.key("v").num(1);
    // web-sys has no binding for `navigator.cookieEnabled`.
    let cookies = js_sys::Reflect::get(&navigator, &"cookieEnabled".into()).ok()?.as_bool().unwrap_or(false);
    j.key("cookies").boolean(cookies);
    j.key("context").obj_start();
    j.key("screen_width").num(screen.width().unwrap_or(0).clamp(0, 65535) as u64);
    j.key("screen_height").num(screen.height().unwrap_or(0).clamp(0, 65535) as u64);
    j.key("color_depth").num(screen.color_depth().unwrap_or(0).clamp(0, 255) as u64);
    j.key("language").string(&navigator.language().unwrap_or_default(), 35);
    j.obj_end();
    j.key("events").arr_start();
    j.obj_start();
    j.key("id").string(&random_id(&window)?, 32);
    j.key("type").string("pageview", 16);
    j.key("ts").num(js_sys::Date::now() as u64);
    j.key("url").string(&href, 2048);
    let referrer = document.referrer();
    if !referrer.is_empty() {
        j.key("referrer").string(&referrer, 2048);
    }
    j.key("title").string(&document.title(), 512);
    j.obj_end();
    j.arr_end();
    j.obj_end();
    navigator.send_beacon_with_opt_str(endpoint, Some(&j.finish())).ok()?;
    Some(())
}
