//! SQL text and its bound values, built together so they cannot drift.
//!
//! Every value a user chose (a filter's text, a period's bounds, the
//! small-group threshold) goes in as a `?` with its value appended at the
//! same moment, so the order of binds is the order of the text by
//! construction. Column names and expressions come only from `&'static str`
//! in this crate.

use clickhouse::query::Query;
use clickhouse::Client;

use crate::query::{Range, Where};

#[derive(Debug, Clone, PartialEq)]
enum Value {
    Int(i64),
    Str(String),
}

/// A time window in Unix seconds, `[from, until)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub from: i64,
    pub until: i64,
}

impl From<Range> for Window {
    fn from(r: Range) -> Window {
        Window { from: r.from.start_secs(), until: r.until.start_secs() }
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Sql {
    text: String,
    values: Vec<Value>,
}

impl Sql {
    pub fn new(text: &'static str) -> Sql {
        Sql { text: text.to_string(), values: Vec::new() }
    }

    /// Appends fixed text (an expression or keyword of ours, never input).
    pub fn raw(mut self, text: &str) -> Sql {
        self.text.push_str(text);
        self
    }

    pub fn int(mut self, v: i64) -> Sql {
        self.text.push('?');
        self.values.push(Value::Int(v));
        self
    }

    /// `event_date` bounds the primary key scan; `ts` is exact.
    pub fn within(self, w: Window) -> Sql {
        self.raw("(event_date >= toDate(toDateTime(")
            .int(w.from)
            .raw(")) AND event_date <= toDate(toDateTime(")
            .int(w.until)
            .raw(")) AND ts >= toDateTime(")
            .int(w.from)
            .raw(") AND ts < toDateTime(")
            .int(w.until)
            .raw("))")
    }

    pub fn text_value(mut self, v: &str) -> Sql {
        self.text.push('?');
        self.values.push(Value::Str(v.to_string()));
        self
    }

    /// Whole days of `t2.visits` and its rollups (by the visit's start).
    pub fn days(self, w: Window) -> Sql {
        self.raw("(start_day >= toDate(toDateTime(").int(w.from).raw(")) AND start_day < toDate(toDateTime(").int(w.until).raw(")))")
    }

    /// The filters' condition with their values.
    pub fn matching(mut self, w: &Where) -> Sql {
        self.text.push('(');
        self.text.push_str(&w.sql);
        self.text.push(')');
        self.values.extend(w.values.iter().cloned().map(Value::Str));
        self
    }

    /// Appends fixed text of ours with a `?` for each of `values`, in order.
    pub fn raw_bound(mut self, text: &str, values: &[String]) -> Sql {
        debug_assert_eq!(text.matches('?').count(), values.len(), "one value per placeholder");
        self.text.push_str(text);
        self.values.extend(values.iter().cloned().map(Value::Str));
        self
    }

    /// ` IN (?, …)` with each of `values` bound; an empty list binds one
    /// empty string (which no subject or reference is), as `IN ()` is no SQL.
    pub fn text_in(self, values: &[String]) -> Sql {
        let values = if values.is_empty() { vec![String::new()] } else { values.to_vec() };
        let marks = vec!["?"; values.len()].join(", ");
        self.raw_bound(&format!(" IN ({marks})"), &values)
    }

    /// Appends another piece with its values.
    pub fn then(mut self, other: Sql) -> Sql {
        self.text.push_str(&other.text);
        self.values.extend(other.values);
        self
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    /// The text with every value written in as a literal, for running the
    /// same query elsewhere (the SQL-compatibility test). Strings are
    /// quoted and escaped as ClickHouse reads them.
    pub fn literal(&self, t2: &str) -> String {
        let mut out = String::with_capacity(self.text.len());
        let mut values = self.values.iter();
        for c in self.text.replace("{t2}", t2).chars() {
            if c != '?' {
                out.push(c);
                continue;
            }
            match values.next() {
                Some(Value::Int(i)) => out.push_str(&i.to_string()),
                Some(Value::Str(s)) => {
                    out.push('\'');
                    out.push_str(&s.replace('\\', "\\\\").replace('\'', "\\'"));
                    out.push('\'');
                }
                None => out.push('?'),
            }
        }
        out
    }

    /// A query with every value bound, `{t2}` replaced by the database.
    pub fn query(&self, client: &Client, t2: &str) -> Query {
        // `?` inside a bound string is not re-read by the crate, but `{t2}`
        // must be replaced before binding so a value can never be mistaken
        // for the placeholder.
        self.bound(client, &self.text.replace("{t2}", t2))
    }

    /// `text` (this query's, its placeholders replaced) with every value bound.
    fn bound(&self, client: &Client, text: &str) -> Query {
        let mut q = client.query(text);
        for v in &self.values {
            q = match v {
                Value::Int(i) => q.bind(*i),
                Value::Str(s) => q.bind(s.as_str()),
            };
        }
        q
    }

    /// [`Sql::literal`] over any of mintmark's databases.
    pub fn literal_in(&self, dbs: &mintmark_schema::Databases) -> String {
        Sql { text: dbs.render(&self.text), values: self.values.clone() }.literal(&dbs.t2)
    }

    /// A query over any of mintmark's databases: `{t2}`, `{t3}` and
    /// `{ledger}` replaced before binding, every value bound.
    pub fn query_in(&self, client: &Client, dbs: &mintmark_schema::Databases) -> Query {
        self.bound(client, &dbs.render(&self.text))
    }
}

/// Events in the window matching the filters, as a `WHERE` body.
pub fn events_in(w: Window, filters: &Where) -> Sql {
    Sql::default().within(w).raw(" AND ").matching(filters)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_follow_the_text_in_order() {
        let w = Where { sql: "country = ? AND path != ?".into(), values: vec!["DE".into(), "/x".into()], facet: None };
        let s = Sql::new("SELECT 1 FROM t WHERE ").days(Window { from: 10, until: 20 }).raw(" AND ").then(events_in(Window { from: 10, until: 20 }, &w));
        assert_eq!(s.text.matches('?').count(), s.values.len());
        assert_eq!(s.values.last(), Some(&Value::Str("/x".into())));
        assert_eq!(s.values[..6], [Value::Int(10), Value::Int(20), Value::Int(10), Value::Int(20), Value::Int(10), Value::Int(20)]);
    }
}
