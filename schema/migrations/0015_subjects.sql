-- Every statement that finds a customer names them by their subject, a
-- keyed hash of the reference (key held by collectors and dashboards), so
-- that what ClickHouse keeps of statements (system.mutations, its
-- mutation_N.txt files, a query_log an operator turns on) never holds a
-- reference. The collector fills the column on rows from before
-- (collector/src/purge/backfill.rs) without naming anyone either.
ALTER TABLE {t3}.events
    ADD COLUMN subject String;
ALTER TABLE {t3}.orders
    ADD COLUMN subject String;
ALTER TABLE {t3}.order_facts
    ADD COLUMN subject String;
ALTER TABLE {ledger}.consent_ledger
    ADD COLUMN subject String;

-- One row per Tier 3 opt-in: the random salt its sealing key is derived
-- from (with the collectors' secret). The key itself is stored nowhere: the
-- token carries it to the edge, which seals the visitor's identity and full
-- address with it for the queue and the spool. An erasure deletes the
-- customer's rows here, and with them every key to what those still hold.
CREATE TABLE IF NOT EXISTS {ledger}.seal_keys
(
    created_at DateTime,
    kid        String,
    subject    String,
    salt       String
)
ENGINE = MergeTree
ORDER BY kid;
