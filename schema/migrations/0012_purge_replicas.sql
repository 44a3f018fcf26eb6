-- Purge evidence names every copy it checked: on a cluster each replica of
-- each shard is counted after the purge ("s1r1 0, s1r2 0, ..."), on a
-- single server the server ("server 0"). Empty on rows from before.
ALTER TABLE {ledger}.purge_log
    ADD COLUMN replicas String;
