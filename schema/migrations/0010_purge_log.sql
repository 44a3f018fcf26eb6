-- Evidence of every purge: one row per dataset touched by a run, and a final
-- row (dataset '*', done = 1) when the run completed with nothing left. The
-- customer is only a keyed hash (subject_hash), so the log proves the purge
-- without keeping the identity; statements are stored with the reference
-- replaced by that hash. Append-only.
CREATE TABLE IF NOT EXISTS {ledger}.purge_log
(
    at           DateTime,
    run_id       String,
    kind         Enum8('erasure' = 1, 'retention' = 2),
    subject_hash String,
    requested_at DateTime,
    dataset      String,
    rows_before  UInt64,
    rows_after   UInt64,
    statement    String,
    mutation_id  String,
    run_by       String,
    done         UInt8
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(at)
ORDER BY (at, run_id);
