//! The queue consumer's decisions: how a queue batch becomes collector
//! requests, and what happens to each message after the collector answers.
//!
//! The edge answers the browser once a batch is in the queue; this is the
//! other end. Messages are packed into [`bundle`]s within the collector's
//! limits, each bundle signed when it is sent (so a redelivery is a new
//! request the replay guard has not seen), and every message is then
//! settled on its own: acknowledged once the collector has it on disk,
//! retried with backoff while the collector is away or busy, or sent to the
//! dead-letter queue when the collector refuses it. Nothing here touches the
//! platform, so every rule is tested natively; `runtime` carries it out.

use mintmark_protocol::bundle::{self, Receipt};
use mintmark_protocol::limits::{MAX_BUNDLE_BATCHES, MAX_BUNDLE_BYTES};
use mintmark_protocol::settings::DeliverySettings;
use serde_json::value::RawValue;

/// Groups of message positions, in queue order, each one collector request;
/// and the messages that cannot go in any (not JSON text: no edge sent it).
#[derive(Debug, Default, PartialEq)]
pub struct Plan {
    pub bundles: Vec<Vec<usize>>,
    pub unreadable: Vec<usize>,
}

/// Packs `bodies` (`None` for a body that is not text) greedily into
/// bundles of at most [`MAX_BUNDLE_BATCHES`] and [`MAX_BUNDLE_BYTES`].
pub fn plan(bodies: &[Option<&str>]) -> Plan {
    let mut out = Plan::default();
    let mut current: Vec<usize> = Vec::new();
    let mut bytes = bundle::OVERHEAD_BYTES;
    for (i, body) in bodies.iter().enumerate() {
        // A body that is not one JSON value would make the whole bundle
        // unreadable and take its neighbours down with it.
        let Some(body) = body.filter(|b| serde_json::from_str::<&RawValue>(b).is_ok()) else {
            out.unreadable.push(i);
            continue;
        };
        let size = body.len() + 1;
        if !current.is_empty() && (current.len() == MAX_BUNDLE_BATCHES || bytes + size > MAX_BUNDLE_BYTES) {
            out.bundles.push(std::mem::take(&mut current));
            bytes = bundle::OVERHEAD_BYTES;
        }
        current.push(i);
        bytes += size;
    }
    if !current.is_empty() {
        out.bundles.push(current);
    }
    out
}

/// What became of one collector request.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// The collector answered with `status` and `body`.
    Status { status: u16, body: String },
    /// No answer: a network error or the timeout. `cause` is a metric label.
    Failed { cause: &'static str },
}

impl Answer {
    /// The collector away or busy: worth another collector, or a retry.
    pub fn is_transient(&self) -> bool {
        match self {
            Answer::Failed { .. } => true,
            Answer::Status { status, .. } => is_transient(*status),
        }
    }

    /// A metric label: the status, or why there was none.
    pub fn label(&self) -> String {
        match self {
            Answer::Status { status, .. } => status.to_string(),
            Answer::Failed { cause } => (*cause).to_string(),
        }
    }
}

/// What to do with one message after its bundle's answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Settle {
    /// On the collector's disk (or already was): acknowledge.
    Delivered,
    /// Try again after `delay_secs`; `cause` is a metric label.
    Retry { delay_secs: u32, cause: String },
    /// Refused by the collector: to the dead-letter queue, then acknowledge.
    DeadLetter { status: u16, reason: String },
}

/// Whether an answer is the collector being away or busy, not a verdict on
/// the batches: retried, never dead-lettered.
pub fn is_transient(status: u16) -> bool {
    status >= 500 || status == 429 || status == 408
}

/// Settles each message of a bundle; `attempts[i]` is how many times message
/// `i` of the bundle has been delivered, this time included.
pub fn settle(answer: &Answer, attempts: &[u32], delivery: &DeliverySettings) -> Vec<Settle> {
    let retry = |cause: String| -> Vec<Settle> {
        attempts.iter().map(|&a| Settle::Retry { delay_secs: delivery.retry_delay_secs(a), cause: cause.clone() }).collect()
    };
    match answer {
        Answer::Failed { cause } => retry((*cause).to_string()),
        Answer::Status { status, .. } if is_transient(*status) => retry(format!("status_{status}")),
        Answer::Status { status, body } if (200..300).contains(status) => {
            // A 2xx without a receipt (a collector predating bundles, or a
            // 204) kept everything.
            let receipt: Receipt = serde_json::from_str(body).unwrap_or_default();
            let mut out = vec![Settle::Delivered; attempts.len()];
            for r in receipt.refused {
                if let Some(slot) = out.get_mut(r.index as usize) {
                    *slot = Settle::DeadLetter { status: r.status, reason: r.reason };
                }
            }
            out
        }
        // The replay guard saw this very request: the collector has it.
        Answer::Status { status: 409, .. } => vec![Settle::Delivered; attempts.len()],
        Answer::Status { status, body } => {
            let reason = serde_json::from_str::<serde_json::Value>(body)
                .ok()
                .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_string))
                .unwrap_or_else(|| format!("status_{status}"));
            vec![Settle::DeadLetter { status: *status, reason }; attempts.len()]
        }
    }
}

/// A dead letter: the refused batch with the collector's verdict, so an
/// operator reading the dead-letter queue sees why, and a redrive can take
/// the batch back out unchanged.
pub fn dead_letter(status: u16, reason: &str, body: Option<&str>) -> String {
    let verdict = serde_json::json!({ "status": status, "reason": reason });
    let mut out = verdict.to_string();
    out.pop();
    match body {
        Some(b) if serde_json::from_str::<&RawValue>(b).is_ok() => {
            out.push_str(",\"batch\":");
            out.push_str(b);
        }
        other => {
            out.push_str(",\"batch_text\":");
            out.push_str(&serde_json::Value::from(other.unwrap_or("")).to_string());
        }
    }
    out.push('}');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> DeliverySettings {
        DeliverySettings { retry_base_secs: 2, retry_max_secs: 60, timeout_ms: 1000 }
    }

    #[test]
    fn plan_packs_in_order_within_both_limits() {
        let small = r#"{"v":1}"#;
        let bodies: Vec<Option<&str>> = vec![Some(small); MAX_BUNDLE_BATCHES + 5];
        let p = plan(&bodies);
        assert_eq!(p.bundles.len(), 2);
        assert_eq!(p.bundles[0], (0..MAX_BUNDLE_BATCHES).collect::<Vec<_>>());
        assert_eq!(p.bundles[1], (MAX_BUNDLE_BATCHES..MAX_BUNDLE_BATCHES + 5).collect::<Vec<_>>());

        let big = format!(r#""{}""#, "x".repeat(400 * 1024));
        let p = plan(&[Some(&big), Some(&big), Some(&big), Some(small)]);
        assert_eq!(p.bundles, vec![vec![0, 1], vec![2, 3]], "two 400 KB batches fill a 1 MiB bundle");
        for b in &p.bundles {
            let text = bundle::assemble(b.iter().map(|&i| [&big, &big, &big, small][i]));
            assert!(text.len() <= MAX_BUNDLE_BYTES, "assembled bundle within the limit");
            assert_eq!(bundle::split(text.as_bytes()).unwrap().len(), b.len());
        }
    }

    #[test]
    fn plan_sets_aside_what_is_not_json() {
        let p = plan(&[Some(r#"{"v":1}"#), None, Some("{not json"), Some(r#"{"v":1}"#)]);
        assert_eq!(p.bundles, vec![vec![0, 3]]);
        assert_eq!(p.unreadable, vec![1, 2]);
    }

    #[test]
    fn collector_away_or_busy_means_retry_with_each_message_backoff() {
        for answer in [
            Answer::Failed { cause: "timeout" },
            Answer::Status { status: 503, body: r#"{"error":"spool_full"}"#.into() },
            Answer::Status { status: 429, body: String::new() },
            Answer::Status { status: 502, body: String::new() },
        ] {
            let s = settle(&answer, &[1, 3, 9], &settings());
            let delays: Vec<u32> = s
                .iter()
                .map(|x| match x {
                    Settle::Retry { delay_secs, .. } => *delay_secs,
                    other => panic!("{answer:?} gave {other:?}"),
                })
                .collect();
            assert_eq!(delays, [2, 8, 60], "{answer:?}");
        }
    }

    #[test]
    fn receipt_refusals_go_to_dead_letters_and_the_rest_is_delivered() {
        let body = r#"{"accepted":2,"refused":[{"index":1,"status":422,"reason":"bad_event"}]}"#;
        let s = settle(&Answer::Status { status: 200, body: body.into() }, &[1, 1, 1], &settings());
        assert_eq!(s, vec![Settle::Delivered, Settle::DeadLetter { status: 422, reason: "bad_event".into() }, Settle::Delivered]);
        let s = settle(&Answer::Status { status: 204, body: String::new() }, &[1, 2], &settings());
        assert_eq!(s, vec![Settle::Delivered, Settle::Delivered]);
    }

    #[test]
    fn a_refused_request_dead_letters_its_messages_but_a_replay_is_delivered() {
        let s = settle(&Answer::Status { status: 401, body: r#"{"error":"signature_unknown_key"}"#.into() }, &[1, 4], &settings());
        assert_eq!(s, vec![Settle::DeadLetter { status: 401, reason: "signature_unknown_key".into() }; 2]);
        let s = settle(&Answer::Status { status: 400, body: "<html>".into() }, &[1], &settings());
        assert_eq!(s, vec![Settle::DeadLetter { status: 400, reason: "status_400".into() }]);
        let s = settle(&Answer::Status { status: 409, body: r#"{"error":"replayed"}"#.into() }, &[2], &settings());
        assert_eq!(s, vec![Settle::Delivered]);
    }

    #[test]
    fn dead_letters_keep_the_batch_readable() {
        let d: serde_json::Value = serde_json::from_str(&dead_letter(422, "bad_event", Some(r#"{"v":1,"events":[]}"#))).unwrap();
        assert_eq!(d["status"], 422);
        assert_eq!(d["reason"], "bad_event");
        assert_eq!(d["batch"]["v"], 1);
        let d: serde_json::Value = serde_json::from_str(&dead_letter(0, "unreadable", Some("{half \"json"))).unwrap();
        assert_eq!(d["batch_text"], "{half \"json");
        let d: serde_json::Value = serde_json::from_str(&dead_letter(0, "unreadable", None)).unwrap();
        assert_eq!(d["batch_text"], "");
    }
}
