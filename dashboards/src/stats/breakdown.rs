//! Breakdowns: visits and pageviews per value of one dimension, with small
//! groups folded away inside ClickHouse.
//!
//! A group backed by fewer than `min_group_visits` distinct visits never
//! leaves the server under its own name: the query itself relabels it and
//! sums it into one "other (small groups)" row. Search terms and paths are
//! where a visitor's own words can show; folding keeps them from showing
//! one person. Anonymous hits have no visit, so a value seen only by them
//! is always folded.

use clickhouse::{Client, Row};
use serde::{Deserialize, Serialize};

use super::sql::{events_in, sessions_in, Sql, Window};
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
}

/// How a report's groups are formed.
enum Shape {
    /// Events grouped by a column, optionally of one kind only.
    Events { key: &'static str, kind: Option<&'static str> },
    /// Visits grouped by a per-visit value (its entry page, its source).
    Visits { key: &'static str },
}

impl Report {
    pub const ALL: [Report; 20] = [
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
            _ => "Pageviews",
        }
    }

    /// What an empty value means here.
    pub fn empty_label(self) -> &'static str {
        match self {
            Report::Referrers => "(direct / none)",
            Report::UtmSource | Report::UtmMedium | Report::UtmCampaign => "(no campaign)",
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

    fn shape(self) -> Shape {
        let of_kind = |kind| Shape::Events { key: "target", kind: Some(kind) };
        match self {
            Report::Pages => Shape::Events { key: "path", kind: Some("pageview") },
            Report::EntryPages => Shape::Visits { key: "argMinIf(path, ts, kind = 'pageview')" },
            Report::ExitPages => Shape::Visits { key: "argMaxIf(path, ts, kind = 'pageview')" },
            Report::Downloads => of_kind("download"),
            Report::Outbound => of_kind("outbound"),
            Report::SiteSearch => of_kind("search"),
            // A visit's source is where its first event came from; later
            // events' referrers are the store's own pages.
            Report::Referrers => Shape::Visits { key: "argMin(referrer_domain, ts)" },
            Report::UtmSource => Shape::Visits { key: "argMin(utm_source, ts)" },
            Report::UtmMedium => Shape::Visits { key: "argMin(utm_medium, ts)" },
            Report::UtmCampaign => Shape::Visits { key: "argMin(utm_campaign, ts)" },
            other => Shape::Events { key: other.dimension().column(), kind: None },
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
    }
}

/// Folds groups under `min_visits` and orders the named ones.
fn folded(groups: Sql, min_visits: u32, sort: Sort, limit: u64) -> Sql {
    Sql::new("SELECT small, if(small = 1, '', key) AS name, toUInt64(sum(v)) AS visits, toUInt64(sum(c)) AS hits, toUInt64(count()) AS groups FROM (SELECT key, v, c, toUInt8(v < ")
        .int(i64::from(min_visits))
        .raw(") AS small FROM (")
        .then(groups)
        .raw(")) GROUP BY small, name ORDER BY small DESC, ")
        .raw(order_by(sort))
        .raw(" LIMIT ")
        .int(limit as i64 + 1)
}

/// `report` over `w` under `filters`.
pub async fn breakdown(client: &Client, t2: &str, report: Report, w: Window, filters: &Where, min_visits: u32, sort: Sort) -> clickhouse::error::Result<Breakdown> {
    let groups = match report.shape() {
        Shape::Events { key, kind } => {
            let count = if kind.is_some() { "count()" } else { "countIf(kind = 'pageview')" };
            let mut s = Sql::new("SELECT ")
                .raw(key)
                .raw(" AS key, uniqExactIf(session_id, session_id != '') AS v, ")
                .raw(count)
                .raw(" AS c FROM {t2}.events FINAL WHERE ")
                .then(events_in(w, filters));
            if let Some(kind) = kind {
                s = s.raw(" AND kind = '").raw(kind).raw("'");
            }
            s.raw(" GROUP BY key")
        }
        Shape::Visits { key } => Sql::new("SELECT key, count() AS v, sum(pv) AS c FROM (SELECT session_id, ")
            .raw(key)
            .raw(" AS key, countIf(kind = 'pageview') AS pv FROM {t2}.events FINAL WHERE ")
            .then(sessions_in(w, filters))
            .raw(" GROUP BY session_id) GROUP BY key"),
    };
    let mut all: Vec<Group> = folded(groups, min_visits, sort, MAX_ROWS).query(client, t2).fetch_all().await?;
    let other = if all.first().is_some_and(|g| g.small == 1) { Some(all.remove(0)) } else { None };
    let truncated = all.len() as u64 > MAX_ROWS;
    all.truncate(MAX_ROWS as usize);
    Ok(Breakdown { rows: all, other, truncated })
}
