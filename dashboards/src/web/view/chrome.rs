//! The chrome every page shares: who is signed in, the navigation, and
//! the dashboards' period, comparison and filter controls.

use super::{href, Choice};
use crate::query::{Comparison, Day, Dimension, Period, StatsQuery};
use crate::sessions::LoginSession;
use crate::web::nav::{links, Section};

pub struct Chip {
    pub text: String,
    pub remove: String,
}

/// The controls and chrome every dashboard page shares.
pub struct Chrome {
    pub user: String,
    pub roles: String,
    pub csrf: String,
    pub admin: bool,
    pub nav: Vec<Choice>,
    pub title: String,
    pub span: String,
    pub compared: String,
    pub periods: Vec<Choice>,
    pub comparisons: Vec<Choice>,
    pub chips: Vec<Chip>,
    /// The current state as hidden fields of the filter bar.
    pub hidden: Vec<(String, String)>,
    /// The current state as a query string.
    pub params: String,
    /// The state without its period: the custom-period form's hidden fields.
    pub hidden_but_period: Vec<(String, String)>,
    /// The period's first and last day, and today (`YYYY-MM-DD`).
    pub from: String,
    pub to: String,
    pub today: String,
    /// The goals whose columns a breakdown can show: `(name, current)`,
    /// and the state without `goal` (the goal picker's hidden fields).
    pub goal_choices: Vec<(String, bool)>,
    pub hidden_but_goal: Vec<(String, String)>,
    pub dimensions: Vec<&'static str>,
    pub action: String,
}

pub fn chrome(who: &LoginSession, q: &StatsQuery, today: Day, path: &str, title: &str, current: Option<Section>) -> Chrome {
    let range = q.range(today);
    let periods = [(Period::Today, "Today"), (Period::Last7, "7 days"), (Period::Last30, "30 days"), (Period::Month, "This month")]
        .into_iter()
        .map(|(p, label)| Choice { label: label.into(), href: href(path, &StatsQuery { period: p, interval: None, ..q.clone() }), current: q.period == p })
        .collect();
    let comparisons = [(Comparison::None, "No comparison"), (Comparison::Previous, "Previous period"), (Comparison::PreviousYear, "Year before")]
        .into_iter()
        .map(|(c, label)| Choice { label: label.into(), href: href(path, &StatsQuery { comparison: c, ..q.clone() }), current: q.comparison == c })
        .collect();
    let chips = q
        .filters
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let mut without = q.clone();
            without.filters.remove(i);
            Chip { text: format!("{} {} {}", f.dimension.name(), f.op.label(), f.value), remove: href(path, &without) }
        })
        .collect();
    let nav = links(who.user.roles, q, path, current);
    Chrome {
        user: who.user.name.clone(),
        roles: who.user.roles.to_string(),
        csrf: who.csrf.clone(),
        admin: who.user.roles.has(crate::roles::Role::Admin),
        nav,
        title: title.to_string(),
        span: format!("{} – {}", range.from, Day(range.until.0 - 1)),
        compared: q.comparison_range(today).map(|r| format!("compared with {} – {}", r.from, Day(r.until.0 - 1))).unwrap_or_default(),
        periods,
        comparisons,
        chips,
        hidden: form_urlencoded::parse(q.to_params().as_bytes()).into_owned().collect(),
        hidden_but_period: form_urlencoded::parse(q.to_params().as_bytes()).into_owned().filter(|(k, _)| !["period", "from", "to"].contains(&k.as_str())).collect(),
        from: range.from.to_string(),
        to: Day(range.until.0 - 1).to_string(),
        today: today.to_string(),
        goal_choices: q.goals.iter().map(|g| (g.name.clone(), q.goal_columns.as_deref() == Some(g.name.as_str()))).collect(),
        hidden_but_goal: form_urlencoded::parse(q.to_params().as_bytes()).into_owned().filter(|(k, v)| k != "goal" && !(k == "sort" && !v.starts_with("visits") && !v.starts_with("pageviews") && !v.starts_with("name"))).collect(),
        params: q.to_params(),
        dimensions: Dimension::ALL.iter().filter(|d| **d != Dimension::EventProp).map(|d| d.name()).collect(),
        action: path.to_string(),
    }
}

/// The chrome of a page that is not a dashboard (accounts, marketing,
/// privacy): the default question, no section current.
pub fn bare_chrome(who: &LoginSession, path: &str, title: &str) -> Chrome {
    let q = StatsQuery::from_params(&[], Day::today()).expect("the default query is valid");
    chrome(who, &q, Day::today(), path, title, None)
}
