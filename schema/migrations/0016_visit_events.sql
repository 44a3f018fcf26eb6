-- What the analyst's tools read from a visit: its campaign term and content
-- (breakdowns), the custom events it sent (`mintmark.track()`: each name
-- once, with how many times) and their properties (each `name␟["key",value]`
-- once, with how many times), its largest purchase (a purchase goal's
-- minimum value), and the sequence of its first events (`seq`: `p/path`
-- for a pageview, `c<name>` for a custom event, `k<kind>` for the rest;
-- `seq_ts`: seconds from the first, plus one) that analysts' funnels walk.
-- Goals and funnels are evaluated over these at read time, so one made
-- today counts every day the rollup holds.
ALTER TABLE {t2}.visits
    ADD COLUMN utm_term String,
    ADD COLUMN utm_content String,
    ADD COLUMN custom_events Array(String),
    ADD COLUMN custom_events_n Array(UInt32),
    ADD COLUMN custom_props Array(String),
    ADD COLUMN custom_props_n Array(UInt32),
    ADD COLUMN max_purchase Float64,
    ADD COLUMN seq Array(String),
    ADD COLUMN seq_ts Array(UInt32);

-- New columns: every day is rebuilt on the dashboards' next run.
TRUNCATE TABLE {t2}.rollup_days;
