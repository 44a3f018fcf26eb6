//! Annotations: a dated note (a promotion, an e-mail send, a deploy) shown
//! on every chart that covers its day. Made by analysts, listed for all,
//! changed or removed by their author or an admin.

use rusqlite::{params, OptionalExtension};

use crate::accounts::{AccountError, Accounts};
use crate::query::Day;

pub const MAX_TEXT: usize = 280;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Annotation {
    pub id: i64,
    pub day: Day,
    pub text: String,
    pub author_id: Option<i64>,
    pub author: Option<String>,
    pub updated_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AnnotationError {
    #[error("an annotation's text is 1–{MAX_TEXT} printable characters")]
    Text,
    #[error("an annotation's day is YYYY-MM-DD")]
    Day,
    #[error("no such annotation")]
    NotFound,
    #[error("only its author or an admin may change an annotation")]
    NotYours,
}

fn check(text: &str) -> Result<String, AnnotationError> {
    let t = text.trim();
    if t.is_empty() || t.chars().count() > MAX_TEXT || t.chars().any(char::is_control) {
        return Err(AnnotationError::Text);
    }
    Ok(t.to_string())
}

pub type AnnotationResult<T> = Result<Result<T, AnnotationError>, AccountError>;

fn from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Annotation> {
    Ok(Annotation { id: row.get(0)?, day: Day(row.get(1)?), text: row.get(2)?, author_id: row.get(3)?, author: row.get(4)?, updated_at: row.get(5)? })
}

const SELECT: &str = "SELECT a.id, a.day, a.text, a.author, u.name, a.updated_at FROM annotations a LEFT JOIN users u ON u.id = a.author";

/// Who is changing something: their id, and whether they are an admin.
#[derive(Debug, Clone, Copy)]
pub struct Editor {
    pub user_id: i64,
    pub admin: bool,
}

impl Editor {
    pub fn may_change(self, owner: Option<i64>) -> bool {
        self.admin || owner == Some(self.user_id)
    }
}

impl Accounts {
    /// The annotations of days `[from, until)`, by day.
    pub fn annotations(&self, from: Day, until: Day) -> Result<Vec<Annotation>, AccountError> {
        let db = self.db();
        let mut stmt = db.prepare(&format!("{SELECT} WHERE a.day >= ?1 AND a.day < ?2 ORDER BY a.day, a.id"))?;
        let out = stmt.query_map([from.0, until.0], from_row)?.collect::<Result<Vec<_>, _>>()?;
        Ok(out)
    }

    pub fn annotation(&self, id: i64) -> Result<Option<Annotation>, AccountError> {
        Ok(self.db().query_row(&format!("{SELECT} WHERE a.id = ?1"), [id], from_row).optional()?)
    }

    pub fn add_annotation(&self, day: Day, text: &str, author: i64, now: i64) -> AnnotationResult<Annotation> {
        let text = match check(text) {
            Ok(t) => t,
            Err(e) => return Ok(Err(e)),
        };
        let id = {
            let db = self.db();
            db.execute("INSERT INTO annotations (day, text, author, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?4)", params![day.0, text, author, now])?;
            db.last_insert_rowid()
        };
        Ok(self.annotation(id)?.ok_or(AnnotationError::NotFound))
    }

    pub fn update_annotation(&self, id: i64, day: Day, text: &str, by: Editor, now: i64) -> AnnotationResult<Annotation> {
        let text = match check(text) {
            Ok(t) => t,
            Err(e) => return Ok(Err(e)),
        };
        match self.annotation(id)? {
            None => return Ok(Err(AnnotationError::NotFound)),
            Some(a) if !by.may_change(a.author_id) => return Ok(Err(AnnotationError::NotYours)),
            Some(_) => {}
        }
        self.db().execute("UPDATE annotations SET day = ?2, text = ?3, updated_at = ?4 WHERE id = ?1", params![id, day.0, text, now])?;
        Ok(self.annotation(id)?.ok_or(AnnotationError::NotFound))
    }

    pub fn delete_annotation(&self, id: i64, by: Editor) -> AnnotationResult<()> {
        match self.annotation(id)? {
            None => Ok(Err(AnnotationError::NotFound)),
            Some(a) if !by.may_change(a.author_id) => Ok(Err(AnnotationError::NotYours)),
            Some(_) => {
                self.db().execute("DELETE FROM annotations WHERE id = ?1", [id])?;
                Ok(Ok(()))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::roles::{Role, Roles};

    #[test]
    fn authors_and_admins_change_annotations_and_nobody_else() {
        let a = Accounts::in_memory().unwrap();
        let ana = a.add_user("ana", "a long enough password", Roles::of(&[Role::Analyst])).unwrap();
        let bo = a.add_user("bo", "a long enough password", Roles::of(&[Role::Analyst])).unwrap();
        let n = a.add_annotation(Day(20_000), " Spring sale e-mail ", ana.id, 1).unwrap().unwrap();
        assert_eq!((n.text.as_str(), n.author.as_deref()), ("Spring sale e-mail", Some("ana")));
        let bo_edits = Editor { user_id: bo.id, admin: false };
        assert_eq!(a.update_annotation(n.id, Day(20_001), "mine now", bo_edits, 2).unwrap(), Err(AnnotationError::NotYours));
        assert_eq!(a.delete_annotation(n.id, bo_edits).unwrap(), Err(AnnotationError::NotYours));
        let admin = Editor { user_id: bo.id, admin: true };
        assert_eq!(a.update_annotation(n.id, Day(20_001), "Spring sale", admin, 3).unwrap().unwrap().day, Day(20_001));
        assert_eq!(a.add_annotation(Day(1), "", ana.id, 1).unwrap(), Err(AnnotationError::Text));
        assert_eq!(a.annotations(Day(20_001), Day(20_002)).unwrap().len(), 1);
        assert!(a.annotations(Day(19_000), Day(20_001)).unwrap().is_empty());
        assert_eq!(a.delete_annotation(n.id, Editor { user_id: ana.id, admin: false }).unwrap(), Ok(()));
    }
}
