-- Tier 2: every visitor, no PII. One row per event, de-identified: truncated
-- IP, session id (never a persistent id), no customer, no order number; the
-- page path without its query string and only the referrer's domain.
-- ReplacingMergeTree on the event id makes replays of the same event collapse;
-- readers that need exact counts before merges use FINAL or uniqExact(event_id).
CREATE TABLE IF NOT EXISTS {t2}.events
(
    event_date      Date,
    ts              DateTime,
    received_at     DateTime,
    event_id        String,
    tier            Enum8('anonymous' = 1, 'tier2' = 2, 'tier3' = 3),
    session_id      String,
    kind            String,
    path            String,
    title           String,
    referrer_domain String,
    target          String,
    ip_prefix       String,
    screen_width    UInt16,
    screen_height   UInt16,
    color_depth     UInt8,
    language        String,
    time_zone       String,
    connection_type String,
    downlink_mbps   Float32,
    props           String
)
ENGINE = ReplacingMergeTree(received_at)
PARTITION BY toYYYYMM(event_date)
ORDER BY (event_date, event_id);

-- Tier 3: opted-in customers only. Never carries the session id, so it
-- cannot be joined back to the Tier 2 rows of the same visit.
CREATE TABLE IF NOT EXISTS {t3}.events
(
    event_date      Date,
    ts              DateTime,
    received_at     DateTime,
    event_id        String,
    visitor_id      String,
    customer_ref    String,
    consent_source  String,
    policy_version  UInt32,
    ip              String,
    kind            String,
    url             String,
    path            String,
    title           String,
    referrer_domain String,
    target          String,
    props           String
)
ENGINE = ReplacingMergeTree(received_at)
PARTITION BY toYYYYMM(event_date)
ORDER BY (customer_ref, event_date, event_id);
