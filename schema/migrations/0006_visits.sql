-- The dashboards' rollup: one row per visit (a Tier 2 session, counted on
-- the day its first event falls) and one per anonymous hit (no session, so
-- never a visit). Rebuilt a day at a time from `events FINAL` by the
-- dashboards' rollup job and swapped in with REPLACE PARTITION, so a
-- replayed or late event changes the numbers once, on the next run, and
-- readers never see a half-built day. Nothing here that `events` lacks:
-- the same de-identified values, grouped.
CREATE TABLE IF NOT EXISTS {t2}.visits
(
    start_day     Date,
    first_ts      DateTime,
    last_ts       DateTime,
    tier          Enum8('anonymous' = 1, 'tier2' = 2, 'tier3' = 3),
    pageviews     UInt32,
    events        UInt32,
    purchases     UInt32,
    revenue       Float64,
    -- What the views add up, worked out per row so every read is a plain
    -- sum (much faster than conditional aggregates): 1/0 flags and counts
    -- that are 0 on the rows they do not apply to.
    visits           UInt8,
    visit_pageviews  UInt32,
    bounces          UInt8,
    duration_sum     UInt32,
    converted        UInt8,
    anonymous_hits   UInt32,
    tier2_events     UInt32,
    tier3_events     UInt32,
    funnel_1         UInt8,
    funnel_2         UInt8,
    funnel_3         UInt8,
    funnel_4         UInt8,
    entry_page    String,
    exit_page     String,
    source        String,
    utm_source    String,
    utm_medium    String,
    utm_campaign  String,
    country       String,
    region        String,
    network       String,
    os            String,
    browser       String,
    device        String,
    screen        String,
    language      String,
    time_zone     String,
    connection    String,
    page_paths    Array(String),
    page_views    Array(UInt32),
    paths         Array(String),
    kinds         Array(String),
    downloads     Array(String),
    downloads_n   Array(UInt32),
    outbound      Array(String),
    outbound_n    Array(UInt32),
    searches      Array(String),
    searches_n    Array(UInt32)
)
ENGINE = MergeTree
PARTITION BY start_day
ORDER BY (start_day, tier, first_ts);

-- Per hour of visit start: the additive sums every unfiltered top metric,
-- chart point, tier share and funnel step is made of. A visit lives in one
-- hour of one day, so sums over any set of hours are exact.
CREATE TABLE IF NOT EXISTS {t2}.visit_hours
(
    start_day        Date,
    hour             DateTime,
    visits           UInt64,
    visit_pageviews  UInt64,
    bounces          UInt64,
    duration_sum     UInt64,
    converted        UInt64,
    pageviews        UInt64,
    anonymous_hits   UInt64,
    revenue          Float64,
    tier2_events     UInt64,
    tier3_events     UInt64,
    funnel_1         UInt64,
    funnel_2         UInt64,
    funnel_3         UInt64,
    funnel_4         UInt64,
    purchases        UInt64
)
ENGINE = MergeTree
PARTITION BY start_day
ORDER BY (start_day, hour);

-- Per day, dimension and value: the same sums for the visits with that
-- value (any of them, for pages, targets and event kinds). A filtered view
-- with one `is` filter reads these instead of the visits.
CREATE TABLE IF NOT EXISTS {t2}.visit_facets
(
    start_day        Date,
    dimension        String,
    value            String,
    visits           UInt64,
    visit_pageviews  UInt64,
    bounces          UInt64,
    duration_sum     UInt64,
    converted        UInt64,
    pageviews        UInt64,
    anonymous_hits   UInt64,
    revenue          Float64,
    tier2_events     UInt64,
    tier3_events     UInt64,
    funnel_1         UInt64,
    funnel_2         UInt64,
    funnel_3         UInt64,
    funnel_4         UInt64,
    purchases        UInt64
)
ENGINE = MergeTree
PARTITION BY start_day
ORDER BY (dimension, value, start_day);

-- Per day, report and value: visits and pageviews (or the report's events),
-- for unfiltered breakdowns. Additive across days for the same reason.
CREATE TABLE IF NOT EXISTS {t2}.visit_groups
(
    start_day  Date,
    report     String,
    key        String,
    visits     UInt64,
    hits       UInt64
)
ENGINE = MergeTree
PARTITION BY start_day
ORDER BY (start_day, report, key);

-- Every purchase once (the raw table collapses replays only when it
-- merges), with the event's own values for filters and its line items:
-- products and sales read these few rows instead of scanning every event.
CREATE TABLE IF NOT EXISTS {t2}.purchases
(
    event_date      Date,
    ts              DateTime,
    session_id      String,
    tier            Enum8('anonymous' = 1, 'tier2' = 2, 'tier3' = 3),
    kind            String,
    path            String,
    referrer_domain String,
    target          String,
    utm_source      String,
    utm_medium      String,
    utm_campaign    String,
    country         String,
    region          String,
    network         String,
    os              String,
    browser         String,
    device          String,
    screen_width    UInt16,
    screen_height   UInt16,
    language        String,
    time_zone       String,
    connection_type String,
    value           Float64,
    currency        String,
    item_skus       Array(String),
    item_quantities Array(UInt32),
    item_prices     Array(Float64)
)
ENGINE = MergeTree
PARTITION BY event_date
ORDER BY (event_date, ts);

-- What each rolled-up day was built from: a day is rebuilt when its raw
-- events (count or latest arrival) change, and so is the day before it
-- (its visits may run past midnight).
CREATE TABLE IF NOT EXISTS {t2}.rollup_days
(
    day          Date,
    source_rows  UInt64,
    source_last  DateTime,
    built_at     DateTime
)
ENGINE = ReplacingMergeTree(built_at)
ORDER BY day;
