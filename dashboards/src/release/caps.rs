//! How much one visit can put into any Tier 2 sum: the bounds that give
//! every released sum a known sensitivity. The rollup applies them when it
//! builds a visit's row (`t2.visits` and everything made from it), so no
//! stored aggregate holds more of a visit than this; the release layer
//! scales its noise to them. Changing one changes what rows the rollup
//! writes from then on (rebuild with `make reset` or let days rebuild).

/// Pageviews a visit counts with (beyond this, its pageviews count this).
pub const PAGEVIEWS: u32 = 15;
/// Events (of any kind) a visit counts with, in the tier mix.
pub const EVENTS: u32 = 40;
/// Seconds of a visit's duration.
pub const DURATION_SECS: u32 = 1800;
/// Purchases a visit counts with.
pub const PURCHASES: u32 = 3;
/// Revenue a visit counts with, in the store's currency (whole units).
pub const REVENUE: u32 = 500;
/// Pages, of one visit, that count in the page breakdown (its first
/// distinct pages, in order), and how many of its views of one page count.
pub const PAGES_PER_VISIT: u32 = 3;
pub const VIEWS_PER_PAGE: u32 = 5;
/// The same for downloads, outbound links and searches (each its own report).
pub const TARGETS_PER_VISIT: u32 = 3;
pub const HITS_PER_TARGET: u32 = 3;
/// Products of one visit that count in the products table, and its units
/// and revenue per product.
pub const PRODUCTS_PER_VISIT: u32 = 3;
pub const UNITS_PER_PRODUCT: u32 = 10;
pub const REVENUE_PER_PRODUCT: u32 = 200;
