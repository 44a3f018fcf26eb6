//! Login sessions and login throttling, server-side in the accounts database.
//!
//! A session is a random 256-bit token in an `HttpOnly`, `SameSite=Strict`
//! cookie; the database keeps only its SHA-256, so a copy of the file opens
//! no session. Each session has its own CSRF token, which every
//! state-changing request must echo. A session ends after
//! `session_idle_minutes` without a request, after `session_max_hours` in any
//! case, at logout, and when its user is disabled or changes password.
//!
//! Login attempts are counted per account name and per client address (a
//! /64 for IPv6) before the password is checked, and a right password takes
//! the account's count back; past [`MAX_ACCOUNT_FAILURES`] for an account,
//! or [`MAX_ADDRESS_FAILURES`] from an address (higher: an office behind one
//! address has many people), in [`FAILURE_WINDOW_SECS`], further attempts
//! are refused without checking the password.

use rand::RngCore;
use rusqlite::{params, OptionalExtension};
use sha2::{Digest, Sha256};

use crate::accounts::{user_at, AccountError, Accounts, User};

pub const MAX_ACCOUNT_FAILURES: u32 = 5;
pub const MAX_ADDRESS_FAILURES: u32 = 20;
pub const FAILURE_WINDOW_SECS: i64 = 15 * 60;

/// How long sessions live.
#[derive(Debug, Clone, Copy)]
pub struct Lifetimes {
    pub idle_secs: i64,
    pub max_secs: i64,
}

/// A live session: who, and the CSRF token its forms must carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginSession {
    pub user: User,
    pub csrf: String,
}

/// 256 random bits as hex.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

fn digest(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

impl Accounts {
    /// Starts a session for `user`; returns the cookie token and the session.
    pub fn start_session(&self, user: &User, now: i64) -> Result<(String, LoginSession), AccountError> {
        let (token, csrf) = (random_token(), random_token());
        self.db().execute(
            "INSERT INTO sessions (token_hash, user_id, csrf, created_at, last_seen) VALUES (?1, ?2, ?3, ?4, ?4)",
            params![digest(&token), user.id, csrf, now],
        )?;
        Ok((token, LoginSession { user: user.clone(), csrf }))
    }

    /// The live session for a cookie token, touched; `None` when there is
    /// none, it expired (then it is deleted) or its user is disabled.
    pub fn session(&self, token: &str, now: i64, life: Lifetimes) -> Result<Option<LoginSession>, AccountError> {
        let hash = digest(token);
        let db = self.db();
        let found = db
            .query_row(
                "SELECT s.csrf, s.created_at, s.last_seen, u.id, u.name, u.roles, u.disabled, u.created_at
                 FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.token_hash = ?1",
                [&hash],
                |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?, r.get::<_, i64>(2)?, user_at(r, 3)?)),
            )
            .optional()?;
        let Some((csrf, created, seen, user)) = found else { return Ok(None) };
        if user.disabled || now - seen > life.idle_secs || now - created > life.max_secs {
            db.execute("DELETE FROM sessions WHERE token_hash = ?1", [&hash])?;
            return Ok(None);
        }
        // Touch at most once a minute: most requests then write nothing.
        if now - seen >= 60 {
            db.execute("UPDATE sessions SET last_seen = ?1 WHERE token_hash = ?2", params![now, hash])?;
        }
        Ok(Some(LoginSession { user, csrf }))
    }

    pub fn end_session(&self, token: &str) -> Result<(), AccountError> {
        self.db().execute("DELETE FROM sessions WHERE token_hash = ?1", [digest(token)])?;
        Ok(())
    }

    /// Counts a login attempt against each `(key, limit)` (an account name,
    /// an address) before its password is checked, as a failure until
    /// proven otherwise. If any key already has `limit` in the window,
    /// nothing is counted and the answer is false. Check and count happen
    /// under the one connection's lock, so concurrent attempts are counted
    /// one after another and no more than `limit` get through.
    pub fn begin_attempt(&self, keys: &[(&str, u32)], now: i64) -> Result<bool, AccountError> {
        let db = self.db();
        db.execute("DELETE FROM login_failures WHERE at <= ?1", [now - FAILURE_WINDOW_SECS])?;
        for (key, limit) in keys {
            let n: u32 = db.query_row("SELECT count() FROM login_failures WHERE key = ?1", [key], |r| r.get(0))?;
            if n >= *limit {
                return Ok(false);
            }
        }
        for (key, _) in keys {
            db.execute("INSERT INTO login_failures (key, at) VALUES (?1, ?2)", params![key, now])?;
        }
        Ok(true)
    }

    /// Takes back one attempt counted against `key` at `now` (a right
    /// password from that address).
    pub fn forget_attempt(&self, key: &str, now: i64) -> Result<(), AccountError> {
        self.db().execute("DELETE FROM login_failures WHERE rowid = (SELECT rowid FROM login_failures WHERE key = ?1 AND at = ?2 LIMIT 1)", params![key, now])?;
        Ok(())
    }

    /// A successful login clears the account's failures (not the address's:
    /// one good password must not reset a spray across many accounts).
    pub fn clear_failures(&self, key: &str) -> Result<(), AccountError> {
        self.db().execute("DELETE FROM login_failures WHERE key = ?1", [key])?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::roles::{Role, Roles};

    const LIFE: Lifetimes = Lifetimes { idle_secs: 1800, max_secs: 12 * 3600 };
    const T: i64 = 1_800_000_000;

    fn accounts() -> (Accounts, User) {
        let a = Accounts::in_memory().unwrap();
        let u = a.add_user("ana", "correct horse battery", Roles::of(&[Role::Analyst])).unwrap();
        (a, u)
    }

    #[test]
    fn sessions_live_until_idle_max_logout_or_disable() {
        let (a, u) = accounts();
        let (token, s) = a.start_session(&u, T).unwrap();
        assert_eq!(a.session(&token, T + 60, LIFE).unwrap(), Some(s.clone()));
        assert_eq!(a.session("forged", T, LIFE).unwrap(), None);
        // Touched at T+60, so idle counts from there.
        assert!(a.session(&token, T + 60 + 1800, LIFE).unwrap().is_some());
        assert!(a.session(&token, T + 60 + 1800 + 1801, LIFE).unwrap().is_none(), "idle");
        let (token, _) = a.start_session(&u, T).unwrap();
        let mut t = T;
        while t < T + 12 * 3600 {
            t += 1200;
            let alive = a.session(&token, t, LIFE).unwrap().is_some();
            assert_eq!(alive, t - T <= 12 * 3600, "at {t}");
        }
        let (token, _) = a.start_session(&u, T).unwrap();
        a.end_session(&token).unwrap();
        assert!(a.session(&token, T, LIFE).unwrap().is_none(), "logout");
        let (token, _) = a.start_session(&u, T).unwrap();
        a.set_disabled("ana", true).unwrap();
        assert!(a.session(&token, T, LIFE).unwrap().is_none(), "disabled");
    }

    #[test]
    fn tokens_are_stored_hashed_and_csrf_differs_per_session() {
        let (a, u) = accounts();
        let (t1, s1) = a.start_session(&u, T).unwrap();
        let (_, s2) = a.start_session(&u, T).unwrap();
        assert_ne!(s1.csrf, s2.csrf);
        let stored: String = a.db().query_row("SELECT token_hash FROM sessions LIMIT 1", [], |r| r.get(0)).unwrap();
        assert_ne!(stored, t1);
        assert_eq!(t1.len(), 64);
    }

    #[test]
    fn attempts_throttle_per_key_and_expire() {
        let (a, _) = accounts();
        let ip = "203.0.113.9";
        for i in 0..MAX_ACCOUNT_FAILURES {
            assert!(a.begin_attempt(&[("ana", MAX_ACCOUNT_FAILURES), (ip, MAX_ADDRESS_FAILURES)], T).unwrap(), "attempt {i}");
        }
        assert!(!a.begin_attempt(&[("ana", MAX_ACCOUNT_FAILURES), (ip, MAX_ADDRESS_FAILURES)], T).unwrap());
        assert!(a.begin_attempt(&[("bob", MAX_ACCOUNT_FAILURES), (ip, MAX_ADDRESS_FAILURES)], T).unwrap(), "an address has more room");
        assert!(!a.begin_attempt(&[("bob", MAX_ACCOUNT_FAILURES), (ip, MAX_ACCOUNT_FAILURES)], T).unwrap(), "a refused attempt counts nothing");
        a.clear_failures("ana").unwrap();
        a.forget_attempt(ip, T).unwrap();
        assert!(a.begin_attempt(&[("ana", MAX_ACCOUNT_FAILURES), (ip, MAX_ACCOUNT_FAILURES + 1)], T).unwrap(), "one of the address's attempts taken back");
        assert!(!a.begin_attempt(&[("carl", MAX_ACCOUNT_FAILURES), (ip, MAX_ACCOUNT_FAILURES + 1)], T).unwrap(), "the rest of the address's count stays");
        assert!(a.begin_attempt(&[("bob", 1), (ip, 1)], T + FAILURE_WINDOW_SECS + 1).unwrap(), "the window passes");
    }
}
