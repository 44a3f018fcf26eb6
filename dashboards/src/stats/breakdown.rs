//! Breakdowns: visits and pageviews per value of one dimension, exact.
//!
//! These are the exact aggregates the release layer starts from
//! ([`crate::release`]: it thresholds groups with noise); the folding of
//! groups under a minimum here ([`fold`]) is what the exact fixtures and
//! the SQL-compatibility test exercise, never what an analyst is shown.
//! What one visit adds to a list report (pages, downloads, outbound links,
//! searches) is bounded by [`crate::release::caps`] in the selects below,
//! which the rollup shares, so `t2.visit_groups` holds bounded groups too.
//!
//! Without filters a breakdown adds up `t2.visit_groups` (per day, report
//! and value); with filters it groups the matching rows of `t2.visits`.
//! The rollup builds `visit_groups` from the same [`Report::shape`].

use clickhouse::{Client, Row};
use serde::{Deserialize, Serialize};

use super::sql::{Sql, Window};
use crate::query::{Dimension, Sort, SortBy, Where};

/// The most named rows a breakdown returns (plus the folded row).
pub const MAX_ROWS: u64 = 500;

/// What a breakdown is of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Report {
    Pages,
    EntryPages,
    ExitPages,
    Downloads,
    Outbound,
    SiteSearch,
    Referrers,
    UtmSource,
    UtmMedium,
    UtmCampaign,
    UtmTerm,
    UtmContent,
    Country,
    Region,
    Network,
    Os,
    Browser,
    Device,
    Screen,
    Language,
    TimeZone,
    Connection,
    /// Custom events by name (`mintmark.track(name, …)`).
    CustomEvents,
    /// Custom events' properties: `name · key = value`.
    EventProps,
}

/// How a report's groups are formed from `t2.visits`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// Visits grouped by one of their columns (a visit-wide value); the
    /// count is their pageviews.
    Column(&'static str),
    /// Visits grouped by each value of an array (the pages they viewed,
    /// their searches), the count from the parallel array of counts.
    Array { keys: &'static str, counts: &'static str },
}

impl Report {
    pub const ALL: [Report; 24] = [
        Report::Pages,
        Report::EntryPages,
        Report::ExitPages,
        Report::Downloads,
        Report::Outbound,
        Report::SiteSearch,
        Report::Referrers,
        Report::UtmSource,
        Report::UtmMedium,
        Report::UtmCampaign,
        Report::UtmTerm,
        Report::UtmContent,
        Report::Country,
        Report::Region,
        Report::Network,
        Report::Os,
        Report::Browser,
        Report::Device,
        Report::Screen,
        Report::Language,
        Report::TimeZone,
        Report::Connection,
        Report::CustomEvents,
        Report::EventProps,
    ];

    /// The name in URLs, exports and the API.
    pub fn name(self) -> &'static str {
        match self {
            Report::Pages => "pages",
            Report::EntryPages => "entry_pages",
            Report::ExitPages => "exit_pages",
            Report::Downloads => "downloads",
            Report::Outbound => "outbound",
            Report::SiteSearch => "site_search",
            Report::Referrers => "referrers",
            Report::UtmSource => "utm_source",
            Report::UtmMedium => "utm_medium",
            Report::UtmCampaign => "utm_campaign",
            Report::UtmTerm => "utm_term",
            Report::UtmContent => "utm_content",
            Report::Country => "country",
            Report::Region => "region",
            Report::Network => "network",
            Report::Os => "os",
            Report::Browser => "browser",
            Report::Device => "device",
            Report::Screen => "screen",
            Report::Language => "language",
            Report::TimeZone => "time_zone",
            Report::Connection => "connection",
            Report::CustomEvents => "custom_events",
            Report::EventProps => "event_props",
        }
    }

    pub fn parse(s: &str) -> Option<Report> {
        Report::ALL.into_iter().find(|r| r.name() == s)
    }

    pub fn title(self) -> &'static str {
        match self {
            Report::Pages => "Top pages",
            Report::EntryPages => "Entry pages",
            Report::ExitPages => "Exit pages",
            Report::Downloads => "Downloads",
            Report::Outbound => "Outbound links",
            Report::SiteSearch => "Site search",
            Report::Referrers => "Referrers",
            Report::UtmSource => "UTM source",
            Report::UtmMedium => "UTM medium",
            Report::UtmCampaign => "UTM campaign",
            Report::UtmTerm => "UTM term",
            Report::UtmContent => "UTM content",
            Report::Country => "Country",
            Report::Region => "Region",
            Report::Network => "Network",
            Report::Os => "Operating system",
            Report::Browser => "Browser",
            Report::Device => "Device",
            Report::Screen => "Screen size",
            Report::Language => "Language",
            Report::TimeZone => "Time zone",
            Report::Connection => "Connection",
            Report::CustomEvents => "Custom events",
            Report::EventProps => "Event properties",
        }
    }

    /// The first column's heading.
    pub fn key_label(self) -> &'static str {
        match self {
            Report::Pages | Report::EntryPages | Report::ExitPages => "Page",
            Report::Downloads => "File",
            Report::Outbound => "Destination",
            Report::SiteSearch => "Search term",
            Report::Referrers => "Source",
            Report::CustomEvents => "Event",
            Report::EventProps => "Event · property",
            _ => self.title(),
        }
    }

    /// The second count's heading: pageviews, or the events of the kind
    /// the report is about.
    pub fn count_label(self) -> &'static str {
        match self {
            Report::Downloads => "Downloads",
            Report::Outbound => "Clicks",
            Report::SiteSearch => "Searches",
            Report::CustomEvents | Report::EventProps => "Events",
            _ => "Pageviews",
        }
    }

    /// A group's key as a row shows it: an event property's stored form
    /// (`name␟["key",value]`) as `name · key = value`.
    pub fn display_key(self, key: &str) -> String {
        if self != Report::EventProps {
            return key.to_string();
        }
        let Some((name, pair)) = key.split_once(crate::stats::props::PROP_SEPARATOR) else { return key.to_string() };
        match serde_json::from_str::<(String, serde_json::Value)>(pair) {
            Ok((k, serde_json::Value::String(v))) => format!("{name} · {k} = {v}"),
            Ok((k, v)) => format!("{name} · {k} = {v}"),
            Err(_) => format!("{name} · {pair}"),
        }
    }

    /// What an empty value means here.
    pub fn empty_label(self) -> &'static str {
        match self {
            Report::Referrers => "(direct / none)",
            Report::UtmSource | Report::UtmMedium | Report::UtmCampaign | Report::UtmTerm | Report::UtmContent => "(no campaign)",
            _ => "(unknown)",
        }
    }

    /// The filter a click on a row adds.
    pub fn dimension(self) -> Dimension {
        match self {
            Report::Pages | Report::EntryPages | Report::ExitPages => Dimension::Page,
            Report::Downloads | Report::Outbound | Report::SiteSearch => Dimension::Target,
            Report::Referrers => Dimension::Referrer,
            Report::UtmSource => Dimension::UtmSource,
            Report::UtmMedium => Dimension::UtmMedium,
            Report::UtmCampaign => Dimension::UtmCampaign,
            Report::UtmTerm => Dimension::UtmTerm,
            Report::UtmContent => Dimension::UtmContent,
            Report::CustomEvents => Dimension::CustomEvent,
            Report::EventProps => Dimension::EventProp,
            Report::Country => Dimension::Country,
            Report::Region => Dimension::Region,
            Report::Network => Dimension::Network,
            Report::Os => Dimension::Os,
            Report::Browser => Dimension::Browser,
            Report::Device => Dimension::Device,
            Report::Screen => Dimension::Screen,
            Report::Language => Dimension::Language,
            Report::TimeZone => Dimension::TimeZone,
            Report::Connection => Dimension::Connection,
        }
    }

    pub fn shape(self) -> Shape {
        match self {
            Report::Pages => Shape::Array { keys: "page_paths", counts: "page_views" },
            Report::Downloads => Shape::Array { keys: "downloads", counts: "downloads_n" },
            Report::Outbound => Shape::Array { keys: "outbound", counts: "outbound_n" },
            Report::SiteSearch => Shape::Array { keys: "searches", counts: "searches_n" },
            Report::CustomEvents => Shape::Array { keys: "custom_events", counts: "custom_events_n" },
            Report::EventProps => Shape::Array { keys: "custom_props", counts: "custom_props_n" },
            Report::EntryPages => Shape::Column("entry_page"),
            Report::ExitPages => Shape::Column("exit_page"),
            // A visit's source is its first event's referrer; later events'
            // referrers are the store's own pages.
            Report::Referrers => Shape::Column("source"),
            Report::Screen => Shape::Column("screen"),
            Report::Connection => Shape::Column("connection"),
            other => Shape::Column(other.name()),
        }
    }
}

/// One named group, or the folded small ones.
#[derive(Debug, Clone, PartialEq, Eq, Row, Deserialize, Serialize)]
pub struct Group {
    /// 1 for the folded row.
    pub small: u8,
    pub name: String,
    /// Distinct visits in the group (for the folded row, the sum over its
    /// groups: a visit in two small groups counts twice there).
    pub visits: u64,
    /// Pageviews, or events of the report's kind.
    pub hits: u64,
    /// How many groups this row stands for.
    pub groups: u64,
}

/// A breakdown's rows: named groups in the asked order, then the folded one.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Breakdown {
    pub rows: Vec<Group>,
    pub other: Option<Group>,
    /// More named groups exist than [`MAX_ROWS`].
    pub truncated: bool,
}

fn order_by(sort: Sort) -> &'static str {
    match (sort.by, sort.descending) {
        (SortBy::Visits, true) => "visits DESC, name ASC",
        (SortBy::Visits, false) => "visits ASC, name ASC",
        (SortBy::Pageviews, true) => "hits DESC, name ASC",
        (SortBy::Pageviews, false) => "hits ASC, name ASC",
        (SortBy::Name, true) => "name DESC",
        (SortBy::Name, false) => "name ASC",
        // The goal columns exist only in released tables, sorted there.
        (_, _) => "visits DESC, name ASC",
    }
}

/// Folds groups under `min_visits` and orders the named ones, per
/// report: `groups` yields `report, key, v, c`.
pub fn folded(groups: Sql, min_visits: u32, sort: Sort, limit: u64) -> Sql {
    Sql::new("SELECT report, small, if(small = 1, '', key) AS name, toUInt64(sum(v)) AS visits, toUInt64(sum(c)) AS hits, toUInt64(count()) AS groups FROM (SELECT report, key, v, c, toUInt8(v < ")
        .int(i64::from(min_visits))
        .raw(") AS small FROM (")
        .then(groups)
        .raw(")) GROUP BY report, small, name ORDER BY report, small DESC, ")
        .raw(order_by(sort))
        .raw(" LIMIT ")
        .int(limit as i64 + 1)
        .raw(" BY report")
}

fn quoted_names(reports: &[Report]) -> String {
    reports.iter().map(|r| format!("'{}'", r.name())).collect::<Vec<_>>().join(", ")
}

/// The reads that give several reports' groups (`report, key, v, c`),
/// each with the reports it covers. Without filters, one read of the
/// per-day groups; with one visit-wide `is` filter, pages from their
/// per-value table; otherwise the matching rows of the visits
/// ([`visit_group_selects`]).
pub fn reads(reports: &[Report], w: Window, filters: &Where) -> Vec<(Vec<&'static str>, Sql)> {
    if filters.is_empty() {
        let sql = Sql::new("SELECT report, key, sum(visits) AS v, sum(hits) AS c FROM {t2}.visit_groups WHERE report IN (")
            .raw(&quoted_names(reports))
            .raw(") AND ")
            .days(w)
            .raw(" GROUP BY report, key");
        return vec![(reports.iter().map(|r| r.name()).collect(), sql)];
    }
    let mut out = Vec::new();
    let mut rest: Vec<Report> = reports.to_vec();
    if let (Some((dimension, value)), true) = (facet_pages(filters), reports.contains(&Report::Pages)) {
        rest.retain(|r| *r != Report::Pages);
        out.push((
            vec![Report::Pages.name()],
            Sql::new("SELECT 'pages' AS report, key, sum(visits) AS v, sum(hits) AS c FROM {t2}.visit_facet_pages WHERE dimension = '")
                .raw(dimension)
                .raw("' AND value = ")
                .text_value(value)
                .raw(" AND ")
                .days(w)
                .raw(" GROUP BY key"),
        ));
    }
    let condition = Sql::default().days(w).raw(" AND ").matching(filters);
    out.extend(visit_group_selects(&rest, "{t2}.visits", &condition, false));
    out
}

/// `SELECT`s of `reports`' groups from the rows of `from` (`t2.visits` or
/// a table like it) where `condition` holds, each with the reports it
/// covers: one pass for every column report together, one for the pages
/// (long lists: on their own, they run beside the rest), one for the
/// short target lists. Each yields `report, key, v, c`, after `start_day`
/// when `per_day` (what the rollup stores in `visit_groups`).
pub fn visit_group_selects(reports: &[Report], from: &str, condition: &Sql, per_day: bool) -> Vec<(Vec<&'static str>, Sql)> {
    let day = if per_day { "start_day, " } else { "" };
    let (mut columns, mut column_names, mut lists, mut list_names) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut out = Vec::new();
    let select = |what: String, array_join: &str, group: &str| {
        Sql::new("SELECT ")
            .raw(day)
            .raw(&what)
            .raw(" FROM ")
            .raw(from)
            .raw(" ARRAY JOIN ")
            .raw(array_join)
            .raw(" WHERE ")
            .then(condition.clone())
            .raw(" GROUP BY ")
            .raw(day)
            .raw(group)
    };
    for r in reports {
        match r.shape() {
            Shape::Column(c) => {
                column_names.push(r.name());
                columns.push(format!("('{}', {c})", r.name()));
            }
            Shape::Array { keys, counts } if *r == Report::Pages => {
                let (keys, counts) = bounded(keys, counts, crate::release::caps::PAGES_PER_VISIT, crate::release::caps::VIEWS_PER_PAGE);
                out.push((vec![r.name()], select(format!("'{}' AS report, key, sum(visits) AS v, sum(n) AS c", r.name()), &format!("{keys} AS key, {counts} AS n"), "key")))
            }
            Shape::Array { keys, counts } => {
                let (keys, counts) = bounded(keys, counts, crate::release::caps::TARGETS_PER_VISIT, crate::release::caps::HITS_PER_TARGET);
                list_names.push(r.name());
                lists.push(format!("arrayMap((k, n) -> ('{}', k, n), {keys}, {counts})", r.name()));
            }
        }
    }
    if !lists.is_empty() {
        let all = if lists.len() == 1 { lists.remove(0) } else { format!("arrayConcat({})", lists.join(", ")) };
        out.push((list_names, select("r.1 AS report, r.2 AS key, sum(visits) AS v, sum(r.3) AS c".into(), &format!("{all} AS r"), "report, key")));
    }
    if !columns.is_empty() {
        out.push((
            column_names,
            select("r.1 AS report, r.2 AS key, sum(visits) AS v, sum(pageviews) AS c".into(), &format!("[{}] AS r", columns.join(", ")), "report, key"),
        ));
    }
    out
}

/// The per-day groups of `report` from the rows of `t2.visits` where
/// `condition` holds, with a goal's columns: `day, key, v` (visits), `c`
/// (pageviews or the report's events), `g` (visits that reached the goal:
/// `goal`, a condition over a visit's row) and `r` (the visits' revenue,
/// in cents). Bounded like [`visit_group_selects`]: a visit adds to at
/// most as many groups, and its revenue is the rollup's capped one.
pub fn goal_group_select(report: Report, condition: &Sql, goal: &Where) -> Sql {
    let pairs = match report.shape() {
        Shape::Column(c) => format!("[({c}, pageviews)]"),
        Shape::Array { keys, counts } => {
            let (per_visit, hits) = if report == Report::Pages {
                (crate::release::caps::PAGES_PER_VISIT, crate::release::caps::VIEWS_PER_PAGE)
            } else {
                (crate::release::caps::TARGETS_PER_VISIT, crate::release::caps::HITS_PER_TARGET)
            };
            let (k, n) = bounded(keys, counts, per_visit, hits);
            format!("arrayMap((k, n) -> (k, n), {k}, {n})")
        }
    };
    Sql::new("SELECT toUInt16(start_day) AS day, grp.1 AS key, toUInt64(sum(visits)) AS v, toUInt64(sum(grp.2)) AS c, toUInt64(sum(visits * toUInt8(")
        .matching(goal)
        .raw("))) AS g, toInt64(round(sum(revenue * visits) * 100)) AS r FROM {t2}.visits ARRAY JOIN ")
        .raw(&pairs)
        .raw(" AS grp WHERE ")
        .then(condition.clone())
        .raw(" GROUP BY day, key")
}

/// A visit's first `keys_per_visit` values of a list, each counted at
/// most `hits_per_key` times: what one visit adds to a list report is
/// bounded (see [`crate::release::caps`]).
fn bounded(keys: &str, counts: &str, keys_per_visit: u32, hits_per_key: u32) -> (String, String) {
    (format!("arraySlice({keys}, 1, {keys_per_visit})"), format!("arrayMap(x -> least(x, {hits_per_key}), arraySlice({counts}, 1, {keys_per_visit}))"))
}

/// The single visit-wide `is` filter that `visit_facet_pages` answers.
fn facet_pages(filters: &Where) -> Option<(&'static str, &str)> {
    let (dimension, value) = filters.facet.as_ref()?;
    crate::query::column_facets().iter().any(|(name, _)| name == dimension).then_some((*dimension, value.as_str()))
}

#[derive(Debug, Clone, PartialEq, Eq, Row, Deserialize)]
struct ReportGroup {
    report: String,
    small: u8,
    name: String,
    visits: u64,
    hits: u64,
    groups: u64,
}

/// Named groups and the folded row of each report in `groups`, in the
/// order of `reports`.
pub async fn fold(client: &Client, t2: &str, reports: &[&str], groups: Sql, min_visits: u32, sort: Sort) -> clickhouse::error::Result<Vec<Breakdown>> {
    let rows: Vec<ReportGroup> = folded(groups, min_visits, sort, MAX_ROWS).query(client, t2).fetch_all().await?;
    let mut out: Vec<Breakdown> = reports.iter().map(|_| Breakdown::default()).collect();
    for r in rows {
        let Some(i) = reports.iter().position(|name| *name == r.report) else { continue };
        let g = Group { small: r.small, name: r.name, visits: r.visits, hits: r.hits, groups: r.groups };
        if g.small == 1 {
            out[i].other = Some(g);
        } else if out[i].rows.len() as u64 == MAX_ROWS {
            out[i].truncated = true;
        } else {
            out[i].rows.push(g);
        }
    }
    Ok(out)
}

/// Several reports over the days of `w` under `filters` (visit filters:
/// [`crate::query::StatsQuery::visit_filter_sql`]), in one query.
pub async fn breakdowns(client: &Client, t2: &str, reports: &[Report], w: Window, filters: &Where, min_visits: u32, sort: Sort) -> clickhouse::error::Result<Vec<Breakdown>> {
    if reports.is_empty() {
        return Ok(Vec::new());
    }
    let reads = reads(reports, w, filters);
    let results = futures_util::future::try_join_all(reads.into_iter().map(|(names, sql)| async move {
        let folded = fold(client, t2, &names, sql, min_visits, sort).await?;
        Ok::<_, clickhouse::error::Error>(names.into_iter().zip(folded).collect::<Vec<_>>())
    }))
    .await?;
    let mut by_name: std::collections::HashMap<&str, Breakdown> = results.into_iter().flatten().collect();
    Ok(reports.iter().map(|r| by_name.remove(r.name()).unwrap_or_default()).collect())
}

/// One report.
pub async fn breakdown(client: &Client, t2: &str, report: Report, w: Window, filters: &Where, min_visits: u32, sort: Sort) -> clickhouse::error::Result<Breakdown> {
    Ok(breakdowns(client, t2, &[report], w, filters, min_visits, sort).await?.remove(0))
}
