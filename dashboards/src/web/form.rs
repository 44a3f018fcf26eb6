//! Form bodies (`application/x-www-form-urlencoded`), read the same way by
//! every handler that takes a POST.

use axum::body::Bytes;

/// The body's fields, in order.
pub fn pairs(body: &Bytes) -> Vec<(String, String)> {
    form_urlencoded::parse(body).into_owned().collect()
}

/// The first value of `name`, or "" when the form has none.
pub fn field<'a>(pairs: &'a [(String, String)], name: &str) -> &'a str {
    pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).unwrap_or("")
}
