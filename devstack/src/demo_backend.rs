//! The demo store's backend: what a real store's server does with mintmark,
//! small enough to read. Plain HTML forms on the store pages post here.
//!
//! - `POST /store/account/register` and `/store/account/newsletter`: the
//!   store makes a customer (its own `demo_customer` cookie), reports the
//!   opt-in to the collector's consent API (source `registration` /
//!   `email_subscription`) and sets the consent cookie it gets back; the
//!   next beacon is Tier 3. What the visitor did before stays Tier 2.
//! - `POST /store/account/checkout` (`sku`, `quantity`, `state`, `zip`,
//!   `opt_in`): with `opt_in` a guest becomes a customer at purchase (the
//!   opt-in goes first, so the order is theirs); the order goes to the
//!   collector's order feed with the customer reference if there is one.
//! - `POST /store/account/marketplace`: an order as a marketplace would
//!   report it: no customer, never consent.
//! - `POST /store/account/opt-out`: the opt-out, and both cookies cleared.
//!
//! The backend's API key never reaches the browser.

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use rand::Rng;
use serde_json::json;

/// What the backend needs to talk to the collector: like a real store, a
/// key per integration, each holding one scope.
#[derive(Debug, Clone)]
pub struct BackendApi {
    pub collector_url: String,
    pub keys: mintmark_config::KeysSection,
    pub consent_cookie: String,
}

const CUSTOMER_COOKIE: &str = "demo_customer";
/// The demo catalogue: `(sku, price, category)`.
const CATALOGUE: [(&str, f64, &str); 3] = [("MUG-1", 12.5, "kitchen"), ("LID-2", 4.0, "kitchen"), ("TEA-9", 9.0, "tea")];

fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

fn back(to: &str, cookies: &[String]) -> Response {
    let mut resp = (StatusCode::SEE_OTHER, [(header::LOCATION, to.to_string())]).into_response();
    for c in cookies {
        if let Ok(v) = HeaderValue::from_str(c) {
            resp.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    resp
}

fn failed(what: &str, e: impl std::fmt::Display) -> Response {
    (StatusCode::BAD_GATEWAY, format!("the store could not {what}: {e}")).into_response()
}

impl BackendApi {
    async fn call(&self, http: &reqwest::Client, path: &str, body: serde_json::Value) -> anyhow::Result<serde_json::Value> {
        let key = self.keys.backend_secret_for(path);
        let resp = http.post(format!("{}{path}", self.collector_url)).bearer_auth(key).json(&body).send().await?;
        let status = resp.status();
        let text = resp.text().await?;
        anyhow::ensure!(status.is_success(), "{path} answered {status}: {text}");
        Ok(if text.is_empty() { serde_json::Value::Null } else { serde_json::from_str(&text)? })
    }

    /// Reports an opt-in; the two cookies the store sets.
    async fn opt_in(&self, http: &reqwest::Client, customer: &str, source: &str) -> anyhow::Result<Vec<String>> {
        let answer = self.call(http, "/consent/opt-in", json!({"customer_ref": customer, "source": source, "policy_version": 3})).await?;
        let consent = answer["set_cookie"].as_str().unwrap_or_default().to_string();
        Ok(vec![consent, format!("{CUSTOMER_COOKIE}={customer}; Path=/store; HttpOnly; SameSite=Lax")])
    }

    /// Handles a form post under `/store/account/`.
    pub async fn handle(&self, http: &reqwest::Client, action: &str, headers: &HeaderMap, form: &[(String, String)]) -> Response {
        let field = |name: &str| form.iter().find(|(k, _)| k == name).map(|(_, v)| v.trim()).filter(|v| !v.is_empty());
        let customer = cookie(headers, CUSTOMER_COOKIE).map(String::from);
        let new_customer = || format!("web-{:08x}", rand::rng().random::<u32>());
        match action {
            "register" | "newsletter" => {
                let source = if action == "register" { "registration" } else { "email_subscription" };
                let who = customer.unwrap_or_else(new_customer);
                match self.opt_in(http, &who, source).await {
                    Ok(cookies) => back(&format!("/store/?welcome={who}"), &cookies),
                    Err(e) => failed("record the opt-in", e),
                }
            }
            "checkout" => {
                let Some(&(sku, price, category)) = CATALOGUE.iter().find(|c| Some(c.0) == field("sku")) else {
                    return (StatusCode::BAD_REQUEST, "unknown product").into_response();
                };
                let quantity: u32 = field("quantity").and_then(|q| q.parse().ok()).filter(|q| (1..=20).contains(q)).unwrap_or(1);
                let mut cookies = Vec::new();
                let mut who = customer;
                if who.is_none() && field("opt_in").is_some() {
                    let fresh = new_customer();
                    match self.opt_in(http, &fresh, "purchase").await {
                        Ok(c) => cookies = c,
                        Err(e) => return failed("record the opt-in", e),
                    }
                    who = Some(fresh);
                }
                let order_id = format!("D{:010}", rand::rng().random::<u32>());
                let mut order = json!({
                    "order_id": order_id, "event": "placed", "at": unix_now(), "channel": "web",
                    "value": price * quantity as f64, "currency": "USD",
                    "items": [{"sku": sku, "quantity": quantity, "unit_price": price, "category": category}],
                });
                for (k, v) in [("state", field("state").map(str::to_uppercase)), ("zip", field("zip").map(String::from)), ("customer_ref", who)] {
                    if let Some(v) = v {
                        order[k] = json!(v);
                    }
                }
                match self.call(http, "/orders", order).await {
                    Ok(_) => back(&format!("/store/?ordered={order_id}"), &cookies),
                    Err(e) => failed("send the order", e),
                }
            }
            "marketplace" => {
                let order = json!({
                    "order_id": format!("M{:010}", rand::rng().random::<u32>()), "event": "placed", "at": unix_now(),
                    "channel": "marketplace", "value": 25.0, "currency": "USD",
                    "items": [{"sku": "MUG-1", "quantity": 2, "unit_price": 12.5, "category": "kitchen"}], "state": "TX",
                });
                match self.call(http, "/orders", order).await {
                    Ok(_) => back("/store/?marketplace=1", &[]),
                    Err(e) => failed("send the marketplace order", e),
                }
            }
            // Opting out and closing the account both end Tier 3 and forget
            // the customer's cookies; closing also asks for erasure.
            "opt-out" | "close-account" => {
                let Some(who) = customer else { return back("/store/", &[]) };
                let (path, body, done, what) = if action == "opt-out" {
                    ("/consent/opt-out", json!({"customer_ref": who}), "/store/?opted_out=1", "record the opt-out")
                } else {
                    ("/consent/erasure", json!({"customer_ref": who, "note": "account closed on the demo store"}), "/store/?closed=1", "request the erasure")
                };
                match self.call(http, path, body).await {
                    Ok(_) => back(
                        done,
                        &[
                            format!("{}=; Path=/store; Max-Age=0; Secure; HttpOnly; SameSite=Lax", self.consent_cookie),
                            format!("{CUSTOMER_COOKIE}=; Path=/store; Max-Age=0; HttpOnly; SameSite=Lax"),
                        ],
                    ),
                    Err(e) => failed(what, e),
                }
            }
            _ => StatusCode::NOT_FOUND.into_response(),
        }
    }
}

fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}
