//! What the alerts page shows.

use crate::notify::alerts::{Event, Rule};

pub struct RuleRow {
    pub id: i64,
    pub name: String,
    pub rule: String,
    pub targets: String,
    pub state: &'static str,
    pub since: String,
    /// The webhook's signing secret, for its author or an admin.
    pub secret: Option<String>,
}

pub struct EventRow {
    pub rule: String,
    pub at: String,
    pub state: String,
    pub message: String,
    pub delivered: String,
}

fn when(secs: i64) -> String {
    crate::table::Cell::Moment(secs).display()
}

pub fn rule_rows(rules: &[Rule], user_id: i64, admin: bool) -> Vec<RuleRow> {
    rules
        .iter()
        .map(|r| RuleRow {
            id: r.id,
            name: r.name.clone(),
            rule: r.kind.describe(r.threshold, &r.goal),
            targets: [r.email.as_str(), r.webhook.as_str()].iter().filter(|t| !t.is_empty()).copied().collect::<Vec<_>>().join(", "),
            state: if r.firing { "firing" } else { "ok" },
            since: when(r.since),
            secret: (admin || r.created_by == Some(user_id)).then(|| r.secret.clone()).filter(|_| !r.webhook.is_empty()),
        })
        .collect()
}

pub fn event_rows(events: &[Event]) -> Vec<EventRow> {
    events.iter().map(|e| EventRow { rule: e.rule.clone(), at: when(e.at), state: e.state.clone(), message: e.message.clone(), delivered: e.delivered.clone() }).collect()
}
