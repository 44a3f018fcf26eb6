//! An analyst's funnel over the visits rollup: per day of visit start, the
//! matching visits and how many reached each step
//! ([`crate::analyst::funnels::Funnel::level_sql`] walks each visit's
//! sequence). Exact, for the release layer.

use clickhouse::{Client, Row};
use serde::Deserialize;

use super::sql::{Sql, Window};
use crate::analyst::funnels::Funnel;
use crate::query::Where;

/// The read: `day, total` (the matching visits), `steps` (an array, one count per step).
pub fn day_steps_sql(funnel: &Funnel, w: Window, filters: &Where) -> Sql {
    let (levels, values) = funnel.level_sql();
    let reached: Vec<String> = (1..=funnel.steps.len()).map(|i| format!("toUInt64(sum(visits * reached_{i}))")).collect();
    Sql::new("SELECT toUInt16(start_day) AS day, toUInt64(sum(visits)) AS total, [")
        .raw(&reached.join(", "))
        .raw("] AS steps FROM (SELECT start_day, visits, ")
        .raw_bound(&levels, &values)
        .raw(" FROM {t2}.visits WHERE ")
        .days(w)
        .raw(" AND visits = 1 AND ")
        .matching(filters)
        .raw(") GROUP BY day")
}

#[derive(Debug, Clone, PartialEq, Eq, Row, Deserialize)]
pub struct DaySteps {
    pub day: u16,
    pub total: u64,
    pub steps: Vec<u64>,
}

pub async fn day_steps(client: &Client, t2: &str, funnel: &Funnel, w: Window, filters: &Where) -> clickhouse::error::Result<Vec<DaySteps>> {
    day_steps_sql(funnel, w, filters).query(client, t2).fetch_all().await
}
