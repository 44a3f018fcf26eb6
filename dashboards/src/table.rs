//! One shape for every table the dashboards show, export and serve:
//! columns, rows of typed cells, and the three ways out of it (HTML cells
//! through the template, CSV, JSON). A view builds a [`Table`] once; the
//! page, the export and the API cannot disagree about its numbers.

use serde_json::{Map, Value};

/// A value in a cell, typed so each output formats it its own way.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Text(String),
    Count(u64),
    /// 0..=1, shown as a percentage.
    Share(f64),
    Money(f64),
    /// Seconds.
    Duration(f64),
    /// A plain decimal (pages per visit).
    Decimal(f64),
    /// A bucket start, Unix seconds (UTC), with how wide the bucket is.
    Time(i64, crate::query::Interval),
    /// An exact moment, Unix seconds (UTC): when something happened.
    Moment(i64),
    /// A released Tier 2 number, with its error.
    Noisy(crate::release::Noisy),
}

/// `1234567` → `1,234,567`.
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `80` → `1m 20s`.
pub fn duration(secs: f64) -> String {
    let s = secs.round() as u64;
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m {}s", s / 60, s % 60),
        _ => format!("{}h {}m", s / 3600, (s % 3600) / 60),
    }
}

/// `1234.5` → `1,234.50`.
pub fn money(v: f64) -> String {
    let cents = (v * 100.0).round() as i64;
    let sign = if cents < 0 { "-" } else { "" };
    format!("{sign}{}.{:02}", thousands((cents.abs() / 100) as u64), cents.abs() % 100)
}

fn moment_text(at: i64, for_people: bool) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp(at).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let (d, h, m, sec) = (crate::query::Day::from_unix(at), t.hour(), t.minute(), t.second());
    if for_people {
        format!("{d} {h:02}:{m:02}:{sec:02}")
    } else {
        format!("{d}T{h:02}:{m:02}:{sec:02}Z")
    }
}

fn time_text(at: i64, interval: crate::query::Interval, for_people: bool) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp(at).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let (d, h) = (crate::query::Day::from_unix(at), t.hour());
    match (interval, for_people) {
        (crate::query::Interval::Hour, true) => format!("{d} {h:02}:00"),
        (crate::query::Interval::Hour, false) => format!("{d}T{h:02}:00:00Z"),
        (crate::query::Interval::Month, _) => d.to_string()[..7].to_string(),
        _ => d.to_string(),
    }
}

impl Cell {
    /// For people: grouped digits, units.
    pub fn display(&self) -> String {
        match self {
            Cell::Text(s) => s.clone(),
            Cell::Count(n) => thousands(*n),
            Cell::Share(v) => format!("{:.1} %", v * 100.0),
            Cell::Money(v) => money(*v),
            Cell::Duration(v) => duration(*v),
            Cell::Decimal(v) => format!("{v:.2}"),
            Cell::Time(at, i) => time_text(*at, *i, true),
            Cell::Moment(at) => moment_text(*at, true),
            Cell::Noisy(n) => n.display(),
        }
    }

    /// The ± of a released number, for a marker beside it on the page.
    pub fn hint(&self) -> Option<String> {
        match self {
            Cell::Noisy(n) => Some(match n.suppressed() {
                Some(below) => format!("fewer than {below}: too small to tell from the noise"),
                None => n.error_display(),
            }),
            _ => None,
        }
    }

    /// For machines: plain numbers, full precision.
    fn json(&self) -> Value {
        match self {
            Cell::Text(s) => Value::String(s.clone()),
            Cell::Count(n) => Value::from(*n),
            Cell::Share(v) | Cell::Money(v) | Cell::Duration(v) | Cell::Decimal(v) => Value::from(*v),
            Cell::Time(at, i) => Value::String(time_text(*at, *i, false)),
            Cell::Moment(at) => Value::String(moment_text(*at, false)),
            // Counts as integers, like the exact ones they replace.
            Cell::Noisy(n) => match (n.json_value(), n.unit()) {
                (None, _) => Value::Null,
                (Some(v), crate::release::Unit::Count) => Value::from(v as i64),
                (Some(v), _) => Value::from(v),
            },
        }
    }

    fn csv(&self) -> String {
        match self {
            Cell::Text(s) => neutralise(s),
            Cell::Count(n) => n.to_string(),
            Cell::Share(v) | Cell::Duration(v) | Cell::Decimal(v) => format!("{v:.6}").trim_end_matches('0').trim_end_matches('.').to_string(),
            Cell::Money(v) => format!("{v:.2}"),
            Cell::Time(at, i) => time_text(*at, *i, false),
            Cell::Moment(at) => moment_text(*at, false),
            Cell::Noisy(n) => match (n.suppressed(), n.json_value()) {
                (Some(below), _) => format!("<{below}"),
                (None, None) if n.unclear() => "unclear".into(),
                (None, Some(v)) => match n.unit() {
                    crate::release::Unit::Money => format!("{v:.2}"),
                    crate::release::Unit::Count => format!("{v}"),
                    _ => format!("{v:.6}").trim_end_matches('0').trim_end_matches('.').to_string(),
                },
                (None, None) => String::new(),
            },
        }
    }

    /// What goes in a released number's `_error` column (empty elsewhere).
    fn csv_error(&self) -> String {
        match self {
            Cell::Noisy(n) => n.json_error().map(|e| format!("{e:.6}").trim_end_matches('0').trim_end_matches('.').to_string()).unwrap_or_default(),
            _ => String::new(),
        }
    }

    /// Right-aligned in tables.
    pub fn numeric(&self) -> bool {
        !matches!(self, Cell::Text(_))
    }
}

/// A text cell a spreadsheet would run as a formula (`=`, `+`, `-`, `@`,
/// or a tab / carriage return before one) gets a leading `'`, which
/// spreadsheets show as text. So does every part of it a spreadsheet could
/// split off as a cell of its own: a spreadsheet in a locale whose list
/// separator is `;` reads `/x;=HYPERLINK(…)` as two cells, the second a
/// formula. Recorded paths, titles and search terms are visitors' input.
pub fn neutralise(s: &str) -> String {
    const TRIGGERS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];
    let mut out = String::with_capacity(s.len() + 1);
    let mut cell_starts = true;
    for c in s.chars() {
        if cell_starts && TRIGGERS.contains(&c) {
            out.push('\'');
        }
        out.push(c);
        cell_starts = matches!(c, ';' | ',' | '\t' | '\r' | '\n' | '|');
    }
    out
}

/// The most rows one CSV export of a list (customers, ledgers, audit) carries.
pub const EXPORT_ROWS: u64 = 100_000;

#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    pub label: &'static str,
    /// The key in JSON and the CSV header.
    pub key: &'static str,
    /// The sort a click on the heading asks for, if the table sorts by it.
    pub sort: Option<crate::query::SortBy>,
}

impl Column {
    pub fn new(label: &'static str, key: &'static str) -> Column {
        Column { label, key, sort: None }
    }

    pub fn sorted_by(mut self, by: crate::query::SortBy) -> Column {
        self.sort = Some(by);
        self
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub cells: Vec<Cell>,
    /// The filter a click on the row adds.
    pub filter: Option<crate::query::Filter>,
    /// The folded small groups: shown last, never a filter.
    pub folded: bool,
    /// Where the row's first cell leads instead (a customer's page).
    pub link: Option<String>,
}

impl Row {
    pub fn new(cells: Vec<Cell>) -> Row {
        Row { cells, filter: None, folded: false, link: None }
    }

    /// A folded (or total) row: shown last, never a filter.
    pub fn folded(cells: Vec<Cell>) -> Row {
        Row { folded: true, ..Row::new(cells) }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    /// The name in URLs (`/export/<name>`, `/api/v1/<name>`).
    pub name: &'static str,
    pub title: String,
    pub columns: Vec<Column>,
    pub rows: Vec<Row>,
    /// Said under the table (truncation, definitions).
    pub note: Option<String>,
}

impl Table {
    pub fn new(name: &'static str, title: impl Into<String>, columns: Vec<Column>) -> Table {
        Table { name, title: title.into(), columns, rows: Vec::new(), note: None }
    }

    /// CSV with a header row; text cells neutralised.
    pub fn to_csv(&self) -> String {
        let mut w = csv::WriterBuilder::new().terminator(csv::Terminator::CRLF).from_writer(Vec::new());
        // Writing to a Vec cannot fail.
        // A column of released numbers is followed by its `<key>_error`.
        let noisy: Vec<bool> = (0..self.columns.len()).map(|i| self.rows.iter().any(|r| matches!(r.cells.get(i), Some(Cell::Noisy(_))))).collect();
        let mut header = Vec::new();
        for (c, n) in self.columns.iter().zip(&noisy) {
            header.push(c.key.to_string());
            if *n {
                header.push(format!("{}_error", c.key));
            }
        }
        let _ = w.write_record(&header);
        for r in &self.rows {
            let mut record = Vec::new();
            for (i, n) in noisy.iter().enumerate() {
                let cell = r.cells.get(i);
                record.push(cell.map(Cell::csv).unwrap_or_default());
                if *n {
                    record.push(cell.map(Cell::csv_error).unwrap_or_default());
                }
            }
            let _ = w.write_record(&record);
        }
        String::from_utf8(w.into_inner().unwrap_or_default()).unwrap_or_default()
    }

    /// `{"name", "title", "columns": [keys], "rows": [{key: value}], "note"}`.
    /// Each row as `{column: value, column_error: ±, column_below: n}`,
    /// and `"folded": true` on the folded row: what the JSON API answers.
    pub fn json_rows(&self) -> Vec<Map<String, Value>> {
        self
            .rows
            .iter()
            .map(|r| {
                let mut m = Map::new();
                for (c, v) in self.columns.iter().zip(&r.cells) {
                    m.insert(c.key.to_string(), v.json());
                    // A released number says how far off it may be, or
                    // that it is too small to tell.
                    if let Cell::Noisy(n) = v {
                        let error = match (n.json_error(), n.unit()) {
                            (None, _) => Value::Null,
                            (Some(e), crate::release::Unit::Count) => Value::from(e as i64),
                            (Some(e), _) => Value::from(e),
                        };
                        m.insert(format!("{}_error", c.key), error);
                        if let Some(below) = n.suppressed() {
                            m.insert(format!("{}_below", c.key), Value::from(below));
                        }
                    }
                }
                if r.folded {
                    m.insert("folded".into(), Value::Bool(true));
                }
                m
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!((thousands(0), thousands(999), thousands(1000), thousands(1_234_567)), ("0".into(), "999".into(), "1,000".into(), "1,234,567".into()));
        assert_eq!((duration(0.0), duration(59.4), duration(80.0), duration(3725.0)), ("0s".into(), "59s".into(), "1m 20s".into(), "1h 2m".into()));
        assert_eq!((money(1234.5), money(0.004), money(-2.5)), ("1,234.50".into(), "0.00".into(), "-2.50".into()));
        assert_eq!(Cell::Share(0.1234).display(), "12.3 %");
    }

    #[test]
    fn csv_cells_cannot_become_formulas() {
        let mut t = Table::new("pages", "Top pages", vec![Column::new("Page", "page"), Column::new("Visits", "visits"), Column::new("Share", "share")]);
        for hostile in ["=HYPERLINK(\"http://x\")", "+1", "-2+3", "@SUM(A1)", "\t=1", "/ok, \"quoted\""] {
            t.rows.push(Row::new(vec![Cell::Text(hostile.into()), Cell::Count(7), Cell::Share(0.25)]));
        }
        let csv = t.to_csv();
        let mut lines = csv.lines();
        assert_eq!(lines.next(), Some("page,visits,share"));
        let firsts: Vec<String> = csv::Reader::from_reader(csv.as_bytes()).records().map(|r| r.unwrap()[0].to_string()).collect();
        for f in &firsts[..5] {
            assert!(f.starts_with('\''), "{f:?}");
        }
        assert_eq!(firsts[5], "/ok, \"quoted\"", "quotes and commas survive CSV quoting");
        assert!(csv.contains(",7,0.25\r\n"));
        let j = t.json_rows();
        assert_eq!(j[0]["page"], "=HYPERLINK(\"http://x\")", "JSON is data, not a spreadsheet");
        assert_eq!(j[0]["visits"], 7);
    }

    #[test]
    fn a_cell_a_semicolon_locale_would_split_cannot_become_a_formula_either() {
        assert_eq!(neutralise("/x;=HYPERLINK(\"http://evil\")"), "/x;'=HYPERLINK(\"http://evil\")");
        assert_eq!(neutralise("a,+1;@SUM(A1)"), "a,'+1;'@SUM(A1)");
        assert_eq!(neutralise("/x\t=1"), "/x\t'=1");
        assert_eq!(neutralise("Mugs, -50% off; sale"), "Mugs, -50% off; sale", "only a separator right before a trigger");
        let mut t = Table::new("pages", "Top pages", vec![Column::new("Page", "page")]);
        t.rows.push(Row::new(vec![Cell::Text("/x;=HYPERLINK(\"http://evil\")".into())]));
        // Split as a ';' locale would: no part starts with a trigger.
        let line = t.to_csv().lines().nth(1).unwrap().to_string();
        for part in line.trim_matches('"').split(';') {
            assert!(!part.starts_with(['=', '+', '-', '@']), "{part:?} in {line:?}");
        }
    }
}
