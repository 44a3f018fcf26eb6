//! The dashboards' JSON API as OpenAPI 3, generated from the handlers'
//! own types and annotations ([`super::api`], `utoipa`), served at
//! `/api/openapi.json` and rendered in the manual (`docs/src/api/`).

use axum::Json;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{api, api_analyst};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "mintmark dashboards",
        description = "The analysts' numbers for scripts: every table of the dashboards, the realtime window and \
                       cross-sell recommendations, released exactly as the pages show them. Authenticate with an \
                       API token (`Authorization: Bearer mmt_…`, made on `/account`) or a browser session. Every \
                       read is written to the access audit before its data leaves. Refusals are \
                       `{\"error\": \"…\"}`."
    ),
    paths(
        api::table,
        api::realtime,
        api::recommendations,
        api_analyst::list_goals,
        api_analyst::create_goal,
        api_analyst::update_goal,
        api_analyst::delete_goal,
        api_analyst::list_funnels,
        api_analyst::create_funnel,
        api_analyst::update_funnel,
        api_analyst::delete_funnel,
        api_analyst::list_alerts,
        api_analyst::create_alert,
        api_analyst::update_alert,
        api_analyst::delete_alert,
        api_analyst::list_annotations,
        api_analyst::create_annotation,
        api_analyst::update_annotation,
        api_analyst::delete_annotation,
        api_analyst::list_segments,
        api_analyst::create_segment,
        api_analyst::update_segment,
        api_analyst::delete_segment,
        spec_route
    ),
    tags(
        (name = "analytics", description = "Tier 2 tables, released with differential privacy"),
        (name = "goals", description = "What counts as converting; read their numbers at /api/v1/conversions or with f=goal:is:<name>"),
        (name = "funnels", description = "Analysts' funnels; walk one at /api/v1/funnel?funnel=<name>"),
        (name = "alerts", description = "Rules that send an e-mail and a signed webhook when something goes wrong, and when it recovers"),
        (name = "annotations", description = "Dated notes shown on the charts"),
        (name = "segments", description = "Saved sets of filters"),
        (name = "recommendations", description = "Products bought together, for the store's pages"),
        (name = "meta", description = "This description"),
    ),
    modifiers(&Auth)
)]
pub struct DashboardsApi;

/// The `api_token` and `session` schemes the routes name.
struct Auth;

impl Modify for Auth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let c = openapi.components.get_or_insert_with(Default::default);
        let token = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .description(Some("An API token (`mmt_…`) made on `/account`, scope `read` (every analyst read), `write` (reads, and changes to goals, annotations and segments) or `recommendations` (that route only)."))
            .build();
        c.add_security_scheme("api_token", SecurityScheme::Http(token));
        c.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(super::auth::SESSION_COOKIE, "A signed-in browser's session cookie."))),
        );
    }
}

/// The description, as a value.
pub fn spec() -> utoipa::openapi::OpenApi {
    DashboardsApi::openapi()
}

/// This description, as OpenAPI 3 JSON.
#[utoipa::path(get, path = "/api/openapi.json", tag = "meta", responses((status = 200, description = "OpenAPI 3 JSON")))]
#[allow(dead_code)]
fn spec_route() {}

pub async fn serve() -> Json<utoipa::openapi::OpenApi> {
    Json(spec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_api_route_is_documented_and_every_documented_route_exists() {
        let v = serde_json::to_value(spec()).expect("the description serialises");
        let mut documented: Vec<(String, String)> = v["paths"]
            .as_object()
            .expect("paths")
            .iter()
            .flat_map(|(path, item)| item.as_object().unwrap().keys().map(move |m| (m.to_uppercase(), path.clone())))
            .collect();
        documented.sort();
        let mut routes: Vec<(String, String)> =
            crate::web::route_table().iter().filter(|r| r.path.starts_with("/api/")).map(|r| (r.method.to_string(), r.path.to_string())).collect();
        routes.sort();
        assert_eq!(documented, routes);
    }
}
