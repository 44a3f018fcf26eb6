//! The API of what analysts make: goals, funnels, annotations and saved segments,
//! listed, created, changed and deleted with the same roles and checks as
//! the pages ([`super::analyst`] does the work). Reading is any analyst
//! token; a change needs a token with the `write` scope (or, from a
//! signed-in page, the session's `X-CSRF-Token`). Their numbers are read
//! like every table: `/api/v1/conversions`, or any table with
//! `f=goal:is:<name>` or a segment's `params`.

use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

use super::analyst::{self as ops, AlertInput, AlertRecord, AnnotationInput, AnnotationRecord, Failed, FunnelInput, FunnelRecord, GoalInput, GoalRecord, SegmentInput, SegmentRecord};
use super::api::{json_error, ApiError};
use super::app::App;
use super::auth::{AnalystView, Authorized};
use crate::query::Day;

fn failed(f: Failed) -> Response {
    json_error(f.status, &f.message)
}

/// The answer of a change: the record (201 when made), 204 when deleted.
fn answer<T: serde::Serialize>(status: StatusCode, r: Result<T, Failed>) -> Response {
    match r {
        Ok(v) => (status, Json(v)).into_response(),
        Err(f) => failed(f),
    }
}

fn gone(r: Result<(), Failed>) -> Response {
    match r {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(f) => failed(f),
    }
}

/// A body that is not the JSON asked for: 400 with serde's reason.
fn body<T>(b: Result<Json<T>, JsonRejection>) -> Result<T, Response> {
    b.map(|Json(v)| v).map_err(|e| json_error(StatusCode::BAD_REQUEST, &e.body_text()))
}

/// Every goal, with the filter that reads its visits.
#[utoipa::path(get, path = "/api/v1/goals", tag = "goals",
    responses((status = 200, description = "Every goal", body = [GoalRecord]), (status = 401, description = "No API token or session", body = ApiError), (status = 403, description = "Not an analyst", body = ApiError)),
    security(("api_token" = []), ("session" = [])))]
pub async fn list_goals(State(app): State<Arc<App>>, who: Authorized<AnalystView>) -> Response {
    match ops::goals(&app).await {
        Ok(goals) => {
            if let Err(r) = app.audited(&who.session, "/api/v1/goals", "", goals.len() as u64).await {
                return r;
            }
            Json(goals.iter().map(GoalRecord::from).collect::<Vec<_>>()).into_response()
        }
        Err(f) => failed(f),
    }
}

/// Makes a goal. It counts every day already collected.
#[utoipa::path(post, path = "/api/v1/goals", tag = "goals", request_body = GoalInput,
    responses((status = 201, description = "Made", body = GoalRecord), (status = 400, description = "Invalid, or the name is taken", body = ApiError), (status = 401, description = "No API token or session", body = ApiError), (status = 403, description = "Not an analyst, not a write token, or goals are edited by admins here", body = ApiError)),
    security(("api_token" = []), ("session" = [])))]
pub async fn create_goal(State(app): State<Arc<App>>, who: Authorized<AnalystView>, input: Result<Json<GoalInput>, JsonRejection>) -> Response {
    match body(input) {
        Ok(i) => answer(StatusCode::CREATED, ops::create_goal(&app, &who.session, i).await),
        Err(r) => r,
    }
}

/// Renames or redefines a goal: its numbers follow the new definition.
#[utoipa::path(put, path = "/api/v1/goals/{id}", tag = "goals", request_body = GoalInput, params(("id" = i64, Path, description = "The goal")),
    responses((status = 200, description = "Changed", body = GoalRecord), (status = 400, description = "Invalid, or the name is taken", body = ApiError), (status = 404, description = "No such goal", body = ApiError), (status = 401, description = "No API token or session", body = ApiError), (status = 403, description = "Not an analyst, not a write token, or goals are edited by admins here", body = ApiError)),
    security(("api_token" = []), ("session" = [])))]
pub async fn update_goal(State(app): State<Arc<App>>, who: Authorized<AnalystView>, Path(id): Path<i64>, input: Result<Json<GoalInput>, JsonRejection>) -> Response {
    match body(input) {
        Ok(i) => answer(StatusCode::OK, ops::update_goal(&app, &who.session, id, i).await),
        Err(r) => r,
    }
}

#[utoipa::path(delete, path = "/api/v1/goals/{id}", tag = "goals", params(("id" = i64, Path, description = "The goal")),
    responses((status = 204, description = "Deleted"), (status = 401, description = "No API token or session", body = ApiError), (status = 403, description = "Not an analyst, not a write token, or goals are edited by admins here", body = ApiError), (status = 404, description = "No such goal", body = ApiError)),
    security(("api_token" = []), ("session" = [])))]
pub async fn delete_goal(State(app): State<Arc<App>>, who: Authorized<AnalystView>, Path(id): Path<i64>) -> Response {
    gone(ops::delete_goal(&app, &who.session, id).await)
}

/// Every funnel the analysts made (the purchase funnel is always there:
/// `/api/v1/funnel` without `funnel=`).
#[utoipa::path(get, path = "/api/v1/funnels", tag = "funnels",
    responses((status = 200, description = "Every funnel", body = [FunnelRecord]), (status = 401, description = "No API token or session", body = ApiError), (status = 403, description = "Not an analyst", body = ApiError)),
    security(("api_token" = []), ("session" = [])))]
pub async fn list_funnels(State(app): State<Arc<App>>, who: Authorized<AnalystView>) -> Response {
    match ops::funnels(&app).await {
        Ok(list) => {
            if let Err(r) = app.audited(&who.session, "/api/v1/funnels", "", list.len() as u64).await {
                return r;
            }
            Json(list.iter().map(FunnelRecord::from).collect::<Vec<_>>()).into_response()
        }
        Err(f) => failed(f),
    }
}

/// Makes a funnel of 2–8 steps. It counts every day already collected.
#[utoipa::path(post, path = "/api/v1/funnels", tag = "funnels", request_body = FunnelInput,
    responses((status = 201, description = "Made", body = FunnelRecord), (status = 400, description = "Invalid, or the name is taken", body = ApiError), (status = 401, description = "No API token or session", body = ApiError), (status = 403, description = "Not an analyst, or not a write token", body = ApiError)),
    security(("api_token" = []), ("session" = [])))]
pub async fn create_funnel(State(app): State<Arc<App>>, who: Authorized<AnalystView>, input: Result<Json<FunnelInput>, JsonRejection>) -> Response {
    match body(input) {
        Ok(i) => answer(StatusCode::CREATED, ops::create_funnel(&app, &who.session, i).await),
        Err(r) => r,
    }
}

/// Renames or redefines a funnel: its numbers follow the new steps.
#[utoipa::path(put, path = "/api/v1/funnels/{id}", tag = "funnels", request_body = FunnelInput, params(("id" = i64, Path, description = "The funnel")),
    responses((status = 200, description = "Changed", body = FunnelRecord), (status = 400, description = "Invalid, or the name is taken", body = ApiError), (status = 401, description = "No API token or session", body = ApiError), (status = 403, description = "Not an analyst, or not a write token", body = ApiError), (status = 404, description = "No such funnel", body = ApiError)),
    security(("api_token" = []), ("session" = [])))]
pub async fn update_funnel(State(app): State<Arc<App>>, who: Authorized<AnalystView>, Path(id): Path<i64>, input: Result<Json<FunnelInput>, JsonRejection>) -> Response {
    match body(input) {
        Ok(i) => answer(StatusCode::OK, ops::update_funnel(&app, &who.session, id, i).await),
        Err(r) => r,
    }
}

#[utoipa::path(delete, path = "/api/v1/funnels/{id}", tag = "funnels", params(("id" = i64, Path, description = "The funnel")),
    responses((status = 204, description = "Deleted"), (status = 401, description = "No API token or session", body = ApiError), (status = 403, description = "Not an analyst, or not a write token", body = ApiError), (status = 404, description = "No such funnel", body = ApiError)),
    security(("api_token" = []), ("session" = [])))]
pub async fn delete_funnel(State(app): State<Arc<App>>, who: Authorized<AnalystView>, Path(id): Path<i64>) -> Response {
    gone(ops::delete_funnel(&app, &who.session, id).await)
}

/// Every alert rule, with its state (its webhook secret only for its
/// author or an admin).
#[utoipa::path(get, path = "/api/v1/alerts", tag = "alerts",
    responses((status = 200, description = "Every alert", body = [AlertRecord]), (status = 401, description = "No API token or session", body = ApiError), (status = 403, description = "Not an analyst", body = ApiError)),
    security(("api_token" = []), ("session" = [])))]
pub async fn list_alerts(State(app): State<Arc<App>>, who: Authorized<AnalystView>) -> Response {
    match ops::alert_records(&app, &who.session).await {
        Ok(list) => {
            if let Err(r) = app.audited(&who.session, "/api/v1/alerts", "", list.len() as u64).await {
                return r;
            }
            Json(list).into_response()
        }
        Err(f) => failed(f),
    }
}

/// Sets an alert; the answer carries the webhook's signing secret.
#[utoipa::path(post, path = "/api/v1/alerts", tag = "alerts", request_body = AlertInput,
    responses((status = 201, description = "Made", body = AlertRecord), (status = 400, description = "Invalid, or the name is taken", body = ApiError), (status = 401, description = "No API token or session", body = ApiError), (status = 403, description = "Not an analyst, or not a write token", body = ApiError)),
    security(("api_token" = []), ("session" = [])))]
pub async fn create_alert(State(app): State<Arc<App>>, who: Authorized<AnalystView>, input: Result<Json<AlertInput>, JsonRejection>) -> Response {
    match body(input) {
        Ok(i) => answer(StatusCode::CREATED, ops::create_alert(&app, &who.session, i).await),
        Err(r) => r,
    }
}

/// Changes an alert's name, condition or targets; its state and secret stay.
#[utoipa::path(put, path = "/api/v1/alerts/{id}", tag = "alerts", request_body = AlertInput, params(("id" = i64, Path, description = "The alert")),
    responses((status = 200, description = "Changed", body = AlertRecord), (status = 400, description = "Invalid, or the name is taken", body = ApiError), (status = 401, description = "No API token or session", body = ApiError), (status = 403, description = "Not an analyst, or not a write token", body = ApiError), (status = 404, description = "No such alert", body = ApiError)),
    security(("api_token" = []), ("session" = [])))]
pub async fn update_alert(State(app): State<Arc<App>>, who: Authorized<AnalystView>, Path(id): Path<i64>, input: Result<Json<AlertInput>, JsonRejection>) -> Response {
    match body(input) {
        Ok(i) => answer(StatusCode::OK, ops::update_alert(&app, &who.session, id, i).await),
        Err(r) => r,
    }
}

#[utoipa::path(delete, path = "/api/v1/alerts/{id}", tag = "alerts", params(("id" = i64, Path, description = "The alert")),
    responses((status = 204, description = "Deleted"), (status = 401, description = "No API token or session", body = ApiError), (status = 403, description = "Not an analyst, or not a write token", body = ApiError), (status = 404, description = "No such alert", body = ApiError)),
    security(("api_token" = []), ("session" = [])))]
pub async fn delete_alert(State(app): State<Arc<App>>, who: Authorized<AnalystView>, Path(id): Path<i64>) -> Response {
    gone(ops::delete_alert(&app, &who.session, id).await)
}

/// Every annotation, by day.
#[utoipa::path(get, path = "/api/v1/annotations", tag = "annotations",
    responses((status = 200, description = "Every annotation", body = [AnnotationRecord]), (status = 401, description = "No API token or session", body = ApiError), (status = 403, description = "Not an analyst", body = ApiError)),
    security(("api_token" = []), ("session" = [])))]
pub async fn list_annotations(State(app): State<Arc<App>>, who: Authorized<AnalystView>) -> Response {
    match ops::annotations(&app, Day(0), Day(i32::MAX)).await {
        Ok(list) => {
            if let Err(r) = app.audited(&who.session, "/api/v1/annotations", "", list.len() as u64).await {
                return r;
            }
            Json(list.iter().map(AnnotationRecord::from).collect::<Vec<_>>()).into_response()
        }
        Err(f) => failed(f),
    }
}

/// Adds a dated note, shown on every chart that covers its day.
#[utoipa::path(post, path = "/api/v1/annotations", tag = "annotations", request_body = AnnotationInput,
    responses((status = 201, description = "Made", body = AnnotationRecord), (status = 400, description = "Invalid", body = ApiError), (status = 401, description = "No API token or session", body = ApiError), (status = 403, description = "Not an analyst, or not a write token", body = ApiError)),
    security(("api_token" = []), ("session" = [])))]
pub async fn create_annotation(State(app): State<Arc<App>>, who: Authorized<AnalystView>, input: Result<Json<AnnotationInput>, JsonRejection>) -> Response {
    match body(input) {
        Ok(i) => answer(StatusCode::CREATED, ops::create_annotation(&app, &who.session, i).await),
        Err(r) => r,
    }
}

/// Changes an annotation: its author's or, for an admin, any.
#[utoipa::path(put, path = "/api/v1/annotations/{id}", tag = "annotations", request_body = AnnotationInput, params(("id" = i64, Path, description = "The annotation")),
    responses((status = 200, description = "Changed", body = AnnotationRecord), (status = 400, description = "Invalid", body = ApiError), (status = 401, description = "No API token or session", body = ApiError), (status = 403, description = "Not an analyst, not a write token, or not the author", body = ApiError), (status = 404, description = "No such annotation", body = ApiError)),
    security(("api_token" = []), ("session" = [])))]
pub async fn update_annotation(State(app): State<Arc<App>>, who: Authorized<AnalystView>, Path(id): Path<i64>, input: Result<Json<AnnotationInput>, JsonRejection>) -> Response {
    match body(input) {
        Ok(i) => answer(StatusCode::OK, ops::update_annotation(&app, &who.session, id, i).await),
        Err(r) => r,
    }
}

#[utoipa::path(delete, path = "/api/v1/annotations/{id}", tag = "annotations", params(("id" = i64, Path, description = "The annotation")),
    responses((status = 204, description = "Deleted"), (status = 401, description = "No API token or session", body = ApiError), (status = 403, description = "Not an analyst, not a write token, or not the author", body = ApiError), (status = 404, description = "No such annotation", body = ApiError)),
    security(("api_token" = []), ("session" = [])))]
pub async fn delete_annotation(State(app): State<Arc<App>>, who: Authorized<AnalystView>, Path(id): Path<i64>) -> Response {
    gone(ops::delete_annotation(&app, &who.session, id).await)
}

/// The segments the caller may apply: their own and the shared ones.
#[utoipa::path(get, path = "/api/v1/segments", tag = "segments",
    responses((status = 200, description = "The caller's and the shared segments", body = [SegmentRecord]), (status = 401, description = "No API token or session", body = ApiError), (status = 403, description = "Not an analyst", body = ApiError)),
    security(("api_token" = []), ("session" = [])))]
pub async fn list_segments(State(app): State<Arc<App>>, who: Authorized<AnalystView>) -> Response {
    match ops::segments(&app, &who.session).await {
        Ok(list) => {
            if let Err(r) = app.audited(&who.session, "/api/v1/segments", "", list.len() as u64).await {
                return r;
            }
            Json(list.iter().map(SegmentRecord::from).collect::<Vec<_>>()).into_response()
        }
        Err(f) => failed(f),
    }
}

/// Saves a named set of filters, private or shared.
#[utoipa::path(post, path = "/api/v1/segments", tag = "segments", request_body = SegmentInput,
    responses((status = 201, description = "Made", body = SegmentRecord), (status = 400, description = "Invalid, or the caller has one of that name", body = ApiError), (status = 401, description = "No API token or session", body = ApiError), (status = 403, description = "Not an analyst, or not a write token", body = ApiError)),
    security(("api_token" = []), ("session" = [])))]
pub async fn create_segment(State(app): State<Arc<App>>, who: Authorized<AnalystView>, input: Result<Json<SegmentInput>, JsonRejection>) -> Response {
    match body(input) {
        Ok(i) => answer(StatusCode::CREATED, ops::create_segment(&app, &who.session, i).await),
        Err(r) => r,
    }
}

/// Changes a segment: its owner's or, for an admin, any.
#[utoipa::path(put, path = "/api/v1/segments/{id}", tag = "segments", request_body = SegmentInput, params(("id" = i64, Path, description = "The segment")),
    responses((status = 200, description = "Changed", body = SegmentRecord), (status = 400, description = "Invalid", body = ApiError), (status = 401, description = "No API token or session", body = ApiError), (status = 403, description = "Not an analyst, not a write token, or not the owner", body = ApiError), (status = 404, description = "No such segment", body = ApiError)),
    security(("api_token" = []), ("session" = [])))]
pub async fn update_segment(State(app): State<Arc<App>>, who: Authorized<AnalystView>, Path(id): Path<i64>, input: Result<Json<SegmentInput>, JsonRejection>) -> Response {
    match body(input) {
        Ok(i) => answer(StatusCode::OK, ops::update_segment(&app, &who.session, id, i).await),
        Err(r) => r,
    }
}

#[utoipa::path(delete, path = "/api/v1/segments/{id}", tag = "segments", params(("id" = i64, Path, description = "The segment")),
    responses((status = 204, description = "Deleted"), (status = 401, description = "No API token or session", body = ApiError), (status = 403, description = "Not an analyst, not a write token, or not the owner", body = ApiError), (status = 404, description = "No such segment", body = ApiError)),
    security(("api_token" = []), ("session" = [])))]
pub async fn delete_segment(State(app): State<Arc<App>>, who: Authorized<AnalystView>, Path(id): Path<i64>) -> Response {
    gone(ops::delete_segment(&app, &who.session, id).await)
}
