//! Saved segments: a named set of filters, private to its owner or shared
//! with every analyst, applied from the filter bar. A segment is only the
//! filters' text (`dimension:op:value`, as in the `f=` parameters), so
//! applying one gives an ordinary URL that keeps working without it.

use rusqlite::{params, OptionalExtension};

use super::annotations::Editor;
use crate::accounts::{AccountError, Accounts};
use crate::query::{parse_filter, Filter, MAX_FILTERS};

pub const MAX_NAME: usize = 64;
/// Segments one user may own.
pub const MAX_SEGMENTS: usize = 100;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    pub id: i64,
    pub name: String,
    /// `dimension:op:value`, each a valid filter.
    pub filters: Vec<String>,
    pub owner_id: i64,
    pub owner: String,
    pub shared: bool,
}

impl Segment {
    /// `f=…&f=…`: the segment applied to any view or table.
    pub fn params(&self) -> String {
        let mut out = form_urlencoded::Serializer::new(String::new());
        for f in &self.filters {
            out.append_pair("f", f);
        }
        out.finish()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SegmentError {
    #[error("a segment's name is 1–{MAX_NAME} printable characters")]
    Name,
    #[error("a segment is 1–{MAX_FILTERS} filters, each dimension:op:value: {0}")]
    Filters(String),
    #[error("you have a segment named {0:?} already")]
    Exists(String),
    #[error("no such segment")]
    NotFound,
    #[error("only its owner or an admin may change a segment")]
    NotYours,
    #[error("at most {MAX_SEGMENTS} segments each")]
    TooMany,
}

pub type SegmentResult<T> = Result<Result<T, SegmentError>, AccountError>;

/// The filters, checked: each parses as a filter of the dashboards.
pub fn check_filters(filters: &[String]) -> Result<Vec<Filter>, SegmentError> {
    if filters.is_empty() || filters.len() > MAX_FILTERS {
        return Err(SegmentError::Filters("none or too many".into()));
    }
    filters.iter().map(|f| parse_filter(f).map_err(|e| SegmentError::Filters(e.to_string()))).collect()
}

fn check_name(name: &str) -> Result<String, SegmentError> {
    let n = name.trim();
    if n.is_empty() || n.chars().count() > MAX_NAME || n.chars().any(char::is_control) {
        return Err(SegmentError::Name);
    }
    Ok(n.to_string())
}

fn from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Segment> {
    let filters: String = row.get(2)?;
    Ok(Segment {
        id: row.get(0)?,
        name: row.get(1)?,
        filters: serde_json::from_str(&filters).unwrap_or_default(),
        owner_id: row.get(3)?,
        owner: row.get(4)?,
        shared: row.get::<_, i64>(5)? != 0,
    })
}

const SELECT: &str = "SELECT s.id, s.name, s.filters, s.owner, u.name, s.shared FROM segments s JOIN users u ON u.id = s.owner";

impl Accounts {
    /// The segments `user_id` may apply: their own and the shared ones.
    pub fn segments_for(&self, user_id: i64) -> Result<Vec<Segment>, AccountError> {
        let db = self.db();
        let mut stmt = db.prepare(&format!("{SELECT} WHERE s.owner = ?1 OR s.shared = 1 ORDER BY s.name, s.id"))?;
        let out = stmt.query_map([user_id], from_row)?.collect::<Result<Vec<_>, _>>()?;
        Ok(out)
    }

    pub fn segment(&self, id: i64) -> Result<Option<Segment>, AccountError> {
        Ok(self.db().query_row(&format!("{SELECT} WHERE s.id = ?1"), [id], from_row).optional()?)
    }

    pub fn add_segment(&self, name: &str, filters: &[String], shared: bool, owner: i64, now: i64) -> SegmentResult<Segment> {
        let (name, filters) = match (check_name(name), check_filters(filters)) {
            (Ok(n), Ok(_)) => (n, filters),
            (Err(e), _) | (_, Err(e)) => return Ok(Err(e)),
        };
        let id = {
            let db = self.db();
            let count: i64 = db.query_row("SELECT count(*) FROM segments WHERE owner = ?1", [owner], |r| r.get(0))?;
            if count as usize >= MAX_SEGMENTS {
                return Ok(Err(SegmentError::TooMany));
            }
            let json = serde_json::to_string(filters).expect("strings serialise");
            let n = db.execute(
                "INSERT INTO segments (name, filters, owner, shared, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?5) ON CONFLICT(owner, name) DO NOTHING",
                params![name, json, owner, shared as i64, now],
            )?;
            if n == 0 {
                return Ok(Err(SegmentError::Exists(name)));
            }
            db.last_insert_rowid()
        };
        Ok(self.segment(id)?.ok_or(SegmentError::NotFound))
    }

    pub fn update_segment(&self, id: i64, name: &str, filters: &[String], shared: bool, by: Editor, now: i64) -> SegmentResult<Segment> {
        let name = match (check_name(name), check_filters(filters)) {
            (Ok(n), Ok(_)) => n,
            (Err(e), _) | (_, Err(e)) => return Ok(Err(e)),
        };
        let Some(s) = self.segment(id)? else { return Ok(Err(SegmentError::NotFound)) };
        if !by.may_change(Some(s.owner_id)) {
            return Ok(Err(SegmentError::NotYours));
        }
        let json = serde_json::to_string(filters).expect("strings serialise");
        let db = self.db();
        let taken: Option<i64> = db.query_row("SELECT id FROM segments WHERE owner = ?1 AND name = ?2 AND id != ?3", params![s.owner_id, name, id], |r| r.get(0)).optional()?;
        if taken.is_some() {
            return Ok(Err(SegmentError::Exists(name)));
        }
        db.execute("UPDATE segments SET name = ?2, filters = ?3, shared = ?4, updated_at = ?5 WHERE id = ?1", params![id, name, json, shared as i64, now])?;
        drop(db);
        Ok(self.segment(id)?.ok_or(SegmentError::NotFound))
    }

    pub fn delete_segment(&self, id: i64, by: Editor) -> SegmentResult<()> {
        let Some(s) = self.segment(id)? else { return Ok(Err(SegmentError::NotFound)) };
        if !by.may_change(Some(s.owner_id)) {
            return Ok(Err(SegmentError::NotYours));
        }
        self.db().execute("DELETE FROM segments WHERE id = ?1", [id])?;
        Ok(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::roles::{Role, Roles};

    #[test]
    fn private_segments_stay_private_and_shared_ones_are_listed_for_all() {
        let a = Accounts::in_memory().unwrap();
        let ana = a.add_user("ana", "a long enough password", Roles::of(&[Role::Analyst])).unwrap();
        let bo = a.add_user("bo", "a long enough password", Roles::of(&[Role::Analyst])).unwrap();
        let f = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let mine = a.add_segment("Germany, mobile", &f(&["country:is:DE", "device:is:mobile"]), false, ana.id, 1).unwrap().unwrap();
        let ours = a.add_segment("Campaign", &f(&["utm_campaign:is:spring"]), true, ana.id, 1).unwrap().unwrap();
        assert_eq!(a.segments_for(ana.id).unwrap().len(), 2);
        assert_eq!(a.segments_for(bo.id).unwrap(), vec![ours.clone()], "bo sees only the shared one");
        assert!(matches!(a.add_segment("Bad", &f(&["path:is:/"]), false, ana.id, 1).unwrap(), Err(SegmentError::Filters(_))));
        assert_eq!(a.add_segment("Campaign", &f(&["country:is:FR"]), false, ana.id, 1).unwrap(), Err(SegmentError::Exists("Campaign".into())));
        let bo_edits = Editor { user_id: bo.id, admin: false };
        assert_eq!(a.delete_segment(mine.id, bo_edits).unwrap(), Err(SegmentError::NotYours));
        assert_eq!(a.update_segment(ours.id, "Mine", &f(&["country:is:FR"]), false, bo_edits, 2).unwrap(), Err(SegmentError::NotYours));
        assert_eq!(a.delete_segment(mine.id, Editor { user_id: ana.id, admin: false }).unwrap(), Ok(()));
    }
}
