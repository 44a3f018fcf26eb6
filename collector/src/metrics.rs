//! Prometheus metrics for operators: what was accepted and refused (by
//! reason), the spool's depth and age, and ClickHouse insert latency and
//! batch sizes, personal data removed by the last privacy layer, and the order feed's
//! events accepted and rows written per dataset, and store-backend calls
//! refused by reason and scope.
//! Rendered at `GET /metrics`.

use prometheus::{Encoder, Gauge, Histogram, HistogramOpts, IntCounter, IntCounterVec, Opts, Registry, TextEncoder};

pub struct Metrics {
    registry: Registry,
    pub accepted_batches: IntCounter,
    pub accepted_events: IntCounterVec,
    pub rejected: IntCounterVec,
    pub spool_pending_bytes: Gauge,
    pub spool_oldest_age_seconds: Gauge,
    pub insert_seconds: Histogram,
    pub insert_rows: Histogram,
    pub insert_errors: IntCounter,
    pub spool_unreadable: IntCounter,
    pub unsealable: IntCounterVec,
    pub pii_dropped: IntCounterVec,
    pub orders_accepted: IntCounterVec,
    pub orders_written: IntCounterVec,
    pub backend_refused: IntCounterVec,
}

impl Metrics {
    pub fn new() -> Metrics {
        let registry = Registry::new_custom(Some("mintmark_collector".into()), None).expect("valid prefix");
        let accepted_batches = IntCounter::new("accepted_batches_total", "Edge batches made durable and acknowledged").unwrap();
        let accepted_events = IntCounterVec::new(Opts::new("accepted_events_total", "Events acknowledged, by tier"), &["tier"]).unwrap();
        let rejected = IntCounterVec::new(Opts::new("rejected_total", "Requests refused, by reason"), &["reason"]).unwrap();
        let spool_pending_bytes = Gauge::new("spool_pending_bytes", "Bytes in the spool not yet confirmed in ClickHouse").unwrap();
        let spool_oldest_age_seconds = Gauge::new("spool_oldest_age_seconds", "Age of the oldest unconfirmed batch").unwrap();
        let insert_seconds = Histogram::with_opts(
            HistogramOpts::new("insert_seconds", "ClickHouse insert latency per batch")
                .buckets(vec![0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0]),
        )
        .unwrap();
        let insert_rows = Histogram::with_opts(
            HistogramOpts::new("insert_rows", "Rows per ClickHouse insert").buckets(prometheus::exponential_buckets(10.0, 4.0, 8).unwrap()),
        )
        .unwrap();
        let insert_errors = IntCounter::new("insert_errors_total", "Failed ClickHouse inserts (retried)").unwrap();
        let spool_unreadable = IntCounter::new("spool_unreadable_total", "Spool records that no longer parsed and were skipped").unwrap();
        let unsealable = IntCounterVec::new(
            Opts::new("tier3_unsealable_total", "Tier 3 batches whose sealed identity did not open (key_gone: erased; damaged), written as Tier 2 only"),
            &["reason"],
        )
        .unwrap();
        let pii_dropped = IntCounterVec::new(
            Opts::new("pii_dropped_total", "Personal-looking values removed here, behind the beacon and the edge, by field"),
            &["field"],
        )
        .unwrap();
        let orders_accepted =
            IntCounterVec::new(Opts::new("orders_accepted_total", "Order events made durable and acknowledged, by event"), &["event"]).unwrap();
        let orders_written =
            IntCounterVec::new(Opts::new("orders_written_total", "Order rows written, by dataset (t3, t2, marketplace)"), &["dataset"]).unwrap();
        let backend_refused = IntCounterVec::new(
            Opts::new("backend_refused_total", "Store-backend calls refused before anything was done, by reason and the scope the call needs"),
            &["reason", "scope"],
        )
        .unwrap();
        for c in [
            Box::new(accepted_batches.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(accepted_events.clone()),
            Box::new(rejected.clone()),
            Box::new(spool_pending_bytes.clone()),
            Box::new(spool_oldest_age_seconds.clone()),
            Box::new(insert_seconds.clone()),
            Box::new(insert_rows.clone()),
            Box::new(insert_errors.clone()),
            Box::new(spool_unreadable.clone()),
            Box::new(unsealable.clone()),
            Box::new(pii_dropped.clone()),
            Box::new(orders_accepted.clone()),
            Box::new(orders_written.clone()),
            Box::new(backend_refused.clone()),
        ] {
            registry.register(c).expect("metric names are unique");
        }
        Metrics {
            registry,
            accepted_batches,
            accepted_events,
            rejected,
            spool_pending_bytes,
            spool_oldest_age_seconds,
            insert_seconds,
            insert_rows,
            insert_errors,
            spool_unreadable,
            unsealable,
            pii_dropped,
            backend_refused,
            orders_accepted,
            orders_written,
        }
    }

    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut buf).expect("text encoding cannot fail");
        String::from_utf8(buf).expect("prometheus text is UTF-8")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
