//! The pages, as askama templates (`dashboards/templates/`): values are
//! HTML-escaped by the template engine, never pasted into markup by hand.
//! A template sees only view models ([`super::view`]), never a domain type.

use askama::Template;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

use super::headers;
use super::view::account::{TokenRow, UserRow};
use super::view::chrome::Chrome;
use super::view::marketing::Marketing;
use super::view::privacy::Privacy;
use super::view::Shown;

#[derive(Template)]
#[template(path = "login.html")]
struct Login<'a> {
    csrf: &'a str,
    next: &'a str,
    name: &'a str,
    error: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "dashboard.html")]
pub struct Dashboard {
    pub chrome: Chrome,
    pub shown: Shown,
    /// Why there are no numbers (ClickHouse unreachable).
    pub error: Option<String>,
    /// Loads the realtime script.
    pub realtime: bool,
}

#[derive(Template)]
#[template(path = "marketing.html")]
pub struct MarketingPage {
    pub m: Marketing,
}

#[derive(Template)]
#[template(path = "privacy.html")]
pub struct PrivacyPage {
    pub p: Privacy,
}

/// The public notice: HTML rendered from our own Markdown, config values escaped.
#[derive(Template)]
#[template(path = "notice.html")]
pub struct Notice {
    pub html: String,
}

#[derive(Template)]
#[template(path = "account.html")]
pub struct Account {
    pub chrome: Chrome,
    pub tokens: Vec<TokenRow>,
    /// A token just created: shown once.
    pub new_token: Option<String>,
    pub message: Option<String>,
    pub token_days: u32,
    pub reports: Option<super::view::account::ReportsForm>,
}

#[derive(Template)]
#[template(path = "users.html")]
pub struct Users {
    pub chrome: Chrome,
    pub users: Vec<UserRow>,
    pub all_roles: Vec<&'static str>,
    pub message: Option<String>,
}

/// `/alerts`: the rules, what fired, the form.
#[derive(Template)]
#[template(path = "alerts.html")]
pub struct Alerts {
    pub chrome: Chrome,
    pub rules: Vec<super::view::alerts::RuleRow>,
    pub events: Vec<super::view::alerts::EventRow>,
    pub goals: Vec<String>,
    pub kinds: Vec<(&'static str, &'static str)>,
    pub mail_on: bool,
    /// How often the rules are evaluated, in words.
    pub every: String,
}

/// `/annotations` and `/segments`: lists with their forms.
#[derive(Template)]
#[template(path = "tools.html")]
pub struct Tools {
    pub chrome: Chrome,
    pub annotations: Option<Vec<super::view::analyst::AnnotationRow>>,
    pub segments: Option<Vec<super::view::analyst::SegmentRow>>,
    /// The default day of a new annotation.
    pub today: String,
}

#[derive(Template)]
#[template(path = "error.html")]
struct Error<'a> {
    title: &'a str,
    message: &'a str,
    request_id: String,
}

/// Renders a template; a template that fails to render is a 500 with no detail.
pub fn render(t: &impl Template) -> Response {
    match t.render() {
        Ok(html) => Html(html).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "template failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
        }
    }
}

pub fn login(csrf: &str, next: &str, name: &str, error: Option<&str>) -> Response {
    render(&Login { csrf, next, name, error })
}

pub fn error(status: StatusCode, title: &str, message: &str) -> Response {
    let mut resp = render(&Error { title, message, request_id: headers::request_id() });
    *resp.status_mut() = status;
    resp
}
