//! A dashboards server for the tests: the real binary on a free port, with
//! users of every role, and a ClickHouse that is not there (pages must still
//! render). Plus the login steps a browser takes.
#![allow(dead_code)]

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use dashboards::accounts::Accounts;
use dashboards::roles::{Role, Roles};
use reqwest::redirect::Policy;
use reqwest::StatusCode;

pub const PW: &str = "correct horse battery";

pub struct Server {
    pub child: Child,
    pub base: String,
    pub http: reqwest::Client,
    /// The accounts database's directory.
    pub data: std::path::PathBuf,
    /// The config file, secrets included.
    pub config: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Server {
    /// The config the server runs with.
    pub fn config(&self) -> mintmark_config::Config {
        mintmark_config::Config::load(&self.config).unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

pub async fn start() -> Server {
    start_with("").await
}

/// The same with more `[dashboards]` settings (TOML lines).
pub async fn start_with(dashboards: &str) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("dash");
    let accounts = Accounts::open(&data).unwrap();
    accounts.add_user("ana", PW, Roles::of(&[Role::Analyst])).unwrap();
    accounts.add_user("pat", PW, Roles::of(&[Role::PrivacyOfficer])).unwrap();
    accounts.add_user("tom", PW, Roles::of(&[Role::Analyst])).unwrap();
    accounts.add_user("mia", PW, Roles::of(&[Role::Marketing])).unwrap();
    accounts.add_user("adam", PW, Roles::of(&[Role::Admin])).unwrap();
    drop(accounts);
    let port = free_port();
    let config = dir.path().join("mintmark.toml");
    std::fs::write(
        &config,
        format!(
            "[store]\norigins = [\"https://shop.example.gov\"]\npath_prefixes = [\"/store\"]\n\
             [clickhouse]\nurl = \"http://127.0.0.1:{}\"\n\
             [dashboards]\nlisten = \"127.0.0.1:{port}\"\ndata_dir = \"{}\"\n{dashboards}\n{}",
            free_port(),
            data.display(),
            // Fresh keys (the audit's among them), as a first run generates.
            mintmark_config::generate_secrets_toml()
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
    Server { child, base, http, data, config, _dir: dir }
}

pub fn set_cookie<'a>(resp: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    resp.headers().get_all("set-cookie").iter().filter_map(|v| v.to_str().ok()).find(|c| c.starts_with(&format!("{name}=")))
}

pub fn value(set_cookie: &str) -> &str {
    set_cookie.split(';').next().unwrap().split_once('=').unwrap().1
}

/// The login form's token and its cookie.
pub async fn login_form(s: &Server) -> (String, String) {
    let resp = s.http.get(format!("{}/login", s.base)).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let cookie = set_cookie(&resp, "mm_dash_login").unwrap().to_string();
    let token = value(&cookie).to_string();
    let body = resp.text().await.unwrap();
    assert!(body.contains(&format!("name=\"csrf\" value=\"{token}\"")), "the form echoes the token");
    (token, cookie)
}

pub async fn try_login(s: &Server, name: &str, password: &str, next: &str) -> reqwest::Response {
    let (token, _) = login_form(s).await;
    s.http
        .post(format!("{}/login", s.base))
        .header("cookie", format!("mm_dash_login={token}"))
        .form(&[("csrf", token.as_str()), ("name", name), ("password", password), ("next", next)])
        .send()
        .await
        .unwrap()
}

pub async fn session_of(s: &Server, name: &str) -> String {
    let resp = try_login(s, name, PW, "/").await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER, "{name} logs in");
    format!("mm_dash={}", value(set_cookie(&resp, "mm_dash").unwrap()))
}

