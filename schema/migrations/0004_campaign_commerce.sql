-- Campaign fields, from the page URL's utm_* parameters (the only part of a
-- query string the beacon keeps), and commerce: value, currency and the line
-- items as parallel arrays (what a Nested column is underneath, and what any
-- ClickHouse can ALTER in). Never an order number: that is Tier 3 data the
-- beacon does not send.
ALTER TABLE {t2}.events
    ADD COLUMN utm_source String,
    ADD COLUMN utm_medium String,
    ADD COLUMN utm_campaign String,
    ADD COLUMN utm_term String,
    ADD COLUMN utm_content String,
    ADD COLUMN value Float64,
    ADD COLUMN currency String,
    ADD COLUMN item_skus Array(String),
    ADD COLUMN item_quantities Array(UInt32),
    ADD COLUMN item_prices Array(Float64);

ALTER TABLE {t3}.events
    ADD COLUMN utm_source String,
    ADD COLUMN utm_medium String,
    ADD COLUMN utm_campaign String,
    ADD COLUMN utm_term String,
    ADD COLUMN utm_content String,
    ADD COLUMN value Float64,
    ADD COLUMN currency String,
    ADD COLUMN item_skus Array(String),
    ADD COLUMN item_quantities Array(UInt32),
    ADD COLUMN item_prices Array(Float64);
