//! What a store-backend key may do, on the real collector and ClickHouse:
//! the order key a point of sale holds cannot mint consent for a customer
//! (which would let it have its own browsing stored as that customer's
//! Tier 3 data, with its full IP) nor erase one; the consent key cannot
//! erase or send orders; each refusal is a 403 naming the key's scopes,
//! counted, and leaves nothing in the ledger, the revocations or the spool.
//! What a key may do is recorded with its id and the scope it used.

use std::time::Duration;

use devstack::{Backend, Ports};
use mintmark_config::BackendScope;
use mintmark_e2e::{metric, state_dir};
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_backend_key_can_do_only_what_its_scopes_name() -> anyhow::Result<()> {
    let mut backend = Backend::start(&state_dir("backend_scopes")?, Ports::free()?).await?;
    let keys = backend.config.keys.clone();
    let secret = |scope| {
        keys.backend_secret(scope)
            .expect("make up generates one key per scope")
            .to_string()
    };
    let (orders, consent, erasure) = (
        secret(BackendScope::Orders),
        secret(BackendScope::Consent),
        secret(BackendScope::Erasure),
    );
    let http = reqwest::Client::new();
    let base = backend.collector_url.clone();
    let call = async |path: &str, key: &str, body: Value| -> anyhow::Result<(u16, String)> {
        let resp = http
            .post(format!("{base}{path}"))
            .bearer_auth(key)
            .json(&body)
            .send()
            .await?;
        Ok((resp.status().as_u16(), resp.text().await?))
    };
    let opt_in = json!({"customer_ref": "c-victim", "source": "registration", "policy_version": 1});
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs();
    let order = json!({"order_id": "O-9", "event": "placed", "at": now, "channel": "pos", "value": 5.0, "currency": "USD",
                       "items": [{"sku": "MUG-1", "quantity": 1, "unit_price": 5.0}]});

    // The attacks: an order key minting consent or erasing, a consent key erasing or selling.
    for (path, key, body, scope) in [
        ("/consent/opt-in", &orders, opt_in.clone(), "consent"),
        (
            "/consent/opt-out",
            &orders,
            json!({"customer_ref": "c-victim"}),
            "consent",
        ),
        (
            "/consent/erasure",
            &orders,
            json!({"customer_ref": "c-victim"}),
            "erasure",
        ),
        (
            "/consent/erasure",
            &consent,
            json!({"customer_ref": "c-victim"}),
            "erasure",
        ),
        ("/orders", &consent, order.clone(), "orders"),
        ("/orders", &erasure, order.clone(), "orders"),
        ("/consent/opt-in", &erasure, opt_in.clone(), "consent"),
    ] {
        let (status, text) = call(path, key, body).await?;
        assert_eq!(status, 403, "{path}: {text}");
        assert!(
            text.contains(&format!("may not call {scope} endpoints"))
                && text.contains("its scopes:"),
            "{path}: {text}"
        );
    }
    let (status, _) = call("/consent/opt-in", "not-a-key-of-ours", opt_in.clone()).await?;
    assert_eq!(status, 401);

    let metrics = http
        .get(format!("{base}/metrics"))
        .send()
        .await?
        .text()
        .await?;
    let refused = |scope: &str| {
        metric(&metrics, &format!("mintmark_collector_backend_refused_total{{reason=\"out_of_scope\",scope=\"{scope}\"}}"))
    };
    assert_eq!(
        (refused("consent"), refused("erasure"), refused("orders")),
        (3, 2, 2),
        "{metrics}"
    );
    assert_eq!(
        metric(
            &metrics,
            "mintmark_collector_backend_refused_total{reason=\"unknown_key\",scope=\"consent\"}"
        ),
        1,
        "{metrics}"
    );

    // Nothing of the refused calls happened anywhere.
    assert_eq!(
        backend
            .query("SELECT count() FROM ledger.consent_ledger")
            .await?
            .trim(),
        "0"
    );
    let revocations = backend
        .config
        .collector
        .revocations_dir
        .clone()
        .expect("local runs keep revocations in a directory");
    assert_eq!(
        std::fs::read_dir(&revocations)
            .map(|d| d.count())
            .unwrap_or(0),
        0,
        "no revocation written"
    );

    // Each key does what it is for, and the ledger says which key and scope.
    // (Read before the erasure, whose job removes the customer's consent
    // history in the background.)
    assert_eq!(call("/consent/opt-in", &consent, opt_in).await?.0, 200);
    assert_eq!(
        call(
            "/consent/opt-out",
            &consent,
            json!({"customer_ref": "c-victim"})
        )
        .await?
        .0,
        200
    );
    assert_eq!(call("/orders", &orders, order).await?.0, 202);
    let ledger = backend.query("SELECT action, api_key_id, api_key_scope FROM ledger.consent_ledger ORDER BY at, action FORMAT TSV").await?;
    let id = &keys.backend_key(BackendScope::Consent).unwrap().id;
    assert_eq!(
        ledger.lines().collect::<Vec<_>>(),
        [
            format!("opt_in\t{id}\tconsent"),
            format!("opt_out\t{id}\tconsent")
        ],
        "{ledger}"
    );
    assert_eq!(
        call(
            "/consent/erasure",
            &erasure,
            json!({"customer_ref": "c-victim"})
        )
        .await?
        .0,
        202
    );
    mintmark_e2e::eventually(
        "the order stored",
        Duration::from_secs(30),
        async || {
            Ok(backend
                .query("SELECT count() FROM t2.orders")
                .await?
                .trim()
                .to_string())
        },
        |n| n == "1",
    )
    .await?;
    backend.stop();
    Ok(())
}
