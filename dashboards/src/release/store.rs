//! Where released cells and the budget ledger live: an SQLite file beside
//! the accounts database (`releases.sqlite3` in `dashboards.data_dir`),
//! shared by every dashboards process that shares the directory.
//!
//! A cell, once stored, is the only answer its question ever gets: asking
//! again, from any process, reads it back, so repeating a question cannot
//! average its noise away. Storing a cell and charging its ε happen in one
//! `BEGIN IMMEDIATE` transaction, so concurrent requests can neither
//! overspend a day nor store two answers to one question.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

pub const DB_FILE: &str = "releases.sqlite3";

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS cells (
    scope       TEXT NOT NULL,
    kind        TEXT NOT NULL,
    day         INTEGER NOT NULL,
    part        INTEGER NOT NULL,
    body        TEXT NOT NULL,
    account     TEXT NOT NULL,
    epsilon     REAL NOT NULL,
    released_at INTEGER NOT NULL,
    version     TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (scope, kind, day, part)
);
CREATE TABLE IF NOT EXISTS spend (
    account TEXT NOT NULL,
    day     INTEGER NOT NULL,
    epsilon REAL NOT NULL,
    cells   INTEGER NOT NULL,
    PRIMARY KEY (account, day)
);";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("release store: {0}")]
    Db(#[from] rusqlite::Error),
    #[error("opening {path}: {source}")]
    Open { path: String, source: std::io::Error },
}

/// Who pays for a cell.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Account {
    /// The unfiltered views, released once for everyone.
    Shared,
    /// One analyst's filtered questions (user id).
    Analyst(i64),
}

impl Account {
    pub fn key(&self) -> String {
        match self {
            Account::Shared => "shared".into(),
            Account::Analyst(id) => format!("user:{id}"),
        }
    }
}

/// One cell to store: `(day, part, body, version)`; `part` is -1 for a
/// whole-day cell, else the hour or the window within the day; `version`
/// names the data it was drawn from (the rollup's state of the day).
pub type NewCell = (i32, i32, String, String);

/// A stored cell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored1 {
    pub body: String,
    pub version: String,
    pub released_at: i64,
}

impl Stored1 {
    /// Whether this cell still answers for data of `version` at `now`: the
    /// same data; or changed data, but the cell was drawn less than a day
    /// ago from data that was not empty (a day is drawn again at most once
    /// a day, each time at its cost; a draw from no data at all, as before
    /// an import, gives way at once).
    pub fn answers(&self, version: &str, now: i64) -> bool {
        let empty = self.version.split(',').all(|v| v.starts_with("0:"));
        self.version == version || (!empty && now - self.released_at < 86_400)
    }
}

/// Why cells were not stored.
#[derive(Debug, Clone, PartialEq)]
pub struct OverBudget {
    pub day: i32,
    pub spent: f64,
    pub budget: f64,
}

pub struct Store {
    conn: Mutex<Connection>,
}

/// What a release did: the cells now stored (existing ones win over new
/// draws), and what was charged.
#[derive(Debug, Default)]
pub struct Stored {
    pub bodies: BTreeMap<(i32, i32), Stored1>,
    pub charged_days: Vec<i32>,
}

impl Store {
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        std::fs::create_dir_all(dir).map_err(|source| StoreError::Open { path: dir.display().to_string(), source })?;
        let conn = Connection::open(dir.join(DB_FILE))?;
        Store::with(conn)
    }

    /// In memory, for tests.
    pub fn in_memory() -> Result<Store, StoreError> {
        Store::with(Connection::open_in_memory()?)
    }

    fn with(conn: Connection) -> Result<Store, StoreError> {
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.execute_batch(SCHEMA)?;
        Ok(Store { conn: Mutex::new(conn) })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The stored cells of `(scope, kind)` on days `from..until`.
    pub fn get(&self, scope: &str, kind: &str, from: i32, until: i32) -> Result<BTreeMap<(i32, i32), Stored1>, StoreError> {
        let conn = self.lock();
        let mut st = conn.prepare_cached("SELECT day, part, body, version, released_at FROM cells WHERE scope = ?1 AND kind = ?2 AND day >= ?3 AND day < ?4")?;
        let rows = st.query_map(params![scope, kind, from, until], |r| Ok(((r.get(0)?, r.get(1)?), Stored1 { body: r.get(2)?, version: r.get(3)?, released_at: r.get(4)? })))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Stores `cells` of `(scope, kind)` that are not stored yet, or whose
    /// data changed since (another version: the day is released again), and
    /// charges `account` `epsilon` for every day that gets a new draw,
    /// once however many parts it has (the parts of one day hold disjoint
    /// visits). If any day would go over `budget`, nothing is stored or
    /// charged.
    ///
    /// A cell of a kind that covers several days (a week of products)
    /// charges each of its `span` days from `day`.
    #[allow(clippy::too_many_arguments)]
    pub fn release(&self, account: &Account, budget: f64, epsilon: f64, scope: &str, kind: &str, cells: Vec<NewCell>, span: i32, now: i64) -> Result<Result<Stored, OverBudget>, StoreError> {
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let acct = account.key();
        let mut out = Stored::default();
        let mut charge: BTreeMap<i32, ()> = BTreeMap::new();
        {
            let mut exists = tx.prepare_cached("SELECT body, version, released_at FROM cells WHERE scope = ?1 AND kind = ?2 AND day = ?3 AND part = ?4")?;
            let mut day_has = tx.prepare_cached("SELECT 1 FROM cells WHERE scope = ?1 AND kind = ?2 AND day = ?3 AND version = ?4 AND part != ?5 LIMIT 1")?;
            let mut fresh = Vec::new();
            for (day, part, body, version) in cells {
                let old = exists.query_row(params![scope, kind, day, part], |r| Ok(Stored1 { body: r.get(0)?, version: r.get(1)?, released_at: r.get(2)? })).optional()?;
                if let Some(old) = old.filter(|o| o.version == version) {
                    out.bodies.insert((day, part), old);
                    continue;
                }
                let sibling = day_has.query_row(params![scope, kind, day, version, part], |_| Ok(())).optional()?.is_some();
                if !sibling && !fresh.iter().any(|(d, _, _, v): &NewCell| *d == day && *v == version) {
                    charge.insert(day, ());
                }
                fresh.push((day, part, body, version));
            }
            let charged: Vec<i32> = charge.keys().flat_map(|d| *d..*d + span.max(1)).collect();
            let mut spent = tx.prepare_cached("SELECT epsilon FROM spend WHERE account = ?1 AND day = ?2")?;
            for day in &charged {
                let s: f64 = spent.query_row(params![acct, day], |r| r.get(0)).optional()?.unwrap_or(0.0);
                // A small tolerance: budgets are sums of decimal fractions.
                if s + epsilon > budget + 1e-9 {
                    return Ok(Err(OverBudget { day: *day, spent: s, budget }));
                }
            }
            let mut insert = tx.prepare_cached(
                "INSERT INTO cells (scope, kind, day, part, body, account, epsilon, released_at, version) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) \
                 ON CONFLICT (scope, kind, day, part) DO UPDATE SET body = ?5, account = ?6, epsilon = epsilon + ?7, released_at = ?8, version = ?9",
            )?;
            let mut first_of_day: BTreeMap<i32, ()> = BTreeMap::new();
            for (day, part, body, version) in fresh {
                let cost = if charge.contains_key(&day) && first_of_day.insert(day, ()).is_none() { epsilon } else { 0.0 };
                insert.execute(params![scope, kind, day, part, body, acct, cost, now, version])?;
                out.bodies.insert((day, part), Stored1 { body, version, released_at: now });
            }
            let mut add = tx.prepare_cached(
                "INSERT INTO spend (account, day, epsilon, cells) VALUES (?1, ?2, ?3, 1) ON CONFLICT (account, day) DO UPDATE SET epsilon = epsilon + ?3, cells = cells + 1",
            )?;
            for day in &charged {
                add.execute(params![acct, day, epsilon])?;
            }
        }
        tx.commit()?;
        out.charged_days = charge.into_keys().flat_map(|d| d..d + span.max(1)).collect();
        Ok(Ok(out))
    }

    /// What `account` has spent per day on days `from..until`.
    pub fn spent(&self, account: &Account, from: i32, until: i32) -> Result<BTreeMap<i32, f64>, StoreError> {
        let conn = self.lock();
        let mut st = conn.prepare_cached("SELECT day, epsilon FROM spend WHERE account = ?1 AND day >= ?2 AND day < ?3")?;
        let rows = st.query_map(params![account.key(), from, until], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Every account's spend on days `from..until`: `(account, day, ε, cells)`.
    pub fn ledger(&self, from: i32, until: i32) -> Result<Vec<(String, i32, f64, i64)>, StoreError> {
        let conn = self.lock();
        let mut st = conn.prepare_cached("SELECT account, day, epsilon, cells FROM spend WHERE day >= ?1 AND day < ?2 ORDER BY day DESC, account")?;
        let rows = st.query_map(params![from, until], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cell_is_stored_once_and_a_day_charged_once() {
        let s = Store::in_memory().unwrap();
        let a = Account::Analyst(7);
        let got = s.release(&a, 5.0, 1.0, "f", "metrics", vec![(10, -1, "first".into(), "v1".into())], 1, 0).unwrap().unwrap();
        assert_eq!(got.charged_days, vec![10]);
        let again = s.release(&a, 5.0, 1.0, "f", "metrics", vec![(10, -1, "second".into(), "v1".into())], 1, 0).unwrap().unwrap();
        assert_eq!(again.bodies[&(10, -1)].body, "first", "the stored answer wins");
        assert!(again.charged_days.is_empty(), "asking again costs nothing");
        // Parts of one day: charged once.
        let hours = s.release(&a, 5.0, 1.0, "f", "hours", (0..24).map(|h| (10, h, format!("h{h}"), String::new())).collect(), 1, 0).unwrap().unwrap();
        assert_eq!(hours.charged_days, vec![10]);
        assert_eq!(s.spent(&a, 0, 100).unwrap()[&10], 2.0);
        // The day's data changed: released again, and charged again.
        let changed = s.release(&a, 5.0, 1.0, "f", "metrics", vec![(10, -1, "third".into(), "v2".into())], 1, 0).unwrap().unwrap();
        assert_eq!((changed.bodies[&(10, -1)].body.as_str(), changed.charged_days.clone()), ("third", vec![10]));
        assert_eq!(s.spent(&a, 0, 100).unwrap()[&10], 3.0);
    }

    #[test]
    fn a_day_over_budget_stores_nothing() {
        let s = Store::in_memory().unwrap();
        let a = Account::Analyst(1);
        for i in 0..5 {
            s.release(&a, 5.0, 1.0, &format!("q{i}"), "metrics", vec![(3, -1, "x".into(), String::new())], 1, 0).unwrap().unwrap();
        }
        let refused = s.release(&a, 5.0, 1.0, "q5", "metrics", vec![(2, -1, "y".into(), String::new()), (3, -1, "y".into(), String::new())], 1, 0).unwrap().unwrap_err();
        assert_eq!(refused, OverBudget { day: 3, spent: 5.0, budget: 5.0 });
        assert!(s.get("q5", "metrics", 0, 10).unwrap().is_empty(), "not even the day that had budget");
        assert!(!s.spent(&a, 0, 10).unwrap().contains_key(&2));
        // Another analyst's budget is their own.
        assert!(s.release(&Account::Analyst(2), 5.0, 1.0, "q5", "metrics", vec![(3, -1, "z".into(), String::new())], 1, 0).unwrap().is_ok());
    }

    #[test]
    fn concurrent_requests_never_overspend() {
        let dir = tempfile::tempdir().unwrap();
        let stores: Vec<std::sync::Arc<Store>> = (0..2).map(|_| std::sync::Arc::new(Store::open(dir.path()).unwrap())).collect();
        let a = Account::Analyst(9);
        // 40 different questions on one day from 8 threads over two
        // connections (two processes sharing the file); budget for 5.
        let handles: Vec<_> = (0..8)
            .map(|t| {
                let (s, a) = (stores[t % 2].clone(), a.clone());
                std::thread::spawn(move || {
                    (0..5).filter(|i| s.release(&a, 5.0, 1.0, &format!("q{t}-{i}"), "metrics", vec![(1, -1, "v".into(), String::new())], 1, 0).unwrap().is_ok()).count()
                })
            })
            .collect();
        let stored: usize = handles.into_iter().map(|h| h.join().unwrap()).sum();
        assert_eq!(stored, 5, "exactly the budget's worth of cells");
        assert_eq!(stores[0].spent(&a, 0, 10).unwrap()[&1], 5.0);
    }
}
