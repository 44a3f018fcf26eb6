//! The OpenAPI descriptions against the running services: what the
//! dashboards and the collector serve at `/api/openapi.json` is what the
//! code generates; every documented operation exists on the live service
//! and answers with a status it documents (and, for a success, a body with
//! every property its schema requires); every route the service has is
//! documented (the dashboards' `/api/` routes, all of the collector's);
//! and an address no route has is refused as not found, so the live
//! routes are no more than the table says.

use std::collections::BTreeSet;

use mintmark_config::BackendScope;
use mintmark_e2e::redteam::Analyst;
use mintmark_e2e::{eventually, start_stack};
use serde_json::Value;

/// `(METHOD, path template)` of every operation a description documents.
fn operations(spec: &Value) -> BTreeSet<(String, String)> {
    spec["paths"]
        .as_object()
        .expect("a description has paths")
        .iter()
        .flat_map(|(path, item)| item.as_object().unwrap().keys().map(move |m| (m.to_uppercase(), path.clone())))
        .collect()
}

/// The statuses an operation documents.
fn documented_statuses(spec: &Value, method: &str, path: &str) -> BTreeSet<u16> {
    spec["paths"][path][method.to_lowercase()]["responses"].as_object().unwrap().keys().map(|k| k.parse().unwrap()).collect()
}

/// Checks `body` has every property the documented schema of `status` requires,
/// following `$ref`s into the components, one level deep.
fn check_required(spec: &Value, method: &str, path: &str, status: u16, body: &Value) {
    let schema = &spec["paths"][path][method.to_lowercase()]["responses"][status.to_string()]["content"]["application/json"]["schema"];
    let Some(reference) = schema["$ref"].as_str() else { return };
    let name = reference.rsplit('/').next().unwrap();
    let component = &spec["components"]["schemas"][name];
    for field in component["required"].as_array().into_iter().flatten() {
        let field = field.as_str().unwrap();
        assert!(body.get(field).is_some(), "{method} {path} → {status}: the body lacks `{field}`, which {name} requires: {body}");
    }
}

/// The routes a service's table declares, as the description writes them.
fn declared(routes: impl IntoIterator<Item = (&'static str, &'static str)>) -> BTreeSet<(String, String)> {
    routes.into_iter().map(|(m, p)| (m.to_string(), p.to_string())).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_descriptions_match_the_live_routes() -> anyhow::Result<()> {
    let stack = start_stack("api_reference", None).await?;
    let http = reqwest::Client::new();

    // --- dashboards
    let base = &stack.urls.dashboards;
    let served: Value = http.get(format!("{base}/api/openapi.json")).send().await?.error_for_status()?.json().await?;
    assert_eq!(served, serde_json::to_value(dashboards::web::openapi::spec())?, "the dashboards serve the generated description");
    assert!(served["openapi"].as_str().unwrap().starts_with("3."), "OpenAPI 3");
    let api_routes = declared(dashboards::web::route_table().into_iter().filter(|r| r.path.starts_with("/api/")).map(|r| (r.method, r.path)));
    assert_eq!(operations(&served), api_routes, "every /api/ route documented, every documented route declared");

    let analyst = Analyst::create(&stack.config.dashboards.data_dir, base, "api-reader")?;
    let get = |path: String| http.get(format!("{base}{path}")).bearer_auth(&analyst.token).send();
    let (reads, writes): (Vec<(String, String)>, Vec<(String, String)>) = operations(&served).into_iter().partition(|(m, _)| m == "GET");
    let changed: BTreeSet<(String, String)> = ["goals", "funnels", "annotations", "segments", "alerts"]
        .iter()
        .flat_map(|r| [("POST", format!("/api/v1/{r}")), ("PUT", format!("/api/v1/{r}/{{id}}")), ("DELETE", format!("/api/v1/{r}/{{id}}"))])
        .map(|(m, p)| (m.to_string(), p))
        .collect();
    assert_eq!(writes.into_iter().collect::<BTreeSet<_>>(), changed, "the API changes only what analysts make");
    for (method, path) in reads {
        let mut concrete: Vec<(String, String)> = match path.as_str() {
            // Every table the path's parameter may name.
            "/api/v1/{name}" => dashboards::views::TableName::all().into_iter().map(|t| (format!("/api/v1/{}", t.name()), "?period=7d".to_string())).collect(),
            "/api/v1/recommendations" => vec![(path.clone(), "?sku=SKU-1001&n=3".into())],
            _ => vec![(path.clone(), String::new())],
        };
        concrete.sort();
        let allowed = documented_statuses(&served, &method, &path);
        for (address, query) in concrete {
            // Recommendations answer 503 until their first computation is done.
            let resp = eventually(
                &format!("GET {address} answering"),
                std::time::Duration::from_secs(60),
                async || Ok(get(format!("{address}{query}")).await?),
                |r| r.status().as_u16() != 503 || !address.ends_with("recommendations"),
            )
            .await?;
            let status = resp.status().as_u16();
            assert!(allowed.contains(&status), "{method} {address}: {status} is not among the documented {allowed:?}");
            assert!(status < 300, "{method} {address}{query} answered {status}: {}", resp.text().await?);
            let body: Value = resp.json().await?;
            check_required(&served, &method, &path, status, &body);
        }
        // Unauthenticated: refused where the operation names a scheme, as documented.
        let anonymous = http.get(format!("{base}{}", path.replace("{name}", "top"))).send().await?.status().as_u16();
        if served["paths"][&path]["get"]["security"].is_array() {
            assert_eq!(anonymous, 401, "{path} without a token");
            assert!(allowed.contains(&401), "{path} documents its 401");
        } else {
            assert_eq!(anonymous, 200, "{path} names no scheme, so it is open");
        }
    }
    // Changes: refused without a token and with a read token, as documented;
    // made, changed and deleted with a write token, answering the documented shapes.
    let writer = {
        let accounts = dashboards::accounts::Accounts::open(&stack.config.dashboards.data_dir)?;
        accounts.create_token("api-reader", "writer", dashboards::tokens::TokenScope::Write, dashboards::accounts::now_secs(), 86_400)?.1
    };
    let bodies = [
        ("goals", serde_json::json!({"name": "Signed up", "kind": "event", "event": "signup"})),
        ("funnels", serde_json::json!({"name": "Sign-up", "steps": [{"kind": "pageview", "value": "/"}, {"kind": "event", "value": "signup"}], "window_minutes": 60})),
        ("annotations", serde_json::json!({"day": "2026-11-20", "text": "Sale"})),
        ("segments", serde_json::json!({"name": "Germany", "filters": ["country:is:DE"]})),
        ("alerts", serde_json::json!({"name": "Outage", "kind": "tracking_outage", "threshold": 5, "email": "ops@store.example"})),
    ];
    for (resource, body) in bodies {
        let (collection, item) = (format!("/api/v1/{resource}"), format!("/api/v1/{resource}/{{id}}"));
        let nobody = http.post(format!("{base}{collection}")).json(&body).send().await?.status().as_u16();
        assert!(nobody == 401 && documented_statuses(&served, "POST", &collection).contains(&401), "POST {collection} without a token: {nobody}");
        let reader = http.post(format!("{base}{collection}")).bearer_auth(&analyst.token).json(&body).send().await?.status().as_u16();
        assert!(reader == 403 && documented_statuses(&served, "POST", &collection).contains(&403), "POST {collection} with a read token: {reader}");
        let made = http.post(format!("{base}{collection}")).bearer_auth(&writer).json(&body).send().await?;
        let status = made.status().as_u16();
        assert!(status == 201 && documented_statuses(&served, "POST", &collection).contains(&201), "POST {collection}: {status}");
        let made: Value = made.json().await?;
        check_required(&served, "POST", &collection, 201, &made);
        let id = made["id"].as_i64().expect("a made record has an id");
        let at = format!("{base}/api/v1/{resource}/{id}");
        let changed = http.put(&at).bearer_auth(&writer).json(&body).send().await?;
        assert!(changed.status().as_u16() == 200 && documented_statuses(&served, "PUT", &item).contains(&200), "PUT {item}: {}", changed.status());
        check_required(&served, "PUT", &item, 200, &changed.json().await?);
        let gone = http.delete(&at).bearer_auth(&writer).send().await?.status().as_u16();
        assert!(gone == 204 && documented_statuses(&served, "DELETE", &item).contains(&204), "DELETE {item}: {gone}");
        let again = http.delete(&at).bearer_auth(&writer).send().await?.status().as_u16();
        assert!(again == 404 && documented_statuses(&served, "DELETE", &item).contains(&404), "DELETE {item} again: {again}");
    }
    let nowhere = get("/api/v2/top".into()).await?.status().as_u16();
    assert_eq!(nowhere, 404, "no route outside the table");

    // --- collector
    let base = &stack.urls.collector;
    let served: Value = http.get(format!("{base}/api/openapi.json")).send().await?.error_for_status()?.json().await?;
    assert_eq!(served, serde_json::to_value(collector::openapi::spec())?, "the collector serves the generated description");
    let routes = declared(collector::server::route_table().into_iter().map(|r| (r.method, r.path)));
    assert_eq!(operations(&served), routes, "every collector route documented, every documented route declared");
    let consent_key = stack.config.keys.backend_secret(BackendScope::Consent).expect("a consent key").to_string();
    for (method, path) in operations(&served) {
        let allowed = documented_statuses(&served, &method, &path);
        let url = format!("{base}{path}");
        let (status, body) = if method == "GET" {
            let r = http.get(&url).send().await?;
            let status = r.status().as_u16();
            let text = r.text().await?;
            (status, serde_json::from_str(&text).unwrap_or(Value::Null))
        } else {
            // Without a key (or a signature) every write is refused...
            let r = http.post(&url).json(&serde_json::json!({})).send().await?;
            assert_eq!(r.status().as_u16(), 401, "POST {path} without credentials");
            assert!(allowed.contains(&401), "POST {path} documents its 401");
            // (the edge's /ingest is signed: it holds no backend key, so it stops there)
            if path == "/ingest" {
                continue;
            }
            // ...and with one, an empty body is named invalid.
            let r = http.post(&url).bearer_auth(stack.config.keys.backend_secret_for(&path)).json(&serde_json::json!({})).send().await?;
            let status = r.status().as_u16();
            (status, r.json().await.unwrap_or(Value::Null))
        };
        assert!(allowed.contains(&status), "{method} {path}: {status} is not among the documented {allowed:?}");
        if status == 422 || status == 401 {
            assert!(body["error"].is_string(), "{method} {path}: a refusal says why: {body}");
        } else {
            assert!(status < 300, "{method} {path}: {status}");
            check_required(&served, &method, &path, status, &body);
        }
    }
    // A documented opt-in with a real body succeeds with the documented shape.
    let r = http
        .post(format!("{base}/consent/opt-in"))
        .bearer_auth(&consent_key)
        .json(&serde_json::json!({"customer_ref": "cust-api-1", "source": "registration", "policy_version": 3}))
        .send()
        .await?;
    assert_eq!(r.status().as_u16(), 200);
    check_required(&served, "POST", "/consent/opt-in", 200, &r.json().await?);
    assert_eq!(http.get(format!("{base}/api/v1/top")).send().await?.status().as_u16(), 404, "no route outside the table");
    Ok(())
}
