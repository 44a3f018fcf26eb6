//! The account pages: a user's own API tokens, and the admin's user list.

/// One API token, as its owner sees it (never its secret).
pub struct TokenRow {
    pub id: i64,
    pub label: String,
    pub scope: &'static str,
    pub created: String,
    pub expires: String,
    pub last_used: String,
}

/// One user, as the admin sees them.
pub struct UserRow {
    pub name: String,
    /// `(role, held)` for every role, for the checkboxes.
    pub roles: Vec<(&'static str, bool)>,
    pub disabled: bool,
    pub created: String,
}

/// The scheduled report's form on `/account` (analysts only).
pub struct ReportsForm {
    pub email: String,
    /// `weekly`, `monthly` or `none`.
    pub frequency: &'static str,
    /// A mail server is configured.
    pub mail_on: bool,
}
