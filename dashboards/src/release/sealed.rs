//! [`ReleasedTable`]: the only table a Tier 2 route serves. Only
//! [`seal`] makes one, and it refuses a table with any exact number in it
//! (a count, share, amount, duration or decimal cell): every number of a
//! sealed table is a [`super::Noisy`], which only the release layer makes.
//! The page, the CSV export and the JSON API of the Tier 2 views take a
//! `ReleasedTable`, so an exact aggregate cannot reach them by mistake.

use crate::table::{Cell, Table};

#[derive(Debug, Clone, PartialEq)]
pub struct ReleasedTable(Table);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("table {table}: column {column} holds an exact number; Tier 2 numbers leave only through the release layer")]
pub struct Unreleased {
    pub table: &'static str,
    pub column: &'static str,
}

/// Seals `t` if every number in it is released.
pub fn seal(t: Table) -> Result<ReleasedTable, Unreleased> {
    for r in &t.rows {
        for (c, col) in r.cells.iter().zip(&t.columns) {
            if matches!(c, Cell::Count(_) | Cell::Share(_) | Cell::Money(_) | Cell::Duration(_) | Cell::Decimal(_)) {
                return Err(Unreleased { table: t.name, column: col.key });
            }
        }
    }
    Ok(ReleasedTable(t))
}

impl ReleasedTable {
    pub fn table(&self) -> &Table {
        &self.0
    }
}

impl std::ops::Deref for ReleasedTable {
    type Target = Table;
    fn deref(&self) -> &Table {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::{Column, Row};

    #[test]
    fn an_exact_number_cannot_be_sealed() {
        let mut t = Table::new("pages", "Top pages", vec![Column::new("Page", "page"), Column::new("Visits", "visits")]);
        t.rows.push(Row::new(vec![Cell::Text("/a".into()), Cell::Count(1)]));
        assert_eq!(seal(t.clone()).unwrap_err(), Unreleased { table: "pages", column: "visits" });
        t.rows[0].cells[1] = Cell::Text("x".into());
        assert!(seal(t).is_ok());
    }
}
