//! API tokens: per-user bearer tokens for `/api/v1/...`, stored as SHA-256
//! digests beside the sessions. A token acts as its user with the user's
//! roles, for reads only: it carries no CSRF token, so no form accepts it.

use rusqlite::{params, OptionalExtension};
use sha2::{Digest, Sha256};

use crate::accounts::{user_at, AccountError, Accounts};
use crate::sessions::{random_token, LoginSession};

/// What every token starts with, so leaked ones are easy to find.
pub const PREFIX: &str = "mmt_";
const MAX_LABEL: usize = 64;

/// A token as listed: never the secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenInfo {
    pub id: i64,
    pub label: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

fn digest(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

impl Accounts {
    /// A new token for `user_name`; the secret is returned once, only its
    /// digest is kept.
    pub fn create_token(&self, user_name: &str, label: &str, now: i64) -> Result<(TokenInfo, String), AccountError> {
        let label: String = label.trim().chars().take(MAX_LABEL).collect();
        let user = self.get(user_name)?.ok_or_else(|| AccountError::NoSuchUser(user_name.to_string()))?;
        let secret = format!("{PREFIX}{}", random_token());
        let db = self.db();
        db.execute(
            "INSERT INTO api_tokens (token_hash, user_id, label, created_at) VALUES (?1, ?2, ?3, ?4)",
            params![digest(&secret), user.id, label, now],
        )?;
        Ok((TokenInfo { id: db.last_insert_rowid(), label, created_at: now, last_used_at: None }, secret))
    }

    pub fn tokens(&self, user_name: &str) -> Result<Vec<TokenInfo>, AccountError> {
        let db = self.db();
        let mut st = db.prepare(
            "SELECT t.id, t.label, t.created_at, t.last_used_at FROM api_tokens t JOIN users u ON u.id = t.user_id WHERE u.name = ?1 ORDER BY t.id",
        )?;
        let rows = st.query_map([user_name], |r| Ok(TokenInfo { id: r.get(0)?, label: r.get(1)?, created_at: r.get(2)?, last_used_at: r.get(3)? }))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Revokes `user_name`'s token `id`; false when there was none.
    pub fn revoke_token(&self, user_name: &str, id: i64) -> Result<bool, AccountError> {
        let n = self.db().execute(
            "DELETE FROM api_tokens WHERE id = ?1 AND user_id = (SELECT id FROM users WHERE name = ?2)",
            params![id, user_name],
        )?;
        Ok(n > 0)
    }

    /// The user behind a bearer token, as a session without a CSRF token;
    /// `None` for an unknown token or a disabled user.
    pub fn token_session(&self, token: &str, now: i64) -> Result<Option<LoginSession>, AccountError> {
        if !token.starts_with(PREFIX) {
            return Ok(None);
        }
        let hash = digest(token);
        let db = self.db();
        let found = db
            .query_row(
                "SELECT t.last_used_at, u.id, u.name, u.roles, u.disabled, u.created_at FROM api_tokens t JOIN users u ON u.id = t.user_id WHERE t.token_hash = ?1",
                [&hash],
                |r| Ok((r.get::<_, Option<i64>>(0)?, user_at(r, 1)?)),
            )
            .optional()?;
        let Some((used, user)) = found else { return Ok(None) };
        if user.disabled {
            return Ok(None);
        }
        if used.is_none_or(|u| now - u >= 60) {
            db.execute("UPDATE api_tokens SET last_used_at = ?1 WHERE token_hash = ?2", params![now, hash])?;
        }
        Ok(Some(LoginSession { user, csrf: String::new() }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::roles::{Role, Roles};

    #[test]
    fn tokens_act_as_their_user_until_revoked() {
        let a = Accounts::in_memory().unwrap();
        a.add_user("ann", "correct horse battery", Roles::of(&[Role::Analyst])).unwrap();
        let (info, secret) = a.create_token("ann", "  nightly report  ", 100).unwrap();
        assert!(secret.starts_with(PREFIX) && secret.len() == PREFIX.len() + 64);
        assert_eq!(info.label, "nightly report");
        let s = a.token_session(&secret, 200).unwrap().expect("token works");
        assert_eq!((s.user.name.as_str(), s.csrf.as_str()), ("ann", ""), "no CSRF token: forms refuse it");
        assert_eq!(a.tokens("ann").unwrap()[0].last_used_at, Some(200));
        assert!(a.token_session("mmt_nope", 200).unwrap().is_none());
        assert!(a.token_session(&secret[PREFIX.len()..], 200).unwrap().is_none(), "the prefix is part of the token");
        a.set_disabled("ann", true).unwrap();
        assert!(a.token_session(&secret, 300).unwrap().is_none(), "disabled users' tokens stop");
        a.set_disabled("ann", false).unwrap();
        assert!(!a.revoke_token("bob", info.id).unwrap(), "only the owner's token");
        assert!(a.revoke_token("ann", info.id).unwrap());
        assert!(a.token_session(&secret, 400).unwrap().is_none());
    }
}
