//! The Tier 3 readers and cross-sell on a fixture with answers worked out
//! by hand, against a real ClickHouse server: customer metrics, order
//! values by state and ZIP3 with small cells folded, one customer's file,
//! RFM scores and segments, bought-together support / confidence / lift
//! with small pairs suppressed, and k-means on what the store holds.

use dashboards::query::Day;
use dashboards::stats::crosssell;
use dashboards::stats::sql::Window;
use dashboards::tier3::customers::{customers, order_values, Geo};
use dashboards::tier3::rfm::{segmentation, Segment};
use std::collections::HashMap;

use dashboards::recommend::{Recommendation, Snapshot};
use dashboards::tier3::{customer, personal, MarketingQuery, Tier3};
use devstack::{Backend, Ports};
use mintmark_e2e::state_dir;

const D: &str = "2026-11-20";

/// `(customer, order, event, days before D, value, state, zip, skus, quantities, prices, categories)`, all at 12:00.
type Order = (&'static str, &'static str, &'static str, i64, f64, &'static str, &'static str, &'static [&'static str], &'static [u32], &'static [f64], &'static [&'static str]);
const T3_ORDERS: &[Order] = &[
    ("c1", "o1", "placed", 10, 100.0, "VA", "22030", &["MUG-1", "LID-2"], &[2, 1], &[30.0, 40.0], &["mugs", "kitchen"]),
    ("c1", "o2", "placed", 2, 50.0, "VA", "22031", &["MUG-1"], &[1], &[50.0], &["mugs"]),
    ("c1", "o2", "refunded", 1, 20.0, "", "", &[], &[], &[], &[]),
    ("c1", "o2", "refunded", 1, 20.0, "", "", &[], &[], &[], &[]), // a replay
    ("c2", "o3", "placed", 400, 200.0, "MD", "20850", &["TEA-9"], &[1], &[200.0], &["tea"]),
    ("c2", "o4", "placed", 30, 80.0, "MD", "20850", &["TEA-9"], &[1], &[80.0], &["tea"]),
    ("c2", "o5", "placed", 5, 60.0, "MD", "20850", &["TEA-9"], &[1], &[60.0], &["tea"]),
    ("c2", "o5", "cancelled", 4, 60.0, "", "", &[], &[], &[], &[]),
    ("c3", "o6", "placed", 1, 10.0, "VA", "22030", &["LID-2"], &[1], &[10.0], &["kitchen"]),
];

fn array<T: std::fmt::Display>(v: &[T], quote: bool) -> String {
    let items: Vec<String> = v.iter().map(|x| if quote { format!("'{x}'") } else { x.to_string() }).collect();
    format!("[{}]", items.join(","))
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tier3_readers_and_crosssell_match_hand_computed_answers() -> anyhow::Result<()> {
    let mut backend = Backend::start(&state_dir("tier3_marketing")?, Ports::free()?).await?;
    let today = Day::parse(D).unwrap();
    let noon = |days_before: i64| today.start_secs() - days_before * 86_400 + 12 * 3600;
    let rows: Vec<String> = T3_ORDERS
        .iter()
        .enumerate()
        .map(|(i, (c, o, e, d, v, st, z, skus, q, p, cats))| {
            let at = noon(*d);
            format!(
                "(toDate(toDateTime({at})), toDateTime({at}), toDateTime({}), '{o}', '{e}', 'web', '{c}', 'registration', 1, {v}, 'USD', {}, {}, {}, {}, '{st}', '{z}', '')",
                at + i as i64,
                array(skus, true),
                array(q, false),
                array(p, false),
                array(cats, true)
            )
        })
        .collect();
    backend.query(&format!("INSERT INTO t3.orders VALUES {}", rows.join(", "))).await?;
    backend
        .query(&format!(
            "INSERT INTO ledger.consent_ledger (at, action, customer_ref, source, policy_version) VALUES \
             (toDateTime({}), 'opt_in', 'c1', 'registration', 1), (toDateTime({}), 'opt_in', 'c2', 'purchase', 1)",
            noon(500),
            noon(500)
        ))
        .await?;
    backend
        .query(&format!(
            "INSERT INTO t3.events (event_date, ts, received_at, event_id, customer_ref, kind, path, title, item_skus) VALUES \
             (toDate(toDateTime({t})), toDateTime({t}), toDateTime({t}), 'e1', 'c1', 'product_view', '/store/mug', 'Mug', ['MUG-1']), \
             (toDate(toDateTime({t})), toDateTime({u}), toDateTime({u}), 'e2', 'c1', 'add_to_cart', '/store/mug', 'Mug', ['MUG-1'])",
            t = noon(3),
            u = noon(3) + 60
        ))
        .await?;
    mintmark_e2e::fill_subjects(&backend.config).await?;
    let ids = collector::pseudonym::Pseudonyms::from_keys(&backend.config.keys)?;
    let client = mintmark_schema::client(&backend.config.clickhouse);
    let dbs = mintmark_schema::Databases::new("")?;
    dashboards::tier3::facts::rebuild(&client, &dbs).await?;
    let t3 = Tier3 { client: &client, dbs: &dbs, today, min_customers: 2 };
    let q = |params: &[(&str, &str)]| {
        MarketingQuery::from_params(&params.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<Vec<_>>()).unwrap()
    };

    // Customers, 30-day period: c2's last order (30 days ago) is just outside it.
    let (list, total) = customers(&t3, &q(&[("period", "30d")]), 0, 50).await?;
    assert_eq!(total, 3);
    let got: Vec<(&str, u64, f64, u64, f64, f64, &str, &str, &str)> = list
        .iter()
        .map(|r| (r.customer_ref.as_str(), r.c_orders, r.c_aov, r.c_lifetime_orders, r.c_lifetime_aov, r.c_lifetime_total, r.c_state.as_str(), r.c_zip3.as_str(), r.opt_in_source.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            ("c2", 0, 0.0, 2, 140.0, 280.0, "MD", "208", "purchase"),
            ("c1", 2, 65.0, 2, 65.0, 130.0, "VA", "220", "registration"),
            ("c3", 1, 10.0, 1, 10.0, 10.0, "VA", "220", ""),
        ],
        "cancelled o5 left out, o2 net of one refund (the replay collapsed)"
    );
    assert_eq!((list[1].c_first as i64, list[1].c_last as i64), (noon(10), noon(2)));
    let (filtered, n) = customers(&t3, &q(&[("state", "VA"), ("sort", "customer")]), 0, 50).await?;
    assert_eq!((n, filtered.iter().map(|r| r.customer_ref.as_str()).collect::<Vec<_>>()), (2, vec!["c1", "c3"]));
    let (page2, _) = customers(&t3, &q(&[]), 1, 1).await?;
    assert_eq!(page2[0].customer_ref, "c1", "offset and limit");

    // By state over a year: MD has one customer (< 2) and is folded.
    let states = order_values(&t3, &q(&[]), Geo::State).await?;
    let s: Vec<(&str, u8, u64, u64, f64)> = states.iter().map(|r| (r.g_name.as_str(), r.g_folded, r.g_customers, r.g_orders, r.g_total)).collect();
    assert_eq!(s, [("VA", 0, 2, 3, 140.0), ("", 1, 1, 1, 80.0)]);
    let zips = order_values(&t3, &q(&[]), Geo::Zip3).await?;
    assert_eq!(zips.iter().map(|r| (r.g_name.as_str(), r.g_folded, r.g_orders)).collect::<Vec<_>>(), [("220", 0, 3), ("", 1, 1)]);
    let month = order_values(&t3, &q(&[("period", "30d")]), Geo::State).await?;
    assert_eq!(month.iter().map(|r| (r.g_name.as_str(), r.g_total)).collect::<Vec<_>>(), [("VA", 140.0)]);

    // One customer.
    let file = customer::file(&t3, ids.subject("c1").as_str()).await?;
    assert_eq!(file.orders.iter().map(|o| (o.order_id.as_str(), o.net, o.items)).collect::<Vec<_>>(), [("o2", 30.0, 1), ("o1", 100.0, 3)]);
    let interests: Vec<(&str, &str, u64)> = file.interests.iter().map(|i| (i.how.as_str(), i.name.as_str(), i.times)).collect();
    assert_eq!(
        interests,
        [("bought", "MUG-1", 3), ("bought", "LID-2", 1), ("bought_category", "mugs", 3), ("bought_category", "kitchen", 1), ("carted", "MUG-1", 1), ("viewed", "MUG-1", 1)]
    );
    assert_eq!((file.events.len(), file.consent.len(), file.first_event), (2, 1, Some(noon(3) as u32)));
    assert!(customer::file(&t3, ids.subject("nobody").as_str()).await?.is_empty());

    // RFM over the year: worked out in the marketing guide's example.
    let until = Day(today.0 + 1).start_secs();
    let seg = segmentation(&t3, until - 365 * 86_400, until).await?;
    let scores: Vec<(&str, f64, u64, f64, (u8, u8, u8), Segment)> =
        seg.scored.iter().map(|s| (s.m.customer_ref.as_str(), s.m.r_days, s.m.r_orders, s.m.r_total, s.scores, s.segment)).collect();
    assert_eq!(
        scores,
        [
            ("c1", 2.5, 2, 130.0, (4, 4, 4), Segment::Loyal),
            ("c2", 30.5, 1, 80.0, (2, 1, 2), Segment::Hibernating),
            ("c3", 1.5, 1, 10.0, (5, 1, 1), Segment::New),
        ]
    );
    assert_eq!((seg.cuts.recency, seg.cuts.frequency, seg.cuts.monetary), ([1.5, 2.5, 2.5, 30.5], [1.0, 1.0, 1.0, 2.0], [10.0, 80.0, 80.0, 130.0]));
    let loyal = seg.summary.iter().find(|g| g.segment == Segment::Loyal).unwrap();
    assert!(close(loyal.revenue_share, 130.0 / 220.0) && loyal.previous_size == 0);
    let hibernating = seg.summary.iter().find(|g| g.segment == Segment::Hibernating).unwrap();
    assert_eq!(hibernating.size, 1);

    // Bought together, over de-identified orders: k5 is cancelled; (B, C) is in one order only.
    let t2_orders = [("k1", "placed", &["A", "B"][..]), ("k2", "placed", &["A", "B", "C"]), ("k3", "placed", &["A", "C"]), ("k4", "placed", &["B"]), ("k5", "placed", &["A", "B"]), ("k5", "cancelled", &[])];
    let values: Vec<String> = t2_orders
        .iter()
        .map(|(k, e, skus)| format!("(toDate(toDateTime({})), now(), '{k}', '{e}', 'web', 1, 'USD', {}, [], [], [], 'VA')", noon(3), array(skus, true)))
        .collect();
    backend.query(&format!("INSERT INTO t2.orders VALUES {}", values.join(", "))).await?;
    let w = Window { from: until - 30 * 86_400, until };
    let pairs = crosssell::pairs(&client, "t2", w, false, 2).await?;
    let got: Vec<(&str, &str, u64, f64, f64, f64)> = pairs.iter().map(|p| (p.sku.as_str(), p.with_sku.as_str(), p.together, p.support, p.confidence, p.lift)).collect();
    let expect = [("A", "C", 2, 0.5, 2.0 / 3.0, 4.0 / 3.0), ("C", "A", 2, 0.5, 1.0, 4.0 / 3.0), ("A", "B", 2, 0.5, 2.0 / 3.0, 8.0 / 9.0), ("B", "A", 2, 0.5, 2.0 / 3.0, 8.0 / 9.0)];
    assert_eq!(got.len(), expect.len(), "{got:?}");
    for (g, e) in got.iter().zip(expect) {
        assert!(g.0 == e.0 && g.1 == e.1 && g.2 == e.2 && close(g.3, e.3) && close(g.4, e.4) && close(g.5, e.5), "{g:?} != {e:?}");
    }
    assert!(crosssell::pairs(&client, "t2", w, false, 3).await?.is_empty(), "pairs in fewer than min_group_orders orders are never served");

    // Personal recommendations: c1's own interests (bought MUG-1 and LID-2;
    // carted and viewed MUG-1) with these released pairs; c2 has opted out,
    // c3 never opted in: neither gets any.
    backend
        .query(&format!(
            "INSERT INTO ledger.consent_ledger (at, action, customer_ref, source, policy_version, token_expires_at) VALUES \
             (toDateTime({}), 'opt_in', 'c1', 'registration', 1, toDateTime({})), (toDateTime({}), 'opt_out', 'c2', '', 1, toDateTime(0))",
            noon(1),
            noon(-400),
            noon(1)
        ))
        .await?;
    mintmark_e2e::fill_subjects(&backend.config).await?;
    let rec = |sku: &str, confidence: f64| Recommendation { sku: sku.into(), together: 5, support: 0.1, confidence, lift: 2.0 };
    let released = Snapshot {
        by_sku: HashMap::from([("MUG-1".to_string(), vec![rec("TEA-9", 0.5), rec("LID-2", 0.4)]), ("LID-2".to_string(), vec![rec("SPOON-3", 0.2)])]),
        computed_at: 0,
    };
    let subjects: Vec<String> = ["c1", "c2", "c3"].iter().map(|c| ids.subject(c).as_str().to_string()).collect();
    let picks = personal::for_customers(&t3, &subjects, Some(&released), noon(0) as u32).await?;
    assert_eq!(picks.keys().collect::<Vec<_>>(), [&subjects[0]], "only c1's opt-in stands");
    let got: Vec<(&str, f64, &str)> = picks[&subjects[0]].iter().map(|p| (p.sku.as_str(), (p.score * 1e6).round() / 1e6, p.because.as_str())).collect();
    // TEA-9: 3 × 0.5 (bought MUG-1) + 2 × 0.5 (carted) + 1 × 0.5 (viewed);
    // SPOON-3: 3 × 0.2 (bought LID-2); LID-2 and MUG-1 were bought: never back.
    assert_eq!(got, [("TEA-9", 3.0, "often bought with MUG-1 (bought; 50 % of its orders)"), ("SPOON-3", 0.6, "often bought with LID-2 (bought; 20 % of its orders)")]);
    backend.stop();
    Ok(())
}
