//! Funnels: 2–8 steps an analyst defines (a pageview of a path pattern, a
//! custom event, a commerce event), reached in order within a window.
//!
//! Like goals, funnels are definitions kept beside the accounts and
//! evaluated at read time over the rollup: each visit's row holds the
//! sequence of its first events (`seq`, `seq_ts`; [`STEP_TOKEN`] is how
//! the rollup writes one), and [`Funnel::level_sql`] walks it. A visit
//! reaches step *n* when it has an event of each step 1..=n, each after the
//! one before (the first such event each time), the n-th within the window
//! of the first. The commerce funnel the dashboards always had is the
//! default one ([`Funnel::commerce`]).

use rusqlite::{params, OptionalExtension};
use serde::{Deserialize, Serialize};

use super::goals::pattern_regex;
use crate::accounts::{AccountError, Accounts};

pub const MIN_STEPS: usize = 2;
pub const MAX_STEPS: usize = 8;
/// Funnels a store may define (each costs its own cells to release).
pub const MAX_FUNNELS: usize = 30;
/// The default window, and the longest one.
pub const DEFAULT_WINDOW_SECS: u32 = 86_400;
pub const MAX_WINDOW_SECS: u32 = 7 * 86_400;

/// How the rollup names an event in a visit's sequence: `p` and the path
/// for a pageview, `c` and the name for a custom event, `k` and the kind
/// for every other (commerce, search, …). SQL over a `t2.events` row.
pub const STEP_TOKEN: &str = "multiIf(kind = 'pageview', concat('p', path), kind = 'custom', concat('c', target), concat('k', kind))";

/// The commerce events a step may be.
pub const COMMERCE: [&str; 4] = ["product_view", "add_to_cart", "checkout_start", "purchase"];

/// One step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum Step {
    /// A pageview of a path: exact, or with `*` and `**` as in goals.
    Pageview(String),
    /// A custom event by name.
    Event(String),
    /// A commerce event: one of [`COMMERCE`].
    Commerce(String),
}

impl Step {
    pub fn parse(kind: &str, value: &str) -> Result<Step, FunnelError> {
        let v = value.trim().to_string();
        let step = match kind.trim() {
            "pageview" => Step::Pageview(v),
            "event" => Step::Event(v),
            "commerce" => Step::Commerce(v),
            other => return Err(FunnelError::Step(format!("unknown step kind {:?} (use pageview, event or commerce)", other.chars().take(20).collect::<String>()))),
        };
        step.validate()?;
        Ok(step)
    }

    fn validate(&self) -> Result<(), FunnelError> {
        let bad = |why: &str| Err(FunnelError::Step(why.into()));
        match self {
            Step::Pageview(p) if !p.starts_with('/') || p.chars().count() > 256 || p.chars().any(char::is_control) => bad("a page step is a path starting with /"),
            Step::Event(e) if e.is_empty() || e.len() > 40 || !e.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-.:".contains(&b)) => {
                bad("an event step is a custom event's name (A–Z, a–z, 0–9, _ - . :)")
            }
            Step::Commerce(c) if !COMMERCE.contains(&c.as_str()) => bad("a commerce step is product_view, add_to_cart, checkout_start or purchase"),
            _ => Ok(()),
        }
    }

    pub fn kind_name(&self) -> &'static str {
        match self {
            Step::Pageview(_) => "pageview",
            Step::Event(_) => "event",
            Step::Commerce(_) => "commerce",
        }
    }

    pub fn value(&self) -> &str {
        match self {
            Step::Pageview(v) | Step::Event(v) | Step::Commerce(v) => v,
        }
    }

    /// The step in words.
    pub fn label(&self) -> String {
        match self {
            Step::Pageview(p) => format!("Viewed {p}"),
            Step::Event(e) => format!("Sent {e}"),
            Step::Commerce(c) => match c.as_str() {
                "product_view" => "Viewed a product".into(),
                "add_to_cart" => "Added to cart".into(),
                "checkout_start" => "Started checkout".into(),
                _ => "Purchased".into(),
            },
        }
    }

    /// The condition over a sequence token `k` (one `?`, and its value).
    fn condition(&self) -> (String, String) {
        match self {
            Step::Pageview(p) if p.contains('*') => ("match(k, ?)".into(), format!("^p{}", &pattern_regex(p)[1..])),
            Step::Pageview(p) => ("k = ?".into(), format!("p{p}")),
            Step::Event(e) => ("k = ?".into(), format!("c{e}")),
            Step::Commerce(c) => ("k = ?".into(), format!("k{c}")),
        }
    }
}

/// A funnel as stored; the commerce funnel has id 0 and no owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Funnel {
    pub id: i64,
    pub name: String,
    pub steps: Vec<Step>,
    pub window_secs: u32,
    pub created_by: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FunnelError {
    #[error("a funnel's name is 1–64 printable characters")]
    Name,
    #[error("a funnel has {MIN_STEPS}–{MAX_STEPS} steps")]
    Steps,
    #[error("{0}")]
    Step(String),
    #[error("a funnel's window is 1 minute to 7 days (in minutes)")]
    Window,
    #[error("a funnel named {0:?} exists already")]
    Exists(String),
    #[error("no such funnel")]
    NotFound,
    #[error("at most {MAX_FUNNELS} funnels")]
    TooMany,
}

impl Funnel {
    /// The purchase funnel the dashboards always had: product view → add
    /// to cart → checkout → purchase, within 24 hours.
    pub fn commerce() -> Funnel {
        Funnel { id: 0, name: "Purchase funnel".into(), steps: COMMERCE.iter().map(|c| Step::Commerce((*c).into())).collect(), window_secs: DEFAULT_WINDOW_SECS, created_by: None }
    }

    fn validate(name: &str, steps: &[Step], window_secs: u32) -> Result<(), FunnelError> {
        if name.trim().is_empty() || name.trim().chars().count() > 64 || name.chars().any(char::is_control) {
            return Err(FunnelError::Name);
        }
        if !(MIN_STEPS..=MAX_STEPS).contains(&steps.len()) {
            return Err(FunnelError::Steps);
        }
        if !(60..=MAX_WINDOW_SECS).contains(&window_secs) {
            return Err(FunnelError::Window);
        }
        steps.iter().try_for_each(Step::validate)
    }

    /// The definition in words; also what names the funnel's release cells.
    pub fn definition(&self) -> String {
        let steps: Vec<String> = self.steps.iter().map(|s| format!("{} {}", s.kind_name(), s.value())).collect();
        format!("{} within {} min", steps.join(" → "), self.window_secs / 60)
    }

    /// `i1, …, in` (the index in `seq` of each step's event, 0 when not
    /// reached) and `reached_1, …, reached_n` (0/1: the visit reached
    /// that step in order within the window), as SELECT expressions over a
    /// row of `t2.visits`, with a `?` for each step's value.
    pub fn level_sql(&self) -> (String, Vec<String>) {
        let mut exprs = Vec::new();
        let mut values = Vec::new();
        for (n, step) in self.steps.iter().enumerate() {
            let (cond, value) = step.condition();
            values.push(value);
            let i = n + 1;
            exprs.push(if i == 1 {
                format!("arrayFirstIndex(k -> {cond}, seq) AS i1")
            } else {
                format!("if(i{p} = 0, 0, arrayFirstIndex((k, j) -> j > i{p} AND {cond}, seq, arrayEnumerate(seq))) AS i{i}", p = i - 1)
            });
        }
        for i in 1..=self.steps.len() {
            exprs.push(format!("toUInt8(i{i} > 0 AND seq_ts[i{i}] - seq_ts[i1] <= {}) AS reached_{i}", self.window_secs));
        }
        (exprs.join(", "), values)
    }
}

fn from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Funnel> {
    let steps: String = row.get(2)?;
    Ok(Funnel { id: row.get(0)?, name: row.get(1)?, steps: serde_json::from_str(&steps).unwrap_or_default(), window_secs: row.get(3)?, created_by: row.get(4)? })
}

const SELECT: &str = "SELECT f.id, f.name, f.steps, f.window_secs, u.name FROM funnels f LEFT JOIN users u ON u.id = f.created_by";

pub type FunnelResult<T> = Result<Result<T, FunnelError>, AccountError>;

impl Accounts {
    pub fn funnels(&self) -> Result<Vec<Funnel>, AccountError> {
        let db = self.db();
        let mut stmt = db.prepare(&format!("{SELECT} ORDER BY f.name"))?;
        let out = stmt.query_map([], from_row)?.collect::<Result<Vec<_>, _>>()?;
        Ok(out)
    }

    pub fn funnel(&self, id: i64) -> Result<Option<Funnel>, AccountError> {
        Ok(self.db().query_row(&format!("{SELECT} WHERE f.id = ?1"), [id], from_row).optional()?)
    }

    pub fn add_funnel(&self, name: &str, steps: &[Step], window_secs: u32, user_id: i64, now: i64) -> FunnelResult<Funnel> {
        if let Err(e) = Funnel::validate(name, steps, window_secs) {
            return Ok(Err(e));
        }
        let id = {
            let db = self.db();
            let count: i64 = db.query_row("SELECT count(*) FROM funnels", [], |r| r.get(0))?;
            if count as usize >= MAX_FUNNELS {
                return Ok(Err(FunnelError::TooMany));
            }
            let json = serde_json::to_string(steps).expect("steps serialise");
            let n = db.execute(
                "INSERT INTO funnels (name, steps, window_secs, created_by, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?5) ON CONFLICT(name) DO NOTHING",
                params![name.trim(), json, window_secs, user_id, now],
            )?;
            if n == 0 {
                return Ok(Err(FunnelError::Exists(name.trim().to_string())));
            }
            db.last_insert_rowid()
        };
        Ok(self.funnel(id)?.ok_or(FunnelError::NotFound))
    }

    pub fn update_funnel(&self, id: i64, name: &str, steps: &[Step], window_secs: u32, now: i64) -> FunnelResult<Funnel> {
        if let Err(e) = Funnel::validate(name, steps, window_secs) {
            return Ok(Err(e));
        }
        {
            let db = self.db();
            let taken: Option<i64> = db.query_row("SELECT id FROM funnels WHERE name = ?1 AND id != ?2", params![name.trim(), id], |r| r.get(0)).optional()?;
            if taken.is_some() {
                return Ok(Err(FunnelError::Exists(name.trim().to_string())));
            }
            let json = serde_json::to_string(steps).expect("steps serialise");
            if db.execute("UPDATE funnels SET name = ?2, steps = ?3, window_secs = ?4, updated_at = ?5 WHERE id = ?1", params![id, name.trim(), json, window_secs, now])? == 0 {
                return Ok(Err(FunnelError::NotFound));
            }
        }
        Ok(self.funnel(id)?.ok_or(FunnelError::NotFound))
    }

    pub fn delete_funnel(&self, id: i64) -> FunnelResult<()> {
        let n = self.db().execute("DELETE FROM funnels WHERE id = ?1", [id])?;
        Ok(if n == 0 { Err(FunnelError::NotFound) } else { Ok(()) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_are_validated_and_walked_in_order() {
        assert!(Step::parse("pageview", "cart").is_err());
        assert!(Step::parse("commerce", "refund").is_err());
        assert!(Step::parse("event", "sign up").is_err());
        assert_eq!(Step::parse("pageview", "/blog/*").unwrap().condition(), ("match(k, ?)".into(), "^p/blog/[^/]*$".into()));
        let f = Funnel::commerce();
        let (sql, values) = f.level_sql();
        assert_eq!(values, ["kproduct_view", "kadd_to_cart", "kcheckout_start", "kpurchase"]);
        assert!(sql.contains("AS i4") && sql.contains("AS reached_4") && sql.matches('?').count() == 4, "{sql}");
        assert_eq!(Funnel::validate("x", &f.steps[..1], 60), Err(FunnelError::Steps));
        assert_eq!(Funnel::validate("x", &f.steps, 30), Err(FunnelError::Window));
    }

    #[test]
    fn funnels_are_stored_edited_and_deleted() {
        let a = Accounts::in_memory().unwrap();
        let u = a.add_user("ana", "a long enough password", crate::roles::Roles::of(&[crate::roles::Role::Analyst])).unwrap();
        let steps = vec![Step::Pageview("/".into()), Step::Event("signup".into())];
        let f = a.add_funnel("Sign-up", &steps, 3600, u.id, 1).unwrap().unwrap();
        assert_eq!((f.steps.clone(), f.window_secs, f.created_by.as_deref()), (steps.clone(), 3600, Some("ana")));
        assert_eq!(a.add_funnel("Sign-up", &steps, 3600, u.id, 1).unwrap(), Err(FunnelError::Exists("Sign-up".into())));
        let g = a.update_funnel(f.id, "Sign-up", &steps, 7200, 2).unwrap().unwrap();
        assert_eq!(g.window_secs, 7200);
        assert_eq!(a.delete_funnel(f.id).unwrap(), Ok(()));
        assert!(a.funnels().unwrap().is_empty());
    }
}
