-- Retention evidence names the cutoff it applied (rows dated before it were
-- due), and a purge of the access audit records the chain anchor: the hash
-- of the last entry it removed, where the remaining chain must resume.
ALTER TABLE {ledger}.purge_log
    ADD COLUMN cutoff Date,
    ADD COLUMN anchor String;

-- The access audit becomes tamper-evident: each entry carries its place in
-- the chain, the previous entry's hash and its own hash over both and every
-- field (dashboards/src/audit/chain.rs). Entries written before this have
-- seq 0 and are reported as unchained. customer_refs from here on hold
-- keyed hashes (keys.audit), never references, so an erasure has nothing
-- to rewrite in a chain that must never be rewritten.
ALTER TABLE {ledger}.access_audit
    ADD COLUMN seq UInt64,
    ADD COLUMN prev_hash String,
    ADD COLUMN entry_hash String;
