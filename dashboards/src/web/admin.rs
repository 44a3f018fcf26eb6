//! Accounts from the browser: each user's own API tokens (`/account`) and
//! the admin's user list (`/admin/users`). Every form carries the session's
//! CSRF token; every change is written to the access audit.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};

use super::app::App;
use super::auth::{check_csrf, AdminView, AnalystView, Authorized, Refused, Signed};
use super::form::{field, pairs};
use super::page;
use super::view::account::{ReportsForm, TokenRow, UserRow};
use super::view::chrome::bare_chrome;
use crate::accounts::{now_secs, AccountError, User};
use crate::roles::{Role, Roles};
use crate::sessions::LoginSession;
use crate::tokens::{TokenInfo, TokenScope};



fn when(secs: i64) -> String {
    crate::table::Cell::Time(secs, crate::query::Interval::Hour).display()
}


async fn account_page(app: &App, who: &LoginSession, new_token: Option<String>, message: Option<String>) -> Response {
    let name = who.user.name.clone();
    let tokens: Vec<TokenInfo> = match app.with_accounts(move |a| a.tokens(&name)).await {
        Ok(Ok(t)) => t,
        _ => return Refused::Unavailable.into_response(),
    };
    let tokens = tokens
        .into_iter()
        .map(|t| TokenRow {
            id: t.id,
            label: t.label,
            scope: t.scope.as_str(),
            created: when(t.created_at),
            expires: when(t.expires_at),
            last_used: t.last_used_at.map(when).unwrap_or_else(|| "never".into()),
        })
        .collect();
    let token_days = app.config.dashboards.token_days;
    let id = who.user.id;
    let subscription = match app.with_accounts(move |a| a.subscription(id)).await {
        Ok(Ok(s)) => s,
        _ => return Refused::Unavailable.into_response(),
    };
    let reports = who.user.roles.allow(Role::Analyst).then(|| ReportsForm {
        email: subscription.as_ref().map(|s| s.email.clone()).unwrap_or_default(),
        frequency: subscription.as_ref().map(|s| s.frequency.name()).unwrap_or("none"),
        mail_on: app.senders.mailer.enabled(),
    });
    page::render(&page::Account { chrome: bare_chrome(who, "/account", "Your account"), tokens, new_token, message, token_days, reports })
}

/// Subscribes to the weekly or monthly report, or stops it.
pub async fn set_reports(State(app): State<Arc<App>>, who: Authorized<AnalystView>, body: Bytes) -> Response {
    use crate::notify::reports::Frequency;
    let form = pairs(&body);
    if !check_csrf(&who.session.csrf, field(&form, "csrf")) {
        return page::error(StatusCode::FORBIDDEN, "Form expired", "Reload the page and try again.");
    }
    let (email, frequency) = (field(&form, "email").trim().to_string(), field(&form, "frequency").to_string());
    let to = match (frequency.as_str(), Frequency::parse(&frequency)) {
        ("none", _) => None,
        (_, Some(f)) => match crate::notify::mail::Mailer::check_address(&email) {
            Ok(_) => Some((email.clone(), f)),
            Err(e) => return account_page(&app, &who.session, None, Some(e.to_string())).await,
        },
        _ => return account_page(&app, &who.session, None, Some("pick weekly, monthly or none".into())).await,
    };
    let id = who.session.user.id;
    let what = to.as_ref().map(|(_, f)| f.name()).unwrap_or("none");
    let saved = app.with_accounts(move |a| a.set_subscription(id, to.as_ref().map(|(e, f)| (e.as_str(), *f)))).await;
    if !matches!(saved, Ok(Ok(()))) {
        return Refused::Unavailable.into_response();
    }
    if let Err(r) = app.audited(&who.session, "/account/reports", &format!("frequency={what}"), 0).await {
        return r;
    }
    Redirect::to("/account").into_response()
}

pub async fn account(State(app): State<Arc<App>>, who: Signed) -> Response {
    account_page(&app, &who.session, None, None).await
}

pub async fn create_token(State(app): State<Arc<App>>, who: Signed, body: Bytes) -> Response {
    let form = pairs(&body);
    if !check_csrf(&who.session.csrf, field(&form, "csrf")) {
        return page::error(StatusCode::FORBIDDEN, "Form expired", "Reload the page and try again.");
    }
    let (name, label) = (who.session.user.name.clone(), field(&form, "label").to_string());
    let label = if label.trim().is_empty() { "API token".to_string() } else { label };
    let scope = match TokenScope::parse(match field(&form, "scope") { "" => "read", s => s }) {
        Ok(s) => s,
        Err(e) => return account_page(&app, &who.session, None, Some(e.to_string())).await,
    };
    let lifetime = i64::from(app.config.dashboards.token_days) * 86_400;
    match app.with_accounts(move |a| a.create_token(&name, &label, scope, now_secs(), lifetime)).await {
        Ok(Ok((info, secret))) => {
            if let Err(r) = app.audited(&who.session, "/account/tokens", &format!("created={}&scope={}", info.id, scope.as_str()), 0).await {
                return r;
            }
            account_page(&app, &who.session, Some(secret), None).await
        }
        _ => Refused::Unavailable.into_response(),
    }
}

pub async fn revoke_token(State(app): State<Arc<App>>, who: Signed, Path(id): Path<String>, body: Bytes) -> Response {
    let form = pairs(&body);
    if !check_csrf(&who.session.csrf, field(&form, "csrf")) {
        return page::error(StatusCode::FORBIDDEN, "Form expired", "Reload the page and try again.");
    }
    let Ok(id) = id.parse::<i64>() else {
        return page::error(StatusCode::NOT_FOUND, "No such token", "That token does not exist.");
    };
    let name = who.session.user.name.clone();
    match app.with_accounts(move |a| a.revoke_token(&name, id)).await {
        Ok(Ok(true)) => {
            if let Err(r) = app.audited(&who.session, "/account/tokens/revoke", &format!("revoked={id}"), 0).await {
                return r;
            }
            Redirect::to("/account").into_response()
        }
        Ok(Ok(false)) => page::error(StatusCode::NOT_FOUND, "No such token", "That token does not exist."),
        _ => Refused::Unavailable.into_response(),
    }
}


async fn users_page(app: &App, who: &LoginSession, status: StatusCode, message: Option<String>) -> Response {
    let users: Vec<User> = match app.with_accounts(|a| a.list()).await {
        Ok(Ok(u)) => u,
        _ => return Refused::Unavailable.into_response(),
    };
    let users = users
        .into_iter()
        .map(|u| UserRow {
            roles: Role::ALL.iter().map(|r| (r.as_str(), u.roles.has(*r))).collect(),
            name: u.name,
            disabled: u.disabled,
            created: when(u.created_at),
        })
        .collect();
    let all_roles = Role::ALL.iter().map(|r| r.as_str()).collect();
    let mut resp = page::render(&page::Users { chrome: bare_chrome(who, "/admin/users", "Users"), users, all_roles, message });
    *resp.status_mut() = status;
    resp
}

pub async fn users(State(app): State<Arc<App>>, who: Authorized<AdminView>) -> Response {
    users_page(&app, &who.session, StatusCode::OK, None).await
}

fn roles_of(form: &[(String, String)]) -> Result<Roles, AccountError> {
    let roles: Vec<Role> = form.iter().filter(|(k, _)| k == "role").map(|(_, v)| v.parse()).collect::<Result<_, _>>()?;
    if roles.is_empty() {
        return Err(AccountError::NoRoles);
    }
    Ok(Roles::of(&roles))
}

pub async fn add_user(State(app): State<Arc<App>>, who: Authorized<AdminView>, body: Bytes) -> Response {
    let form = pairs(&body);
    if !check_csrf(&who.session.csrf, field(&form, "csrf")) {
        return page::error(StatusCode::FORBIDDEN, "Form expired", "Reload the page and try again.");
    }
    let (name, password) = (field(&form, "name").trim().to_lowercase(), field(&form, "password").to_string());
    let roles = match roles_of(&form) {
        Ok(r) => r,
        Err(e) => return users_page(&app, &who.session, StatusCode::BAD_REQUEST, Some(e.to_string())).await,
    };
    let n = name.clone();
    match app.with_accounts(move |a| a.add_user(&n, &password, roles)).await {
        Ok(Ok(_)) => {
            if let Err(r) = app.audited(&who.session, "/admin/users", &format!("added={name}&roles={roles}"), 0).await {
                return r;
            }
            Redirect::to("/admin/users").into_response()
        }
        Ok(Err(e)) => users_page(&app, &who.session, StatusCode::BAD_REQUEST, Some(e.to_string())).await,
        Err(r) => Refused::from(r).into_response(),
    }
}

/// One change to one user: `action` is `roles`, `disable`, `enable` or
/// `password`.
pub async fn change_user(State(app): State<Arc<App>>, who: Authorized<AdminView>, Path(name): Path<String>, body: Bytes) -> Response {
    let form = pairs(&body);
    if !check_csrf(&who.session.csrf, field(&form, "csrf")) {
        return page::error(StatusCode::FORBIDDEN, "Form expired", "Reload the page and try again.");
    }
    let action = field(&form, "action").to_string();
    if name == who.session.user.name && (action == "disable" || (action == "roles" && !roles_of(&form).is_ok_and(|r| r.has(Role::Admin)))) {
        return users_page(&app, &who.session, StatusCode::BAD_REQUEST, Some("You cannot disable yourself or remove your own admin role.".into())).await;
    }
    let (n, password, roles) = (name.clone(), field(&form, "password").to_string(), roles_of(&form));
    let result = match action.as_str() {
        "roles" => match roles {
            Ok(r) => app.with_accounts(move |a| a.set_roles(&n, r)).await,
            Err(e) => Ok(Err(e)),
        },
        "disable" => app.with_accounts(move |a| a.set_disabled(&n, true)).await,
        "enable" => app.with_accounts(move |a| a.set_disabled(&n, false)).await,
        "password" => app.with_accounts(move |a| a.set_password(&n, &password)).await,
        _ => return users_page(&app, &who.session, StatusCode::BAD_REQUEST, Some("Unknown action.".into())).await,
    };
    match result {
        Ok(Ok(())) => {
            if let Err(r) = app.audited(&who.session, "/admin/users/change", &format!("user={name}&action={action}"), 0).await {
                return r;
            }
            Redirect::to("/admin/users").into_response()
        }
        Ok(Err(e)) => users_page(&app, &who.session, StatusCode::BAD_REQUEST, Some(e.to_string())).await,
        Err(r) => Refused::from(r).into_response(),
    }
}
