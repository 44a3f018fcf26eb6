//! Who is asking, and may they: the one layer every route passes through.
//!
//! [`Signed`] is any logged-in user (a live server-side session behind the
//! `mm_dash` cookie); [`Authorized<N>`] is a user holding the role `N`
//! names. A handler that takes one of them cannot run for anybody else: the
//! check is on the server, per request, never by hiding links. Without a
//! session a page redirects to the login; with the wrong role it is a 403.
//!
//! Login is protected against cross-site posting by a pre-session token (a
//! cookie on `/login` echoed by the form); every later state-changing form
//! carries its session's CSRF token ([`check_csrf`]).

use std::marker::PhantomData;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use cookie::{Cookie, SameSite};
use mintmark_protocol::keys::constant_time_eq;
use serde::Deserialize;

use super::app::{AccountsUnavailable, App};
use super::page;
use crate::accounts::now_secs;
use crate::roles::Role;
use crate::sessions::LoginSession;

pub const SESSION_COOKIE: &str = "mm_dash";
const LOGIN_COOKIE: &str = "mm_dash_login";

fn cookie_value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == name)
        .and_then(|c| c.value_raw())
}

/// `HttpOnly; SameSite=Strict`, `Secure` unless served on loopback over
/// plain http (local use), scoped to `path`.
fn set_cookie(app: &App, name: &str, value: &str, path: &str, max_age: Option<i64>) -> String {
    let mut c = Cookie::build((name, value)).path(path).http_only(true).same_site(SameSite::Strict).secure(app.secure_cookies);
    if let Some(secs) = max_age {
        c = c.max_age(cookie::time::Duration::seconds(secs));
    }
    c.build().to_string()
}

/// The form's token against the expected one, in constant time; an
/// expected token that is empty (no cookie, no session) never matches.
pub fn check_csrf(expected: &str, given: &str) -> bool {
    !expected.is_empty() && constant_time_eq(expected.as_bytes(), given.as_bytes())
}

/// Why a request was not let through.
#[derive(Debug)]
pub enum Refused {
    /// No live session: log in first, then come back to `next`.
    Login { next: String },
    /// An API request without a valid token or session: 401, not a redirect.
    Unauthenticated,
    Forbidden,
    /// The same for the API, as JSON.
    ApiForbidden,
    /// A token whose scope does not cover this route.
    TokenScope,
    /// A change through the API without a `write` token, or from a
    /// session without its CSRF token in `X-CSRF-Token`.
    ApiWrite,
    /// Too many password checks at once: try again shortly.
    Busy,
    /// The accounts database failed.
    Unavailable,
}

fn json(status: StatusCode, message: &str) -> Response {
    let mut resp = (status, axum::Json(serde_json::json!({ "error": message }))).into_response();
    if status == StatusCode::UNAUTHORIZED {
        resp.headers_mut().insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Bearer realm=\"mintmark\""));
    }
    resp
}

/// API routes answer in JSON and take bearer tokens.
fn is_api(path: &str) -> bool {
    path.starts_with("/api/")
}

impl From<AccountsUnavailable> for Refused {
    fn from(_: AccountsUnavailable) -> Refused {
        Refused::Unavailable
    }
}

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        match self {
            Refused::Unauthenticated => json(StatusCode::UNAUTHORIZED, "a valid API token (Authorization: Bearer mmt_…) or session is needed"),
            Refused::ApiForbidden => json(StatusCode::FORBIDDEN, "Not allowed: your roles do not include this view"),
            Refused::TokenScope => json(StatusCode::FORBIDDEN, "Not allowed: this token's scope is recommendations, which opens only /api/v1/recommendations"),
            Refused::ApiWrite => json(
                StatusCode::FORBIDDEN,
                "a change through the API needs a token with the write scope (or, from a signed-in page, the session's X-CSRF-Token header)",
            ),
            Refused::Busy => {
                let mut resp = page::error(StatusCode::SERVICE_UNAVAILABLE, "Busy", "Too many logins at once. Try again in a few seconds.");
                resp.headers_mut().insert(header::RETRY_AFTER, header::HeaderValue::from_static("5"));
                resp
            }
            Refused::Login { next } => {
                let to = format!("/login?next={}", percent_encoding::utf8_percent_encode(&next, percent_encoding::NON_ALPHANUMERIC));
                Redirect::to(&to).into_response()
            }
            Refused::Forbidden => {
                page::error(StatusCode::FORBIDDEN, "Not allowed", "Your roles do not include this view. Ask an admin if you need it.")
            }
            Refused::Unavailable => page::error(StatusCode::SERVICE_UNAVAILABLE, "Unavailable", "The accounts database is not available; try again shortly."),
        }
    }
}

/// Any logged-in user, and the token of their session.
pub struct Signed {
    pub session: LoginSession,
    pub token: String,
}

impl FromRequestParts<Arc<App>> for Signed {
    type Rejection = Refused;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Signed, Refused> {
        let (signed, may_change) = signed(parts, app).await?;
        if !may_change {
            return Err(Refused::ApiWrite);
        }
        Ok(signed)
    }
}

/// Who is signed in, and whether this request may change something
/// through the API: a GET may; an API change needs a `write` token or
/// the session's CSRF token in `X-CSRF-Token` (a session's cookie goes
/// with every request a page makes, so a change must prove it came from
/// our page). Refused here only for who is asking; callers refuse the
/// change after the role check, so a wrong role is told so first.
async fn signed(parts: &mut Parts, app: &Arc<App>) -> Result<(Signed, bool), Refused> {
    let next = parts.uri.path_and_query().map(|p| p.as_str().to_string()).unwrap_or_else(|| "/".into());
    let api = is_api(parts.uri.path());
    let no_login = || if api { Refused::Unauthenticated } else { Refused::Login { next: next.clone() } };
    if api {
        if let Some(bearer) = parts.headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) {
            let token = bearer.strip_prefix("Bearer ").unwrap_or("").trim().to_string();
            let found = app.with_accounts(move |a| a.token_session(&token, now_secs())).await?.map_err(|e| {
                tracing::error!(error = %e, "token lookup failed");
                Refused::Unavailable
            })?;
            // A bad token is refused even when a cookie is also sent.
            let (session, scope) = found.ok_or(Refused::Unauthenticated)?;
            if !scope.allows(parts.uri.path()) {
                return Err(Refused::TokenScope);
            }
            let may_change = !changes(parts) || scope == crate::tokens::TokenScope::Write;
            return Ok((Signed { session, token: String::new() }, may_change));
        }
    }
    let Some(token) = cookie_value(&parts.headers, SESSION_COOKIE).map(String::from) else {
        return Err(no_login());
    };
    let (lookup, life) = (token.clone(), app.life);
    let found = app.with_accounts(move |a| a.session(&lookup, now_secs(), life)).await?.map_err(|e| {
        tracing::error!(error = %e, "session lookup failed");
        Refused::Unavailable
    })?;
    match found {
        Some(session) => {
            let given = parts.headers.get("x-csrf-token").and_then(|v| v.to_str().ok()).unwrap_or("");
            let may_change = !api || !changes(parts) || check_csrf(&session.csrf, given);
            Ok((Signed { session, token }, may_change))
        }
        None => Err(no_login()),
    }
}

/// A request that changes something (anything but GET and HEAD).
fn changes(parts: &Parts) -> bool {
    !matches!(parts.method, axum::http::Method::GET | axum::http::Method::HEAD)
}

/// The role a route needs, as a type.
pub trait Need: Send + Sync {
    const ROLE: Role;
}

pub struct AnalystView;
impl Need for AnalystView {
    const ROLE: Role = Role::Analyst;
}

pub struct MarketingView;
impl Need for MarketingView {
    const ROLE: Role = Role::Marketing;
}

pub struct PrivacyView;
impl Need for PrivacyView {
    const ROLE: Role = Role::PrivacyOfficer;
}

pub struct AdminView;
impl Need for AdminView {
    const ROLE: Role = Role::Admin;
}

/// A logged-in user whose roles allow `N::ROLE`.
pub struct Authorized<N: Need> {
    pub session: LoginSession,
    _need: PhantomData<N>,
}

impl<N: Need> FromRequestParts<Arc<App>> for Authorized<N> {
    type Rejection = Refused;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Authorized<N>, Refused> {
        let (Signed { session, .. }, may_change) = signed(parts, app).await?;
        if !session.user.roles.allow(N::ROLE) {
            return Err(if is_api(parts.uri.path()) { Refused::ApiForbidden } else { Refused::Forbidden });
        }
        if !may_change {
            return Err(Refused::ApiWrite);
        }
        Ok(Authorized { session, _need: PhantomData })
    }
}

/// Where a user lands after logging in: the first page their roles open.
pub fn home(roles: crate::roles::Roles) -> String {
    if roles.allow(Role::Analyst) {
        "/"
    } else if roles.has(Role::PrivacyOfficer) {
        "/privacy"
    } else if roles.has(Role::Admin) {
        "/admin/users"
    } else {
        "/account"
    }
    .to_string()
}

/// Only a path of this site: never an open redirect to another. Browsers
/// drop tabs and newlines from a `Location` and read `\\` as `/`, so
/// `/\t/evil.example` would leave for `//evil.example`: anything with a
/// control character, whitespace or a backslash, and anything that after
/// normalisation (`/.//x` is `//x`) names a scheme or another authority,
/// goes to `/`.
pub fn safe_next(next: &str) -> String {
    const HOME: &str = "/";
    if !next.starts_with('/') || next.chars().any(|c| c.is_control() || c.is_whitespace() || c == '\\') {
        return HOME.into();
    }
    let base = url::Url::parse("http://dashboards.invalid/").expect("a valid base");
    let Ok(joined) = base.join(next) else { return HOME.into() };
    let path = joined.path();
    if joined.origin() != base.origin() || path.starts_with("//") || !path.starts_with('/') {
        return HOME.into();
    }
    match joined.query() {
        Some(q) => format!("{path}?{q}"),
        None => path.to_string(),
    }
}

#[derive(Deserialize)]
pub struct NextQuery {
    #[serde(default)]
    next: String,
}

pub async fn login_page(State(app): State<Arc<App>>, Query(q): Query<NextQuery>) -> Response {
    let token = crate::sessions::random_token();
    let cookie = set_cookie(&app, LOGIN_COOKIE, &token, "/login", Some(3600));
    let mut resp = page::login(&token, &safe_next(&q.next), "", None);
    resp.headers_mut().append(header::SET_COOKIE, cookie.parse().expect("cookie text is a header value"));
    resp
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    next: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    password: String,
}

/// What a password check came to.
pub enum PasswordCheck {
    Right(crate::accounts::User),
    /// One answer for a wrong name, a wrong password and a disabled
    /// account, so the form does not tell which accounts exist.
    Wrong,
    Throttled,
}

/// Checks `name`'s password as asked from `client`, throttled: the attempt
/// is counted against the account and the client's address (a /64 for
/// IPv6) before the password is verified, in one step under the accounts
/// lock, so concurrent guesses cannot all slip under the limit; a right
/// password then takes the account's count back. Verifications (Argon2id,
/// 19 MiB each) run at most `dashboards.max_concurrent_logins` at once;
/// past that a request waits up to 10 s, then is `Refused::Busy`. The
/// login form and the access-request export both go through here.
pub async fn check_password(app: &App, name: &str, password: String, client: std::net::IpAddr) -> Result<PasswordCheck, Refused> {
    use crate::sessions::{MAX_ACCOUNT_FAILURES, MAX_ADDRESS_FAILURES};
    let (address, now) = (throttle_key(client), now_secs());
    let (n, a) = (name.to_string(), address.clone());
    let counted = app.with_accounts(move |acc| acc.begin_attempt(&[(&n, MAX_ACCOUNT_FAILURES), (&a, MAX_ADDRESS_FAILURES)], now)).await?.map_err(|e| {
        tracing::error!(error = %e, "login throttle failed");
        Refused::Unavailable
    })?;
    if !counted {
        return Ok(PasswordCheck::Throttled);
    }
    let Ok(Ok(_permit)) = tokio::time::timeout(std::time::Duration::from_secs(10), app.verifications.acquire()).await else {
        return Err(Refused::Busy);
    };
    let (n, a) = (name.to_string(), address);
    let verified = app
        .with_accounts(move |acc| {
            let user = acc.verify(&n, &password)?;
            if user.is_some() {
                acc.clear_failures(&n)?;
                acc.forget_attempt(&a, now)?;
            }
            Ok(user)
        })
        .await?
        .map_err(|e| {
            tracing::error!(error = %e, "password check failed");
            Refused::Unavailable
        })?;
    Ok(verified.map(PasswordCheck::Right).unwrap_or(PasswordCheck::Wrong))
}

/// What throttling counts an address under: an IPv4 address, or the /64
/// an IPv6 client can pick any address in.
pub fn throttle_key(ip: std::net::IpAddr) -> String {
    match ip {
        std::net::IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
        v4 => v4.to_string(),
    }
}

/// The client of a request: the peer, or when the peer is one of
/// `dashboards.trusted_proxies`, the nearest address in `X-Forwarded-For`
/// that is not itself a trusted proxy.
pub fn client_ip(app: &App, peer: std::net::IpAddr, headers: &HeaderMap) -> std::net::IpAddr {
    let trusted = |ip: &std::net::IpAddr| app.trusted_proxies.iter().any(|net| net.contains(ip));
    if !trusted(&peer) {
        return peer;
    }
    let forwarded = headers.get_all("x-forwarded-for").iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(',')).map(str::trim);
    let hops: Vec<std::net::IpAddr> = forwarded.filter_map(|s| s.parse().ok()).collect();
    hops.into_iter().rev().find(|ip| !trusted(ip)).unwrap_or(peer)
}

pub async fn login(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let next = safe_next(&form.next);
    let expected = cookie_value(&headers, LOGIN_COOKIE).unwrap_or("");
    if !check_csrf(expected, &form.csrf) {
        return page::error(StatusCode::FORBIDDEN, "Form expired", "This login form expired or came from another site. Reload the login page and try again.");
    }
    let name = form.name.trim().to_lowercase();
    let client = client_ip(&app, peer.ip(), &headers);
    let refused = |status: StatusCode, reason: &str, message: &str| {
        tracing::warn!(reason, "login refused");
        let mut resp = page::login(&form.csrf, &next, &name, Some(message));
        *resp.status_mut() = status;
        resp
    };
    let user = match check_password(&app, &name, form.password.clone(), client).await {
        Ok(PasswordCheck::Right(user)) => user,
        Ok(PasswordCheck::Wrong) => return refused(StatusCode::UNAUTHORIZED, "wrong", "Wrong user name or password."),
        Ok(PasswordCheck::Throttled) => return refused(StatusCode::TOO_MANY_REQUESTS, "throttled", "Too many failed attempts. Try again in 15 minutes."),
        Err(r) => return r.into_response(),
    };
    let started = app.with_accounts(move |a| a.start_session(&user, now_secs())).await;
    let Ok(Ok((token, session))) = started else {
        tracing::error!("starting a session failed");
        return Refused::Unavailable.into_response();
    };
    tracing::info!(user = %session.user.name, "logged in");
    let next = if next == "/" { home(session.user.roles) } else { next };
    let mut resp = Redirect::to(&next).into_response();
    let h = resp.headers_mut();
    h.append(header::SET_COOKIE, set_cookie(&app, SESSION_COOKIE, &token, "/", None).parse().expect("header value"));
    h.append(header::SET_COOKIE, set_cookie(&app, LOGIN_COOKIE, "", "/login", Some(0)).parse().expect("header value"));
    resp
}

#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

pub async fn logout(State(app): State<Arc<App>>, signed: Signed, Form(form): Form<CsrfForm>) -> Response {
    if !check_csrf(&signed.session.csrf, &form.csrf) {
        return page::error(StatusCode::FORBIDDEN, "Form expired", "Reload the page and try again.");
    }
    let token = signed.token;
    if !matches!(app.with_accounts(move |a| a.end_session(&token)).await, Ok(Ok(()))) {
        return Refused::Unavailable.into_response();
    }
    let mut resp = Redirect::to("/login").into_response();
    resp.headers_mut().append(header::SET_COOKIE, set_cookie(&app, SESSION_COOKIE, "", "/", Some(0)).parse().expect("header value"));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_clients_are_counted_per_64_and_mapped_ipv4_as_ipv4() {
        let key = |s: &str| throttle_key(s.parse().unwrap());
        assert_eq!(key("2001:db8:1:2:aaaa::1"), key("2001:db8:1:2:ffff:ffff:ffff:ffff"), "one /64, one count");
        assert_eq!(key("2001:db8:1:2::1"), "2001:db8:1:2::/64");
        assert_ne!(key("2001:db8:1:3::1"), key("2001:db8:1:2::1"));
        assert_eq!(key("::ffff:198.51.100.7"), "198.51.100.7");
        assert_eq!(key("198.51.100.7"), "198.51.100.7");
    }

    #[test]
    fn next_is_a_path_of_ours_or_home() {
        for hostile in ["/\t/evil.example", "/\n/x", "/\\evil", "//evil", "/.//evil", "/../..//evil", "https://evil", "evil", "/ /x", "/\u{0}x", ""] {
            assert_eq!(safe_next(hostile), "/", "{hostile:?}");
        }
        assert_eq!(safe_next("/content?period=7d"), "/content?period=7d");
        assert_eq!(safe_next("/a/./b/../c"), "/a/c", "normalised");
        assert_eq!(safe_next("/%2F/evil.example"), "/%2F/evil.example", "an encoded slash stays a path segment");
    }
}
