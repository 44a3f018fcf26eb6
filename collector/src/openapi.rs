//! The collector's HTTP API as OpenAPI 3, generated from the handlers'
//! own types and annotations (`utoipa`), served at `/api/openapi.json`
//! and rendered in the manual (`docs/src/api/collector.md`).
//!
//! The store's backend calls the consent API and the order feed with an
//! API key; the edge alone calls `/ingest`, signed.

use axum::Json;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "mintmark collector",
        description = "What the store's backend calls (consent, orders) and what the edge delivers to (ingest). \
                       Every backend call carries `Authorization: Bearer <key>` with a key holding the call's scope; \
                       every refusal is `{\"error\": \"…\"}` with a status that says what to do."
    ),
    paths(
        crate::consent::opt_in,
        crate::consent::opt_out,
        crate::consent::erasure,
        crate::orders::api::post_orders,
        crate::ingest::ingest,
        crate::ops::healthz,
        crate::ops::readyz,
        crate::ops::metrics,
        spec_route,
    ),
    tags(
        (name = "consent", description = "Opt-in, opt-out and erasure requests, from the store's backend"),
        (name = "orders", description = "The order feed, from the store's backend and points of sale"),
        (name = "edge", description = "Signed delivery from the edge worker"),
        (name = "operations", description = "Health, readiness, metrics and this description"),
    ),
    modifiers(&BackendKey)
)]
pub struct CollectorApi;

/// The `backend_key` security scheme the consent and order routes name.
struct BackendKey;

impl Modify for BackendKey {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let scheme = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .description(Some("A store-backend API key (`[keys] backend` in the secrets file); it must hold the call's scope: `consent`, `erasure` or `orders`."))
            .build();
        openapi.components.get_or_insert_with(Default::default).add_security_scheme("backend_key", SecurityScheme::Http(scheme));
    }
}

/// The description, as a value.
pub fn spec() -> utoipa::openapi::OpenApi {
    CollectorApi::openapi()
}

/// This description, as OpenAPI 3 JSON.
#[utoipa::path(get, path = "/api/openapi.json", tag = "operations", responses((status = 200, description = "OpenAPI 3 JSON")))]
#[allow(dead_code)]
fn spec_route() {}

pub async fn serve() -> Json<utoipa::openapi::OpenApi> {
    Json(spec())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `(METHOD, path)` of every documented operation.
    pub fn operations(spec: &utoipa::openapi::OpenApi) -> Vec<(String, String)> {
        let v = serde_json::to_value(spec).expect("the description serialises");
        let mut ops: Vec<(String, String)> = v["paths"]
            .as_object()
            .expect("paths")
            .iter()
            .flat_map(|(path, item)| item.as_object().unwrap().keys().map(move |m| (m.to_uppercase(), path.clone())))
            .collect();
        ops.sort();
        ops
    }

    #[test]
    fn every_route_is_documented_and_every_documented_route_exists() {
        let mut routes: Vec<(String, String)> = crate::server::route_table().iter().map(|r| (r.method.to_string(), r.path.to_string())).collect();
        routes.sort();
        assert_eq!(operations(&spec()), routes);
    }

    #[test]
    fn backend_routes_name_the_key_scheme_it_defines() {
        let v = serde_json::to_value(spec()).unwrap();
        assert!(v["components"]["securitySchemes"]["backend_key"].is_object());
        for path in ["/consent/opt-in", "/consent/opt-out", "/consent/erasure", "/orders"] {
            assert_eq!(v["paths"][path]["post"]["security"][0]["backend_key"], serde_json::json!([]), "{path}");
        }
        assert!(v["paths"]["/ingest"]["post"]["security"].is_null(), "the edge signs; it holds no backend key");
    }
}
