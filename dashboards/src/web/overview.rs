//! The overview: the top metrics of a period, compared with another, under
//! the filters in the URL. Request → [`StatsQuery`] → [`stats::top_metrics`]
//! → audit → template.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;

use super::auth::{AnalystView, Authorized};
use super::{page, App};
use crate::audit::AccessEntry;
use crate::query::{Comparison, Day, Period, StatsQuery};
use crate::stats::{self, TopMetrics};

/// One metric card.
pub struct Card {
    pub label: &'static str,
    pub value: String,
    /// `+12.5 %`, `−3.0 %`, `new`, or empty without a comparison.
    pub change: String,
    /// `good`, `bad` or `flat`, for the colour: a rising bounce rate is bad.
    pub trend: &'static str,
}

/// A link in a segmented control.
pub struct Choice {
    pub label: &'static str,
    pub href: String,
    pub current: bool,
}

pub struct Chip {
    pub text: String,
    pub remove: String,
}

fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn duration(secs: f64) -> String {
    let s = secs.round() as u64;
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m {}s", s / 60, s % 60),
        _ => format!("{}h {}m", s / 3600, (s % 3600) / 60),
    }
}

fn change(now: f64, before: Option<f64>) -> (String, &'static str) {
    match before {
        None => (String::new(), "flat"),
        Some(b) if b == 0.0 && now == 0.0 => ("0 %".into(), "flat"),
        Some(b) if b == 0.0 => ("new".into(), "up"),
        Some(b) => {
            let pct = (now - b) / b * 100.0;
            let trend = if pct > 0.05 { "up" } else if pct < -0.05 { "down" } else { "flat" };
            (format!("{}{:.1} %", if pct > 0.0 { "+" } else if pct < 0.0 { "−" } else { "" }, pct.abs()), trend)
        }
    }
}

fn cards(m: &TopMetrics, c: Option<&TopMetrics>) -> Vec<Card> {
    let rows: [(&'static str, fn(&TopMetrics) -> f64, fn(f64) -> String); 8] = [
        ("Visits", |m| m.visits as f64, |v| thousands(v as u64)),
        ("Pageviews", |m| m.pageviews as f64, |v| thousands(v as u64)),
        ("Anonymous hits", |m| m.anonymous_hits as f64, |v| thousands(v as u64)),
        ("Bounce rate", |m| m.bounce_rate, |v| format!("{:.1} %", v * 100.0)),
        ("Visit duration", |m| m.avg_duration_secs, duration),
        ("Pages per visit", |m| m.pages_per_visit, |v| format!("{v:.2}")),
        ("Conversion", |m| m.conversion_rate, |v| format!("{:.2} %", v * 100.0)),
        ("Revenue", |m| m.revenue, |v| format!("{v:.2}")),
    ];
    rows.into_iter()
        .map(|(label, get, show)| {
            let (change, direction) = change(get(m), c.map(get));
            let lower_is_better = label == "Bounce rate";
            let trend = match (direction, lower_is_better) {
                ("up", false) | ("down", true) => "good",
                ("down", false) | ("up", true) => "bad",
                _ => "flat",
            };
            Card { label, value: show(get(m)), change, trend }
        })
        .collect()
}

fn href(q: &StatsQuery) -> String {
    format!("/?{}", q.to_params())
}

pub async fn overview(State(app): State<Arc<App>>, who: Authorized<AnalystView>, Query(params): Query<Vec<(String, String)>>) -> Response {
    let today = Day::from_unix(crate::accounts::now_secs());
    let q = match StatsQuery::from_params(&params, today) {
        Ok(q) => q,
        Err(e) => return page::error(StatusCode::BAD_REQUEST, "Bad request", &e.to_string()),
    };
    let range = q.range(today);
    let filters = q.filter_sql();
    let t2 = app.dbs.t2.as_str();
    let current = stats::top_metrics(&app.clickhouse, t2, range, &filters).await;
    let compared_range = q.comparison_range(today);
    let before = match compared_range {
        Some(r) => Some(stats::top_metrics(&app.clickhouse, t2, r, &filters).await),
        None => None,
    };
    let result = match (current, before) {
        (Ok(m), None) => Ok((m, None)),
        (Ok(m), Some(Ok(c))) => Ok((m, Some(c))),
        (Err(e), _) | (_, Some(Err(e))) => Err(e.to_string()),
    };
    // Data leaves only once its read is on record.
    if let Ok((_, c)) = &result {
        let rows = 1 + u64::from(c.is_some());
        if let Err(e) = app.audit.record(&AccessEntry::aggregate(&who.session, "/", &q.to_params(), rows)).await {
            tracing::error!(error = %e, "access audit failed; the read is refused");
            return page::error(StatusCode::SERVICE_UNAVAILABLE, "Unavailable", "The access audit cannot be written, so no data is shown. Try again shortly.");
        }
    }
    let periods = [(Period::Today, "Today"), (Period::Last7, "7 days"), (Period::Last30, "30 days"), (Period::Month, "This month")]
        .into_iter()
        .map(|(p, label)| Choice { label, href: href(&StatsQuery { period: p, ..q.clone() }), current: q.period == p })
        .collect();
    let comparisons = [(Comparison::None, "No comparison"), (Comparison::Previous, "Previous period"), (Comparison::PreviousYear, "Year before")]
        .into_iter()
        .map(|(c, label)| Choice { label, href: href(&StatsQuery { comparison: c, ..q.clone() }), current: q.comparison == c })
        .collect();
    let chips = q
        .filters
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let mut without = q.clone();
            without.filters.remove(i);
            Chip { text: format!("{} {} {}", f.dimension.name(), f.op.label(), f.value), remove: href(&without) }
        })
        .collect();
    let span = format!("{} – {}", range.from, Day(range.until.0 - 1));
    let compared = compared_range.map(|r| format!("compared with {} – {}", r.from, Day(r.until.0 - 1))).unwrap_or_default();
    let user = &who.session.user;
    page::render(&page::Overview {
        user: user.name.clone(),
        roles: user.roles.to_string(),
        csrf: who.session.csrf.clone(),
        span,
        compared,
        periods,
        comparisons,
        chips,
        cards: result.as_ref().map(|(m, c)| cards(m, c.as_ref())).map_err(Clone::clone),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_well() {
        assert_eq!((thousands(0), thousands(999), thousands(1000), thousands(1_234_567)), ("0".into(), "999".into(), "1,000".into(), "1,234,567".into()));
        assert_eq!((duration(0.0), duration(59.4), duration(80.0), duration(3725.0)), ("0s".into(), "59s".into(), "1m 20s".into(), "1h 2m".into()));
        assert_eq!(change(110.0, Some(100.0)), ("+10.0 %".into(), "up"));
        assert_eq!(change(90.0, Some(100.0)), ("−10.0 %".into(), "down"));
        assert_eq!(change(5.0, Some(0.0)), ("new".into(), "up"));
        assert_eq!(change(5.0, None), (String::new(), "flat"));
        let worse = TopMetrics { bounce_rate: 0.5, visits: 10, ..Default::default() };
        let before = TopMetrics { bounce_rate: 0.25, visits: 5, ..Default::default() };
        let c = cards(&worse, Some(&before));
        assert_eq!((c[0].label, c[0].trend), ("Visits", "good"));
        assert_eq!((c[3].label, c[3].change.as_str(), c[3].trend), ("Bounce rate", "+100.0 %", "bad"));
    }
}
