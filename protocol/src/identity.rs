//! Who an opted-in visitor is, where their opt-in came from, and the
//! shape of the random ids we mint. Below [`crate::wire`],
//! [`crate::consent`] and [`crate::seal`], which all speak of them.

use serde::{Deserialize, Serialize};

/// Where the opt-in happened (DESIGN.md: registration, purchase or email
/// subscription). Marketplace orders are deliberately absent: they can never
/// create consent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OptInSource {
    Registration,
    Purchase,
    EmailSubscription,
}

impl OptInSource {
    pub fn as_str(self) -> &'static str {
        match self {
            OptInSource::Registration => "registration",
            OptInSource::Purchase => "purchase",
            OptInSource::EmailSubscription => "email_subscription",
        }
    }
}

/// Who an opted-in visitor is. Exists only on Tier 3 batches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Identity {
    /// The persistent cookie's random id.
    pub visitor_id: String,
    pub customer_ref: String,
    pub consent_source: OptInSource,
    pub policy_version: u32,
    /// When the consent token was issued (Unix seconds; 0 if unknown). An
    /// event recorded before it (a page's last events flushed on `pagehide`
    /// after the opt-in response set the cookie) is not the customer's.
    #[serde(default)]
    pub consent_issued_at: u64,
}

/// True for 32 lowercase hex digits: the shape of every random id we mint.
pub fn is_id128(s: &str) -> bool {
    s.len() == 32 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}
