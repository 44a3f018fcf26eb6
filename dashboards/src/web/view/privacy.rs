//! The privacy officer's page: every privacy route renders one.

use super::chrome::Chrome;
use super::{Pager, TableView};

/// One invariant as the overview lists it.
pub struct CheckView {
    pub id: &'static str,
    pub what: &'static str,
    pub violations: String,
    pub ok: bool,
    pub error: Option<String>,
}

/// The audit chain's state, said plainly.
pub struct ChainView {
    pub ok: bool,
    pub summary: String,
    pub breaks: Vec<String>,
}

/// A field of a page's filter form.
#[derive(Clone)]
pub struct FilterField {
    pub name: &'static str,
    pub label: &'static str,
    pub value: String,
    /// `date`, `text` or `select`.
    pub kind: &'static str,
    pub options: Vec<&'static str>,
}

pub struct Filter {
    pub action: String,
    pub fields: Vec<FilterField>,
}

/// Everything a privacy page shows.
pub struct Privacy {
    pub chrome: Chrome,
    pub lead: Option<String>,
    pub filter: Option<Filter>,
    pub checks: Vec<CheckView>,
    pub checks_ran: String,
    pub chain: Option<ChainView>,
    pub tables: Vec<TableView>,
    pub pager: Option<Pager>,
    /// The customer whose record can be exported here.
    pub export_for: Option<String>,
    pub error: Option<String>,
}

impl Privacy {
    pub fn new(chrome: Chrome) -> Privacy {
        Privacy {
            chrome,
            lead: None,
            filter: None,
            checks: Vec::new(),
            checks_ran: String::new(),
            chain: None,
            tables: Vec::new(),
            pager: None,
            export_for: None,
            error: None,
        }
    }
}
