//! The dashboards' login and role checks through the real binary over HTTP,
//! as a browser and as an attacker would use them. ClickHouse is absent on
//! purpose: the page must still render and say so.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use dashboards::accounts::Accounts;
use dashboards::roles::{Role, Roles};
use reqwest::redirect::Policy;
use reqwest::StatusCode;

const PW: &str = "correct horse battery";

struct Server {
    child: Child,
    base: String,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

async fn start() -> Server {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("dash");
    let accounts = Accounts::open(&data).unwrap();
    accounts.add_user("ana", PW, Roles::of(&[Role::Analyst])).unwrap();
    accounts.add_user("pat", PW, Roles::of(&[Role::PrivacyOfficer])).unwrap();
    accounts.add_user("tom", PW, Roles::of(&[Role::Analyst])).unwrap();
    drop(accounts);
    let port = free_port();
    let config = dir.path().join("mintmark.toml");
    std::fs::write(
        &config,
        format!(
            "[store]\norigins = [\"https://shop.example.gov\"]\npath_prefixes = [\"/store\"]\n\
             [clickhouse]\nurl = \"http://127.0.0.1:{}\"\n\
             [dashboards]\nlisten = \"127.0.0.1:{port}\"\ndata_dir = \"{}\"\n",
            free_port(),
            data.display()
        ),
    )
    .unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_dashboards"))
        .arg("--config")
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::builder().redirect(Policy::none()).build().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while http.get(format!("{base}/healthz")).send().await.is_err() {
        assert!(Instant::now() < deadline, "dashboards did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Server { child, base, http, _dir: dir }
}

fn set_cookie<'a>(resp: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    resp.headers().get_all("set-cookie").iter().filter_map(|v| v.to_str().ok()).find(|c| c.starts_with(&format!("{name}=")))
}

fn value(set_cookie: &str) -> &str {
    set_cookie.split(';').next().unwrap().split_once('=').unwrap().1
}

/// The login form's token and its cookie.
async fn login_form(s: &Server) -> (String, String) {
    let resp = s.http.get(format!("{}/login", s.base)).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let cookie = set_cookie(&resp, "mm_dash_login").unwrap().to_string();
    let token = value(&cookie).to_string();
    let body = resp.text().await.unwrap();
    assert!(body.contains(&format!("name=\"csrf\" value=\"{token}\"")), "the form echoes the token");
    (token, cookie)
}

async fn try_login(s: &Server, name: &str, password: &str, next: &str) -> reqwest::Response {
    let (token, _) = login_form(s).await;
    s.http
        .post(format!("{}/login", s.base))
        .header("cookie", format!("mm_dash_login={token}"))
        .form(&[("csrf", token.as_str()), ("name", name), ("password", password), ("next", next)])
        .send()
        .await
        .unwrap()
}

async fn session_of(s: &Server, name: &str) -> String {
    let resp = try_login(s, name, PW, "/").await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER, "{name} logs in");
    format!("mm_dash={}", value(set_cookie(&resp, "mm_dash").unwrap()))
}

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

    // The overview renders, and says ClickHouse is down rather than failing.
    let page = get("/", &ana).await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
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
    assert_eq!(get("/", &ana).await.unwrap().status(), StatusCode::OK, "still logged in");
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
    assert!(!page.contains("<script>alert(1)</script>") && page.contains("&#60;script&#62;"), "{page}");
    let wrong = try_login(&s, evil, "x", "/").await.text().await.unwrap();
    assert!(!wrong.contains("<script>alert(1)</script>"), "{wrong}");
}
