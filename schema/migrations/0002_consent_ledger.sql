-- Every opt-in, opt-out and erasure request the store's backend reports,
-- as reported: the evidence behind each Tier 3 row.
CREATE TABLE IF NOT EXISTS {ledger}.consent_ledger
(
    at               DateTime,
    action           Enum8('opt_in' = 1, 'opt_out' = 2, 'erasure_requested' = 3),
    customer_ref     String,
    source           String,
    policy_version   UInt32,
    token_expires_at DateTime,
    api_key_id       String,
    note             String
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(at)
ORDER BY (customer_ref, at);
