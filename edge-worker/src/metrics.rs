//! Per-isolate counters, rendered in Prometheus text format at the metrics
//! path for whoever holds the metrics token. Every request is counted once
//! by outcome; tier, session starts, consent rejections and forwarding are
//! counted beside it. In production each isolate counts alone: aggregate
//! them from the structured log lines (Logpush) or an Analytics Engine
//! binding, not by scraping one isolate.

use std::collections::BTreeMap;

#[derive(Debug, Default)]
pub struct Counters {
    values: BTreeMap<(&'static str, String), u64>,
}

impl Counters {
    /// Adds one to `name{labels}`; `labels` is already `k="v",...` text.
    pub fn inc(&mut self, name: &'static str, labels: String) {
        self.add(name, labels, 1);
    }

    /// Adds `n` to `name{labels}`.
    pub fn add(&mut self, name: &'static str, labels: String, n: u64) {
        *self.values.entry((name, labels)).or_default() += n;
    }

    pub fn get(&self, name: &'static str, labels: &str) -> u64 {
        self.values.get(&(name, labels.to_string())).copied().unwrap_or(0)
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        let mut last = "";
        for ((name, labels), v) in &self.values {
            if *name != last {
                out.push_str(&format!("# TYPE {name} counter\n"));
                last = name;
            }
            if labels.is_empty() {
                out.push_str(&format!("{name} {v}\n"));
            } else {
                out.push_str(&format!("{name}{{{labels}}} {v}\n"));
            }
        }
        out
    }
}

/// Gauge samples `(name, labels, value)` in Prometheus text format, one
/// type line per name.
pub fn render_gauges(mut samples: Vec<(&'static str, String, f64)>) -> String {
    samples.sort_by(|a, b| a.0.cmp(b.0).then_with(|| a.1.cmp(&b.1)));
    let mut out = String::new();
    let mut last = "";
    for (name, labels, v) in samples {
        if name != last {
            out.push_str(&format!("# TYPE {name} gauge\n"));
            last = name;
        }
        out.push_str(&format!("{name}{{{labels}}} {v}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_prometheus_text() {
        let mut c = Counters::default();
        c.inc("mintmark_edge_requests_total", "outcome=\"accepted\"".into());
        c.inc("mintmark_edge_requests_total", "outcome=\"accepted\"".into());
        c.inc("mintmark_edge_requests_total", "outcome=\"rejected\",reason=\"too_large\"".into());
        let text = c.render();
        assert!(text.contains("# TYPE mintmark_edge_requests_total counter\n"));
        assert!(text.contains("mintmark_edge_requests_total{outcome=\"accepted\"} 2\n"));
        assert!(text.contains("mintmark_edge_requests_total{outcome=\"rejected\",reason=\"too_large\"} 1\n"));
        assert_eq!(c.get("mintmark_edge_requests_total", "outcome=\"accepted\""), 2);
    }

    #[test]
    fn gauges_have_one_type_line_per_name() {
        let text = render_gauges(vec![
            ("b_age", "queue=\"x\"".into(), 1.5),
            ("a_backlog", "queue=\"y\"".into(), 2.0),
            ("a_backlog", "queue=\"x\"".into(), 3.0),
        ]);
        assert_eq!(
            text,
            "# TYPE a_backlog gauge\na_backlog{queue=\"x\"} 3\na_backlog{queue=\"y\"} 2\n# TYPE b_age gauge\nb_age{queue=\"x\"} 1.5\n"
        );
    }
}
