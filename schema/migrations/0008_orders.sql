-- Orders, from the store's backend (the collector's order feed), never from
-- the browser. One row per order event (placed, cancelled, refunded);
-- ReplacingMergeTree on the event's key makes a replayed event count once
-- (readers use FINAL). Routing is decided in one place in the collector
-- (collector/src/orders/route.rs) from the consent ledger at the order's time.

-- Identified orders of customers with a valid Tier 3 opt-in at the order's
-- time: order number, customer, shipping state and ZIP.
CREATE TABLE IF NOT EXISTS {t3}.orders
(
    order_date      Date,
    at              DateTime,
    received_at     DateTime,
    order_id        String,
    event           Enum8('placed' = 1, 'cancelled' = 2, 'refunded' = 3),
    channel         Enum8('web' = 1, 'phone' = 2, 'pos' = 3),
    customer_ref    String,
    consent_source  String,
    policy_version  UInt32,
    value           Float64,
    currency        String,
    item_skus       Array(String),
    item_quantities Array(UInt32),
    item_prices     Array(Float64),
    item_categories Array(String),
    state           String,
    zip             String
)
ENGINE = ReplacingMergeTree(received_at)
PARTITION BY toYYYYMM(order_date)
ORDER BY (customer_ref, order_id, event);

-- Every store order (web, phone, pos), de-identified: the date, not the time;
-- no order number, customer or ZIP. `order_key` is a keyed hash of the
-- order id under a key of its own: it ties an order's own events together
-- (a cancellation to its placement) and makes a replay collapse, and it is
-- no id anywhere else (t3 keeps the order id itself; no key links them). Identified orders get this copy too, as Tier 3 events
-- get their Tier 2 copy, so aggregates (sales, cross-sell) read one table.
CREATE TABLE IF NOT EXISTS {t2}.orders
(
    order_date      Date,
    received_at     DateTime,
    order_key       String,
    event           Enum8('placed' = 1, 'cancelled' = 2, 'refunded' = 3),
    channel         Enum8('web' = 1, 'phone' = 2, 'pos' = 3),
    value           Float64,
    currency        String,
    item_skus       Array(String),
    item_quantities Array(UInt32),
    item_prices     Array(Float64),
    item_categories Array(String),
    state           String
)
ENGINE = ReplacingMergeTree(received_at)
PARTITION BY toYYYYMM(order_date)
ORDER BY (order_key, event);

-- Orders sold through a third-party marketplace: their own dataset,
-- de-identified like Tier 2, never a customer, never consent, never joined
-- to store customers (the collector refuses a marketplace order that
-- carries a customer reference).
CREATE TABLE IF NOT EXISTS {t2}.marketplace_orders
(
    order_date      Date,
    received_at     DateTime,
    order_key       String,
    event           Enum8('placed' = 1, 'cancelled' = 2, 'refunded' = 3),
    value           Float64,
    currency        String,
    item_skus       Array(String),
    item_quantities Array(UInt32),
    item_prices     Array(Float64),
    item_categories Array(String),
    state           String
)
ENGINE = ReplacingMergeTree(received_at)
PARTITION BY toYYYYMM(order_date)
ORDER BY (order_key, event);
