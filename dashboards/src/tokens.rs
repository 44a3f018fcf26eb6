//! API tokens: per-user bearer tokens for `/api/v1/...`, stored as SHA-256
//! digests beside the sessions. A token acts as its user with the user's
//! roles: for reads, and with the `write` scope for the API's changes
//! (never a form's: it carries no CSRF token, so no form accepts it).
//!
//! Every token has a [`TokenScope`] and an expiry (`dashboards.token_days`).
//! A `recommendations` token opens only `/api/v1/recommendations`: what a
//! store page or backend needs, so the key a web server holds is not a key
//! to every table. A password change or a disable revokes all of a user's
//! tokens (`Accounts::set_password`, `set_disabled`).

use rusqlite::{params, OptionalExtension};
use sha2::{Digest, Sha256};

use crate::accounts::{user_at, AccountError, Accounts};
use crate::sessions::{random_token, LoginSession};

/// What every token starts with, so leaked ones are easy to find.
pub const PREFIX: &str = "mmt_";
const MAX_LABEL: usize = 64;

/// What a token may open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenScope {
    /// The API its user's roles allow: Tier 2, and Tier 3 for marketing.
    Read,
    /// [`TokenScope::Read`], and the API's changes (goals, segments,
    /// annotations) its user's roles allow.
    Write,
    /// Only `GET /api/v1/recommendations`.
    Recommendations,
}

impl TokenScope {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenScope::Read => "read",
            TokenScope::Write => "write",
            TokenScope::Recommendations => "recommendations",
        }
    }

    pub fn parse(s: &str) -> Result<TokenScope, AccountError> {
        match s {
            "read" => Ok(TokenScope::Read),
            "write" => Ok(TokenScope::Write),
            "recommendations" => Ok(TokenScope::Recommendations),
            other => Err(AccountError::BadScope(other.to_string())),
        }
    }

    /// Whether a request for `path` is within this scope.
    pub fn allows(self, path: &str) -> bool {
        match self {
            TokenScope::Read | TokenScope::Write => true,
            TokenScope::Recommendations => path == RECOMMENDATIONS_PATH,
        }
    }
}

/// The one route a `recommendations` token opens.
pub const RECOMMENDATIONS_PATH: &str = "/api/v1/recommendations";

/// A token as listed: never the secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenInfo {
    pub id: i64,
    pub label: String,
    pub scope: TokenScope,
    pub created_at: i64,
    pub expires_at: i64,
    pub last_used_at: Option<i64>,
}

fn digest(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

impl Accounts {
    /// A new token for `user_name`, valid for `lifetime_secs`; the secret
    /// is returned once, only its digest is kept.
    pub fn create_token(&self, user_name: &str, label: &str, scope: TokenScope, now: i64, lifetime_secs: i64) -> Result<(TokenInfo, String), AccountError> {
        let label: String = label.trim().chars().take(MAX_LABEL).collect();
        let user = self.get(user_name)?.ok_or_else(|| AccountError::NoSuchUser(user_name.to_string()))?;
        if user.disabled {
            return Err(AccountError::Disabled(user_name.to_string()));
        }
        let secret = format!("{PREFIX}{}", random_token());
        let expires_at = now + lifetime_secs;
        let db = self.db();
        db.execute(
            "INSERT INTO api_tokens (token_hash, user_id, label, created_at, scope, expires_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![digest(&secret), user.id, label, now, scope.as_str(), expires_at],
        )?;
        Ok((TokenInfo { id: db.last_insert_rowid(), label, scope, created_at: now, expires_at, last_used_at: None }, secret))
    }

    pub fn tokens(&self, user_name: &str) -> Result<Vec<TokenInfo>, AccountError> {
        let db = self.db();
        let mut st = db.prepare(
            "SELECT t.id, t.label, t.scope, t.created_at, t.expires_at, t.last_used_at FROM api_tokens t JOIN users u ON u.id = t.user_id WHERE u.name = ?1 ORDER BY t.id",
        )?;
        let rows = st.query_map([user_name], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?, r.get::<_, i64>(3)?, r.get::<_, i64>(4)?, r.get::<_, Option<i64>>(5)?))
        })?;
        rows.map(|row| {
            let (id, label, scope, created_at, expires_at, last_used_at) = row?;
            Ok(TokenInfo { id, label, scope: TokenScope::parse(&scope)?, created_at, expires_at, last_used_at })
        })
        .collect()
    }

    /// Revokes `user_name`'s token `id`; false when there was none.
    pub fn revoke_token(&self, user_name: &str, id: i64) -> Result<bool, AccountError> {
        let n = self.db().execute(
            "DELETE FROM api_tokens WHERE id = ?1 AND user_id = (SELECT id FROM users WHERE name = ?2)",
            params![id, user_name],
        )?;
        Ok(n > 0)
    }

    /// The user behind a bearer token, as a session without a CSRF token,
    /// and the token's scope; `None` for an unknown or expired token or a
    /// disabled user.
    pub fn token_session(&self, token: &str, now: i64) -> Result<Option<(LoginSession, TokenScope)>, AccountError> {
        if !token.starts_with(PREFIX) {
            return Ok(None);
        }
        let hash = digest(token);
        let db = self.db();
        let found = db
            .query_row(
                "SELECT t.last_used_at, t.scope, t.expires_at, u.id, u.name, u.roles, u.disabled, u.created_at FROM api_tokens t JOIN users u ON u.id = t.user_id WHERE t.token_hash = ?1",
                [&hash],
                |r| Ok((r.get::<_, Option<i64>>(0)?, r.get::<_, String>(1)?, r.get::<_, i64>(2)?, user_at(r, 3)?)),
            )
            .optional()?;
        let Some((used, scope, expires_at, user)) = found else { return Ok(None) };
        if user.disabled || now >= expires_at {
            return Ok(None);
        }
        if used.is_none_or(|u| now - u >= 60) {
            db.execute("UPDATE api_tokens SET last_used_at = ?1 WHERE token_hash = ?2", params![now, hash])?;
        }
        Ok(Some((LoginSession { user, csrf: String::new() }, TokenScope::parse(&scope)?)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::roles::{Role, Roles};

    const DAY: i64 = 86_400;

    #[test]
    fn tokens_act_as_their_user_until_revoked() {
        let a = Accounts::in_memory().unwrap();
        a.add_user("ann", "correct horse battery", Roles::of(&[Role::Analyst])).unwrap();
        let (info, secret) = a.create_token("ann", "  nightly report  ", TokenScope::Read, 100, 90 * DAY).unwrap();
        assert!(secret.starts_with(PREFIX) && secret.len() == PREFIX.len() + 64);
        assert_eq!((info.label.as_str(), info.expires_at), ("nightly report", 100 + 90 * DAY));
        let (s, scope) = a.token_session(&secret, 200).unwrap().expect("token works");
        assert_eq!((s.user.name.as_str(), s.csrf.as_str(), scope), ("ann", "", TokenScope::Read), "no CSRF token: forms refuse it");
        assert_eq!(a.tokens("ann").unwrap()[0].last_used_at, Some(200));
        assert!(a.token_session("mmt_nope", 200).unwrap().is_none());
        assert!(a.token_session(&secret[PREFIX.len()..], 200).unwrap().is_none(), "the prefix is part of the token");
        assert!(!a.revoke_token("bob", info.id).unwrap(), "only the owner's token");
        assert!(a.revoke_token("ann", info.id).unwrap());
        assert!(a.token_session(&secret, 400).unwrap().is_none());
    }

    #[test]
    fn tokens_expire_and_a_password_change_or_a_disable_revokes_them_for_good() {
        let a = Accounts::in_memory().unwrap();
        a.add_user("ann", "correct horse battery", Roles::of(&[Role::Analyst])).unwrap();
        let (_, short) = a.create_token("ann", "short", TokenScope::Read, 100, DAY).unwrap();
        assert!(a.token_session(&short, 100 + DAY - 1).unwrap().is_some());
        assert!(a.token_session(&short, 100 + DAY).unwrap().is_none(), "expired");
        let (_, t) = a.create_token("ann", "t", TokenScope::Read, 100, 90 * DAY).unwrap();
        a.set_password("ann", "another long passphrase").unwrap();
        assert!(a.token_session(&t, 200).unwrap().is_none(), "a password change revokes");
        let (_, t) = a.create_token("ann", "t", TokenScope::Recommendations, 100, 90 * DAY).unwrap();
        a.set_disabled("ann", true).unwrap();
        assert!(a.token_session(&t, 200).unwrap().is_none(), "disabled users' tokens stop");
        assert!(matches!(a.create_token("ann", "t", TokenScope::Read, 100, DAY), Err(AccountError::Disabled(_))));
        a.set_disabled("ann", false).unwrap();
        assert!(a.token_session(&t, 200).unwrap().is_none(), "an enable does not revive them");
        assert!(a.tokens("ann").unwrap().is_empty());
    }

    #[test]
    fn a_recommendations_token_opens_only_recommendations() {
        assert!(TokenScope::Recommendations.allows("/api/v1/recommendations"));
        for path in ["/api/v1/pages", "/api/v1/recommendations/../pages", "/api/v1/realtime", "/"] {
            assert!(!TokenScope::Recommendations.allows(path), "{path}");
        }
        assert!(TokenScope::Read.allows("/api/v1/pages"));
        assert!(TokenScope::parse("admin").is_err());
    }
}
