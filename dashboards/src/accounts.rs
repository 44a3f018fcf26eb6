//! Dashboard users: names, Argon2id password hashes, roles, disabled flag.
//!
//! Accounts, login sessions and API tokens are records that change (a
//! password reset, a role granted, a session touched on every request), so
//! they live where updates are transactional: one SQLite file in
//! `dashboards.data_dir`, opened through `rusqlite`. The access audit is
//! different (append-only, read beside the ledgers) and lives in ClickHouse.
//!
//! The SQLite schema is versioned with `PRAGMA user_version`; each step in
//! [`MIGRATIONS`] runs once, in a transaction.

use std::path::Path;
use std::sync::Mutex;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use rusqlite::{params, Connection, OptionalExtension};

use crate::roles::{Roles, UnknownRole};

/// The file inside `dashboards.data_dir`.
pub const DB_FILE: &str = "accounts.sqlite3";
pub const MIN_PASSWORD_LEN: usize = 12;
const MAX_PASSWORD_LEN: usize = 1024;

/// Schema steps; `user_version` counts how many ran.
const MIGRATIONS: &[&str] = &[
    "CREATE TABLE users (
        id            INTEGER PRIMARY KEY,
        name          TEXT NOT NULL UNIQUE,
        password_hash TEXT NOT NULL,
        roles         TEXT NOT NULL,
        disabled      INTEGER NOT NULL DEFAULT 0,
        created_at    INTEGER NOT NULL,
        updated_at    INTEGER NOT NULL
    );
    CREATE TABLE sessions (
        token_hash TEXT PRIMARY KEY,
        user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        csrf       TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        last_seen  INTEGER NOT NULL
    );
    CREATE INDEX sessions_user ON sessions(user_id);
    CREATE TABLE login_failures (
        key TEXT NOT NULL,
        at  INTEGER NOT NULL
    );
    CREATE INDEX login_failures_key ON login_failures(key, at);",
    "CREATE TABLE api_tokens (
        id           INTEGER PRIMARY KEY,
        token_hash   TEXT NOT NULL UNIQUE,
        user_id      INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        label        TEXT NOT NULL,
        created_at   INTEGER NOT NULL,
        last_used_at INTEGER
    );",
    // Tokens get a scope and an expiry; those made before expire 90 days
    // after they were made, and keep the reads they had.
    "ALTER TABLE api_tokens ADD COLUMN scope TEXT NOT NULL DEFAULT 'read';
    ALTER TABLE api_tokens ADD COLUMN expires_at INTEGER NOT NULL DEFAULT 0;
    UPDATE api_tokens SET expires_at = created_at + 7776000;",
    // What analysts make and share: goals, annotations, saved segments,
    // funnels; the reports they subscribe to and the alerts they set.
    "CREATE TABLE goals (
        id          INTEGER PRIMARY KEY,
        name        TEXT NOT NULL UNIQUE,
        kind        TEXT NOT NULL,
        pattern     TEXT NOT NULL DEFAULT '',
        event       TEXT NOT NULL DEFAULT '',
        prop_key    TEXT NOT NULL DEFAULT '',
        prop_value  TEXT NOT NULL DEFAULT '',
        min_cents   INTEGER,
        created_by  INTEGER REFERENCES users(id) ON DELETE SET NULL,
        created_at  INTEGER NOT NULL,
        updated_at  INTEGER NOT NULL
    );
    CREATE TABLE annotations (
        id          INTEGER PRIMARY KEY,
        day         INTEGER NOT NULL,
        text        TEXT NOT NULL,
        author      INTEGER REFERENCES users(id) ON DELETE SET NULL,
        created_at  INTEGER NOT NULL,
        updated_at  INTEGER NOT NULL
    );
    CREATE INDEX annotations_day ON annotations(day);
    CREATE TABLE segments (
        id          INTEGER PRIMARY KEY,
        name        TEXT NOT NULL,
        filters     TEXT NOT NULL,
        owner       INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        shared      INTEGER NOT NULL DEFAULT 0,
        created_at  INTEGER NOT NULL,
        updated_at  INTEGER NOT NULL,
        UNIQUE (owner, name)
    );
    CREATE TABLE funnels (
        id          INTEGER PRIMARY KEY,
        name        TEXT NOT NULL UNIQUE,
        steps       TEXT NOT NULL,
        window_secs INTEGER NOT NULL,
        created_by  INTEGER REFERENCES users(id) ON DELETE SET NULL,
        created_at  INTEGER NOT NULL,
        updated_at  INTEGER NOT NULL
    );
    CREATE TABLE report_subscriptions (
        user_id     INTEGER PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
        email       TEXT NOT NULL,
        frequency   TEXT NOT NULL,
        last_period INTEGER NOT NULL DEFAULT -1
    );
    CREATE TABLE alert_rules (
        id          INTEGER PRIMARY KEY,
        name        TEXT NOT NULL UNIQUE,
        kind        TEXT NOT NULL,
        threshold   REAL NOT NULL,
        goal        TEXT NOT NULL DEFAULT '',
        email       TEXT NOT NULL DEFAULT '',
        webhook     TEXT NOT NULL DEFAULT '',
        secret      TEXT NOT NULL,
        firing      INTEGER NOT NULL DEFAULT 0,
        since       INTEGER NOT NULL DEFAULT 0,
        created_by  INTEGER REFERENCES users(id) ON DELETE SET NULL,
        created_at  INTEGER NOT NULL
    );
    CREATE TABLE alert_events (
        id          INTEGER PRIMARY KEY,
        rule_id     INTEGER NOT NULL REFERENCES alert_rules(id) ON DELETE CASCADE,
        at          INTEGER NOT NULL,
        state       TEXT NOT NULL,
        message     TEXT NOT NULL,
        delivered   TEXT NOT NULL
    );
    CREATE INDEX alert_events_at ON alert_events(at);",
];

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("accounts database: {0}")]
    Db(#[from] rusqlite::Error),
    #[error("opening {path}: {source}")]
    Open { path: String, source: std::io::Error },
    #[error("a user named {0:?} exists already")]
    Exists(String),
    #[error("no user named {0:?}")]
    NoSuchUser(String),
    #[error("user names are 1–64 characters of a-z, 0-9, '.', '_', '-', '@'")]
    BadName,
    #[error("passwords must be at least {MIN_PASSWORD_LEN} characters (and at most {MAX_PASSWORD_LEN})")]
    WeakPassword,
    #[error("a user needs at least one role")]
    NoRoles,
    #[error(transparent)]
    Role(#[from] UnknownRole),
    #[error("password hashing failed: {0}")]
    Hash(String),
    #[error("token scope {0:?} is not one of read, write, recommendations")]
    BadScope(String),
    #[error("user {0:?} is disabled")]
    Disabled(String),
}

/// A user as the rest of the service sees it: never the hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: i64,
    pub name: String,
    pub roles: Roles,
    pub disabled: bool,
    pub created_at: i64,
}

/// The accounts database. One connection behind a mutex: the work per call
/// is tiny next to a ClickHouse query, and SQLite serialises writes anyway.
pub struct Accounts {
    pub(crate) conn: Mutex<Connection>,
}

pub fn now_secs() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

fn check_name(name: &str) -> Result<(), AccountError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-@".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(AccountError::BadName)
    }
}

fn hash_password(password: &str) -> Result<String, AccountError> {
    if password.chars().count() < MIN_PASSWORD_LEN || password.len() > MAX_PASSWORD_LEN {
        return Err(AccountError::WeakPassword);
    }
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default().hash_password(password.as_bytes(), &salt).map(|h| h.to_string()).map_err(|e| AccountError::Hash(e.to_string()))
}

/// The user in columns `id, name, roles, disabled, created_at` (in that
/// order) of `row`, starting at `at`.
pub(crate) fn user_at(row: &rusqlite::Row<'_>, at: usize) -> rusqlite::Result<User> {
    let roles: String = row.get(at + 2)?;
    Ok(User {
        id: row.get(at)?,
        name: row.get(at + 1)?,
        roles: roles.parse().unwrap_or_default(),
        disabled: row.get::<_, i64>(at + 3)? != 0,
        created_at: row.get(at + 4)?,
    })
}

fn user_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<(User, String)> {
    Ok((user_at(row, 0)?, row.get(5)?))
}

const USER_COLUMNS: &str = "id, name, roles, disabled, created_at, password_hash";

impl Accounts {
    /// Runs `f` on a blocking thread (SQLite blocks the async ones); `Err`
    /// when the call could not run at all, `f`'s own answer otherwise.
    pub async fn off_thread<T: Send + 'static>(
        accounts: &std::sync::Arc<Accounts>,
        f: impl FnOnce(&Accounts) -> Result<T, AccountError> + Send + 'static,
    ) -> Result<Result<T, AccountError>, tokio::task::JoinError> {
        let accounts = accounts.clone();
        tokio::task::spawn_blocking(move || f(&accounts)).await
    }

    /// Opens (creating if need be) the accounts database in `dir`.
    pub fn open(dir: &Path) -> Result<Accounts, AccountError> {
        std::fs::create_dir_all(dir).map_err(|source| AccountError::Open { path: dir.display().to_string(), source })?;
        Accounts::with_connection(Connection::open(dir.join(DB_FILE))?)
    }

    /// A private in-memory database (tests).
    pub fn in_memory() -> Result<Accounts, AccountError> {
        Accounts::with_connection(Connection::open_in_memory()?)
    }

    fn with_connection(mut conn: Connection) -> Result<Accounts, AccountError> {
        conn.pragma_update(None, "foreign_keys", true)?;
        conn.pragma_update(None, "busy_timeout", 5000)?;
        // WAL keeps readers (other CLI calls) from blocking the service;
        // an in-memory database answers "memory", which is fine.
        let _: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
        let version: usize = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        for (i, step) in MIGRATIONS.iter().enumerate().skip(version) {
            let tx = conn.transaction()?;
            tx.execute_batch(step)?;
            tx.pragma_update(None, "user_version", i + 1)?;
            tx.commit()?;
        }
        Ok(Accounts { conn: Mutex::new(conn) })
    }

    pub(crate) fn db(&self) -> std::sync::MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves SQLite consistent (every
        // write is one statement or a transaction), so carry on.
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn add_user(&self, name: &str, password: &str, roles: Roles) -> Result<User, AccountError> {
        check_name(name)?;
        if roles.is_empty() {
            return Err(AccountError::NoRoles);
        }
        let hash = hash_password(password)?;
        let now = now_secs();
        let db = self.db();
        let inserted = db.execute(
            "INSERT INTO users (name, password_hash, roles, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?4)
             ON CONFLICT(name) DO NOTHING",
            params![name, hash, roles.to_string(), now],
        )?;
        if inserted == 0 {
            return Err(AccountError::Exists(name.to_string()));
        }
        Ok(User { id: db.last_insert_rowid(), name: name.to_string(), roles, disabled: false, created_at: now })
    }

    pub fn list(&self) -> Result<Vec<User>, AccountError> {
        let db = self.db();
        let mut stmt = db.prepare(&format!("SELECT {USER_COLUMNS} FROM users ORDER BY name"))?;
        let users = stmt.query_map([], user_from_row)?.map(|r| r.map(|(u, _)| u)).collect::<Result<_, _>>()?;
        Ok(users)
    }

    pub fn get(&self, name: &str) -> Result<Option<User>, AccountError> {
        Ok(self.get_with_hash(name)?.map(|(u, _)| u))
    }

    fn get_with_hash(&self, name: &str) -> Result<Option<(User, String)>, AccountError> {
        let db = self.db();
        Ok(db.query_row(&format!("SELECT {USER_COLUMNS} FROM users WHERE name = ?1"), [name], user_from_row).optional()?)
    }

    fn update(&self, name: &str, sql: &str, value: &dyn rusqlite::ToSql) -> Result<(), AccountError> {
        let changed = self.db().execute(sql, params![value, now_secs(), name])?;
        if changed == 0 {
            return Err(AccountError::NoSuchUser(name.to_string()));
        }
        Ok(())
    }

    /// Also ends the user's sessions and revokes their API tokens: whoever
    /// knew the old password, or took a token with it, is out.
    pub fn set_password(&self, name: &str, password: &str) -> Result<(), AccountError> {
        let hash = hash_password(password)?;
        self.update(name, "UPDATE users SET password_hash = ?1, updated_at = ?2 WHERE name = ?3", &hash)?;
        self.end_sessions_of(name)
    }

    pub fn set_roles(&self, name: &str, roles: Roles) -> Result<(), AccountError> {
        if roles.is_empty() {
            return Err(AccountError::NoRoles);
        }
        self.update(name, "UPDATE users SET roles = ?1, updated_at = ?2 WHERE name = ?3", &roles.to_string())
    }

    /// Disabling also ends the user's sessions and revokes their tokens at
    /// once; enabling again revives neither.
    pub fn set_disabled(&self, name: &str, disabled: bool) -> Result<(), AccountError> {
        self.update(name, "UPDATE users SET disabled = ?1, updated_at = ?2 WHERE name = ?3", &disabled)?;
        if disabled {
            self.end_sessions_of(name)?;
        }
        Ok(())
    }

    fn end_sessions_of(&self, name: &str) -> Result<(), AccountError> {
        let db = self.db();
        db.execute("DELETE FROM sessions WHERE user_id = (SELECT id FROM users WHERE name = ?1)", [name])?;
        db.execute("DELETE FROM api_tokens WHERE user_id = (SELECT id FROM users WHERE name = ?1)", [name])?;
        Ok(())
    }

    /// The user whose name and password these are, if enabled; `None`
    /// otherwise, after the same work either way, so timing does not tell
    /// which accounts exist.
    pub fn verify(&self, name: &str, password: &str) -> Result<Option<User>, AccountError> {
        let found = self.get_with_hash(name)?;
        let hash = match &found {
            Some((_, hash)) => hash.clone(),
            None => dummy_hash().to_string(),
        };
        let ok = PasswordHash::new(&hash).is_ok_and(|h| Argon2::default().verify_password(password.as_bytes(), &h).is_ok());
        Ok(found.filter(|(u, _)| ok && !u.disabled).map(|(u, _)| u))
    }
}

/// A hash of nothing in particular, made once, to verify against when the
/// user does not exist.
fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| hash_password("no such user, no such password").unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::roles::Role;

    const PW: &str = "correct horse battery";

    #[test]
    fn users_are_added_verified_and_managed() {
        let a = Accounts::in_memory().unwrap();
        let u = a.add_user("ana", PW, Roles::of(&[Role::Analyst])).unwrap();
        assert_eq!(a.verify("ana", PW).unwrap(), Some(u.clone()));
        assert_eq!(a.verify("ana", "wrong password!!").unwrap(), None);
        assert_eq!(a.verify("nobody", PW).unwrap(), None);
        assert!(matches!(a.add_user("ana", PW, Roles::of(&[Role::Admin])), Err(AccountError::Exists(_))));
        a.set_roles("ana", Roles::of(&[Role::Analyst, Role::Marketing])).unwrap();
        assert!(a.get("ana").unwrap().unwrap().roles.has(Role::Marketing));
        a.set_password("ana", "a different passphrase").unwrap();
        assert_eq!(a.verify("ana", PW).unwrap(), None);
        assert!(a.verify("ana", "a different passphrase").unwrap().is_some());
        a.set_disabled("ana", true).unwrap();
        assert_eq!(a.verify("ana", "a different passphrase").unwrap(), None, "disabled users cannot log in");
        assert_eq!(a.list().unwrap().len(), 1);
        assert!(matches!(a.set_roles("bob", Roles::of(&[Role::Admin])), Err(AccountError::NoSuchUser(_))));
    }

    #[test]
    fn bad_input_is_refused_with_reasons() {
        let a = Accounts::in_memory().unwrap();
        let analyst = Roles::of(&[Role::Analyst]);
        assert!(matches!(a.add_user("Ana Smith", PW, analyst), Err(AccountError::BadName)));
        assert!(matches!(a.add_user("ana", "short", analyst), Err(AccountError::WeakPassword)));
        assert!(matches!(a.add_user("ana", PW, Roles::default()), Err(AccountError::NoRoles)));
        assert!(a.list().unwrap().is_empty());
    }

    #[test]
    fn the_file_keeps_users_and_hashes_never_the_password() {
        let dir = tempfile::tempdir().unwrap();
        Accounts::open(dir.path()).unwrap().add_user("ana", PW, Roles::of(&[Role::Analyst])).unwrap();
        let again = Accounts::open(dir.path()).unwrap();
        assert!(again.verify("ana", PW).unwrap().is_some());
        drop(again);
        let raw = std::fs::read(dir.path().join(DB_FILE)).unwrap();
        assert!(!raw.windows(PW.len()).any(|w| w == PW.as_bytes()), "the password is not stored");
        assert!(raw.windows(9).any(|w| w == b"$argon2id"), "an Argon2id hash is");
    }
}
