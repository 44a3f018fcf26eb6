-- Store-backend keys carry scopes (orders, consent, erasure): the consent
-- ledger records which scope the calling key used beside its id. Empty on
-- rows from before, and on the demo's seeded history.
ALTER TABLE {ledger}.consent_ledger
    ADD COLUMN api_key_scope String;
