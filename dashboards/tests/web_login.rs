//! The dashboards' login and role checks through the real binary over HTTP,
//! as a browser and as an attacker would use them. ClickHouse is absent on
//! purpose: the page must still render and say so.

mod common;

use common::{login_form, session_of, set_cookie, start, try_login, value, PW};
use reqwest::StatusCode;

#[tokio::test]
async fn login_roles_csrf_throttling_and_logout() {
    let s = start().await;
    let get = |path: &str, cookie: &str| s.http.get(format!("{}{path}", s.base)).header("cookie", cookie.to_string()).send();

    // No session: to the login page, remembering where we were going.
    let resp = get("/?period=7d", "").await.unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(resp.headers()["location"], "/login?next=%2F%3Fperiod%3D7d");

    // The login page: the pre-session cookie's attributes and the CSP.
    let resp = s.http.get(format!("{}/login", s.base)).send().await.unwrap();
    let csp = resp.headers()["content-security-policy"].to_str().unwrap().to_string();
    assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"), "{csp}");
    assert_eq!(resp.headers()["x-frame-options"], "DENY");
    let pre = set_cookie(&resp, "mm_dash_login").unwrap();
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/login"] {
        assert!(pre.contains(attr), "{attr} missing from {pre}");
    }
    assert!(!pre.contains("Secure"), "plain http on loopback: a Secure cookie would never come back");

    // A post without the form's cookie (another site's form) is refused.
    let (token, _) = login_form(&s).await;
    let forged = s.http.post(format!("{}/login", s.base)).form(&[("csrf", token.as_str()), ("name", "ana"), ("password", PW)]).send().await.unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);

    // Wrong password and unknown user: the same answer.
    let wrong = try_login(&s, "ana", "not the password", "/").await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let wrong_body = wrong.text().await.unwrap();
    let unknown = try_login(&s, "nobody", PW, "/").await;
    assert_eq!(unknown.status(), StatusCode::UNAUTHORIZED);
    let unknown_body = unknown.text().await.unwrap();
    assert!(wrong_body.contains("Wrong user name or password.") && unknown_body.contains("Wrong user name or password."));

    // Logging in: the session cookie, then back where we were going.
    let resp = try_login(&s, "ana", PW, "/?period=7d").await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(resp.headers()["location"], "/?period=7d");
    let sc = set_cookie(&resp, "mm_dash").unwrap().to_string();
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(sc.contains(attr), "{attr} missing from {sc}");
    }
    assert!(!sc.contains("Max-Age") && !sc.contains("Expires"), "a browser-session cookie: {sc}");
    let ana = format!("mm_dash={}", value(&sc));

    // The overview renders, and says ClickHouse is down (503, the whole page).
    let page = get("/", &ana).await.unwrap();
    assert_eq!(page.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body = page.text().await.unwrap();
    assert!(body.contains("ana") && body.contains("ClickHouse is not reachable"), "{body}");
    let csrf = body.split("name=\"csrf\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_string();

    // A role without Tier 2 access is refused on the server.
    let pat = session_of(&s, "pat").await;
    assert_eq!(get("/", &pat).await.unwrap().status(), StatusCode::FORBIDDEN);
    // A forged session is no session.
    assert_eq!(get("/", &format!("mm_dash={}", "0".repeat(64))).await.unwrap().status(), StatusCode::SEE_OTHER);

    // Logout needs the session's CSRF token.
    let no_token = s.http.post(format!("{}/logout", s.base)).header("cookie", &ana).form(&[("csrf", "nope")]).send().await.unwrap();
    assert_eq!(no_token.status(), StatusCode::FORBIDDEN);
    assert_eq!(get("/", &ana).await.unwrap().status(), StatusCode::SERVICE_UNAVAILABLE, "still logged in: the page, not the login");
    let out = s.http.post(format!("{}/logout", s.base)).header("cookie", &ana).form(&[("csrf", csrf.as_str())]).send().await.unwrap();
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    assert_eq!(get("/", &ana).await.unwrap().status(), StatusCode::SEE_OTHER, "the session is gone on the server");

    // Five failures for an account: even the right password is refused.
    // (This address has two failures already; its own limit is higher.)
    for _ in 0..5 {
        assert_eq!(try_login(&s, "tom", "guessing wrong", "/").await.status(), StatusCode::UNAUTHORIZED);
    }
    let throttled = try_login(&s, "tom", PW, "/").await;
    assert_eq!(throttled.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(throttled.text().await.unwrap().contains("Too many failed attempts"));
}

#[tokio::test]
async fn hostile_next_and_names_are_inert() {
    let s = start().await;
    // An open redirect is not offered.
    let resp = try_login(&s, "ana", PW, "//evil.example/").await;
    assert_eq!(resp.headers()["location"], "/");
    // Script in `next` or the name comes back escaped.
    let evil = "\"><script>alert(1)</script>";
    let page = s.http.get(format!("{}/login", s.base)).query(&[("next", format!("/{evil}"))]).send().await.unwrap().text().await.unwrap();
    assert!(!page.contains("<script>alert(1)</script>") && page.contains("%3Cscript%3E"), "comes back normalised, percent-encoded: {page}");
    let wrong = try_login(&s, evil, "x", "/").await.text().await.unwrap();
    assert!(!wrong.contains("<script>alert(1)</script>"), "{wrong}");
}
