//! The privacy officer's views: the consent ledger, the purge log, the
//! access audit and its chain, retention status, a customer's full record
//! for an access request, the live invariant report, and the public notice.
//!
//! Same shape as the other views: request → [`PrivacyQuery`] (parsed and
//! validated here, once) → SQL built from it with every value bound →
//! typed rows → a [`crate::table::Table`] that the page and the CSV share.

pub mod invariants;
pub mod notice;
pub mod record;
pub mod views;

use crate::query::Day;

/// Rows per page of the ledger, purge log and audit lists.
pub const PAGE_ROWS: u64 = 100;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    #[error("{0} must be a date, YYYY-MM-DD")]
    Date(&'static str),
    #[error("from must not be after until")]
    Order,
    #[error("{0} must be 1-128 printable characters")]
    Text(&'static str),
    #[error("action must be opt_in, opt_out or erasure_requested")]
    Action,
    #[error("kind must be erasure or retention")]
    Kind,
    #[error("page must be a number from 1")]
    Page,
    #[error("unknown parameter {0:?}")]
    Unknown(String),
}

/// What a privacy view was asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrivacyQuery {
    /// First day shown.
    pub from: Day,
    /// Last day shown (inclusive).
    pub until: Day,
    /// A customer reference (exact).
    pub customer: Option<String>,
    /// The ledger's source (registration, newsletter, …).
    pub source: Option<String>,
    pub action: Option<&'static str>,
    /// A dashboards user (the audit).
    pub user: Option<String>,
    pub kind: Option<&'static str>,
    pub page: u64,
}

fn text(v: &str, what: &'static str) -> Result<String, QueryError> {
    let v = v.trim();
    if v.is_empty() || v.len() > 128 || v.chars().any(char::is_control) {
        return Err(QueryError::Text(what));
    }
    Ok(v.to_string())
}

impl PrivacyQuery {
    /// The last 30 days up to `today`, nothing else.
    pub fn default_for(today: Day) -> PrivacyQuery {
        PrivacyQuery { from: Day(today.0 - 29), until: today, customer: None, source: None, action: None, user: None, kind: None, page: 1 }
    }

    pub fn from_params(params: &[(String, String)], today: Day) -> Result<PrivacyQuery, QueryError> {
        let mut q = PrivacyQuery::default_for(today);
        for (k, v) in params {
            if v.is_empty() && k != "page" {
                continue;
            }
            match k.as_str() {
                "from" => q.from = Day::parse(v).ok_or(QueryError::Date("from"))?,
                "until" => q.until = Day::parse(v).ok_or(QueryError::Date("until"))?,
                "customer" => q.customer = Some(text(v, "customer")?),
                "source" => q.source = Some(text(v, "source")?),
                "user" => q.user = Some(text(v, "user")?),
                "action" => {
                    q.action = Some(["opt_in", "opt_out", "erasure_requested"].into_iter().find(|a| a == v).ok_or(QueryError::Action)?);
                }
                "kind" => q.kind = Some(["erasure", "retention"].into_iter().find(|a| a == v).ok_or(QueryError::Kind)?),
                "page" => q.page = v.parse().ok().filter(|p| *p >= 1).ok_or(QueryError::Page)?,
                // The CSRF field of forms that post here is not a filter.
                "csrf" => {}
                other => return Err(QueryError::Unknown(other.to_string())),
            }
        }
        if q.from > q.until {
            return Err(QueryError::Order);
        }
        Ok(q)
    }

    /// Back to a query string (links, the CSV of what is shown).
    pub fn to_params(&self) -> String {
        let mut s = form_urlencoded::Serializer::new(String::new());
        s.append_pair("from", &self.from.to_string());
        s.append_pair("until", &self.until.to_string());
        for (k, v) in [("customer", &self.customer), ("source", &self.source), ("user", &self.user)] {
            if let Some(v) = v {
                s.append_pair(k, v);
            }
        }
        for (k, v) in [("action", self.action), ("kind", self.kind)] {
            if let Some(v) = v {
                s.append_pair(k, v);
            }
        }
        if self.page > 1 {
            s.append_pair("page", &self.page.to_string());
        }
        s.finish()
    }

    /// `[from, until + 1 day)` in Unix seconds.
    pub fn window(&self) -> (i64, i64) {
        (self.from.start_secs(), Day(self.until.0 + 1).start_secs())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(pairs: &[(&str, &str)]) -> Result<PrivacyQuery, QueryError> {
        let p: Vec<(String, String)> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        PrivacyQuery::from_params(&p, Day::parse("2026-11-24").unwrap())
    }

    #[test]
    fn defaults_and_round_trip() {
        let q = parse(&[]).unwrap();
        assert_eq!(q.to_params(), "from=2026-10-26&until=2026-11-24");
        let q = parse(&[("customer", "c-1 & co"), ("action", "opt_out"), ("page", "3")]).unwrap();
        let back: Vec<(String, String)> = form_urlencoded::parse(q.to_params().as_bytes()).into_owned().collect();
        assert_eq!(PrivacyQuery::from_params(&back, Day::parse("2026-11-24").unwrap()).unwrap(), q);
    }

    #[test]
    fn bad_input_is_refused_with_a_reason() {
        assert_eq!(parse(&[("from", "2026-13-01")]), Err(QueryError::Date("from")));
        assert_eq!(parse(&[("from", "2026-11-20"), ("until", "2026-11-01")]), Err(QueryError::Order));
        assert_eq!(parse(&[("action", "drop")]), Err(QueryError::Action));
        assert_eq!(parse(&[("customer", "a\u{7}")]), Err(QueryError::Text("customer")));
        assert_eq!(parse(&[("page", "0")]), Err(QueryError::Page));
        assert_eq!(parse(&[("sql", "1")]), Err(QueryError::Unknown("sql".into())));
    }
}
