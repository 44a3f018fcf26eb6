-- Several dashboards processes may serve at once: each writes a hash chain
-- of its own, named by its writer id (`dashboards.writer_id`), and the
-- verifier checks every chain. Entries from before have writer '' and form
-- the one chain of a single process.
ALTER TABLE {ledger}.access_audit
    ADD COLUMN writer String;
