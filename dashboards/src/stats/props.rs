//! Custom events' properties as the rollup keeps them: `props` of a raw
//! event is a JSON array of `["key",value]` pairs (the collector writes it
//! with serde_json), and `t2.visits.custom_props` holds each event's pairs
//! as `name␟pair`, so a goal, a filter and the event-properties report all
//! match the same text.

/// Each `["key",value]` pair of a custom event's `props` (the collector
/// writes them as a JSON array of pairs), as a ClickHouse string literal
/// for `extractAll`: the first (outer) group is the whole pair, escapes
/// and all. No `?` in it: the rollup's text takes the day for `?`.
pub const PROP_PAIRS: &str = r#"'(\\["([^"\\\\]|\\\\.)*",("([^"\\\\]|\\\\.)*"|[^\\]]*)\\])'"#;

/// What separates a custom event's name from one of its property pairs
/// in `t2.visits.custom_props` (the unit separator: never in a name).
pub const PROP_SEPARATOR: char = '\u{1f}';
