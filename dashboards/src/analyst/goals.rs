//! Goals: what counts as a visit converting, defined by analysts.
//!
//! A goal is a pageview of a path pattern, a custom event (optionally with
//! one property equal to a value) or a purchase (optionally of at least a
//! value). Goals are mutable records, so they live beside the accounts in
//! SQLite; their numbers are never stored: a goal is a condition over
//! `t2.visits` ([`GoalKind::visit_condition`]) evaluated at read time, so a
//! goal made today counts every day the rollup holds, an edit re-counts
//! history, and a replayed event (collapsed by the rollup's `FINAL`) counts
//! once. As a filter (`goal:is:<name>`) a goal reads like any other
//! segment, through the release layer: the scope names the goal's
//! definition, so an edited goal never reads cells drawn for the old one.

use rusqlite::{params, OptionalExtension};

use crate::accounts::{AccountError, Accounts};

/// The longest goal name, path pattern, event name and property text.
pub const MAX_NAME: usize = 64;
pub const MAX_PATTERN: usize = 256;
pub const MAX_EVENT: usize = 40;
pub const MAX_PROP: usize = 128;
/// Goals a store may define (each costs its own cells to release).
pub const MAX_GOALS: usize = 50;

/// What reaching a goal means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GoalKind {
    /// A pageview whose path is `pattern`: exact, or with `*` (any
    /// characters but `/`) and `**` (any characters).
    Pageview { pattern: String },
    /// A custom event (`mintmark.track(name, …)`), optionally with one
    /// property equal to a value.
    Event { name: String, property: Option<(String, String)> },
    /// A purchase, optionally of at least `min_cents`.
    Purchase { min_cents: Option<i64> },
}

/// A goal as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Goal {
    pub id: i64,
    pub name: String,
    pub kind: GoalKind,
    /// Who made it (gone when their account was deleted).
    pub created_by: Option<String>,
    pub updated_at: i64,
}

/// Why a goal was refused; shown to the analyst.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GoalError {
    #[error("a goal's name is 1–{MAX_NAME} printable characters")]
    Name,
    #[error("a page pattern starts with / and has at most {MAX_PATTERN} printable characters (use * for any characters but /, ** for any)")]
    Pattern,
    #[error("an event name is 1–{MAX_EVENT} of A–Z, a–z, 0–9, _ - . : (as mintmark.track() takes it)")]
    Event,
    #[error("a property key and value are 1–{MAX_PROP} printable characters each, both or neither")]
    Property,
    #[error("a minimum purchase value is a number from 0 to 1000000 with at most two decimals")]
    MinValue,
    #[error("unknown goal kind {0:?} (use pageview, event or purchase)")]
    Kind(String),
    #[error("a goal named {0:?} exists already")]
    Exists(String),
    #[error("no such goal")]
    NotFound,
    #[error("at most {MAX_GOALS} goals")]
    TooMany,
}

fn printable(s: &str, max: usize) -> bool {
    !s.is_empty() && s.chars().count() <= max && !s.chars().any(char::is_control)
}

/// Parses `12`, `12.5`, `12.50` into cents.
pub fn parse_cents(s: &str) -> Result<i64, GoalError> {
    let s = s.trim();
    let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
    let digits = |d: &str| d.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || whole.len() > 7 || frac.len() > 2 || !digits(whole) || !digits(frac) {
        return Err(GoalError::MinValue);
    }
    let cents = whole.parse::<i64>().map_err(|_| GoalError::MinValue)? * 100 + format!("{frac:0<2}").parse::<i64>().map_err(|_| GoalError::MinValue)?;
    if cents > 100_000_000 {
        return Err(GoalError::MinValue);
    }
    Ok(cents)
}

/// `1250` → `12.50`.
pub fn cents_text(cents: i64) -> String {
    format!("{}.{:02}", cents / 100, cents % 100)
}

/// A path pattern as an anchored RE2 expression (what ClickHouse's
/// `match` takes): literal text escaped, `**` any characters, `*` any
/// but `/`.
pub fn pattern_regex(pattern: &str) -> String {
    let mut out = String::from("^");
    let mut rest = pattern;
    while let Some(at) = rest.find('*') {
        out.push_str(&regex::escape(&rest[..at]));
        if rest[at..].starts_with("**") {
            out.push_str(".*");
            rest = &rest[at + 2..];
        } else {
            out.push_str("[^/]*");
            rest = &rest[at + 1..];
        }
    }
    out.push_str(&regex::escape(rest));
    out.push('$');
    out
}

/// The forms a property pair takes in a custom event's `props` (the
/// collector writes `[["key",value],…]` with serde_json): the value as a
/// string, and as a number when it reads as one.
fn prop_pairs(key: &str, value: &str) -> Vec<String> {
    let mut out = vec![serde_json::to_string(&(key, value)).expect("strings serialise")];
    if let Ok(n) = value.trim().parse::<f64>() {
        if n.is_finite() {
            out.push(serde_json::to_string(&(key, n)).expect("numbers serialise"));
        }
    }
    out
}

/// `?, ?` for `n` values.
fn marks(n: usize) -> String {
    vec!["?"; n].join(", ")
}

impl GoalKind {
    /// Builds and validates a goal from a form's or an API call's fields.
    pub fn from_fields(kind: &str, pattern: &str, event: &str, prop_key: &str, prop_value: &str, min_value: &str) -> Result<GoalKind, GoalError> {
        let goal = match kind.trim() {
            "pageview" => GoalKind::Pageview { pattern: pattern.trim().to_string() },
            "event" => {
                let (k, v) = (prop_key.trim(), prop_value.trim());
                let property = match (k.is_empty(), v.is_empty()) {
                    (true, true) => None,
                    (false, false) => Some((k.to_string(), v.to_string())),
                    _ => return Err(GoalError::Property),
                };
                GoalKind::Event { name: event.trim().to_string(), property }
            }
            "purchase" => GoalKind::Purchase { min_cents: if min_value.trim().is_empty() { None } else { Some(parse_cents(min_value)?) } },
            other => return Err(GoalError::Kind(other.chars().take(40).collect())),
        };
        goal.validate()?;
        Ok(goal)
    }

    pub fn validate(&self) -> Result<(), GoalError> {
        match self {
            GoalKind::Pageview { pattern } if !pattern.starts_with('/') || !printable(pattern, MAX_PATTERN) => Err(GoalError::Pattern),
            GoalKind::Event { name, .. }
                if name.is_empty() || name.len() > MAX_EVENT || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-.:".contains(&b)) =>
            {
                Err(GoalError::Event)
            }
            GoalKind::Event { property: Some((k, v)), .. } if !printable(k, MAX_PROP) || !printable(v, MAX_PROP) => Err(GoalError::Property),
            GoalKind::Purchase { min_cents: Some(c) } if !(0..=100_000_000).contains(c) => Err(GoalError::MinValue),
            _ => Ok(()),
        }
    }

    /// `pageview`, `event` or `purchase`.
    pub fn kind_name(&self) -> &'static str {
        match self {
            GoalKind::Pageview { .. } => "pageview",
            GoalKind::Event { .. } => "event",
            GoalKind::Purchase { .. } => "purchase",
        }
    }

    /// The definition in words; also what names the goal's release cells
    /// (an edit is a new definition, with cells of its own).
    pub fn definition(&self) -> String {
        match self {
            GoalKind::Pageview { pattern } => format!("pageview of {pattern}"),
            GoalKind::Event { name, property: None } => format!("event {name}"),
            GoalKind::Event { name, property: Some((k, v)) } => format!("event {name} with {k} = {v}"),
            GoalKind::Purchase { min_cents: None } => "any purchase".into(),
            GoalKind::Purchase { min_cents: Some(c) } => format!("a purchase of at least {}", cents_text(*c)),
        }
    }

    /// Whether revenue is what the goal is about.
    pub fn is_purchase(&self) -> bool {
        matches!(self, GoalKind::Purchase { .. })
    }

    /// The condition over a row of `t2.visits` (one `?` per value, in
    /// order): the visit reached the goal.
    pub fn visit_condition(&self) -> (String, Vec<String>) {
        match self {
            GoalKind::Pageview { pattern } if !pattern.contains('*') => ("has(page_paths, ?)".into(), vec![pattern.clone()]),
            GoalKind::Pageview { pattern } => ("arrayExists(p -> match(p, ?), page_paths)".into(), vec![pattern_regex(pattern)]),
            GoalKind::Event { name, property: None } => ("has(custom_events, ?)".into(), vec![name.clone()]),
            GoalKind::Event { name, property: Some((k, v)) } => {
                let sep = crate::stats::props::PROP_SEPARATOR;
                let values: Vec<String> = prop_pairs(k, v).into_iter().map(|p| format!("{name}{sep}{p}")).collect();
                (format!("hasAny(custom_props, [{}])", marks(values.len())), values)
            }
            GoalKind::Purchase { min_cents: None } => ("purchases > 0".into(), Vec::new()),
            GoalKind::Purchase { min_cents: Some(c) } => ("(purchases > 0 AND max_purchase >= toFloat64(?))".into(), vec![cents_text(*c)]),
        }
    }

    /// The condition over one raw event of `t2.events`: the event that
    /// reaches the goal (a visit reached it when any of its events does).
    pub fn event_condition(&self) -> (String, Vec<String>) {
        match self {
            GoalKind::Pageview { pattern } if !pattern.contains('*') => ("(kind = 'pageview' AND path = ?)".into(), vec![pattern.clone()]),
            GoalKind::Pageview { pattern } => ("(kind = 'pageview' AND match(path, ?))".into(), vec![pattern_regex(pattern)]),
            GoalKind::Event { name, property: None } => ("(kind = 'custom' AND target = ?)".into(), vec![name.clone()]),
            GoalKind::Event { name, property: Some((k, v)) } => {
                let pairs = prop_pairs(k, v);
                let all = format!("(kind = 'custom' AND target = ? AND hasAny(extractAll(props, {}), [{}]))", crate::stats::props::PROP_PAIRS, marks(pairs.len()));
                (all, std::iter::once(name.clone()).chain(pairs).collect())
            }
            GoalKind::Purchase { min_cents: None } => ("kind = 'purchase'".into(), Vec::new()),
            GoalKind::Purchase { min_cents: Some(c) } => ("(kind = 'purchase' AND value >= toFloat64(?))".into(), vec![cents_text(*c)]),
        }
    }

    /// The columns a goal is stored in: pattern, event, key, value, cents.
    fn columns(&self) -> (String, String, String, String, Option<i64>) {
        match self {
            GoalKind::Pageview { pattern } => (pattern.clone(), String::new(), String::new(), String::new(), None),
            GoalKind::Event { name, property } => {
                let (k, v) = property.clone().unwrap_or_default();
                (String::new(), name.clone(), k, v, None)
            }
            GoalKind::Purchase { min_cents } => (String::new(), String::new(), String::new(), String::new(), *min_cents),
        }
    }
}

fn goal_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Goal> {
    let kind: String = row.get(2)?;
    let (pattern, event, key, value): (String, String, String, String) = (row.get(3)?, row.get(4)?, row.get(5)?, row.get(6)?);
    let kind = match kind.as_str() {
        "pageview" => GoalKind::Pageview { pattern },
        "event" => GoalKind::Event { name: event, property: (!key.is_empty()).then_some((key, value)) },
        _ => GoalKind::Purchase { min_cents: row.get(7)? },
    };
    Ok(Goal { id: row.get(0)?, name: row.get(1)?, kind, created_by: row.get(8)?, updated_at: row.get(9)? })
}

const GOAL_SELECT: &str = "SELECT g.id, g.name, g.kind, g.pattern, g.event, g.prop_key, g.prop_value, g.min_cents, u.name, g.updated_at
    FROM goals g LEFT JOIN users u ON u.id = g.created_by";

/// What a goal call came to: done, or refused with a reason for the user.
pub type GoalResult<T> = Result<Result<T, GoalError>, AccountError>;

impl Accounts {
    /// Every goal, by name.
    pub fn goals(&self) -> Result<Vec<Goal>, AccountError> {
        let db = self.db();
        let mut stmt = db.prepare(&format!("{GOAL_SELECT} ORDER BY g.name"))?;
        let goals = stmt.query_map([], goal_from_row)?.collect::<Result<Vec<_>, _>>()?;
        Ok(goals)
    }

    pub fn goal(&self, id: i64) -> Result<Option<Goal>, AccountError> {
        Ok(self.db().query_row(&format!("{GOAL_SELECT} WHERE g.id = ?1"), [id], goal_from_row).optional()?)
    }

    /// A new goal, made by `user_id`.
    pub fn add_goal(&self, name: &str, kind: &GoalKind, user_id: i64, now: i64) -> GoalResult<Goal> {
        let name = name.trim();
        if !printable(name, MAX_NAME) {
            return Ok(Err(GoalError::Name));
        }
        if let Err(e) = kind.validate() {
            return Ok(Err(e));
        }
        let db = self.db();
        let count: i64 = db.query_row("SELECT count(*) FROM goals", [], |r| r.get(0))?;
        if count as usize >= MAX_GOALS {
            return Ok(Err(GoalError::TooMany));
        }
        let (pattern, event, key, value, cents) = kind.columns();
        let inserted = db.execute(
            "INSERT INTO goals (name, kind, pattern, event, prop_key, prop_value, min_cents, created_by, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9) ON CONFLICT(name) DO NOTHING",
            params![name, kind.kind_name(), pattern, event, key, value, cents, user_id, now],
        )?;
        if inserted == 0 {
            return Ok(Err(GoalError::Exists(name.to_string())));
        }
        let id = db.last_insert_rowid();
        drop(db);
        Ok(self.goal(id)?.ok_or(GoalError::NotFound))
    }

    /// A goal renamed or redefined.
    pub fn update_goal(&self, id: i64, name: &str, kind: &GoalKind, now: i64) -> GoalResult<Goal> {
        let name = name.trim();
        if !printable(name, MAX_NAME) {
            return Ok(Err(GoalError::Name));
        }
        if let Err(e) = kind.validate() {
            return Ok(Err(e));
        }
        let (pattern, event, key, value, cents) = kind.columns();
        let db = self.db();
        let taken: Option<i64> = db.query_row("SELECT id FROM goals WHERE name = ?1 AND id != ?2", params![name, id], |r| r.get(0)).optional()?;
        if taken.is_some() {
            return Ok(Err(GoalError::Exists(name.to_string())));
        }
        let changed = db.execute(
            "UPDATE goals SET name = ?2, kind = ?3, pattern = ?4, event = ?5, prop_key = ?6, prop_value = ?7, min_cents = ?8, updated_at = ?9 WHERE id = ?1",
            params![id, name, kind.kind_name(), pattern, event, key, value, cents, now],
        )?;
        drop(db);
        if changed == 0 {
            return Ok(Err(GoalError::NotFound));
        }
        Ok(self.goal(id)?.ok_or(GoalError::NotFound))
    }

    pub fn delete_goal(&self, id: i64) -> GoalResult<()> {
        let n = self.db().execute("DELETE FROM goals WHERE id = ?1", [id])?;
        Ok(if n == 0 { Err(GoalError::NotFound) } else { Ok(()) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_become_anchored_expressions() {
        assert_eq!(pattern_regex("/blog/*"), "^/blog/[^/]*$");
        assert_eq!(pattern_regex("/shop/**/thanks"), "^/shop/.*/thanks$");
        assert_eq!(pattern_regex("/a.b(c)"), "^/a\\.b\\(c\\)$", "literal text is escaped");
        let re = regex::Regex::new(&pattern_regex("/blog/*")).unwrap();
        assert!(re.is_match("/blog/post") && !re.is_match("/blog/a/b") && !re.is_match("/blogs/x"));
    }

    #[test]
    fn goals_are_validated_with_reasons() {
        let f = |k: &str, p: &str, e: &str, pk: &str, pv: &str, m: &str| GoalKind::from_fields(k, p, e, pk, pv, m);
        assert_eq!(f("pageview", "blog", "", "", "", ""), Err(GoalError::Pattern));
        assert_eq!(f("event", "", "sign up", "", "", ""), Err(GoalError::Event));
        assert_eq!(f("event", "", "signup", "plan", "", ""), Err(GoalError::Property));
        assert_eq!(f("purchase", "", "", "", "", "12.345"), Err(GoalError::MinValue));
        assert_eq!(f("purchase", "", "", "", "", "-1"), Err(GoalError::MinValue));
        assert_eq!(f("visit", "", "", "", "", ""), Err(GoalError::Kind("visit".into())));
        assert_eq!(f("purchase", "", "", "", "", "50.5"), Ok(GoalKind::Purchase { min_cents: Some(5050) }));
        assert_eq!(cents_text(5050), "50.50");
        let e = f("event", "", "signup", "plan", "3", "").unwrap();
        let (sql, values) = e.visit_condition();
        assert_eq!(sql, "hasAny(custom_props, [?, ?])");
        assert_eq!(values, ["signup\u{1f}[\"plan\",\"3\"]", "signup\u{1f}[\"plan\",3.0]"], "a value that reads as a number matches both forms");
    }

    #[test]
    fn goals_are_stored_edited_and_deleted() {
        let a = Accounts::in_memory().unwrap();
        let u = a.add_user("ana", "a long enough password", crate::roles::Roles::of(&[crate::roles::Role::Analyst])).unwrap();
        let kind = GoalKind::Pageview { pattern: "/thanks".into() };
        let g = a.add_goal("Thanks page", &kind, u.id, 100).unwrap().unwrap();
        assert_eq!((g.name.as_str(), g.created_by.as_deref()), ("Thanks page", Some("ana")));
        assert_eq!(a.add_goal("Thanks page", &kind, u.id, 100).unwrap(), Err(GoalError::Exists("Thanks page".into())));
        let edited = a.update_goal(g.id, "Signed up", &GoalKind::Event { name: "signup".into(), property: None }, 200).unwrap().unwrap();
        assert_eq!((edited.kind.kind_name(), edited.updated_at), ("event", 200));
        assert_eq!(a.goals().unwrap(), vec![edited]);
        assert_eq!(a.delete_goal(g.id).unwrap(), Ok(()));
        assert_eq!(a.delete_goal(g.id).unwrap(), Err(GoalError::NotFound));
    }
}
