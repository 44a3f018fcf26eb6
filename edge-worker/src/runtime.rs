//! Glue to the Workers runtime: read the request, answer at once, forward
//! the signed batch in `waitUntil` so the browser never waits on us.

use std::cell::OnceCell;
use std::time::Duration;

use mintmark_protocol::settings::{SECRET_CONSENT_KEYS, SECRET_EDGE_SIGNING_KEYS, VAR_EDGE_CONFIG};
use mintmark_protocol::signing::{self, HEADER_KEY_ID, HEADER_SIGNATURE, HEADER_TIMESTAMP};
use worker::{console_error, console_log, event, Context, Delay, Env, Fetch, Headers, Method, Request, RequestInit, Response};

use crate::{handle, EdgeKeys, Incoming};

/// Attempts to reach the collector before the batch is given up (logged).
const FORWARD_ATTEMPTS: u32 = 4;

thread_local! {
    // Parsed once per isolate: settings and keys do not change under it.
    static KEYS: OnceCell<Result<EdgeKeys, String>> = const { OnceCell::new() };
}

fn load_keys(env: &Env) -> Result<EdgeKeys, String> {
    let var = |name: &str| env.var(name).map(|v| v.to_string()).map_err(|_| format!("{name} is not bound"));
    let secret = |name: &str| env.secret(name).map(|v| v.to_string()).map_err(|_| format!("{name} is not bound"));
    EdgeKeys::from_env(&var(VAR_EDGE_CONFIG)?, &secret(SECRET_EDGE_SIGNING_KEYS)?, &secret(SECRET_CONSENT_KEYS)?)
        .map_err(|e| e.to_string())
}

fn random_id() -> String {
    let mut bytes = [0u8; 16];
    getrandom::getrandom(&mut bytes).expect("crypto.getRandomValues is available in Workers");
    hex::encode(bytes)
}

fn json_error(status: u16, reason: &str) -> worker::Result<Response> {
    let headers = Headers::new();
    headers.set("content-type", "application/json")?;
    headers.set("cache-control", "no-store")?;
    Ok(Response::ok(format!("{{\"error\":\"{reason}\"}}"))?.with_status(status).with_headers(headers))
}

#[event(fetch)]
pub async fn fetch(mut req: Request, env: Env, ctx: Context) -> worker::Result<Response> {
    let keys = KEYS.with(|cell| cell.get_or_init(|| load_keys(&env)).clone());
    let keys = match keys {
        Ok(keys) => keys,
        Err(e) => {
            console_error!("mintmark edge misconfigured: {e}");
            return json_error(500, "misconfigured");
        }
    };
    let headers = req.headers().clone();
    let header = |name: &str| headers.get(name).ok().flatten();
    let path = req.path();
    let method = req.method().to_string();
    // Only read a body we might accept; the handler re-checks the limit.
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
    let decision = match handle(&keys, &incoming, &mut random_id) {
        Ok(d) => d,
        Err(rejection) => {
            console_log!("rejected status={} reason={}", rejection.status, rejection.reason);
            return json_error(rejection.status, rejection.reason);
        }
    };
    if let Some(reason) = decision.token_rejected {
        console_log!("consent token rejected reason={reason}; served as tier2");
    }
    let out = Headers::new();
    out.set("cache-control", "no-store")?;
    for c in &decision.set_cookies {
        out.append("set-cookie", c)?;
    }
    let body = serde_json::to_string(&decision.forward).map_err(|e| worker::Error::RustError(e.to_string()))?;
    ctx.wait_until(forward(keys, body));
    Ok(Response::empty()?.with_status(204).with_headers(out))
}

/// Signs and sends one batch, retrying 5xx and network errors with backoff.
async fn forward(keys: EdgeKeys, body: String) {
    let url = keys.settings.collector_url.clone();
    for attempt in 0..FORWARD_ATTEMPTS {
        if attempt > 0 {
            Delay::from(Duration::from_millis(200 * 4u64.pow(attempt - 1))).await;
        }
        match send_once(&keys, &url, &body).await {
            Ok(status) if status < 300 => return,
            Ok(status) if status < 500 => {
                console_error!("collector refused batch status={status}; not retried");
                return;
            }
            Ok(status) => console_error!("collector status={status} attempt={attempt}"),
            Err(e) => console_error!("collector unreachable attempt={attempt}: {e}"),
        }
    }
    console_error!("batch dropped after {FORWARD_ATTEMPTS} attempts");
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
    let resp = Fetch::Request(Request::new_with_init(url, &init)?).send().await?;
    Ok(resp.status_code())
}
