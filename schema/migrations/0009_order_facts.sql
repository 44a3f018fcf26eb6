-- One row per counted order of an opted-in customer (placed, not cancelled;
-- value net of refunds), derived from {t3}.orders by the dashboards and
-- rebuilt whole, atomically (REPLACE PARTITION), whenever the orders change:
-- the Tier 3 views aggregate this instead of regrouping every order event on
-- every request. It is identified data like {t3}.orders: an erasure or a
-- retention purge must reach it too (a rebuild after the purge does).
CREATE TABLE IF NOT EXISTS {t3}.order_facts
(
    customer_ref String,
    order_id     String,
    placed_at    UInt32,
    net          Float64,
    o_state      String,
    o_zip        String,
    o_channel    String
)
ENGINE = MergeTree
PARTITION BY tuple()
ORDER BY (customer_ref, order_id);
