-- Enrichment, from the truncated address and the user agent (never stored).
ALTER TABLE {t2}.events
    ADD COLUMN country String,
    ADD COLUMN region String,
    ADD COLUMN network String,
    ADD COLUMN os String,
    ADD COLUMN browser String,
    ADD COLUMN device String;

ALTER TABLE {t3}.events
    ADD COLUMN country String,
    ADD COLUMN region String,
    ADD COLUMN network String,
    ADD COLUMN os String,
    ADD COLUMN browser String,
    ADD COLUMN device String;
