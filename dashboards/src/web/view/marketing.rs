//! The marketing page (role `marketing`): every marketing route renders one.

use super::chrome::Chrome;
use super::{Choice, Pager, TableView};

/// The search form of the customer list.
pub struct Search {
    pub state: String,
    pub zip3: String,
    pub q: String,
    pub hidden: Vec<(String, String)>,
}

/// Everything a marketing page shows.
pub struct Marketing {
    pub chrome: Chrome,
    pub periods: Vec<Choice>,
    pub search: Option<Search>,
    pub lead: Option<String>,
    pub charts: Vec<(String, String)>,
    pub tables: Vec<TableView>,
    pub pager: Option<Pager>,
    pub error: Option<String>,
    /// The page reloads itself after this many seconds (while what it
    /// shows is being computed).
    pub refresh_secs: Option<u32>,
}
