//! What analysts make, from the browser and from the API: goals,
//! annotations and saved segments. One set of operations
//! ([`create_goal`], [`update_goal`], …) takes typed inputs and answers
//! typed records or a [`Failed`] with its status and reason; the form
//! handlers here and the JSON handlers in [`super::api_analyst`] both go
//! through them, so a change is checked, permitted and audited the same
//! way whichever way it came. Forms carry the session's CSRF token.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::app::App;
use super::auth::{check_csrf, safe_next, AnalystView, Authorized};
use super::form::{field, pairs};
use super::page;
use super::view::analyst::{annotation_rows, segment_rows};
use super::view::chrome::bare_chrome;
use crate::accounts::{now_secs, AccountError};
use crate::analyst::annotations::{Annotation, Editor};
use crate::analyst::funnels::{Funnel, Step};
use crate::notify::alerts::Rule;
use crate::analyst::goals::{cents_text, Goal, GoalKind};
use crate::analyst::segments::Segment;
use crate::query::Day;
use crate::roles::Role;
use crate::sessions::LoginSession;

/// Why a change was not made: the status and the reason to show.
#[derive(Debug)]
pub struct Failed {
    pub status: StatusCode,
    pub message: String,
}

impl Failed {
    fn new(status: StatusCode, message: impl Into<String>) -> Failed {
        Failed { status, message: message.into() }
    }

    fn unavailable() -> Failed {
        Failed::new(StatusCode::SERVICE_UNAVAILABLE, "the accounts database is not available; try again shortly")
    }
}

/// A goal, as made or changed (a form's fields or an API body).
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct GoalInput {
    #[schema(example = "Newsletter sign-up")]
    pub name: String,
    /// `pageview`, `event` or `purchase`.
    #[schema(example = "event")]
    pub kind: String,
    /// Pageview goals: the path, exact or with `*` (any characters but
    /// `/`) and `**` (any characters).
    #[serde(default)]
    #[schema(example = "")]
    pub pattern: String,
    /// Event goals: the custom event's name.
    #[serde(default)]
    #[schema(example = "newsletter_signup")]
    pub event: String,
    /// Event goals, optionally: a property that must equal `property_value`.
    #[serde(default)]
    pub property_key: String,
    #[serde(default)]
    pub property_value: String,
    /// Purchase goals, optionally: the least value (`50` or `49.90`).
    #[serde(default)]
    pub min_value: String,
}

/// A goal as the API answers it.
#[derive(Debug, Serialize, ToSchema)]
pub struct GoalRecord {
    pub id: i64,
    pub name: String,
    pub kind: String,
    /// The definition in words.
    #[schema(example = "event newsletter_signup")]
    pub definition: String,
    pub pattern: Option<String>,
    pub event: Option<String>,
    pub property_key: Option<String>,
    pub property_value: Option<String>,
    pub min_value: Option<String>,
    /// Filters any table by the visits that reached it.
    #[schema(example = "goal:is:Newsletter sign-up")]
    pub filter: String,
    pub created_by: Option<String>,
    /// Unix seconds.
    pub updated_at: i64,
}

impl From<&Goal> for GoalRecord {
    fn from(g: &Goal) -> GoalRecord {
        let (mut pattern, mut event, mut key, mut value, mut min) = (None, None, None, None, None);
        match &g.kind {
            GoalKind::Pageview { pattern: p } => pattern = Some(p.clone()),
            GoalKind::Event { name, property } => {
                event = Some(name.clone());
                if let Some((k, v)) = property {
                    (key, value) = (Some(k.clone()), Some(v.clone()));
                }
            }
            GoalKind::Purchase { min_cents } => min = min_cents.map(cents_text),
        }
        GoalRecord {
            id: g.id,
            name: g.name.clone(),
            kind: g.kind.kind_name().into(),
            definition: g.kind.definition(),
            pattern,
            event,
            property_key: key,
            property_value: value,
            min_value: min,
            filter: format!("goal:is:{}", g.name),
            created_by: g.created_by.clone(),
            updated_at: g.updated_at,
        }
    }
}

/// One step of a funnel, as made or changed.
#[derive(Debug, Clone, Default, Deserialize, Serialize, ToSchema)]
pub struct StepInput {
    /// `pageview` (a path, `*` and `**` as in goals), `event` (a custom
    /// event's name) or `commerce` (`product_view`, `add_to_cart`,
    /// `checkout_start`, `purchase`).
    #[schema(example = "pageview")]
    pub kind: String,
    #[schema(example = "/store/products/*")]
    pub value: String,
}

/// A funnel, as made or changed.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct FunnelInput {
    #[schema(example = "Product to purchase")]
    pub name: String,
    /// 2–8 steps, in order.
    pub steps: Vec<StepInput>,
    /// How long after the first step the last may come; 1 minute to 7
    /// days, 24 hours when left out.
    #[serde(default)]
    pub window_minutes: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FunnelRecord {
    pub id: i64,
    pub name: String,
    pub steps: Vec<StepInput>,
    pub window_minutes: u32,
    #[schema(example = "pageview /store/products/* → commerce purchase within 1440 min")]
    pub definition: String,
    /// Reads its numbers: `/api/v1/funnel?funnel=<name>`.
    pub params: String,
    pub created_by: Option<String>,
}

impl From<&Funnel> for FunnelRecord {
    fn from(f: &Funnel) -> FunnelRecord {
        FunnelRecord {
            id: f.id,
            name: f.name.clone(),
            steps: f.steps.iter().map(|s| StepInput { kind: s.kind_name().into(), value: s.value().into() }).collect(),
            window_minutes: f.window_secs / 60,
            definition: f.definition(),
            params: form_urlencoded::Serializer::new(String::new()).append_pair("funnel", &f.name).finish(),
            created_by: f.created_by.clone(),
        }
    }
}

/// An alert rule, as made or changed.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct AlertInput {
    #[schema(example = "Tracking outage")]
    pub name: String,
    /// `tracking_outage` (minutes without an event), `traffic_drop`
    /// (percent of the usual visits for the hour), `no_purchases` (hours),
    /// `goal_rate` (percent conversion rate of `goal`).
    #[schema(example = "tracking_outage")]
    pub kind: String,
    #[schema(example = 15.0)]
    pub threshold: f64,
    #[serde(default)]
    pub goal: String,
    #[serde(default)]
    #[schema(example = "ops@store.example")]
    pub email: String,
    #[serde(default)]
    pub webhook: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AlertRecord {
    pub id: i64,
    pub name: String,
    pub kind: String,
    pub threshold: f64,
    pub goal: String,
    /// The rule in words.
    pub rule: String,
    pub email: String,
    pub webhook: String,
    /// `firing` or `ok`, and since when (Unix seconds).
    pub state: String,
    pub since: i64,
    /// The webhook's HMAC key: only for the rule's author or an admin.
    pub secret: Option<String>,
}

impl AlertRecord {
    fn of(r: &Rule, who: &LoginSession) -> AlertRecord {
        AlertRecord {
            id: r.id,
            name: r.name.clone(),
            kind: r.kind.name().into(),
            threshold: r.threshold,
            goal: r.goal.clone(),
            rule: r.kind.describe(r.threshold, &r.goal),
            email: r.email.clone(),
            webhook: r.webhook.clone(),
            state: if r.firing { "firing" } else { "ok" }.into(),
            since: r.since,
            secret: (who.user.roles.has(Role::Admin) || r.created_by == Some(who.user.id)).then(|| r.secret.clone()),
        }
    }
}

/// An annotation, as made or changed.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct AnnotationInput {
    /// `YYYY-MM-DD`.
    #[schema(example = "2026-11-27")]
    pub day: String,
    #[schema(example = "Black Friday e-mail sent")]
    pub text: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AnnotationRecord {
    pub id: i64,
    pub day: String,
    pub text: String,
    pub author: Option<String>,
    pub updated_at: i64,
}

impl From<&Annotation> for AnnotationRecord {
    fn from(a: &Annotation) -> AnnotationRecord {
        AnnotationRecord { id: a.id, day: a.day.to_string(), text: a.text.clone(), author: a.author.clone(), updated_at: a.updated_at }
    }
}

/// A saved segment, as made or changed.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct SegmentInput {
    #[schema(example = "Mobile visitors from Germany")]
    pub name: String,
    /// Each `dimension:op:value`, as in the `f` parameter.
    #[schema(example = json!(["country:is:DE", "device:is:mobile"]))]
    pub filters: Vec<String>,
    /// Shown to every analyst (otherwise only to its owner).
    #[serde(default)]
    pub shared: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SegmentRecord {
    pub id: i64,
    pub name: String,
    pub filters: Vec<String>,
    pub owner: String,
    pub shared: bool,
    /// Its filters as a query string: append to any view or table.
    #[schema(example = "f=country%3Ais%3ADE&f=device%3Ais%3Amobile")]
    pub params: String,
}

impl From<&Segment> for SegmentRecord {
    fn from(s: &Segment) -> SegmentRecord {
        SegmentRecord { id: s.id, name: s.name.clone(), filters: s.filters.clone(), owner: s.owner.clone(), shared: s.shared, params: s.params() }
    }
}

fn editor(who: &LoginSession) -> Editor {
    Editor { user_id: who.user.id, admin: who.user.roles.has(Role::Admin) }
}

/// Runs an accounts call; an outage is a 503, a refusal its own status.
async fn accounts<T: Send + 'static, E: std::fmt::Display + Send + 'static>(
    app: &App,
    f: impl FnOnce(&crate::accounts::Accounts) -> Result<Result<T, E>, AccountError> + Send + 'static,
    refused: StatusCode,
) -> Result<T, Failed> {
    match app.with_accounts(f).await {
        Ok(Ok(Ok(v))) => Ok(v),
        Ok(Ok(Err(e))) => Err(Failed::new(refused, e.to_string())),
        Ok(Err(e)) => {
            tracing::error!(error = %e, "an accounts call failed");
            Err(Failed::unavailable())
        }
        Err(_) => Err(Failed::unavailable()),
    }
}

/// Writes the change to the access audit; without it, nothing is said done.
async fn audit(app: &App, who: &LoginSession, route: &str, what: String) -> Result<(), Failed> {
    app.audited(who, route, &what, 0)
        .await
        .map_err(|_| Failed::new(StatusCode::SERVICE_UNAVAILABLE, "the access audit cannot be written, so the change is not confirmed; reload to see whether it was made"))
}

/// Whether `who` may edit goals here (`dashboards.goal_editors`).
fn may_edit_goals(app: &App, who: &LoginSession) -> Result<(), Failed> {
    if app.config.dashboards.goal_editors == "admin" && !who.user.roles.has(Role::Admin) {
        return Err(Failed::new(StatusCode::FORBIDDEN, "Not allowed: goals are edited by admins here (dashboards.goal_editors)"));
    }
    Ok(())
}

fn goal_kind(i: &GoalInput) -> Result<GoalKind, Failed> {
    GoalKind::from_fields(&i.kind, &i.pattern, &i.event, &i.property_key, &i.property_value, &i.min_value).map_err(|e| Failed::new(StatusCode::BAD_REQUEST, e.to_string()))
}

pub async fn goals(app: &App) -> Result<Vec<Goal>, Failed> {
    accounts(app, |a| a.goals().map(Ok::<_, AccountError>), StatusCode::INTERNAL_SERVER_ERROR).await
}

pub async fn create_goal(app: &App, who: &LoginSession, input: GoalInput) -> Result<GoalRecord, Failed> {
    may_edit_goals(app, who)?;
    let kind = goal_kind(&input)?;
    let user = who.user.id;
    let goal = accounts(app, move |a| a.add_goal(&input.name, &kind, user, now_secs()), StatusCode::BAD_REQUEST).await?;
    audit(app, who, "/goals", format!("created={}", goal.id)).await?;
    Ok(GoalRecord::from(&goal))
}

pub async fn update_goal(app: &App, who: &LoginSession, id: i64, input: GoalInput) -> Result<GoalRecord, Failed> {
    may_edit_goals(app, who)?;
    let kind = goal_kind(&input)?;
    let goal = accounts_refusing(app, move |a| a.update_goal(id, &input.name, &kind, now_secs())).await?;
    audit(app, who, "/goals", format!("updated={id}")).await?;
    Ok(GoalRecord::from(&goal))
}

pub async fn delete_goal(app: &App, who: &LoginSession, id: i64) -> Result<(), Failed> {
    may_edit_goals(app, who)?;
    accounts_refusing(app, move |a| a.delete_goal(id)).await?;
    audit(app, who, "/goals", format!("deleted={id}")).await
}

fn funnel_parts(i: &FunnelInput) -> Result<(Vec<Step>, u32), Failed> {
    let steps = i.steps.iter().map(|s| Step::parse(&s.kind, &s.value)).collect::<Result<Vec<_>, _>>().map_err(|e| Failed::new(StatusCode::BAD_REQUEST, e.to_string()))?;
    let window = i.window_minutes.map(|m| m.saturating_mul(60)).unwrap_or(crate::analyst::funnels::DEFAULT_WINDOW_SECS);
    Ok((steps, window))
}

pub async fn funnels(app: &App) -> Result<Vec<Funnel>, Failed> {
    accounts(app, |a| a.funnels().map(Ok::<_, AccountError>), StatusCode::INTERNAL_SERVER_ERROR).await
}

pub async fn create_funnel(app: &App, who: &LoginSession, input: FunnelInput) -> Result<FunnelRecord, Failed> {
    let (steps, window) = funnel_parts(&input)?;
    let user = who.user.id;
    let f = accounts_refusing(app, move |a| a.add_funnel(&input.name, &steps, window, user, now_secs())).await?;
    audit(app, who, "/funnels", format!("created={}", f.id)).await?;
    Ok(FunnelRecord::from(&f))
}

pub async fn update_funnel(app: &App, who: &LoginSession, id: i64, input: FunnelInput) -> Result<FunnelRecord, Failed> {
    let (steps, window) = funnel_parts(&input)?;
    let f = accounts_refusing(app, move |a| a.update_funnel(id, &input.name, &steps, window, now_secs())).await?;
    audit(app, who, "/funnels", format!("updated={id}")).await?;
    Ok(FunnelRecord::from(&f))
}

pub async fn delete_funnel(app: &App, who: &LoginSession, id: i64) -> Result<(), Failed> {
    accounts_refusing(app, move |a| a.delete_funnel(id)).await?;
    audit(app, who, "/funnels", format!("deleted={id}")).await
}

pub async fn alert_rules(app: &App) -> Result<Vec<Rule>, Failed> {
    accounts(app, |a| a.alert_rules().map(Ok::<_, AccountError>), StatusCode::INTERNAL_SERVER_ERROR).await
}

pub async fn alert_records(app: &App, who: &LoginSession) -> Result<Vec<AlertRecord>, Failed> {
    Ok(alert_rules(app).await?.iter().map(|r| AlertRecord::of(r, who)).collect())
}

pub async fn create_alert(app: &App, who: &LoginSession, i: AlertInput) -> Result<AlertRecord, Failed> {
    let user = who.user.id;
    let r = accounts_refusing(app, move |a| a.add_alert_rule(&i.name, &i.kind, i.threshold, &i.goal, &i.email, &i.webhook, user, now_secs())).await?;
    audit(app, who, "/alerts", format!("created={}", r.id)).await?;
    Ok(AlertRecord::of(&r, who))
}

pub async fn update_alert(app: &App, who: &LoginSession, id: i64, i: AlertInput) -> Result<AlertRecord, Failed> {
    let r = accounts_refusing(app, move |a| a.update_alert_rule(id, &i.name, &i.kind, i.threshold, &i.goal, &i.email, &i.webhook)).await?;
    audit(app, who, "/alerts", format!("updated={id}")).await?;
    Ok(AlertRecord::of(&r, who))
}

pub async fn delete_alert(app: &App, who: &LoginSession, id: i64) -> Result<(), Failed> {
    accounts_refusing(app, move |a| a.delete_alert_rule(id)).await?;
    audit(app, who, "/alerts", format!("deleted={id}")).await
}

fn form_alert(form: &[(String, String)]) -> AlertInput {
    AlertInput {
        name: field(form, "name").into(),
        kind: field(form, "kind").into(),
        threshold: field(form, "threshold").trim().parse().unwrap_or(f64::NAN),
        goal: field(form, "goal").into(),
        email: field(form, "email").into(),
        webhook: field(form, "webhook").into(),
    }
}

/// `/alerts`: the rules, what fired lately, the form.
pub async fn alerts_page(State(app): State<Arc<App>>, who: Authorized<AnalystView>) -> Response {
    let (rules, events, goals) = match app.with_accounts(|a| Ok((a.alert_rules()?, a.alert_events(50)?, a.goals()?))).await {
        Ok(Ok(all)) => all,
        _ => return page::error(StatusCode::SERVICE_UNAVAILABLE, "Unavailable", "The accounts database is not available; try again shortly."),
    };
    if let Err(r) = app.audited(&who.session, "/alerts", "", (rules.len() + events.len()) as u64).await {
        return r;
    }
    let s = &who.session;
    page::render(&page::Alerts {
        chrome: bare_chrome(s, "/alerts", "Alerts"),
        rules: super::view::alerts::rule_rows(&rules, s.user.id, s.user.roles.has(Role::Admin)),
        events: super::view::alerts::event_rows(&events),
        goals: goals.into_iter().map(|g| g.name).collect(),
        kinds: vec![
            ("tracking_outage", "no event for N minutes"),
            ("traffic_drop", "visits below N % of usual"),
            ("no_purchases", "no purchase for N hours"),
            ("goal_rate", "a goal's rate below N %"),
        ],
        mail_on: app.senders.mailer.enabled(),
        every: match app.config.notify.alerts_every_secs {
            60 => "every minute".into(),
            n if n % 60 == 0 => format!("every {} minutes", n / 60),
            n => format!("every {n} seconds"),
        },
    })
}

fn day_of(s: &str) -> Result<Day, Failed> {
    Day::parse(s.trim()).ok_or_else(|| Failed::new(StatusCode::BAD_REQUEST, "an annotation's day is YYYY-MM-DD"))
}

/// The status of an annotation or segment refusal.
fn refusal_status(message: &str) -> StatusCode {
    if message.starts_with("only its") {
        StatusCode::FORBIDDEN
    } else if message.starts_with("no such") {
        StatusCode::NOT_FOUND
    } else {
        StatusCode::BAD_REQUEST
    }
}

/// [`accounts`] for calls whose refusals differ in status (not yours, not
/// found, bad input).
async fn accounts_refusing<T: Send + 'static, E: std::fmt::Display + Send + 'static>(
    app: &App,
    f: impl FnOnce(&crate::accounts::Accounts) -> Result<Result<T, E>, AccountError> + Send + 'static,
) -> Result<T, Failed> {
    accounts(app, f, StatusCode::BAD_REQUEST).await.map_err(|e| if e.status == StatusCode::BAD_REQUEST { Failed { status: refusal_status(&e.message), ..e } } else { e })
}

pub async fn annotations(app: &App, from: Day, until: Day) -> Result<Vec<Annotation>, Failed> {
    accounts(app, move |a| a.annotations(from, until).map(Ok::<_, AccountError>), StatusCode::INTERNAL_SERVER_ERROR).await
}

pub async fn create_annotation(app: &App, who: &LoginSession, input: AnnotationInput) -> Result<AnnotationRecord, Failed> {
    let day = day_of(&input.day)?;
    let user = who.user.id;
    let a = accounts_refusing(app, move |a| a.add_annotation(day, &input.text, user, now_secs())).await?;
    audit(app, who, "/annotations", format!("created={}", a.id)).await?;
    Ok(AnnotationRecord::from(&a))
}

pub async fn update_annotation(app: &App, who: &LoginSession, id: i64, input: AnnotationInput) -> Result<AnnotationRecord, Failed> {
    let day = day_of(&input.day)?;
    let by = editor(who);
    let a = accounts_refusing(app, move |a| a.update_annotation(id, day, &input.text, by, now_secs())).await?;
    audit(app, who, "/annotations", format!("updated={id}")).await?;
    Ok(AnnotationRecord::from(&a))
}

pub async fn delete_annotation(app: &App, who: &LoginSession, id: i64) -> Result<(), Failed> {
    let by = editor(who);
    accounts_refusing(app, move |a| a.delete_annotation(id, by)).await?;
    audit(app, who, "/annotations", format!("deleted={id}")).await
}

pub async fn segments(app: &App, who: &LoginSession) -> Result<Vec<Segment>, Failed> {
    let user = who.user.id;
    accounts(app, move |a| a.segments_for(user).map(Ok::<_, AccountError>), StatusCode::INTERNAL_SERVER_ERROR).await
}

pub async fn create_segment(app: &App, who: &LoginSession, input: SegmentInput) -> Result<SegmentRecord, Failed> {
    let user = who.user.id;
    let s = accounts_refusing(app, move |a| a.add_segment(&input.name, &input.filters, input.shared, user, now_secs())).await?;
    audit(app, who, "/segments", format!("created={}", s.id)).await?;
    Ok(SegmentRecord::from(&s))
}

pub async fn update_segment(app: &App, who: &LoginSession, id: i64, input: SegmentInput) -> Result<SegmentRecord, Failed> {
    let by = editor(who);
    let s = accounts_refusing(app, move |a| a.update_segment(id, &input.name, &input.filters, input.shared, by, now_secs())).await?;
    audit(app, who, "/segments", format!("updated={id}")).await?;
    Ok(SegmentRecord::from(&s))
}

pub async fn delete_segment(app: &App, who: &LoginSession, id: i64) -> Result<(), Failed> {
    let by = editor(who);
    accounts_refusing(app, move |a| a.delete_segment(id, by)).await?;
    audit(app, who, "/segments", format!("deleted={id}")).await
}

// The forms.

fn form_goal(form: &[(String, String)]) -> GoalInput {
    GoalInput {
        name: field(form, "name").into(),
        kind: field(form, "kind").into(),
        pattern: field(form, "pattern").into(),
        event: field(form, "event").into(),
        property_key: field(form, "property_key").into(),
        property_value: field(form, "property_value").into(),
        min_value: field(form, "min_value").into(),
    }
}

fn form_funnel(form: &[(String, String)]) -> FunnelInput {
    let steps = (1..=crate::analyst::funnels::MAX_STEPS)
        .filter_map(|i| {
            let value = field(form, &format!("step_value_{i}")).trim();
            (!value.is_empty()).then(|| StepInput { kind: field(form, &format!("step_kind_{i}")).into(), value: value.into() })
        })
        .collect();
    FunnelInput { name: field(form, "name").into(), steps, window_minutes: field(form, "window_minutes").trim().parse().ok() }
}

fn form_annotation(form: &[(String, String)]) -> AnnotationInput {
    AnnotationInput { day: field(form, "day").into(), text: field(form, "text").into() }
}

fn form_segment(form: &[(String, String)]) -> SegmentInput {
    SegmentInput {
        name: field(form, "name").into(),
        filters: form.iter().filter(|(k, v)| k == "f" && !v.is_empty()).map(|(_, v)| v.clone()).collect(),
        shared: field(form, "shared") == "on",
    }
}

/// A form's body after its CSRF check, or the refusal page.
fn checked(who: &LoginSession, body: &Bytes) -> Result<Vec<(String, String)>, Response> {
    let form = pairs(body);
    if !check_csrf(&who.csrf, field(&form, "csrf")) {
        return Err(page::error(StatusCode::FORBIDDEN, "Form expired", "This form expired or came from another site. Reload the page and try again."));
    }
    Ok(form)
}

/// Back to the page the form was on (`back`, a path of ours), or `home`.
fn done(form: &[(String, String)], home: &str, outcome: Result<(), Failed>) -> Response {
    match outcome {
        Ok(()) => {
            let back = field(form, "back");
            Redirect::to(&if back.is_empty() { home.to_string() } else { safe_next(back) }).into_response()
        }
        Err(f) => page::error(f.status, "Not saved", &f.message),
    }
}

macro_rules! form_handlers {
    ($create:ident, $update:ident, $delete:ident, $input:ident, $op_create:ident, $op_update:ident, $op_delete:ident, $home:expr) => {
        pub async fn $create(State(app): State<Arc<App>>, who: Authorized<AnalystView>, body: Bytes) -> Response {
            let form = match checked(&who.session, &body) {
                Ok(f) => f,
                Err(r) => return r,
            };
            let outcome = $op_create(&app, &who.session, $input(&form)).await.map(|_| ());
            done(&form, $home, outcome)
        }

        pub async fn $update(State(app): State<Arc<App>>, who: Authorized<AnalystView>, Path(id): Path<i64>, body: Bytes) -> Response {
            let form = match checked(&who.session, &body) {
                Ok(f) => f,
                Err(r) => return r,
            };
            let outcome = $op_update(&app, &who.session, id, $input(&form)).await.map(|_| ());
            done(&form, $home, outcome)
        }

        pub async fn $delete(State(app): State<Arc<App>>, who: Authorized<AnalystView>, Path(id): Path<i64>, body: Bytes) -> Response {
            let form = match checked(&who.session, &body) {
                Ok(f) => f,
                Err(r) => return r,
            };
            let outcome = $op_delete(&app, &who.session, id).await;
            done(&form, $home, outcome)
        }
    };
}

form_handlers!(goal_form_create, goal_form_update, goal_form_delete, form_goal, create_goal, update_goal, delete_goal, "/goals");
form_handlers!(funnel_form_create, funnel_form_update, funnel_form_delete, form_funnel, create_funnel, update_funnel, delete_funnel, "/funnels");
form_handlers!(alert_form_create, alert_form_update, alert_form_delete, form_alert, create_alert, update_alert, delete_alert, "/alerts");
form_handlers!(annotation_form_create, annotation_form_update, annotation_form_delete, form_annotation, create_annotation, update_annotation, delete_annotation, "/annotations");
form_handlers!(segment_form_create, segment_form_update, segment_form_delete, form_segment, create_segment, update_segment, delete_segment, "/segments");

/// `/annotations`: every annotation, newest first, with the forms to make,
/// change and remove them.
pub async fn annotations_page(State(app): State<Arc<App>>, who: Authorized<AnalystView>) -> Response {
    let list = match annotations(&app, Day(0), Day(i32::MAX)).await {
        Ok(l) => l,
        Err(f) => return page::error(f.status, "Unavailable", &f.message),
    };
    if let Err(r) = app.audited(&who.session, "/annotations", "", list.len() as u64).await {
        return r;
    }
    let rows = annotation_rows(&list, editor(&who.session));
    page::render(&page::Tools { chrome: bare_chrome(&who.session, "/annotations", "Annotations"), annotations: Some(rows), segments: None, today: Day::today().to_string() })
}

/// `/segments`: the segments the user may apply, with the forms to change
/// their own (or, for an admin, any).
pub async fn segments_page(State(app): State<Arc<App>>, who: Authorized<AnalystView>) -> Response {
    let list = match segments(&app, &who.session).await {
        Ok(l) => l,
        Err(f) => return page::error(f.status, "Unavailable", &f.message),
    };
    if let Err(r) = app.audited(&who.session, "/segments", "", list.len() as u64).await {
        return r;
    }
    let rows = segment_rows(&list, editor(&who.session));
    page::render(&page::Tools { chrome: bare_chrome(&who.session, "/segments", "Saved segments"), annotations: None, segments: Some(rows), today: Day::today().to_string() })
}
