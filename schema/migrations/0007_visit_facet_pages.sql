-- Per day, visit-wide dimension and value (country, device, source, …):
-- visits and pageviews per page. The pages breakdown under one `is`
-- filter, which would otherwise unnest the page list of every matching
-- visit.
CREATE TABLE IF NOT EXISTS {t2}.visit_facet_pages
(
    start_day  Date,
    dimension  String,
    value      String,
    key        String,
    visits     UInt64,
    hits       UInt64
)
ENGINE = MergeTree
PARTITION BY start_day
ORDER BY (dimension, value, start_day, key);

-- A new rollup table: every day is rebuilt on the dashboards' next run.
TRUNCATE TABLE {t2}.rollup_days;
