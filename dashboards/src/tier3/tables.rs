//! The Tier 3 answers as [`Table`]s: the pages, the CSV exports and the
//! JSON API show the same thing, and every builder also says which
//! customers its rows name (for the audit).

use super::clusters::Clustering;
use super::customer::CustomerFile;
use super::customers::{CustomerRow, Geo, GeoRow};
use super::personal::{self, Pick};
use super::rfm::{Segment, Segmentation};
use crate::query::Interval;
use crate::table::{Cell, Column, Row, Table};

/// What a path segment may keep unescaped (RFC 3986 unreserved).
const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

/// A customer's page (their reference percent-encoded).
pub fn customer_href(customer_ref: &str) -> String {
    format!("/marketing/customers/{}", percent_encoding::utf8_percent_encode(customer_ref, SEGMENT))
}

fn day(at: u32) -> Cell {
    Cell::Time(at.into(), Interval::Day)
}

pub fn customers_table(rows: &[CustomerRow], days: i32) -> Table {
    let mut t = Table::new(
        "customers",
        "Customers",
        vec![
            Column::new("Customer", "customer"),
            Column::new("Orders (period)", "orders"),
            Column::new("Avg order (period)", "aov"),
            Column::new("Lifetime orders", "lifetime_orders"),
            Column::new("Lifetime avg order", "lifetime_aov"),
            Column::new("Lifetime total", "lifetime_total"),
            Column::new("First order", "first_order"),
            Column::new("Last order", "last_order"),
            Column::new("State", "state"),
            Column::new("ZIP3", "zip3"),
            Column::new("Opt-in source", "opt_in_source"),
        ],
    );
    for r in rows {
        t.rows.push(Row {
            link: Some(customer_href(&r.customer_ref)),
            ..Row::new(vec![
                Cell::Text(r.customer_ref.clone()),
                Cell::Count(r.c_orders),
                Cell::Money(r.c_aov),
                Cell::Count(r.c_lifetime_orders),
                Cell::Money(r.c_lifetime_aov),
                Cell::Money(r.c_lifetime_total),
                day(r.c_first),
                day(r.c_last),
                Cell::Text(r.c_state.clone()),
                Cell::Text(r.c_zip3.clone()),
                Cell::Text(r.opt_in_source.clone()),
            ])
        });
    }
    t.note = Some(format!(
        "Opted-in customers with at least one order (placed, not cancelled; value net of refunds). “Period” is the last {days} days. \
         State and ZIP3 are those of the latest order; the opt-in source is that of the latest opt-in."
    ));
    t
}

pub fn geo_table(rows: &[GeoRow], geo: Geo, min_customers: u32) -> Table {
    let mut t = Table::new(
        geo.name(),
        geo.title(),
        vec![
            Column::new(geo.label(), "area"),
            Column::new("Customers", "customers"),
            Column::new("Orders", "orders"),
            Column::new("Total", "total"),
            Column::new("Avg order", "aov"),
        ],
    );
    for r in rows {
        let name = if r.g_folded == 1 { "other (small groups)".to_string() } else if r.g_name.is_empty() { "(no address)".into() } else { r.g_name.clone() };
        let cells = vec![
            Cell::Text(name),
            Cell::Count(r.g_customers),
            Cell::Count(r.g_orders),
            Cell::Money(r.g_total),
            Cell::Money(if r.g_orders == 0 { 0.0 } else { r.g_total / r.g_orders as f64 }),
        ];
        t.rows.push(if r.g_folded == 1 { Row::folded(cells) } else { Row::new(cells) });
    }
    let what = match geo {
        Geo::State => "state",
        Geo::Zip3 => "ZIP3",
    };
    t.note = Some(format!("Orders in the period. A {what} backed by fewer than {min_customers} customers is folded into “other (small groups)”."));
    t
}

pub fn segments_table(s: &Segmentation, days: i32) -> Table {
    let mut t = Table::new(
        "segments",
        "RFM segments",
        vec![
            Column::new("Segment", "segment"),
            Column::new("Customers", "customers"),
            Column::new("Revenue", "revenue"),
            Column::new("Revenue share", "revenue_share"),
            Column::new("Previous window", "previous"),
            Column::new("Change", "change"),
            Column::new("Rule (R·FM cells)", "rule"),
        ],
    );
    for g in &s.summary {
        t.rows.push(Row {
            link: Some(format!("/marketing/export/segment_members?segment={}&period={days}d", g.segment.slug())),
            ..Row::new(vec![
                Cell::Text(g.segment.label().into()),
                Cell::Count(g.size),
                Cell::Money(g.revenue),
                Cell::Share(g.revenue_share),
                Cell::Count(g.previous_size),
                Cell::Text(signed(g.size as i64 - g.previous_size as i64)),
                Cell::Text(g.segment.rule()),
            ])
        });
    }
    t.note = Some(format!(
        "Rules {}: scores 1–5 by quintile over the last {days} days; FM = ⌈(F + M) / 2⌉. Click a segment for its members (CSV).",
        super::rfm::RULES_VERSION
    ));
    t
}

fn signed(n: i64) -> String {
    match n {
        0 => "0".into(),
        n if n > 0 => format!("+{n}"),
        n => format!("−{}", n.unsigned_abs()),
    }
}

pub fn cuts_table(s: &Segmentation) -> Table {
    let mut t = Table::new(
        "rfm_cut_points",
        "Cut points",
        vec![
            Column::new("Measure", "measure"),
            Column::new("20th", "p20"),
            Column::new("40th", "p40"),
            Column::new("60th", "p60"),
            Column::new("80th", "p80"),
        ],
    );
    for (name, cuts) in [("Recency (days, fewer scores higher)", s.cuts.recency), ("Frequency (orders)", s.cuts.frequency), ("Monetary (net value)", s.cuts.monetary)] {
        let mut cells = vec![Cell::Text(name.into())];
        cells.extend(cuts.iter().map(|c| Cell::Decimal(*c)));
        t.rows.push(Row::new(cells));
    }
    t.note = Some("A value above k cut points scores k + 1; equal values share a score.".into());
    t
}

pub fn segment_members_table(s: &Segmentation, segment: Segment) -> (Table, Vec<String>) {
    let mut t = Table::new(
        "segment_members",
        format!("{} — members", segment.label()),
        vec![
            Column::new("Customer", "customer"),
            Column::new("Recency (days)", "recency_days"),
            Column::new("Orders", "frequency"),
            Column::new("Net value", "monetary"),
            Column::new("R", "r"),
            Column::new("F", "f"),
            Column::new("M", "m"),
        ],
    );
    let mut refs = Vec::new();
    for m in s.scored.iter().filter(|m| m.segment == segment) {
        refs.push(m.m.customer_ref.clone());
        t.rows.push(Row {
            link: Some(customer_href(&m.m.customer_ref)),
            ..Row::new(vec![
                Cell::Text(m.m.customer_ref.clone()),
                Cell::Decimal(m.m.r_days),
                Cell::Count(m.m.r_orders),
                Cell::Money(m.m.r_total),
                Cell::Count(m.scores.0.into()),
                Cell::Count(m.scores.1.into()),
                Cell::Count(m.scores.2.into()),
            ])
        });
    }
    (t, refs)
}

pub fn clusters_table(c: &Clustering) -> Table {
    // Centroid columns follow the features; the categories are named in the note.
    const FEATURES: [(&str, &str); 8] = [
        ("Days since last order", "recency_days"),
        ("Orders (log)", "orders_log"),
        ("Lifetime value (log)", "value_log"),
        ("Browsing (log events)", "browsing_log"),
        ("Share, category 1", "share_1"),
        ("Share, category 2", "share_2"),
        ("Share, category 3", "share_3"),
        ("Share, category 4", "share_4"),
    ];
    let mut columns = vec![Column::new("Cluster", "cluster"), Column::new("Customers", "customers"), Column::new("Description", "description")];
    columns.extend(FEATURES.iter().take(c.features.names.len()).map(|(label, key)| Column::new(label, key)));
    let mut t = Table::new("clusters", format!("Behaviour clusters (k = {})", c.k), columns);
    let categories: Vec<String> =
        c.features.names.iter().skip(4).enumerate().map(|(i, n)| format!("category {} = {}", i + 1, n.trim_start_matches("share "))).collect();
    for (i, cl) in c.clusters.iter().enumerate() {
        let mut cells = vec![Cell::Text(format!("{}", i + 1)), Cell::Count(cl.size as u64), Cell::Text(cl.description.clone())];
        cells.extend(cl.centroid.iter().map(|v| Cell::Decimal(*v)));
        t.rows.push(Row { link: Some(format!("/marketing/export/cluster_members?cluster={i}")), ..Row::new(cells) });
    }
    let sil: Vec<String> = c.silhouettes.iter().map(|(k, s)| format!("k={k}: {s:.3}")).collect();
    t.note = Some(format!(
        "k-means on standardised features, k chosen by the best silhouette ({}), seed {}. Centroids in the features' own units; {}. Click a cluster for its members (CSV).",
        sil.join(", "),
        super::clusters::SEED,
        if categories.is_empty() { "no categories yet".to_string() } else { categories.join(", ") }
    ));
    t
}

pub fn cluster_members_table(c: &Clustering, cluster: usize) -> (Table, Vec<String>) {
    let mut t = Table::new("cluster_members", format!("Cluster {} — members", cluster + 1), vec![Column::new("Customer", "customer")]);
    let mut refs = Vec::new();
    for (customer, _) in c.features.customers.iter().zip(&c.membership).filter(|(_, m)| **m == cluster) {
        refs.push(customer.clone());
        t.rows.push(Row { link: Some(customer_href(customer)), ..Row::new(vec![Cell::Text(customer.clone())]) });
    }
    (t, refs)
}

/// The customer page's tables: orders, interests, browsing, consent.
pub fn customer_tables(f: &CustomerFile) -> Vec<Table> {
    let mut orders = Table::new(
        "customer_orders",
        "Orders",
        vec![
            Column::new("Order", "order_id"),
            Column::new("Placed", "placed"),
            Column::new("Channel", "channel"),
            Column::new("Items", "items"),
            Column::new("Net value", "net"),
            Column::new("State", "state"),
            Column::new("ZIP", "zip"),
        ],
    );
    for o in &f.orders {
        orders.rows.push(Row::new(vec![
            Cell::Text(o.order_id.clone()),
            Cell::Time(o.placed_at.into(), Interval::Hour),
            Cell::Text(o.o_channel.clone()),
            Cell::Count(o.items),
            Cell::Money(o.net),
            Cell::Text(o.o_state.clone()),
            Cell::Text(o.o_zip.clone()),
        ]));
    }
    orders.note = Some("Cancelled orders are left out; values are net of refunds.".into());
    let mut interests = Table::new(
        "customer_interests",
        "Product interests",
        vec![Column::new("How", "how"), Column::new("Product or category", "name"), Column::new("Times", "times")],
    );
    for i in &f.interests {
        let how = match i.how.as_str() {
            "viewed" => "viewed",
            "carted" => "added to cart",
            "bought" => "bought",
            _ => "bought (category)",
        };
        interests.rows.push(Row::new(vec![Cell::Text(how.into()), Cell::Text(i.name.clone()), Cell::Count(i.times)]));
    }
    let mut events = Table::new(
        "customer_browsing",
        "Browsing history",
        vec![Column::new("When", "at"), Column::new("What", "kind"), Column::new("Page", "path"), Column::new("Title", "title")],
    );
    for e in &f.events {
        events.rows.push(Row::new(vec![Cell::Time(e.at.into(), Interval::Hour), Cell::Text(e.kind.clone()), Cell::Text(e.path.clone()), Cell::Text(e.title.clone())]));
    }
    events.note = Some(format!(
        "Only events from their opt-in onward exist: what they did before opting in was recorded without them and is never linked to them. Newest first, at most {}.",
        super::customer::HISTORY_ROWS
    ));
    let mut consent = Table::new(
        "customer_consent",
        "Consent history",
        vec![Column::new("When", "at"), Column::new("Action", "action"), Column::new("Source", "source"), Column::new("Policy", "policy_version")],
    );
    for c in &f.consent {
        consent.rows.push(Row::new(vec![
            Cell::Time(c.at.into(), Interval::Hour),
            Cell::Text(c.action.replace('_', " ")),
            Cell::Text(c.source.clone()),
            Cell::Count(c.policy_version.into()),
        ]));
    }
    vec![orders, interests, events, consent]
}

/// The customer page's recommendations; `None` when their opt-in does not
/// stand (then none are made).
pub fn picks_table(picks: Option<&[Pick]>) -> Table {
    let mut t = Table::new("customer_recommendations", "Recommended for them", vec![Column::new("Product", "sku"), Column::new("Why", "because")]);
    for p in picks.unwrap_or_default() {
        t.rows.push(Row::new(vec![Cell::Text(p.sku.clone()), Cell::Text(p.because.clone())]));
    }
    t.note = Some(match picks {
        None => "None: their opt-in does not stand now (opted out, expired or erasure asked for), so nothing is personalised for them.".into(),
        Some([]) => "Nothing to recommend yet: no product interests, or none with a released pair.".into(),
        Some(_) => "From their own purchases, cart and views combined with the store-wide \"bought together\" pairs (released aggregates); nothing from any other customer.".into(),
    });
    t
}

/// Adds a "Recommended" column to a members table whose rows are the
/// customers `refs` (in order), from `picks` by customer reference: empty
/// for a customer without a standing opt-in.
pub fn with_picks(t: &mut Table, refs: &[String], picks: &std::collections::HashMap<String, Vec<Pick>>) {
    t.columns.push(Column::new("Recommended", "recommended"));
    for (row, r) in t.rows.iter_mut().zip(refs) {
        row.cells.push(Cell::Text(personal::listed(picks.get(r))));
    }
}
