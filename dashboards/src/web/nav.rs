//! The navigation, declared in one place: the analysts' sections, the
//! marketing and privacy pages, and which of them a user's roles open.
//! Every page's chrome takes its links from [`links`].

use super::view::{href, Choice};
use crate::query::StatsQuery;
use crate::roles::{Role, Roles};

/// A group of views with its own page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    Overview,
    Content,
    Acquisition,
    Audience,
    Technology,
    Commerce,
    Goals,
    Funnels,
    Realtime,
}

impl Section {
    pub const ALL: [Section; 9] = [
        Section::Overview,
        Section::Content,
        Section::Acquisition,
        Section::Audience,
        Section::Technology,
        Section::Commerce,
        Section::Goals,
        Section::Funnels,
        Section::Realtime,
    ];

    pub fn path(self) -> &'static str {
        match self {
            Section::Overview => "/",
            Section::Content => "/content",
            Section::Acquisition => "/acquisition",
            Section::Audience => "/audience",
            Section::Technology => "/technology",
            Section::Commerce => "/commerce",
            Section::Goals => "/goals",
            Section::Funnels => "/funnels",
            Section::Realtime => "/realtime",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            Section::Overview => "Overview",
            Section::Content => "Content",
            Section::Acquisition => "Acquisition",
            Section::Audience => "Audience",
            Section::Technology => "Technology",
            Section::Commerce => "Commerce",
            Section::Goals => "Goals",
            Section::Funnels => "Funnels",
            Section::Realtime => "Realtime",
        }
    }
}

/// The analysts' pages beside the sections.
pub const ANALYST: [(&str, &str); 1] = [("/alerts", "Alerts")];

/// The marketing pages (role `marketing`).
pub const MARKETING: [(&str, &str); 4] =
    [("/marketing", "Customers"), ("/marketing/geography", "Geography"), ("/marketing/segments", "Segments"), ("/marketing/clusters", "Clusters")];

/// The privacy officer's pages (role `privacy_officer`).
pub const PRIVACY: [(&str, &str); 4] = [("/privacy", "Privacy"), ("/privacy/consent", "Consent ledger"), ("/privacy/purges", "Purge log"), ("/privacy/audit", "Access audit")];

/// The links a user with `roles` sees on the page at `path`: the sections
/// and pages their roles open, nothing they would be refused. Section
/// links keep the current question `q`.
pub fn links(roles: Roles, q: &StatsQuery, path: &str, current: Option<Section>) -> Vec<Choice> {
    let mut nav: Vec<Choice> = Vec::new();
    if roles.allow(Role::Analyst) {
        nav.extend(Section::ALL.into_iter().map(|s| Choice { label: s.title().into(), href: href(s.path(), q), current: Some(s) == current }));
    }
    let pages = |list: &[(&'static str, &'static str)]| -> Vec<Choice> {
        list.iter().map(|(p, label)| Choice { label: (*label).into(), href: (*p).into(), current: *p == path }).collect()
    };
    if roles.allow(Role::Analyst) {
        nav.extend(pages(&ANALYST));
    }
    if roles.has(Role::Marketing) {
        nav.extend(pages(&MARKETING));
    }
    if roles.has(Role::PrivacyOfficer) {
        nav.extend(pages(&PRIVACY));
    }
    nav
}
