//! Which tables make up each dataset of `[retention]`, and how their rows
//! are dated: the collector's purge removes by it, the dashboards report
//! retention status and the "past retention" invariant by it.

use crate::Databases;

/// One table of a dataset: how its rows are dated and partitioned.
pub struct Table {
    pub db: Db,
    pub name: &'static str,
    /// An expression giving each row's `Date`.
    pub day: &'static str,
    /// The table's partition expression, when it is by time.
    pub partition: Option<&'static str>,
}

#[derive(Clone, Copy)]
pub enum Db {
    T2,
    T3,
    Ledger,
}

const fn table(db: Db, name: &'static str, day: &'static str, partition: Option<&'static str>) -> Table {
    Table { db, name, day, partition }
}

const MONTH_OF_EVENT: Option<&str> = Some("toYYYYMM(event_date)");
const MONTH_OF_ORDER: Option<&str> = Some("toYYYYMM(order_date)");
const MONTH_OF_AT: Option<&str> = Some("toYYYYMM(at)");

/// The tables of each dataset named in `[retention]`.
pub fn tables(dataset: &str) -> &'static [Table] {
    const T2_EVENTS: &[Table] = &[table(Db::T2, "events", "event_date", MONTH_OF_EVENT)];
    const T2_ROLLUPS: &[Table] = &[
        table(Db::T2, "visits", "start_day", Some("start_day")),
        table(Db::T2, "visit_hours", "start_day", Some("start_day")),
        table(Db::T2, "visit_facets", "start_day", Some("start_day")),
        table(Db::T2, "visit_facet_pages", "start_day", Some("start_day")),
        table(Db::T2, "visit_groups", "start_day", Some("start_day")),
        table(Db::T2, "purchases", "event_date", Some("event_date")),
        table(Db::T2, "rollup_days", "day", None),
    ];
    const T3_EVENTS: &[Table] = &[table(Db::T3, "events", "event_date", MONTH_OF_EVENT)];
    const T3_ORDERS: &[Table] = &[
        table(Db::T3, "orders", "order_date", MONTH_OF_ORDER),
        table(Db::T3, "order_facts", "toDate(toDateTime(placed_at))", None),
    ];
    const T2_ORDERS: &[Table] = &[
        table(Db::T2, "orders", "order_date", MONTH_OF_ORDER),
        table(Db::T2, "marketplace_orders", "order_date", MONTH_OF_ORDER),
    ];
    const CONSENT_LEDGER: &[Table] = &[table(Db::Ledger, "consent_ledger", "toDate(at)", MONTH_OF_AT)];
    const ACCESS_AUDIT: &[Table] = &[table(Db::Ledger, "access_audit", "toDate(at)", MONTH_OF_AT)];
    const PURGE_LOG: &[Table] = &[table(Db::Ledger, "purge_log", "toDate(at)", MONTH_OF_AT)];
    match dataset {
        "t2_events" => T2_EVENTS,
        "t2_rollups" => T2_ROLLUPS,
        "t3_events" => T3_EVENTS,
        "t3_orders" => T3_ORDERS,
        "t2_orders" => T2_ORDERS,
        "consent_ledger" => CONSENT_LEDGER,
        "access_audit" => ACCESS_AUDIT,
        "purge_log" => PURGE_LOG,
        _ => &[],
    }
}

impl Table {
    /// `database.table`.
    pub fn full_name(&self, dbs: &Databases) -> String {
        format!("{}.{}", self.db.name(dbs), self.name)
    }

    /// A condition true for rows dated before the cutoff bound as `?`
    /// (Unix seconds of the cutoff day's start).
    pub fn due(&self) -> String {
        format!("{} < toDate(toDateTime(?))", self.day)
    }

    /// Counts the rows dated before the cutoff bound as `?` (as [`Table::due`]).
    pub fn count_due_sql(&self, dbs: &Databases) -> String {
        format!("SELECT toUInt64(count()) FROM {} WHERE {}", self.full_name(dbs), self.due())
    }
}

impl Db {
    pub fn name(self, dbs: &Databases) -> &str {
        match self {
            Db::T2 => &dbs.t2,
            Db::T3 => &dbs.t3,
            Db::Ledger => &dbs.ledger,
        }
    }
}


#[cfg(test)]
mod tests {
    #[test]
    fn every_configured_dataset_has_tables() {
        for (dataset, _) in mintmark_config::RetentionSection::default().datasets() {
            assert!(!super::tables(dataset).is_empty(), "{dataset}");
        }
    }
}
