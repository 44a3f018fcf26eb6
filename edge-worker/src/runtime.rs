//! Glue to the Workers runtime: read the request, hand the batch to the
//! delivery queue, answer; and, as that queue's consumer, sign and send
//! queued batches to the collector as [`crate::delivery`] decides.
//!
//! The browser gets its 2xx only once the platform has the batch (a queue
//! send is durable when it resolves); if the send fails it gets a 503 and
//! its beacon keeps the batch. Per-isolate state lives here: parsed
//! settings and keys, the rate limiter and the counters. Logs are one JSON
//! object per line and never carry an IP.

use std::cell::{OnceCell, RefCell};

use js_sys::{Array, Date, Function, Promise, Reflect};
use mintmark_protocol::bundle;
use mintmark_protocol::ip;
use mintmark_protocol::settings::{
    KV_REVOCATIONS, QUEUE_DEAD_LETTERS, QUEUE_DELIVERY, SECRET_CONSENT_KEYS, SECRET_EDGE_SIGNING_KEYS, SECRET_METRICS_TOKEN, VAR_EDGE_CONFIG,
};
use mintmark_protocol::signing::{self, Payload, HEADER_KEY_ID, HEADER_SIGNATURE, HEADER_TIMESTAMP};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use worker::{console_error, console_log, event, Context, Env, Fetch, Headers, Method, QueueContentType, RawMessageBuilder, Request, RequestInit, Response};

use crate::delivery::{self, Answer, Settle};
use crate::handler::{self, Incoming, Outcome, Reply};
use crate::metrics::{render_gauges, Counters};
use mintmark_protocol::keys::constant_time_eq;
use crate::ratelimit::RateLimiter;
use crate::tier::{self, Consent};
use crate::EdgeKeys;

/// What the browser is told to wait when the queue refuses a send.
const QUEUE_RETRY_AFTER_SECS: u64 = 5;

thread_local! {
    // Parsed once per isolate: settings and keys do not change under it.
    static KEYS: OnceCell<Result<EdgeKeys, String>> = const { OnceCell::new() };
    static LIMITER: OnceCell<RefCell<RateLimiter>> = const { OnceCell::new() };
    static COUNTERS: RefCell<Counters> = RefCell::new(Counters::default());
}

fn count(name: &'static str, labels: String) {
    count_n(name, labels, 1);
}

fn count_n(name: &'static str, labels: String, n: u64) {
    if n > 0 {
        COUNTERS.with(|c| c.borrow_mut().add(name, labels, n));
    }
}

fn load_keys(env: &Env) -> Result<EdgeKeys, String> {
    let var = |name: &str| env.var(name).map(|v| v.to_string()).map_err(|_| format!("{name} is not bound"));
    let secret = |name: &str| env.secret(name).map(|v| v.to_string()).map_err(|_| format!("{name} is not bound"));
    EdgeKeys::from_env(
        &var(VAR_EDGE_CONFIG)?,
        &secret(SECRET_EDGE_SIGNING_KEYS)?,
        &secret(SECRET_CONSENT_KEYS)?,
        secret(SECRET_METRICS_TOKEN).ok(),
    )
    .map_err(|e| e.to_string())
}

fn random_id() -> String {
    let mut bytes = [0u8; 16];
    getrandom::getrandom(&mut bytes).expect("crypto.getRandomValues is available in Workers");
    hex::encode(bytes)
}

fn respond(reply: &Reply) -> worker::Result<Response> {
    let headers = Headers::new();
    headers.set("cache-control", "no-store")?;
    for (name, value) in &reply.headers {
        headers.append(name, value)?;
    }
    let resp = match &reply.body {
        Some(body) => Response::ok(body.clone())?,
        None => Response::empty()?,
    };
    Ok(resp.with_status(reply.status).with_headers(headers))
}

fn record(outcome: &Outcome) {
    match outcome {
        Outcome::Accepted { tier, session_started, consent_rejected, props } => {
            count("mintmark_edge_requests_total", format!("outcome=\"accepted\",tier=\"{}\"", tier.as_str()));
            count_n("mintmark_edge_pii_dropped_total", "layer=\"beacon\",field=\"any\"".into(), props.pii_dropped_by_beacon.into());
            for (field, n) in props.pii_dropped_by_edge.iter() {
                count_n("mintmark_edge_pii_dropped_total", format!("layer=\"edge\",field=\"{}\"", field.as_str()), n.into());
            }
            count_n("mintmark_edge_beacon_errors_total", String::new(), props.beacon_errors.into());
            if let Some(start) = session_started {
                count("mintmark_edge_sessions_started_total", format!("reason=\"{}\"", start.as_str()));
            }
            if let Some(reason) = consent_rejected {
                count("mintmark_edge_consent_rejected_total", format!("reason=\"{reason}\""));
                console_log!("{{\"event\":\"consent_rejected\",\"reason\":\"{reason}\",\"served_as\":\"tier2\"}}");
            }
        }
        Outcome::Rejected(reason) => {
            count("mintmark_edge_requests_total", format!("outcome=\"rejected\",reason=\"{reason}\""));
            console_log!("{{\"event\":\"rejected\",\"reason\":\"{reason}\"}}");
        }
        Outcome::Bot => count("mintmark_edge_requests_total", "outcome=\"bot\"".into()),
        Outcome::Preflight => count("mintmark_edge_requests_total", "outcome=\"preflight\"".into()),
        Outcome::RateLimited => count("mintmark_edge_requests_total", "outcome=\"rate_limited\"".into()),
    }
}

/// The revocation stored for this customer (keyed by their subject, which
/// the token carries), if any. `Err` when the store cannot be read: the
/// caller then serves Tier 2 without deleting anything.
async fn revoked_at(env: &Env, subject: &str) -> Result<Option<u64>, ()> {
    let kv = env.kv(KV_REVOCATIONS).map_err(|_| console_error!("{KV_REVOCATIONS} KV binding is missing"))?;
    let value = kv.get(subject).text().await.map_err(|e| console_error!("revocation lookup failed: {e}"))?;
    // An unreadable entry counts as a revocation now: fail towards privacy.
    Ok(value.map(|v| v.trim().parse().unwrap_or(u64::MAX)))
}

#[event(fetch)]
pub async fn fetch(mut req: Request, env: Env, _ctx: Context) -> worker::Result<Response> {
    let keys = match KEYS.with(|cell| cell.get_or_init(|| load_keys(&env)).clone()) {
        Ok(keys) => keys,
        Err(e) => {
            console_error!("mintmark edge misconfigured: {e}");
            return respond(&Reply::rejected(500, "misconfigured"));
        }
    };
    let headers = req.headers().clone();
    let header = |name: &str| headers.get(name).ok().flatten();
    let path = req.path();
    let method = req.method().to_string();

    if path == keys.metrics_path() && method == "GET" {
        return metrics(&keys, &env, header("authorization").as_deref()).await;
    }
    // Only read a body we might accept; precheck re-checks the limit.
    let body = if method == "POST" && path == keys.settings.beacon_path { req.bytes().await.unwrap_or_default() } else { Vec::new() };
    let (origin, cookie, client_ip, user_agent) =
        (header("origin"), header("cookie"), header("cf-connecting-ip"), header("user-agent").unwrap_or_default());
    let incoming = Incoming {
        method: &method,
        path: &path,
        origin: origin.as_deref(),
        cookie: cookie.as_deref(),
        client_ip: client_ip.as_deref(),
        user_agent: &user_agent,
        body: &body,
        now_ms: worker::Date::now().as_millis(),
    };
    let reply = match handler::precheck(&keys, &incoming) {
        Err(reply) => reply,
        Ok(checked) => {
            let bucket = ip::truncate_addr(checked.client_ip).to_string();
            let limit = LIMITER.with(|l| {
                l.get_or_init(|| RefCell::new(RateLimiter::new(keys.settings.rate_limit_per_minute)))
                    .borrow_mut()
                    .check(&bucket, incoming.now_ms)
            });
            match limit {
                Err(retry_after) => Reply::rate_limited(retry_after),
                Ok(()) => {
                    let consent = if checked.batch.cookies {
                        let consent = tier::consent_cookie(incoming.cookie, &keys.settings.consent_cookie, &keys.consent, incoming.now_ms / 1000);
                        match consent.claims().map(|c| c.subject.clone()) {
                            Some(subject) => tier::apply_revocation(consent, revoked_at(&env, &subject).await),
                            None => consent,
                        }
                    } else {
                        Consent::Absent
                    };
                    handler::decide(&keys, &incoming, checked, consent, &mut random_id)
                }
            }
        }
    };
    let reply = match &reply.forward {
        None => reply,
        Some(batch) => {
            let body = serde_json::to_string(batch).map_err(|e| worker::Error::RustError(e.to_string()))?;
            match send_text(&env, QUEUE_DELIVERY, body).await {
                Ok(()) => {
                    count("mintmark_edge_queued_total", String::new());
                    count_n("mintmark_edge_queued_events_total", String::new(), batch.events.len() as u64);
                    reply
                }
                Err(e) => {
                    console_error!("{{\"event\":\"queue_send_failed\",\"error\":{}}}", json_str(&e.to_string()));
                    Reply::unavailable(QUEUE_RETRY_AFTER_SECS)
                }
            }
        }
    };
    record(&reply.outcome);
    respond(&reply)
}

fn json_str(s: &str) -> String {
    serde_json::Value::from(s).to_string()
}

/// Sends `body` as a text message on the queue bound as `binding`; resolved
/// means the platform has it durably.
async fn send_text(env: &Env, binding: &str, body: String) -> worker::Result<()> {
    let queue = env.queue(binding)?;
    queue.send_raw(RawMessageBuilder::new(JsValue::from_str(&body)).build_with_content_type(QueueContentType::Text)).await
}

async fn metrics(keys: &EdgeKeys, env: &Env, authorization: Option<&str>) -> worker::Result<Response> {
    let allowed = match (&keys.metrics_token, authorization.and_then(|a| a.strip_prefix("Bearer "))) {
        (Some(expected), Some(given)) => constant_time_eq(given.as_bytes(), expected.as_bytes()),
        _ => false,
    };
    if !allowed {
        return respond(&Reply::rejected(404, "not_found"));
    }
    let mut text = COUNTERS.with(|c| c.borrow().render());
    let mut samples = Vec::new();
    for (binding, queue) in [(QUEUE_DELIVERY, "delivery"), (QUEUE_DEAD_LETTERS, "dead_letters")] {
        queue_gauges(env, binding, queue, &mut samples).await;
    }
    text.push_str(&render_gauges(samples));
    let headers = Headers::new();
    headers.set("content-type", "text/plain; version=0.0.4")?;
    headers.set("cache-control", "no-store")?;
    Ok(Response::ok(text)?.with_headers(headers))
}

/// The queue's own view, read at scrape time: backlog and the age of the
/// oldest message not yet delivered. Nothing where the platform's binding
/// has no `metrics()` (its dashboard shows the backlog then).
async fn queue_gauges(env: &Env, binding: &str, queue: &str, out: &mut Vec<(&'static str, String, f64)>) {
    let Ok(q) = env.queue(binding) else { return };
    let q: &JsValue = q.as_ref();
    let Some(read) = Reflect::get(q, &"metrics".into()).ok().and_then(|f| f.dyn_into::<Function>().ok()) else { return };
    let Some(m) = read.call0(q).ok().and_then(|p| p.dyn_into::<Promise>().ok()) else { return };
    let Ok(m) = JsFuture::from(m).await else { return };
    let num = |name: &str| Reflect::get(&m, &name.into()).ok().and_then(|v| v.as_f64()).unwrap_or(0.0);
    let oldest = Reflect::get(&m, &"oldestMessageTimestamp".into())
        .ok()
        .and_then(|v| v.as_f64().or_else(|| v.dyn_ref::<Date>().map(|d| d.get_time())))
        .filter(|t| *t > 0.0);
    let labels = format!("queue=\"{queue}\"");
    out.push(("mintmark_edge_queue_backlog_messages", labels.clone(), num("backlogCount")));
    out.push(("mintmark_edge_queue_backlog_bytes", labels.clone(), num("backlogBytes")));
    let age = oldest.map(|t| ((Date::now() - t) / 1000.0).max(0.0)).unwrap_or(0.0);
    out.push(("mintmark_edge_queue_oldest_age_seconds", labels, age));
}

// The queue consumer. The worker crate's message type does not expose
// `attempts`, which the backoff needs, so the batch is read through these.
#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(extends = js_sys::Object)]
    pub type QueueBatch;
    #[wasm_bindgen(method, getter)]
    fn messages(this: &QueueBatch) -> Array;

    #[wasm_bindgen(extends = js_sys::Object)]
    pub type QueueMessage;
    #[wasm_bindgen(method, getter)]
    fn id(this: &QueueMessage) -> String;
    #[wasm_bindgen(method, getter)]
    fn timestamp(this: &QueueMessage) -> Date;
    #[wasm_bindgen(method, getter)]
    fn body(this: &QueueMessage) -> JsValue;
    #[wasm_bindgen(method, getter)]
    fn attempts(this: &QueueMessage) -> Option<f64>;
    #[wasm_bindgen(method)]
    fn ack(this: &QueueMessage);
    #[wasm_bindgen(method)]
    fn retry(this: &QueueMessage, options: &JsValue);
}

/// The `queue` handler (the shim calls it): delivers one queue batch.
/// Every message is settled explicitly; none is left to the platform's
/// default, so nothing is acknowledged that the collector does not have.
#[wasm_bindgen]
pub async fn deliver(batch: QueueBatch, env: Env) {
    let keys = match KEYS.with(|cell| cell.get_or_init(|| load_keys(&env)).clone()) {
        Ok(keys) => keys,
        Err(e) => {
            // Misconfigured: keep everything queued for a fixed worker.
            console_error!("mintmark edge misconfigured: {e}");
            for m in batch.messages().iter() {
                m.unchecked_into::<QueueMessage>().retry(&retry_options(60));
            }
            return;
        }
    };
    let messages: Vec<QueueMessage> = batch.messages().iter().map(|m| m.unchecked_into()).collect();
    let bodies: Vec<Option<String>> = messages.iter().map(|m| m.body().as_string()).collect();
    let attempts: Vec<u32> = messages.iter().map(|m| m.attempts().unwrap_or(1.0).max(1.0) as u32).collect();
    let now = Date::now();
    if let Some(oldest) = messages.iter().map(|m| m.timestamp().get_time()).reduce(f64::min) {
        console_log!("{{\"event\":\"delivery\",\"messages\":{},\"oldest_age_ms\":{}}}", messages.len(), (now - oldest).max(0.0) as u64);
    }
    let plan = delivery::plan(&bodies.iter().map(|b| b.as_deref()).collect::<Vec<_>>());
    for &i in &plan.unreadable {
        let letter = delivery::dead_letter(0, "unreadable", bodies[i].as_deref());
        settle_one(&env, &messages[i], Settle::DeadLetter { status: 0, reason: "unreadable".into() }, letter).await;
    }
    for group in plan.bundles {
        let body = bundle::assemble(group.iter().filter_map(|&i| bodies[i].as_deref()));
        let answer = post_bundle(&keys, &body).await;
        let group_attempts: Vec<u32> = group.iter().map(|&i| attempts[i]).collect();
        let settles = delivery::settle(&answer, &group_attempts, &keys.settings.delivery);
        for (&i, s) in group.iter().zip(settles) {
            let letter = match &s {
                Settle::DeadLetter { status, reason } => delivery::dead_letter(*status, reason, bodies[i].as_deref()),
                _ => String::new(),
            };
            settle_one(&env, &messages[i], s, letter).await;
        }
    }
}

fn retry_options(delay_secs: u32) -> JsValue {
    let o = js_sys::Object::new();
    let _ = Reflect::set(&o, &"delaySeconds".into(), &JsValue::from(delay_secs));
    o.into()
}

async fn settle_one(env: &Env, m: &QueueMessage, settle: Settle, letter: String) {
    match settle {
        Settle::Delivered => {
            m.ack();
            count("mintmark_edge_delivered_total", String::new());
        }
        Settle::Retry { delay_secs, cause } => {
            m.retry(&retry_options(delay_secs));
            count("mintmark_edge_delivery_retries_total", format!("cause=\"{cause}\""));
        }
        Settle::DeadLetter { status, reason } => match send_text(env, QUEUE_DEAD_LETTERS, letter).await {
            Ok(()) => {
                m.ack();
                count("mintmark_edge_dead_lettered_total", format!("reason=\"{reason}\""));
                console_error!("{{\"event\":\"dead_lettered\",\"message\":{},\"status\":{status},\"reason\":{}}}", json_str(&m.id()), json_str(&reason));
            }
            Err(e) => {
                // Not acknowledged: it stays queued and comes back.
                m.retry(&retry_options(10));
                count("mintmark_edge_delivery_retries_total", "cause=\"dead_letter_send\"".into());
                console_error!("{{\"event\":\"dead_letter_failed\",\"error\":{}}}", json_str(&e.to_string()));
            }
        },
    }
}

/// Sends `body` to each collector in turn until one gives a verdict (an
/// answer that is not transient); returns the last answer. Each request
/// is signed when it is sent.
async fn post_bundle(keys: &EdgeKeys, body: &str) -> Answer {
    let mut last = Answer::Failed { cause: "network" };
    for (i, url) in keys.settings.collector_urls().enumerate() {
        last = match send_signed(keys, url, body).await {
            Ok(answer) => answer,
            Err(e) => {
                let text = e.to_string();
                let cause = if text.contains("abort") || text.contains("timed out") || text.contains("Timeout") { "timeout" } else { "network" };
                console_error!("{{\"event\":\"delivery_failed\",\"collector\":{i},\"cause\":\"{cause}\",\"error\":{}}}", json_str(&text));
                Answer::Failed { cause }
            }
        };
        count("mintmark_edge_delivery_requests_total", format!("collector=\"{i}\",answer=\"{}\"", last.label()));
        if !last.is_transient() {
            break;
        }
    }
    last
}

async fn send_signed(keys: &EdgeKeys, url: &str, body: &str) -> worker::Result<Answer> {
    let now = worker::Date::now().as_millis() / 1000;
    let sig = signing::sign_payload(&keys.signing, Payload::Bundle, now, body.as_bytes());
    let headers = Headers::new();
    headers.set("content-type", bundle::CONTENT_TYPE)?;
    headers.set(HEADER_KEY_ID, &sig.key_id)?;
    headers.set(HEADER_TIMESTAMP, &sig.timestamp.to_string())?;
    headers.set(HEADER_SIGNATURE, &sig.mac_hex)?;
    let mut init = RequestInit::new();
    init.with_method(Method::Post).with_headers(headers).with_body(Some(body.into()));
    let signal = worker::AbortSignal::from(web_sys::AbortSignal::timeout_with_u32(keys.settings.delivery.timeout_ms));
    let mut resp = Fetch::Request(Request::new_with_init(url, &init)?).send_with_signal(&signal).await?;
    let status = resp.status_code();
    let body = resp.text().await.unwrap_or_default();
    Ok(Answer::Status { status, body })
}
