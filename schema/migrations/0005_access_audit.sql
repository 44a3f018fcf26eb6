-- Every read of data through the dashboards and their API, written before
-- the data is returned (if this write fails, so does the read): who, with
-- which roles, which route, the period and filters asked for, how many rows
-- came back, and for Tier 3 reads which customers were touched (their
-- references, or only their count when there are too many to list).
-- Append-only: nothing in mintmark updates or deletes these rows.
CREATE TABLE IF NOT EXISTS {ledger}.access_audit
(
    at                DateTime,
    user_name         String,
    roles             String,
    route             String,
    params            String,
    rows_returned     UInt64,
    customers_touched UInt64,
    customer_refs     Array(String)
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(at)
ORDER BY (at, user_name);
