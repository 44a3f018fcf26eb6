//! Role × route: every route of the service (`web::route_table`, the list
//! the router itself is built from, so a new route cannot be missing here)
//! is requested with no session and as a user of each role, through the
//! real binary, and what the server does is checked against the route's
//! declared access: let through, sent to the login, or refused (403).

mod common;

use common::{session_of, start};
use dashboards::roles::{Role, Roles};
use dashboards::web::{route_table, Access};

/// What the server did about who was asking.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    /// Redirected to the login page.
    Login,
    /// Refused for the roles held.
    Forbidden,
    /// Authorisation passed (whatever the handler then answered).
    Served,
    /// Refused for want of the scraper's bearer token.
    NeedsToken,
}

async fn verdict(resp: reqwest::Response) -> Verdict {
    let status = resp.status().as_u16();
    let location = resp.headers().get("location").and_then(|l| l.to_str().ok()).unwrap_or("").to_string();
    let body = resp.text().await.unwrap_or_default();
    if status == 401 && body.contains("a bearer token is needed") {
        Verdict::NeedsToken
    } else if status == 303 && location.starts_with("/login?next=") {
        Verdict::Login
    } else if status == 401 && body.contains("API token") {
        // The API's answer to nobody: a 401, not a redirect to a form.
        Verdict::Login
    } else if status == 403 && body.contains("Not allowed") {
        Verdict::Forbidden
    } else {
        Verdict::Served
    }
}

#[tokio::test]
async fn every_route_for_every_role_and_for_nobody() {
    let s = start().await;
    // One user per role (see common::start), and nobody.
    let users: [(Option<&str>, Roles); 5] = [
        (None, Roles::default()),
        (Some("ana"), Roles::of(&[Role::Analyst])),
        (Some("mia"), Roles::of(&[Role::Marketing])),
        (Some("pat"), Roles::of(&[Role::PrivacyOfficer])),
        (Some("adam"), Roles::of(&[Role::Admin])),
    ];
    let table = route_table();
    let mut seen = std::collections::BTreeSet::new();
    for r in &table {
        assert!(seen.insert((r.method, r.path)), "{} {} is declared twice", r.method, r.path);
    }
    let mut checked = 0;
    for route in &table {
        for (user, roles) in &users {
            // A fresh session per request: logging out must not end the next check's.
            let cookie = match user {
                Some(name) => session_of(&s, name).await,
                None => String::new(),
            };
            // Path parameters get a real value: a report, a token id, a user, a check, a customer.
            let path = route.path.replace("{name}", if route.path.starts_with("/admin/") { "ana" } else { "pages" }).replace("{id}", "1").replace("{check}", "t2_email").replace("{customer}", "c-1");
            let url = format!("{}{}", s.base, path);
            let req = match route.method {
                "GET" => s.http.get(&url),
                "POST" => s.http.post(&url).form(&[("csrf", "x")]),
                "PUT" => s.http.put(&url).json(&serde_json::json!({})),
                "DELETE" => s.http.delete(&url),
                other => panic!("method {other} of {} has no request here; add it", route.path),
            };
            let got = verdict(req.header("cookie", cookie).send().await.unwrap()).await;
            let want = match (route.access, user) {
                (Access::Public, _) => Verdict::Served,
                (Access::Scraper, _) => Verdict::NeedsToken,
                (_, None) => Verdict::Login,
                (Access::SignedIn, Some(_)) => Verdict::Served,
                (Access::Role(needed), Some(_)) if roles.allow(needed) => Verdict::Served,
                (Access::Role(_), Some(_)) => Verdict::Forbidden,
            };
            assert_eq!(got, want, "{} {} as {}", route.method, route.path, user.unwrap_or("nobody"));
            checked += 1;
        }
    }
    assert_eq!(checked, table.len() * users.len());
    assert!(table.iter().any(|r| matches!(r.access, Access::Role(_))), "the matrix covers a role-guarded route");
}
