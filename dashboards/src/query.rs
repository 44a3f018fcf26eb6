//! What a dashboard request asks for, parsed and validated in one place.
//!
//! Plausible's shape: request parameters → a typed [`StatsQuery`] (period,
//! comparison, filters) → SQL built from that type, where every column
//! comes from an enum ([`Dimension::column`]) and every value the user
//! typed is a bound parameter ([`Where`]), never pasted into the text →
//! typed rows → a template. Anything the parser does not know is a
//! [`QueryError`] with a reason, shown as a 400.
//!
//! The whole state lives in the URL (`period`, `from`, `to`, `compare`,
//! `f`), so a view can be bookmarked and shared; [`StatsQuery::to_params`]
//! writes it back.

use std::fmt;

pub use crate::stats::Metric;

/// Days since 1970-01-01 (UTC), the unit of periods.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Day(pub i32);

/// Julian day number of 1970-01-01.
const UNIX_EPOCH_JULIAN: i32 = 2_440_588;

impl Day {
    /// `YYYY-MM-DD`, exactly ten characters, years 1970–9999.
    pub fn parse(s: &str) -> Option<Day> {
        let format = time::macros::format_description!("[year]-[month]-[day]");
        let date = time::Date::parse(s, format).ok().filter(|d| s.len() == 10 && (1970..=9999).contains(&d.year()))?;
        Some(Day::of(date))
    }

    pub fn from_unix(secs: i64) -> Day {
        Day(secs.div_euclid(86_400) as i32)
    }

    /// Today, in UTC: what every default period ends with.
    pub fn today() -> Day {
        Day::from_unix(crate::accounts::now_secs())
    }

    /// Unix seconds at 00:00 UTC.
    pub fn start_secs(self) -> i64 {
        self.0 as i64 * 86_400
    }

    fn of(date: time::Date) -> Day {
        Day(date.to_julian_day() - UNIX_EPOCH_JULIAN)
    }

    pub fn date(self) -> time::Date {
        time::Date::from_julian_day(self.0 + UNIX_EPOCH_JULIAN).expect("days from 1970 to 9999 are valid dates")
    }

    fn first_of_month(self) -> Day {
        Day::of(self.date().replace_day(1).expect("every month has a first"))
    }

    /// The same day a year earlier (29 February becomes the 28th).
    fn year_before(self) -> Day {
        let d = self.date();
        let earlier = d.replace_year(d.year() - 1).or_else(|_| d.replace_day(28).and_then(|d| d.replace_year(d.year() - 1)));
        Day::of(earlier.expect("a year earlier is a valid date"))
    }
}

impl fmt::Display for Day {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // time's Date displays as YYYY-MM-DD.
        self.date().fmt(f)
    }
}

/// Which days a view covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    Today,
    Last7,
    Last30,
    /// The current calendar month so far.
    Month,
    /// Inclusive.
    Custom { from: Day, to: Day },
}

/// What the period is compared with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparison {
    None,
    /// The same number of days right before.
    Previous,
    /// The same days a year earlier.
    PreviousYear,
}

/// The width of a chart's points.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interval {
    Hour,
    Day,
    /// Monday to Sunday.
    Week,
    Month,
}

impl Interval {
    pub const ALL: [Interval; 4] = [Interval::Hour, Interval::Day, Interval::Week, Interval::Month];

    pub fn name(self) -> &'static str {
        match self {
            Interval::Hour => "hour",
            Interval::Day => "day",
            Interval::Week => "week",
            Interval::Month => "month",
        }
    }

    fn parse(s: &str) -> Option<Interval> {
        Interval::ALL.into_iter().find(|i| i.name() == s)
    }

    /// The start (Unix seconds, UTC) of every bucket that overlaps
    /// `[from, until)`, in order.
    pub fn buckets(self, from: i64, until: i64) -> Vec<i64> {
        let first = match self {
            Interval::Hour => from.div_euclid(3600) * 3600,
            Interval::Day => Day::from_unix(from).start_secs(),
            Interval::Week => {
                let d = Day::from_unix(from);
                Day(d.0 - d.date().weekday().number_days_from_monday() as i32).start_secs()
            }
            Interval::Month => Day::from_unix(from).first_of_month().start_secs(),
        };
        let mut out = Vec::new();
        let mut at = first;
        while at < until {
            out.push(at);
            at = match self {
                Interval::Hour => at + 3600,
                Interval::Day => at + 86_400,
                Interval::Week => at + 7 * 86_400,
                Interval::Month => {
                    let d = Day::from_unix(at).date();
                    let next = if d.month() == time::Month::December {
                        d.replace_year(d.year() + 1).and_then(|d| d.replace_month(time::Month::January))
                    } else {
                        d.replace_month(d.month().next())
                    };
                    Day::of(next.expect("the first of a month has a successor")).start_secs()
                }
            };
        }
        out
    }
}

/// Which column a table is ordered by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortBy {
    Visits,
    Pageviews,
    Name,
    /// With a goal's columns ([`StatsQuery::goal_columns`]): its
    /// conversions, conversion rate, revenue, revenue per visit.
    Conversions,
    ConversionRate,
    Revenue,
    RevenuePerVisit,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sort {
    pub by: SortBy,
    pub descending: bool,
}

impl Sort {
    pub const DEFAULT: Sort = Sort { by: SortBy::Visits, descending: true };

    fn name(self) -> String {
        let by = match self.by {
            SortBy::Visits => "visits",
            SortBy::Pageviews => "pageviews",
            SortBy::Name => "name",
            SortBy::Conversions => "conversions",
            SortBy::ConversionRate => "conversion_rate",
            SortBy::Revenue => "revenue",
            SortBy::RevenuePerVisit => "revenue_per_visit",
        };
        format!("{by}:{}", if self.descending { "desc" } else { "asc" })
    }

    fn parse(s: &str) -> Option<Sort> {
        let (by, dir) = s.split_once(':').unwrap_or((s, "desc"));
        let by = match by {
            "visits" => SortBy::Visits,
            "pageviews" => SortBy::Pageviews,
            "name" => SortBy::Name,
            "conversions" => SortBy::Conversions,
            "conversion_rate" => SortBy::ConversionRate,
            "revenue" => SortBy::Revenue,
            "revenue_per_visit" => SortBy::RevenuePerVisit,
            _ => return None,
        };
        let descending = match dir {
            "desc" => true,
            "asc" => false,
            _ => return None,
        };
        Some(Sort { by, descending })
    }
}

/// A half-open range of days, `[from, until)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    pub from: Day,
    pub until: Day,
}

impl Range {
    pub fn days(&self) -> i32 {
        self.until.0 - self.from.0
    }
}

/// Something an analyst can break down or filter by: each maps to a fixed
/// column expression of `t2.events`, never to user text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dimension {
    Page,
    Referrer,
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
    Language,
    TimeZone,
    Connection,
    Screen,
    /// A download's file, an outbound link's destination, a search term.
    Target,
    Kind,
    /// A custom event's name (`mintmark.track(name, …)`).
    CustomEvent,
    /// One property of a custom event, as the event-properties report
    /// names it (`name␟["key",value]`).
    EventProp,
    /// A visit that reached an analyst's goal (by the goal's name): a
    /// filter only, resolved against the goals ([`StatsQuery::with_goals`]).
    Goal,
}

impl Dimension {
    pub const ALL: [Dimension; 22] = [
        Dimension::Page,
        Dimension::Referrer,
        Dimension::UtmSource,
        Dimension::UtmMedium,
        Dimension::UtmCampaign,
        Dimension::UtmTerm,
        Dimension::UtmContent,
        Dimension::Country,
        Dimension::Region,
        Dimension::Network,
        Dimension::Os,
        Dimension::Browser,
        Dimension::Device,
        Dimension::Language,
        Dimension::TimeZone,
        Dimension::Connection,
        Dimension::Screen,
        Dimension::Target,
        Dimension::Kind,
        Dimension::CustomEvent,
        Dimension::EventProp,
        Dimension::Goal,
    ];

    /// The name in URLs.
    pub fn name(self) -> &'static str {
        match self {
            Dimension::Page => "page",
            Dimension::Referrer => "referrer",
            Dimension::UtmSource => "utm_source",
            Dimension::UtmMedium => "utm_medium",
            Dimension::UtmCampaign => "utm_campaign",
            Dimension::UtmTerm => "utm_term",
            Dimension::UtmContent => "utm_content",
            Dimension::Country => "country",
            Dimension::Region => "region",
            Dimension::Network => "network",
            Dimension::Os => "os",
            Dimension::Browser => "browser",
            Dimension::Device => "device",
            Dimension::Language => "language",
            Dimension::TimeZone => "time_zone",
            Dimension::Connection => "connection",
            Dimension::Screen => "screen",
            Dimension::Target => "target",
            Dimension::Kind => "event",
            Dimension::CustomEvent => "custom_event",
            Dimension::EventProp => "event_prop",
            Dimension::Goal => "goal",
        }
    }

    /// The column of `t2.events` (a goal has none: it is a condition).
    pub fn column(self) -> &'static str {
        match self {
            Dimension::Page => "path",
            Dimension::Referrer => "referrer_domain",
            Dimension::Connection => "connection_type",
            Dimension::Screen => "concat(toString(screen_width), 'x', toString(screen_height))",
            Dimension::Kind => "kind",
            Dimension::CustomEvent => "if(kind = 'custom', target, '')",
            Dimension::EventProp | Dimension::Goal => "''",
            other => other.name(),
        }
    }

    pub fn parse(s: &str) -> Option<Dimension> {
        Dimension::ALL.into_iter().find(|d| d.name() == s)
    }

    /// Where the dimension lives in `t2.visits`: a column (the visit's
    /// value, from its first event) or an array (every value its events had).
    fn in_visits(self) -> VisitField {
        match self {
            Dimension::Page => VisitField::Array("paths"),
            Dimension::Target => VisitField::Array("arrayConcat(downloads, outbound, searches)"),
            Dimension::Kind => VisitField::Array("kinds"),
            Dimension::CustomEvent => VisitField::Array("custom_events"),
            Dimension::EventProp => VisitField::Array("custom_props"),
            Dimension::Goal => VisitField::Goal,
            Dimension::Referrer => VisitField::Column("source"),
            Dimension::Screen => VisitField::Column("screen"),
            Dimension::Connection => VisitField::Column("connection"),
            other => VisitField::Column(other.name()),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Is,
    IsNot,
    Contains,
}

impl Op {
    /// The name in URLs.
    pub fn name(self) -> &'static str {
        match self {
            Op::Is => "is",
            Op::IsNot => "is_not",
            Op::Contains => "contains",
        }
    }

    /// The words shown on a page.
    pub fn label(self) -> &'static str {
        match self {
            Op::IsNot => "is not",
            other => other.name(),
        }
    }
}

enum VisitField {
    Column(&'static str),
    Array(&'static str),
    /// A condition of its own, from the goal's definition.
    Goal,
}

/// `dimension op value`, e.g. `country is DE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    pub dimension: Dimension,
    pub op: Op,
    pub value: String,
}

pub const MAX_FILTERS: usize = 10;
pub const MAX_FILTER_VALUE: usize = 256;
/// The longest custom period: two years.
pub const MAX_DAYS: i32 = 731;

/// A validated request for stats.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatsQuery {
    pub period: Period,
    pub comparison: Comparison,
    pub filters: Vec<Filter>,
    /// What the chart plots.
    pub metric: Metric,
    /// The chart's points; `None` picks one from the period's length.
    pub interval: Option<Interval>,
    /// How tables are ordered.
    pub sort: Sort,
    /// The store's goals ([`StatsQuery::with_goals`]), which goal filters
    /// name: a goal filter with no goal here matches nothing.
    pub goals: Vec<crate::analyst::goals::Goal>,
    /// The goal whose conversions and revenue every breakdown shows as
    /// columns (`goal=<name>`), if any.
    pub goal_columns: Option<String>,
    /// The analyst's funnel the funnel table walks (`funnel=<name>`), and
    /// the store's funnels it is resolved against
    /// ([`StatsQuery::with_funnels`]); none is the purchase funnel.
    pub funnel: Option<String>,
    pub funnels: Vec<crate::analyst::funnels::Funnel>,
}

/// Why a request was refused; the message is shown to the user.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    #[error("unknown period {0:?} (use today, 7d, 30d, month or custom)")]
    Period(String),
    #[error("a custom period needs from and to as YYYY-MM-DD, from not after to, at most {MAX_DAYS} days, not in the future")]
    CustomRange,
    #[error("unknown comparison {0:?} (use previous or year)")]
    Comparison(String),
    #[error("a filter is dimension:op:value with a known dimension and op is, is_not or contains: {0:?}")]
    Filter(String),
    #[error("at most {MAX_FILTERS} filters of at most {MAX_FILTER_VALUE} bytes each")]
    TooMuch,
    #[error("unknown metric {0:?} (use visits, pageviews, anonymous_hits, bounce_rate, visit_duration, pages_per_visit, conversion_rate or revenue)")]
    Metric(String),
    #[error("unknown interval {0:?} (use hour, day, week or month)")]
    Interval(String),
    #[error("the hourly chart covers at most 31 days; pick day, week or month")]
    TooManyHours,
    #[error("unknown sort {0:?} (use visits, pageviews, name, or with a goal's columns conversions, conversion_rate, revenue or revenue_per_visit; optionally with :asc or :desc)")]
    Sort(String),
    #[error("unknown parameter {0:?}")]
    Unknown(String),
    #[error("there is no goal named {0:?} (see /goals)")]
    UnknownGoal(String),
    #[error("there is no funnel named {0:?} (see /funnels)")]
    UnknownFunnel(String),
    #[error("goal and event_prop filters take is or is_not, not contains")]
    GoalOp,
}

impl StatsQuery {
    /// Parses URL parameters. Defaults: the last 30 days, no comparison,
    /// no filters.
    pub fn from_params(params: &[(String, String)], today: Day) -> Result<StatsQuery, QueryError> {
        let (mut period, mut from, mut to, mut comparison, mut filters) = (None, None, None, Comparison::None, Vec::new());
        let (mut metric, mut interval, mut sort) = (Metric::Visits, None, Sort::DEFAULT);
        let (mut goal_columns, mut funnel) = (None, None);
        let mut bar = ("", "", "");
        for (k, v) in params {
            match k.as_str() {
                "period" => period = Some(v.as_str()),
                "from" => from = Some(v.as_str()),
                "to" => to = Some(v.as_str()),
                "compare" => {
                    comparison = match v.as_str() {
                        "" | "none" => Comparison::None,
                        "previous" => Comparison::Previous,
                        "year" => Comparison::PreviousYear,
                        other => return Err(QueryError::Comparison(other.to_string())),
                    }
                }
                "f" => filters.push(parse_filter(v)?),
                // The filter bar's three fields; empty value = no filter.
                "fd" => bar.0 = v.as_str(),
                "fo" => bar.1 = v.as_str(),
                "fv" => bar.2 = v.as_str(),
                "metric" => metric = Metric::parse(v).ok_or_else(|| QueryError::Metric(v.clone()))?,
                "interval" => interval = Some(Interval::parse(v).ok_or_else(|| QueryError::Interval(v.clone()))?),
                "sort" => sort = Sort::parse(v).ok_or_else(|| QueryError::Sort(v.clone()))?,
                "goal" => goal_columns = Some(v.clone()).filter(|g| !g.is_empty()),
                "funnel" => funnel = Some(v.clone()).filter(|f| !f.is_empty()),
                other => return Err(QueryError::Unknown(other.to_string())),
            }
        }
        if !bar.2.is_empty() {
            filters.push(parse_filter(&format!("{}:{}:{}", bar.0, bar.1, bar.2))?);
        }
        if filters.len() > MAX_FILTERS {
            return Err(QueryError::TooMuch);
        }
        let period = match period.unwrap_or("30d") {
            "today" => Period::Today,
            "7d" => Period::Last7,
            "30d" => Period::Last30,
            "month" => Period::Month,
            "custom" => {
                let (from, to) = (from.and_then(Day::parse), to.and_then(Day::parse));
                match (from, to) {
                    (Some(from), Some(to)) if from <= to && to <= today && to.0 - from.0 < MAX_DAYS => Period::Custom { from, to },
                    _ => return Err(QueryError::CustomRange),
                }
            }
            other => return Err(QueryError::Period(other.to_string())),
        };
        if filters.iter().any(|f| matches!(f.dimension, Dimension::Goal | Dimension::EventProp) && f.op == Op::Contains) {
            return Err(QueryError::GoalOp);
        }
        if goal_columns.is_none() && matches!(sort.by, SortBy::Conversions | SortBy::ConversionRate | SortBy::Revenue | SortBy::RevenuePerVisit) {
            return Err(QueryError::Sort(sort.name()));
        }
        let q = StatsQuery { period, comparison, filters, metric, interval, sort, goals: Vec::new(), goal_columns, funnel, funnels: Vec::new() };
        if q.interval == Some(Interval::Hour) && q.range(today).days() > 31 {
            return Err(QueryError::TooManyHours);
        }
        Ok(q)
    }

    /// The chart's interval: as asked, or hours for a day, days up to three
    /// months, weeks beyond.
    pub fn chart_interval(&self, today: Day) -> Interval {
        self.interval.unwrap_or(match self.range(today).days() {
            1 => Interval::Hour,
            2..=92 => Interval::Day,
            _ => Interval::Week,
        })
    }

    /// The days covered, counted up to and including `today`.
    pub fn range(&self, today: Day) -> Range {
        let until = Day(today.0 + 1);
        match self.period {
            Period::Today => Range { from: today, until },
            Period::Last7 => Range { from: Day(until.0 - 7), until },
            Period::Last30 => Range { from: Day(until.0 - 30), until },
            Period::Month => Range { from: today.first_of_month(), until },
            Period::Custom { from, to } => Range { from, until: Day(to.0 + 1) },
        }
    }

    /// The range compared with, if any.
    pub fn comparison_range(&self, today: Day) -> Option<Range> {
        let r = self.range(today);
        match self.comparison {
            Comparison::None => None,
            Comparison::Previous => Some(Range { from: Day(r.from.0 - r.days()), until: r.from }),
            Comparison::PreviousYear => Some(Range { from: r.from.year_before(), until: r.until.year_before() }),
        }
    }

    /// This query with its goal filters resolved against `goals` (every
    /// goal the store has): a filter naming no goal is refused.
    pub fn with_goals(mut self, goals: &[crate::analyst::goals::Goal]) -> Result<StatsQuery, QueryError> {
        if let Some(f) = self.filters.iter().find(|f| f.dimension == Dimension::Goal && !goals.iter().any(|g| g.name == f.value)) {
            return Err(QueryError::UnknownGoal(f.value.chars().take(80).collect()));
        }
        if let Some(name) = self.goal_columns.as_ref().filter(|n| !goals.iter().any(|g| &g.name == *n)) {
            return Err(QueryError::UnknownGoal(name.chars().take(80).collect()));
        }
        self.goals = goals.to_vec();
        Ok(self)
    }

    /// This query with its funnel resolved against `funnels` (every funnel
    /// the store has): a funnel that does not exist is refused.
    pub fn with_funnels(mut self, funnels: &[crate::analyst::funnels::Funnel]) -> Result<StatsQuery, QueryError> {
        if let Some(name) = self.funnel.as_ref().filter(|n| !funnels.iter().any(|f| &f.name == *n)) {
            return Err(QueryError::UnknownFunnel(name.chars().take(80).collect()));
        }
        self.funnels = funnels.to_vec();
        Ok(self)
    }

    /// The funnel the funnel table walks: the asked one, when resolved.
    pub fn chosen_funnel(&self) -> Option<&crate::analyst::funnels::Funnel> {
        self.funnel.as_deref().and_then(|name| self.funnels.iter().find(|f| f.name == name))
    }

    /// The definition of the goal `name`, when resolved.
    pub fn goal(&self, name: &str) -> Option<&crate::analyst::goals::Goal> {
        self.goals.iter().find(|g| g.name == name)
    }

    /// This query with `f` added (once).
    pub fn with_filter(&self, f: &Filter) -> StatsQuery {
        let mut q = self.clone();
        if !q.filters.contains(f) && q.filters.len() < MAX_FILTERS {
            q.filters.push(f.clone());
        }
        q
    }

    /// The URL query string that gives this query back.
    pub fn to_params(&self) -> String {
        let mut out = url_pairs();
        match self.period {
            Period::Today => out.append_pair("period", "today"),
            Period::Last7 => out.append_pair("period", "7d"),
            Period::Last30 => out.append_pair("period", "30d"),
            Period::Month => out.append_pair("period", "month"),
            Period::Custom { from, to } => {
                out.append_pair("period", "custom").append_pair("from", &from.to_string()).append_pair("to", &to.to_string())
            }
        };
        match self.comparison {
            Comparison::None => {}
            Comparison::Previous => {
                out.append_pair("compare", "previous");
            }
            Comparison::PreviousYear => {
                out.append_pair("compare", "year");
            }
        }
        for f in &self.filters {
            out.append_pair("f", &format!("{}:{}:{}", f.dimension.name(), f.op.name(), f.value));
        }
        if self.metric != Metric::Visits {
            out.append_pair("metric", self.metric.name());
        }
        if let Some(i) = self.interval {
            out.append_pair("interval", i.name());
        }
        if let Some(g) = &self.goal_columns {
            out.append_pair("goal", g);
        }
        if let Some(f) = &self.funnel {
            out.append_pair("funnel", f);
        }
        if self.sort != Sort::DEFAULT {
            out.append_pair("sort", &self.sort.name());
        }
        out.finish()
    }

    /// The filters as a SQL condition over `t2.events` with `?` for every
    /// value, in the order of [`Where::values`].
    pub fn filter_sql(&self) -> Where {
        self.conjunction(|f| match f.dimension {
            // A visit-wide condition over raw events: the event is of a
            // visit (session) with an event that reaches the goal.
            Dimension::Goal => {
                let (cond, values) = self.goal(&f.value).map(|g| g.kind.event_condition()).unwrap_or_else(|| ("0".into(), Vec::new()));
                let within = format!("session_id IN (SELECT session_id FROM {{t2}}.events WHERE session_id != '' AND {cond})");
                (if f.op == Op::IsNot { format!("NOT ({within})") } else { within }, values)
            }
            Dimension::EventProp => {
                // `name␟pair` of the report: the event's name and a pair of its props.
                let (name, pair) = f.value.split_once(crate::stats::props::PROP_SEPARATOR).unwrap_or((&f.value, ""));
                let clause = format!("(kind = 'custom' AND target = ? AND has(extractAll(props, {}), ?))", crate::stats::props::PROP_PAIRS);
                (if f.op == Op::Is { clause } else { format!("NOT {clause}") }, vec![name.to_string(), pair.to_string()])
            }
            _ => (column_clause(f.dimension.column(), f.op), vec![f.value.clone()]),
        })
    }

    /// The filters as a condition over `t2.visits`: a visit matches when
    /// any of its events does (its first event's value for visit-wide
    /// dimensions, any of its values for pages, targets and event kinds).
    pub fn visit_filter_sql(&self) -> Where {
        let mut w = self.conjunction(|f| match f.dimension.in_visits() {
            VisitField::Column(c) => (column_clause(c, f.op), vec![f.value.clone()]),
            VisitField::Array(a) => {
                let clause = match f.op {
                    Op::Is => format!("has({a}, ?)"),
                    Op::IsNot => format!("arrayExists(x -> x != ?, {a})"),
                    Op::Contains => format!("arrayExists(x -> positionCaseInsensitiveUTF8(x, ?) > 0, {a})"),
                };
                (clause, vec![f.value.clone()])
            }
            VisitField::Goal => {
                let (cond, values) = self.goal(&f.value).map(|g| g.kind.visit_condition()).unwrap_or_else(|| ("0".into(), Vec::new()));
                (if f.op == Op::IsNot { format!("NOT ({cond})") } else { format!("({cond})") }, values)
            }
        });
        if let [f] = self.filters.as_slice() {
            if f.op == Op::Is && f.dimension != Dimension::Goal {
                w.facet = Some((f.dimension.name(), f.value.clone()));
            }
        }
        w
    }

    /// Every filter's clause (with a `?` for each of its values) joined
    /// with AND; no filter is `1`.
    fn conjunction(&self, clause: impl Fn(&Filter) -> (String, Vec<String>)) -> Where {
        if self.filters.is_empty() {
            return Where::none();
        }
        let (clauses, values): (Vec<String>, Vec<Vec<String>>) = self.filters.iter().map(clause).unzip();
        Where { sql: clauses.join(" AND "), values: values.concat(), facet: None }
    }
}

/// `column op ?`.
fn column_clause(column: &str, op: Op) -> String {
    match op {
        Op::Is => format!("{column} = ?"),
        Op::IsNot => format!("{column} != ?"),
        // position() is literal, unlike LIKE with its % and _.
        Op::Contains => format!("positionCaseInsensitiveUTF8({column}, ?) > 0"),
    }
}

/// `(dimension name, its value or values in t2.visits as an array)` for
/// every dimension: what `t2.visit_facets` is built from.
pub fn facet_arrays() -> Vec<(&'static str, String)> {
    Dimension::ALL
        .iter()
        .filter_map(|d| {
            let values = match d.in_visits() {
                VisitField::Column(c) => format!("[{c}]"),
                VisitField::Array(a) => format!("arrayDistinct({a})"),
                VisitField::Goal => return None,
            };
            Some((d.name(), values))
        })
        .collect()
}

/// `(dimension name, column of t2.visits)` for the visit-wide dimensions
/// (one value per visit): what `t2.visit_facet_pages` is built from.
pub fn column_facets() -> Vec<(&'static str, &'static str)> {
    Dimension::ALL
        .iter()
        .filter_map(|d| match d.in_visits() {
            VisitField::Column(c) => Some((d.name(), c)),
            VisitField::Array(_) | VisitField::Goal => None,
        })
        .collect()
}

fn url_pairs() -> form_urlencoded::Serializer<'static, String> {
    form_urlencoded::Serializer::new(String::new())
}

/// `dimension:op:value`, as in the `f=` parameter.
pub fn parse_filter(v: &str) -> Result<Filter, QueryError> {
    let bad = || QueryError::Filter(v.chars().take(80).collect());
    let mut parts = v.splitn(3, ':');
    let dimension = parts.next().and_then(Dimension::parse).ok_or_else(bad)?;
    let op = match parts.next() {
        Some("is") => Op::Is,
        Some("is_not") => Op::IsNot,
        Some("contains") => Op::Contains,
        _ => return Err(bad()),
    };
    let value = parts.next().ok_or_else(bad)?;
    if value.len() > MAX_FILTER_VALUE {
        return Err(QueryError::TooMuch);
    }
    Ok(Filter { dimension, op, value: value.to_string() })
}

/// A SQL condition and the values for its `?` placeholders, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Where {
    pub sql: String,
    pub values: Vec<String>,
    /// When the whole condition is one `dimension is value` over visits:
    /// the pre-added `t2.visit_facets` can answer instead of the rows.
    pub facet: Option<(&'static str, String)>,
}

impl Where {
    /// No filter: every row.
    pub fn none() -> Where {
        Where { sql: "1".into(), values: Vec::new(), facet: None }
    }

    /// No condition (a filter may have no value: "any purchase").
    pub fn is_empty(&self) -> bool {
        self.sql == "1"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn day(s: &str) -> Day {
        Day::parse(s).unwrap()
    }

    #[test]
    fn days_convert_both_ways() {
        for s in ["1970-01-01", "2000-02-29", "2026-11-23", "2024-12-31", "2100-03-01"] {
            assert_eq!(day(s).to_string(), s);
        }
        assert_eq!(day("1970-01-02").start_secs(), 86_400);
        assert_eq!(Day::from_unix(1_795_000_000).to_string(), "2026-11-18");
        for bad in ["2026-02-29", "2026-13-01", "2026-1-01", "26-11-23", "2026/11/23", "", "2026-11-23x"] {
            assert!(Day::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn periods_and_comparisons() {
        let today = day("2026-11-23");
        let q = StatsQuery::from_params(&p(&[("period", "7d"), ("compare", "previous")]), today).unwrap();
        let r = q.range(today);
        assert_eq!((r.from.to_string(), r.until.to_string(), r.days()), ("2026-11-17".into(), "2026-11-24".into(), 7));
        let c = q.comparison_range(today).unwrap();
        assert_eq!((c.from.to_string(), c.until.to_string()), ("2026-11-10".into(), "2026-11-17".into()));
        let month = StatsQuery::from_params(&p(&[("period", "month"), ("compare", "year")]), today).unwrap();
        assert_eq!(month.range(today).from.to_string(), "2026-11-01");
        assert_eq!(month.comparison_range(today).unwrap().from.to_string(), "2025-11-01");
        let default = StatsQuery::from_params(&[], today).unwrap();
        assert_eq!((default.period, default.comparison, default.range(today).days()), (Period::Last30, Comparison::None, 30));
        let leap = StatsQuery::from_params(&p(&[("period", "custom"), ("from", "2024-02-29"), ("to", "2024-02-29"), ("compare", "year")]), today).unwrap();
        assert_eq!(leap.comparison_range(today).unwrap().from.to_string(), "2023-02-28");
    }

    #[test]
    fn bad_requests_are_refused_with_reasons() {
        let today = day("2026-11-23");
        let err = |pairs: &[(&str, &str)]| StatsQuery::from_params(&p(pairs), today).unwrap_err();
        assert_eq!(err(&[("period", "forever")]), QueryError::Period("forever".into()));
        assert_eq!(err(&[("period", "custom"), ("from", "2026-11-20"), ("to", "2026-11-10")]), QueryError::CustomRange);
        assert_eq!(err(&[("period", "custom"), ("from", "2020-01-01"), ("to", "2026-11-10")]), QueryError::CustomRange);
        assert_eq!(err(&[("period", "custom"), ("from", "2026-11-20"), ("to", "2026-12-10")]), QueryError::CustomRange, "future");
        assert_eq!(err(&[("compare", "1; DROP TABLE t2.events")]), QueryError::Comparison("1; DROP TABLE t2.events".into()));
        assert!(matches!(err(&[("f", "path:is:/x")]), QueryError::Filter(_)), "dimensions are named, not columns");
        assert!(matches!(err(&[("f", "page:like:/x")]), QueryError::Filter(_)));
        assert!(matches!(err(&[("f", "page")]), QueryError::Filter(_)));
        assert_eq!(err(&[("f", &format!("page:is:{}", "x".repeat(300)))]), QueryError::TooMuch);
        let many: Vec<(&str, &str)> = vec![("f", "page:is:/a"); MAX_FILTERS + 1];
        assert_eq!(err(&many), QueryError::TooMuch);
        assert_eq!(err(&[("sort", "1")]), QueryError::Sort("1".into()));
        assert_eq!(err(&[("sort", "visits:sideways")]), QueryError::Sort("visits:sideways".into()));
        assert_eq!(err(&[("metric", "sum(x)")]), QueryError::Metric("sum(x)".into()));
        assert_eq!(err(&[("interval", "minute")]), QueryError::Interval("minute".into()));
        assert_eq!(err(&[("period", "custom"), ("from", "2026-09-01"), ("to", "2026-11-01"), ("interval", "hour")]), QueryError::TooManyHours);
        assert_eq!(err(&[("limit", "1")]), QueryError::Unknown("limit".into()));
    }

    #[test]
    fn filters_bind_values_and_round_trip_through_the_url() {
        let today = day("2026-11-23");
        let hostile = "x' OR 1=1 --";
        let pairs = p(&[("period", "custom"), ("from", "2026-10-01"), ("to", "2026-10-31"), ("compare", "previous"),
            ("f", "country:is:DE"), ("f", &format!("page:contains:{hostile}")), ("f", "browser:is_not:Safari"),
            ("metric", "revenue"), ("interval", "week"), ("sort", "name:asc")]);
        let q = StatsQuery::from_params(&pairs, today).unwrap();
        let w = q.filter_sql();
        assert_eq!(w.sql, "country = ? AND positionCaseInsensitiveUTF8(path, ?) > 0 AND browser != ?");
        assert_eq!(w.values, ["DE", hostile, "Safari"]);
        assert!(!w.sql.contains("OR 1=1"), "values are never in the SQL text");
        let v = q.visit_filter_sql();
        assert_eq!(v.sql, "country = ? AND arrayExists(x -> positionCaseInsensitiveUTF8(x, ?) > 0, paths) AND browser != ?");
        assert_eq!(v.values, w.values);
        assert_eq!(v.facet, None, "three filters: no facet");
        let one = StatsQuery::from_params(&p(&[("f", "country:is:DE")]), today).unwrap();
        assert_eq!(one.visit_filter_sql().facet, Some(("country", "DE".to_string())));
        assert_eq!(one.filter_sql().facet, None, "facets are for visits only");
        let again: Vec<(String, String)> = form_urlencoded::parse(q.to_params().as_bytes()).into_owned().collect();
        assert_eq!(StatsQuery::from_params(&again, today).unwrap(), q);
        assert_eq!(StatsQuery::from_params(&[], today).unwrap().filter_sql().sql, "1");
        let bar = StatsQuery::from_params(&p(&[("fd", "country"), ("fo", "is_not"), ("fv", "FR"), ("f", "page:is:/")]), today).unwrap();
        assert_eq!(bar.filter_sql().values, ["/", "FR"], "the filter bar's fields become one more filter");
        assert!(StatsQuery::from_params(&p(&[("fd", "country"), ("fo", "is"), ("fv", "")]), today).unwrap().filters.is_empty());
        assert!(matches!(StatsQuery::from_params(&p(&[("fd", "ts"), ("fo", "is"), ("fv", "1")]), today), Err(QueryError::Filter(_))));
    }

    #[test]
    fn buckets_cover_the_range() {
        let (from, until) = (day("2026-10-30").start_secs(), day("2026-11-03").start_secs());
        assert_eq!(Interval::Day.buckets(from, until).len(), 4);
        assert_eq!(Interval::Hour.buckets(from, until).len(), 96);
        let weeks: Vec<String> = Interval::Week.buckets(from, until).into_iter().map(|s| Day::from_unix(s).to_string()).collect();
        assert_eq!(weeks, ["2026-10-26", "2026-11-02"], "weeks start on Monday");
        let months: Vec<String> = Interval::Month.buckets(day("2025-12-15").start_secs(), until).into_iter().map(|s| Day::from_unix(s).to_string()).collect();
        assert_eq!(months.len(), 12);
        assert_eq!((months[0].as_str(), months[1].as_str(), months[11].as_str()), ("2025-12-01", "2026-01-01", "2026-11-01"));
        let today = day("2026-11-23");
        let q = |p: &[(&str, &str)]| StatsQuery::from_params(&p.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<Vec<_>>(), today).unwrap();
        assert_eq!((q(&[("period", "today")]).chart_interval(today), q(&[]).chart_interval(today)), (Interval::Hour, Interval::Day));
    }
}
