//! Alerts: rules an analyst sets, evaluated by the dashboards on a
//! schedule, delivered by e-mail and to a webhook (JSON, signed with
//! HMAC-SHA256 so the receiver can verify it), at most once per incident,
//! with a notice when it recovers.
//!
//! | kind | fires when | reads |
//! |---|---|---|
//! | `tracking_outage` | no event received for `threshold` minutes (the beacon, the edge, the queue or the collector went quiet) | the latest arrival in `t2.events`: when, never what |
//! | `traffic_drop` | the last closed hour's visits are below `threshold` % of the same hour's over the past four weeks | released hour cells of the whole store |
//! | `no_purchases` | the last `threshold` closed hours have no purchase one can tell from noise, while visits continue | released hour cells |
//! | `goal_rate` | yesterday's conversion rate for `goal` is below `threshold` % | the goal's released day cells (the rule's author's budget) |
//!
//! Every number an alert carries is a released one (the outage carries
//! only a time), so an alert tells its reader no more than the pages do.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use hmac::{Hmac, Mac};
use rusqlite::{params, OptionalExtension};
use serde::Serialize;
use sha2::Sha256;

use super::mail::escape;
use super::Senders;
use crate::accounts::{AccountError, Accounts};
use crate::query::{Day, Range, StatsQuery};
use crate::release::Ask;

/// What a rule watches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertKind {
    TrackingOutage,
    TrafficDrop,
    NoPurchases,
    GoalRate,
}

impl AlertKind {
    pub const ALL: [AlertKind; 4] = [AlertKind::TrackingOutage, AlertKind::TrafficDrop, AlertKind::NoPurchases, AlertKind::GoalRate];

    pub fn name(self) -> &'static str {
        match self {
            AlertKind::TrackingOutage => "tracking_outage",
            AlertKind::TrafficDrop => "traffic_drop",
            AlertKind::NoPurchases => "no_purchases",
            AlertKind::GoalRate => "goal_rate",
        }
    }

    pub fn parse(s: &str) -> Option<AlertKind> {
        AlertKind::ALL.into_iter().find(|k| k.name() == s.trim())
    }

    /// What `threshold` means, and its bounds.
    fn threshold_range(self) -> (f64, f64, &'static str) {
        match self {
            AlertKind::TrackingOutage => (1.0, 1440.0, "minutes without an event (1–1440)"),
            AlertKind::TrafficDrop => (1.0, 99.0, "percent of the usual visits (1–99)"),
            AlertKind::NoPurchases => (1.0, 72.0, "hours without a purchase (1–72)"),
            AlertKind::GoalRate => (0.01, 100.0, "percent conversion rate (0.01–100)"),
        }
    }

    /// The rule in words.
    pub fn describe(self, threshold: f64, goal: &str) -> String {
        match self {
            AlertKind::TrackingOutage => format!("no event received for {threshold} minutes"),
            AlertKind::TrafficDrop => format!("last hour's visits below {threshold} % of the same hour over the past 4 weeks"),
            AlertKind::NoPurchases => format!("no purchase in the last {threshold} hours while visits continue"),
            AlertKind::GoalRate => format!("yesterday's conversion rate for {goal} below {threshold} %"),
        }
    }
}

/// A rule as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub id: i64,
    pub name: String,
    pub kind: AlertKind,
    pub threshold: f64,
    pub goal: String,
    pub email: String,
    pub webhook: String,
    /// Signs the webhook's body; shown to the rule's author.
    pub secret: String,
    pub firing: bool,
    /// When the current state began (Unix seconds).
    pub since: i64,
    pub created_by: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AlertError {
    #[error("an alert's name is 1–64 printable characters")]
    Name,
    #[error("unknown alert kind {0:?} (use tracking_outage, traffic_drop, no_purchases or goal_rate)")]
    Kind(String),
    #[error("the threshold is {0}")]
    Threshold(&'static str),
    #[error("a goal_rate alert names an existing goal")]
    Goal,
    #[error("an alert goes to an e-mail address, a webhook (http:// or https://), or both")]
    Target,
    #[error("an alert named {0:?} exists already")]
    Exists(String),
    #[error("no such alert")]
    NotFound,
}

/// One change of state, as the alerts page lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub rule: String,
    pub at: i64,
    pub state: String,
    pub message: String,
    pub delivered: String,
}

fn rule_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Rule> {
    let kind: String = row.get(2)?;
    Ok(Rule {
        id: row.get(0)?,
        name: row.get(1)?,
        kind: AlertKind::parse(&kind).unwrap_or(AlertKind::TrackingOutage),
        threshold: row.get(3)?,
        goal: row.get(4)?,
        email: row.get(5)?,
        webhook: row.get(6)?,
        secret: row.get(7)?,
        firing: row.get::<_, i64>(8)? != 0,
        since: row.get(9)?,
        created_by: row.get(10)?,
    })
}

const SELECT: &str = "SELECT id, name, kind, threshold, goal, email, webhook, secret, firing, since, created_by FROM alert_rules";

pub type AlertResult<T> = Result<Result<T, AlertError>, AccountError>;

/// A rule's fields, checked.
pub fn check(name: &str, kind: &str, threshold: f64, goal: &str, email: &str, webhook: &str, goals: &[String]) -> Result<AlertKind, AlertError> {
    if name.trim().is_empty() || name.trim().chars().count() > 64 || name.chars().any(char::is_control) {
        return Err(AlertError::Name);
    }
    let kind = AlertKind::parse(kind).ok_or_else(|| AlertError::Kind(kind.chars().take(30).collect()))?;
    let (low, high, what) = kind.threshold_range();
    if !threshold.is_finite() || threshold < low || threshold > high {
        return Err(AlertError::Threshold(what));
    }
    if kind == AlertKind::GoalRate && !goals.iter().any(|g| g == goal) {
        return Err(AlertError::Goal);
    }
    let email_ok = email.is_empty() || super::mail::Mailer::check_address(email).is_ok();
    let webhook_ok = webhook.is_empty() || ((webhook.starts_with("https://") || webhook.starts_with("http://")) && url::Url::parse(webhook).is_ok());
    if (email.is_empty() && webhook.is_empty()) || !email_ok || !webhook_ok {
        return Err(AlertError::Target);
    }
    Ok(kind)
}

impl Accounts {
    pub fn alert_rules(&self) -> Result<Vec<Rule>, AccountError> {
        let db = self.db();
        let mut stmt = db.prepare(&format!("{SELECT} ORDER BY name"))?;
        let out = stmt.query_map([], rule_from_row)?.collect::<Result<Vec<_>, _>>()?;
        Ok(out)
    }

    pub fn alert_rule(&self, id: i64) -> Result<Option<Rule>, AccountError> {
        Ok(self.db().query_row(&format!("{SELECT} WHERE id = ?1"), [id], rule_from_row).optional()?)
    }

    /// [`check`] against the goals there are now.
    fn checked_alert(&self, name: &str, kind: &str, threshold: f64, goal: &str, email: &str, webhook: &str) -> AlertResult<AlertKind> {
        let goals: Vec<String> = self.goals()?.into_iter().map(|g| g.name).collect();
        Ok(check(name, kind, threshold, goal.trim(), email.trim(), webhook.trim(), &goals))
    }

    #[allow(clippy::too_many_arguments)]
    pub fn add_alert_rule(&self, name: &str, kind: &str, threshold: f64, goal: &str, email: &str, webhook: &str, user_id: i64, now: i64) -> AlertResult<Rule> {
        let kind = match self.checked_alert(name, kind, threshold, goal, email, webhook)? {
            Ok(k) => k,
            Err(e) => return Ok(Err(e)),
        };
        let id = {
            let db = self.db();
            let n = db.execute(
                "INSERT INTO alert_rules (name, kind, threshold, goal, email, webhook, secret, since, created_by, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?8) ON CONFLICT(name) DO NOTHING",
                params![name.trim(), kind.name(), threshold, goal.trim(), email.trim(), webhook.trim(), crate::sessions::random_token(), now, user_id],
            )?;
            if n == 0 {
                return Ok(Err(AlertError::Exists(name.trim().to_string())));
            }
            db.last_insert_rowid()
        };
        Ok(self.alert_rule(id)?.ok_or(AlertError::NotFound))
    }

    /// A rule renamed, re-aimed or given a new threshold; its state and
    /// secret stay.
    #[allow(clippy::too_many_arguments)]
    pub fn update_alert_rule(&self, id: i64, name: &str, kind: &str, threshold: f64, goal: &str, email: &str, webhook: &str) -> AlertResult<Rule> {
        let kind = match self.checked_alert(name, kind, threshold, goal, email, webhook)? {
            Ok(k) => k,
            Err(e) => return Ok(Err(e)),
        };
        {
            let db = self.db();
            let taken: Option<i64> = db.query_row("SELECT id FROM alert_rules WHERE name = ?1 AND id != ?2", params![name.trim(), id], |r| r.get(0)).optional()?;
            if taken.is_some() {
                return Ok(Err(AlertError::Exists(name.trim().to_string())));
            }
            let n = db.execute(
                "UPDATE alert_rules SET name = ?2, kind = ?3, threshold = ?4, goal = ?5, email = ?6, webhook = ?7 WHERE id = ?1",
                params![id, name.trim(), kind.name(), threshold, goal.trim(), email.trim(), webhook.trim()],
            )?;
            if n == 0 {
                return Ok(Err(AlertError::NotFound));
            }
        }
        Ok(self.alert_rule(id)?.ok_or(AlertError::NotFound))
    }

    pub fn delete_alert_rule(&self, id: i64) -> AlertResult<()> {
        let n = self.db().execute("DELETE FROM alert_rules WHERE id = ?1", [id])?;
        Ok(if n == 0 { Err(AlertError::NotFound) } else { Ok(()) })
    }

    /// Records a change of state, with what has been delivered so far;
    /// returns the event's id.
    pub fn alert_changed(&self, rule: i64, firing: bool, at: i64, message: &str, delivered: &str) -> Result<i64, AccountError> {
        let db = self.db();
        db.execute("UPDATE alert_rules SET firing = ?2, since = ?3 WHERE id = ?1", params![rule, firing as i64, at])?;
        db.execute(
            "INSERT INTO alert_events (rule_id, at, state, message, delivered) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![rule, at, if firing { "firing" } else { "recovered" }, message, delivered],
        )?;
        Ok(db.last_insert_rowid())
    }

    /// What became of a change's deliveries.
    pub fn alert_delivered(&self, event: i64, delivered: &str) -> Result<(), AccountError> {
        self.db().execute("UPDATE alert_events SET delivered = ?2 WHERE id = ?1", params![event, delivered])?;
        Ok(())
    }

    /// The latest `n` changes of state, newest first.
    pub fn alert_events(&self, n: u32) -> Result<Vec<Event>, AccountError> {
        let db = self.db();
        let mut stmt = db.prepare("SELECT r.name, e.at, e.state, e.message, e.delivered FROM alert_events e JOIN alert_rules r ON r.id = e.rule_id ORDER BY e.at DESC, e.id DESC LIMIT ?1")?;
        let out = stmt.query_map([n], |r| Ok(Event { rule: r.get(0)?, at: r.get(1)?, state: r.get(2)?, message: r.get(3)?, delivered: r.get(4)? }))?.collect::<Result<Vec<_>, _>>()?;
        Ok(out)
    }
}

/// What `/metrics` says about alerts.
#[derive(Debug, Default)]
pub struct Counters {
    pub fired: AtomicU64,
    pub recovered: AtomicU64,
    pub failed_deliveries: AtomicU64,
    firing: Mutex<BTreeMap<String, bool>>,
}

impl Counters {
    pub fn render(&self) -> String {
        let mut out = String::new();
        out.push_str("# HELP mintmark_alerts_fired_total Alerts that started firing.\n# TYPE mintmark_alerts_fired_total counter\n");
        out.push_str(&format!("mintmark_alerts_fired_total {}\n", self.fired.load(Ordering::Relaxed)));
        out.push_str("# HELP mintmark_alerts_recovered_total Alerts that recovered.\n# TYPE mintmark_alerts_recovered_total counter\n");
        out.push_str(&format!("mintmark_alerts_recovered_total {}\n", self.recovered.load(Ordering::Relaxed)));
        out.push_str("# HELP mintmark_alert_deliveries_failed_total E-mails and webhooks that could not be delivered.\n# TYPE mintmark_alert_deliveries_failed_total counter\n");
        out.push_str(&format!("mintmark_alert_deliveries_failed_total {}\n", self.failed_deliveries.load(Ordering::Relaxed)));
        out.push_str("# HELP mintmark_alert_firing Whether each alert is firing now (1) or not (0).\n# TYPE mintmark_alert_firing gauge\n");
        for (name, firing) in self.firing.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            let label = name.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', " ");
            out.push_str(&format!("mintmark_alert_firing{{alert=\"{label}\"}} {}\n", u8::from(*firing)));
        }
        out
    }
}

/// What a rule saw: whether it is bad now, and what to say.
#[derive(Debug, Clone, PartialEq)]
pub struct Seen {
    pub bad: bool,
    pub message: String,
}

/// The whole store's metric cells of one day (and its hours).
async fn store_hours(s: &Senders, day: Day, today: Day, all_hours: bool) -> Result<crate::release::Cube, crate::release::ReleaseError> {
    let q = StatsQuery::from_params(&[], today).expect("the default question is valid");
    let ask = Ask::new(&s.client, &s.t2, &q, 0, today);
    s.releaser.sums(&ask, Range { from: day, until: Day(day.0 + 1) }, all_hours).await
}

/// Evaluates `rule` at `now`; `None` when it cannot tell yet (no closed
/// hour, too little traffic to judge, a goal without released days).
pub async fn evaluate(s: &Senders, rule: &Rule, now: i64) -> anyhow::Result<Option<Seen>> {
    let today = Day::from_unix(now);
    match rule.kind {
        AlertKind::TrackingOutage => {
            #[derive(clickhouse::Row, serde::Deserialize)]
            struct Last {
                last: u32,
            }
            let last: Last = s.client.query(&format!("SELECT toUInt32(max(received_at)) AS last FROM {}.events", s.t2)).fetch_one().await?;
            if last.last == 0 {
                return Ok(None);
            }
            let quiet = now - i64::from(last.last);
            let limit = (rule.threshold * 60.0) as i64;
            let at = crate::table::Cell::Moment(i64::from(last.last)).display();
            Ok(Some(if quiet >= limit {
                Seen { bad: true, message: format!("No event received for {} minutes (the last arrived at {at}): the beacon, the edge or the collector has gone quiet.", quiet / 60) }
            } else {
                Seen { bad: false, message: format!("Events are arriving again (the latest at {at}).") }
            }))
        }
        AlertKind::TrafficDrop => {
            let cube = store_hours(s, today, today, false).await?;
            let Some((&hour, cell)) = cube.hours.iter().next_back() else { return Ok(None) };
            let visits = cell.get("visits");
            let mut usual = Vec::new();
            for weeks in 1..=4 {
                let day = Day(today.0 - 7 * weeks);
                let past = store_hours(s, day, today, true).await?;
                if let Some(c) = past.hours.get(&(hour - i64::from(7 * weeks) * 86_400)) {
                    usual.push(c.get("visits").value());
                }
            }
            if usual.len() < 2 {
                return Ok(None);
            }
            let mean = usual.iter().sum::<f64>() / usual.len() as f64;
            if mean < 10.0 {
                return Ok(None);
            }
            let share = visits.value() / mean * 100.0;
            let at = crate::table::Cell::Time(hour, crate::query::Interval::Hour).display();
            Ok(Some(Seen {
                bad: share < rule.threshold,
                message: format!("Visits in the hour from {at}: {} ({share:.0} % of the usual {mean:.0} for that hour over the past {} weeks).", visits.display(), usual.len()),
            }))
        }
        AlertKind::NoPurchases => {
            let hours = rule.threshold as i64;
            let mut cells = store_hours(s, today, today, false).await?.hours;
            if cells.len() < hours as usize {
                cells.extend(store_hours(s, Day(today.0 - 1), today, true).await?.hours);
            }
            let last: Vec<_> = cells.iter().rev().take(hours as usize).map(|(_, c)| c.clone()).collect();
            if last.len() < hours as usize {
                return Ok(None);
            }
            let total = crate::release::ReleasedSums::total(last.iter());
            let (purchases, visits) = (total.get("purchases"), total.get("visits"));
            // A released count is noisy: "none" is one that cannot be told from zero.
            let none = purchases.value() <= purchases.error();
            let traffic = visits.value() > 3.0 * visits.error().max(1.0);
            if !traffic {
                return Ok(None);
            }
            Ok(Some(Seen {
                bad: none,
                message: format!("In the last {hours} closed hours: {} visits and {} purchases.", visits.display(), purchases.display()),
            }))
        }
        AlertKind::GoalRate => {
            let goals = s.accounts(|a| a.goals()).await?;
            let Some(user) = rule.created_by else { return Ok(None) };
            let yesterday = Day(today.0 - 1);
            let params = vec![("period".to_string(), "custom".to_string()), ("from".to_string(), yesterday.to_string()), ("to".to_string(), yesterday.to_string())];
            let q = StatsQuery::from_params(&params, today)?.with_goals(&goals)?;
            let all = s.releaser.sums(&Ask::new(&s.client, &s.t2, &q, user, today), Range { from: yesterday, until: today }, false).await?;
            let goal_q = q.with_filter(&crate::query::Filter { dimension: crate::query::Dimension::Goal, op: crate::query::Op::Is, value: rule.goal.clone() });
            if goal_q.goal(&rule.goal).is_none() {
                return Ok(None);
            }
            let reached = s.releaser.sums(&Ask::new(&s.client, &s.t2, &goal_q, user, today), Range { from: yesterday, until: today }, false).await?;
            if !all.pending.is_empty() || all.days.is_empty() {
                return Ok(None);
            }
            let (visits, conversions) = (all.total(today).get("visits"), reached.total(today).get("visits"));
            let rate = conversions.ratio(&visits, crate::release::Unit::Share);
            if !rate.ratio_shown() {
                return Ok(None);
            }
            Ok(Some(Seen {
                bad: rate.value() * 100.0 < rule.threshold,
                message: format!("Conversion rate for {} on {yesterday}: {} ({} conversions of {} visits).", rule.goal, rate.display(), conversions.display(), visits.display()),
            }))
        }
    }
}

/// The webhook's body.
#[derive(Debug, Serialize)]
pub struct Notice<'a> {
    pub alert: &'a str,
    pub kind: &'a str,
    /// `firing` or `recovered`.
    pub state: &'a str,
    /// Unix seconds.
    pub at: i64,
    pub rule: String,
    pub message: &'a str,
    pub link: String,
}

/// `sha256=<hex>` of HMAC-SHA256 over `"<timestamp>.<body>"` with the
/// rule's secret: what `X-Mintmark-Signature` carries.
pub fn signature(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

async fn deliver(s: &Senders, rule: &Rule, firing: bool, message: &str, now: i64) -> String {
    let state = if firing { "firing" } else { "recovered" };
    let described = rule.kind.describe(rule.threshold, &rule.goal);
    let mut delivered = Vec::new();
    if !rule.email.is_empty() {
        let subject = format!("mintmark alert {}: {}", if firing { "FIRING" } else { "recovered" }, rule.name);
        let text = format!("{}\n\n{message}\n\nRule: {described}.\n{}/alerts\n", subject, s.base_url);
        let html = format!(
            "<!doctype html><html><body style=\"font-family: sans-serif\"><h1>{}</h1><p>{}</p><p>Rule: {}.</p><p><a href=\"{}/alerts\">Alerts</a></p></body></html>",
            escape(&subject),
            escape(message),
            escape(&described),
            escape(&s.base_url)
        );
        match s.mailer.send(&rule.email, &subject, text, html).await {
            Ok(()) => delivered.push("e-mail".to_string()),
            Err(e) => {
                s.alerts.failed_deliveries.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(error = %e, alert = %rule.name, "the alert's e-mail was not delivered");
                delivered.push(format!("e-mail failed: {e}"));
            }
        }
    }
    if !rule.webhook.is_empty() {
        let notice = Notice { alert: &rule.name, kind: rule.kind.name(), state, at: now, rule: described, message, link: format!("{}/alerts", s.base_url) };
        let body = serde_json::to_vec(&notice).expect("a notice serialises");
        let sent = reqwest::Client::new()
            .post(&rule.webhook)
            .timeout(std::time::Duration::from_secs(10))
            .header("content-type", "application/json")
            .header("x-mintmark-timestamp", now.to_string())
            .header("x-mintmark-signature", signature(&rule.secret, now, &body))
            .body(body)
            .send()
            .await;
        match sent.map(|r| r.status()) {
            Ok(status) if status.is_success() => delivered.push("webhook".to_string()),
            Ok(status) => {
                s.alerts.failed_deliveries.fetch_add(1, Ordering::Relaxed);
                delivered.push(format!("webhook answered {status}"));
            }
            Err(e) => {
                s.alerts.failed_deliveries.fetch_add(1, Ordering::Relaxed);
                delivered.push(format!("webhook failed: {e}"));
            }
        }
    }
    delivered.join(", ")
}

/// Evaluates every rule once; a rule that changes state is delivered and
/// recorded. Returns how many changed.
pub async fn check_all(s: &Senders, now: i64) -> anyhow::Result<usize> {
    let rules = s.accounts(|a| a.alert_rules()).await?;
    let mut changed = 0;
    for rule in rules {
        let seen = match evaluate(s, &rule, now).await {
            Ok(Some(seen)) => seen,
            Ok(None) => continue,
            Err(e) => {
                tracing::warn!(error = %e, alert = %rule.name, "an alert could not be evaluated");
                continue;
            }
        };
        s.alerts.firing.lock().unwrap_or_else(|e| e.into_inner()).insert(rule.name.clone(), seen.bad);
        if seen.bad == rule.firing {
            continue;
        }
        // The change is recorded before it is delivered: a crash in
        // between loses a notice, never sends one twice.
        let (id, bad, message) = (rule.id, seen.bad, seen.message.clone());
        let event = s.accounts(move |a| a.alert_changed(id, bad, now, &message, "sending")).await?;
        let delivered = deliver(s, &rule, seen.bad, &seen.message, now).await;
        let d = delivered.clone();
        s.accounts(move |a| a.alert_delivered(event, &d)).await?;
        if seen.bad {
            s.alerts.fired.fetch_add(1, Ordering::Relaxed);
        } else {
            s.alerts.recovered.fetch_add(1, Ordering::Relaxed);
        }
        tracing::info!(alert = %rule.name, firing = seen.bad, delivered = %delivered, "alert changed");
        changed += 1;
    }
    Ok(changed)
}

/// Runs [`check_all`] every `every` until the process ends.
pub async fn keep_checking(s: std::sync::Arc<Senders>, every: std::time::Duration) {
    super::repeat(every, "checking alerts", || {
        let s = s.clone();
        async move { check_all(&s, crate::accounts::now_secs()).await }
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_are_checked_with_reasons() {
        let goals = vec!["Bought".to_string()];
        assert_eq!(check("Outage", "tracking_outage", 5.0, "", "ops@store.example", "", &goals), Ok(AlertKind::TrackingOutage));
        assert_eq!(check("", "tracking_outage", 5.0, "", "ops@store.example", "", &goals), Err(AlertError::Name));
        assert_eq!(check("x", "spike", 5.0, "", "ops@store.example", "", &goals), Err(AlertError::Kind("spike".into())));
        assert!(matches!(check("x", "traffic_drop", 150.0, "", "ops@store.example", "", &goals), Err(AlertError::Threshold(_))));
        assert_eq!(check("x", "goal_rate", 2.0, "Nope", "ops@store.example", "", &goals), Err(AlertError::Goal));
        assert_eq!(check("x", "no_purchases", 3.0, "", "", "", &goals), Err(AlertError::Target));
        assert_eq!(check("x", "no_purchases", 3.0, "", "", "ftp://x", &goals), Err(AlertError::Target));
        assert_eq!(check("x", "no_purchases", 3.0, "", "", "https://hooks.example/mm", &goals), Ok(AlertKind::NoPurchases));
    }

    #[test]
    fn the_signature_is_hmac_sha256_of_the_timestamp_and_body() {
        // RFC 4231-style check against an independent computation.
        let sig = signature("key", 1700000000, b"{}");
        let mut mac = Hmac::<Sha256>::new_from_slice(b"key").unwrap();
        mac.update(b"1700000000.{}");
        assert_eq!(sig, format!("sha256={}", hex::encode(mac.finalize().into_bytes())));
        assert_ne!(signature("other", 1700000000, b"{}"), sig);
    }
}
