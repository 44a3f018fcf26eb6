//! Glue to the Workers runtime: read the request, answer at once, forward
//! the signed batch in `waitUntil` so the browser never waits on us.
//!
//! Per-isolate state lives here: parsed settings and keys, the rate limiter
//! and the counters. Logs are one JSON object per line and never carry an IP.

use std::cell::{OnceCell, RefCell};
use std::time::Duration;

use mintmark_protocol::consent::revocation_key;
use mintmark_protocol::ip;
use mintmark_protocol::settings::{KV_REVOCATIONS, SECRET_CONSENT_KEYS, SECRET_EDGE_SIGNING_KEYS, SECRET_METRICS_TOKEN, VAR_EDGE_CONFIG};
use mintmark_protocol::signing::{self, HEADER_KEY_ID, HEADER_SIGNATURE, HEADER_TIMESTAMP};
use worker::{console_error, console_log, event, Context, Delay, Env, Fetch, Headers, Method, Request, RequestInit, Response};

use crate::handler::{self, Incoming, Outcome, Reply};
use crate::metrics::Counters;
use mintmark_protocol::keys::constant_time_eq;
use crate::ratelimit::RateLimiter;
use crate::tier::{self, Consent};
use crate::EdgeKeys;

/// Attempts to reach the collector before the batch is given up.
const FORWARD_ATTEMPTS: u32 = 4;
/// Per-attempt limit; Workers allow `waitUntil` work 30 s after the response.
const FORWARD_TIMEOUT_MS: u32 = 5_000;

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

/// The revocation stored for this customer, if any. `Err` when the store
/// cannot be read: the caller then serves Tier 2 without deleting anything.
async fn revoked_at(env: &Env, customer_ref: &str) -> Result<Option<u64>, ()> {
    let kv = env.kv(KV_REVOCATIONS).map_err(|_| console_error!("{KV_REVOCATIONS} KV binding is missing"))?;
    let value = kv.get(&revocation_key(customer_ref)).text().await.map_err(|e| console_error!("revocation lookup failed: {e}"))?;
    // An unreadable entry counts as a revocation now: fail towards privacy.
    Ok(value.map(|v| v.trim().parse().unwrap_or(u64::MAX)))
}

#[event(fetch)]
pub async fn fetch(mut req: Request, env: Env, ctx: Context) -> worker::Result<Response> {
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
        return metrics(&keys, header("authorization").as_deref());
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
                        let token = crate::cookies::read(incoming.cookie, &keys.settings.consent_cookie);
                        let consent = tier::read_consent(token, &keys.consent, incoming.now_ms / 1000);
                        match consent.claims().map(|c| c.customer_ref.clone()) {
                            Some(customer) => tier::apply_revocation(consent, revoked_at(&env, &customer).await),
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
    record(&reply.outcome);
    if let Some(batch) = &reply.forward {
        let body = serde_json::to_string(batch).map_err(|e| worker::Error::RustError(e.to_string()))?;
        ctx.wait_until(forward(keys, body));
    }
    respond(&reply)
}

fn metrics(keys: &EdgeKeys, authorization: Option<&str>) -> worker::Result<Response> {
    let allowed = match (&keys.metrics_token, authorization.and_then(|a| a.strip_prefix("Bearer "))) {
        (Some(expected), Some(given)) => constant_time_eq(given.as_bytes(), expected.as_bytes()),
        _ => false,
    };
    if !allowed {
        return respond(&Reply::rejected(404, "not_found"));
    }
    let text = COUNTERS.with(|c| c.borrow().render());
    let headers = Headers::new();
    headers.set("content-type", "text/plain; version=0.0.4")?;
    headers.set("cache-control", "no-store")?;
    Ok(Response::ok(text)?.with_headers(headers))
}

/// Signs and sends one batch, retrying 5xx, timeouts and network errors
/// with backoff (0.2 s, 0.8 s, 3.2 s). A batch still undelivered after that
/// is logged and counted as dropped; see README for what closes this gap.
async fn forward(keys: EdgeKeys, body: String) {
    let url = keys.settings.collector_url.clone();
    for attempt in 0..FORWARD_ATTEMPTS {
        if attempt > 0 {
            Delay::from(Duration::from_millis(200 * 4u64.pow(attempt - 1))).await;
        }
        match send_once(&keys, &url, &body).await {
            Ok(status) if status < 300 => {
                count("mintmark_edge_forward_total", "result=\"ok\"".into());
                return;
            }
            Ok(status) if status < 500 => {
                count("mintmark_edge_forward_total", "result=\"refused\"".into());
                console_error!("{{\"event\":\"forward_refused\",\"status\":{status}}}");
                return;
            }
            Ok(status) => console_error!("{{\"event\":\"forward_retry\",\"status\":{status},\"attempt\":{attempt}}}"),
            Err(e) => console_error!("{{\"event\":\"forward_retry\",\"error\":\"{}\",\"attempt\":{attempt}}}", e.to_string().replace('"', "'")),
        }
        count("mintmark_edge_forward_total", "result=\"retry\"".into());
    }
    count("mintmark_edge_forward_total", "result=\"dropped\"".into());
    console_error!("{{\"event\":\"forward_dropped\",\"attempts\":{FORWARD_ATTEMPTS}}}");
}

async fn send_once(keys: &EdgeKeys, url: &str, body: &str) -> worker::Result<u16> {
    let now = worker::Date::now().as_millis() / 1000;
    let sig = signing::sign(&keys.signing, now, body.as_bytes());
    let headers = Headers::new();
    headers.set("content-type", "application/json")?;
    headers.set(HEADER_KEY_ID, &sig.key_id)?;
    headers.set(HEADER_TIMESTAMP, &sig.timestamp.to_string())?;
    headers.set(HEADER_SIGNATURE, &sig.mac_hex)?;
    let mut init = RequestInit::new();
    init.with_method(Method::Post).with_headers(headers).with_body(Some(body.into()));
    let signal = worker::AbortSignal::from(web_sys::AbortSignal::timeout_with_u32(FORWARD_TIMEOUT_MS));
    let resp = Fetch::Request(Request::new_with_init(url, &init)?).send_with_signal(&signal).await?;
    Ok(resp.status_code())
}
