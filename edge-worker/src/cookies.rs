//! The cookies the edge reads and sets.
//!
//! Every cookie we set is first-party, `Secure`, `HttpOnly`, `SameSite=Lax`
//! and scoped to the store path. The session cookie never has an expiry; the
//! persistent visitor cookie exists only with valid Tier 3 consent, and is
//! deleted (`Max-Age=0`) the moment consent is gone.

use cookie::time::Duration;
use cookie::{Cookie, SameSite};
use mintmark_protocol::wire::is_id128;

/// The value of cookie `name` in a `Cookie` request header, if present.
pub fn read<'a>(header: Option<&'a str>, name: &str) -> Option<&'a str> {
    let header = header?;
    Cookie::split_parse(header)
        .filter_map(Result::ok)
        .find(|c| c.name() == name)
        .and_then(|c| c.value_raw())
}

/// Every value of cookie `name` in a `Cookie` request header: a browser
/// sends one per path that set it, most specific first.
pub fn read_all<'a>(header: Option<&'a str>, name: &str) -> Vec<&'a str> {
    let Some(header) = header else { return Vec::new() };
    Cookie::split_parse(header).filter_map(Result::ok).filter(|c| c.name() == name).filter_map(|c| c.value_raw()).collect()
}

/// A random id cookie's value, only when it has the shape we mint.
pub fn read_id<'a>(header: Option<&'a str>, name: &str) -> Option<&'a str> {
    read(header, name).filter(|v| is_id128(v))
}

fn base<'c>(name: &'c str, value: &'c str, path: &'c str) -> cookie::CookieBuilder<'c> {
    Cookie::build((name, value)).path(path).secure(true).http_only(true).same_site(SameSite::Lax)
}

/// Session cookie: no Expires, no Max-Age, so it ends with the browser session.
pub fn session(name: &str, id: &str, path: &str) -> String {
    base(name, id, path).build().to_string()
}

/// Tier 3 persistent visitor cookie.
pub fn visitor(name: &str, id: &str, path: &str, max_age_secs: u64) -> String {
    base(name, id, path).max_age(Duration::seconds(max_age_secs as i64)).build().to_string()
}

/// Deletes a cookie we set earlier.
pub fn delete(name: &str, path: &str) -> String {
    base(name, "", path).max_age(Duration::ZERO).build().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "00112233445566778899aabbccddeeff";

    #[test]
    fn session_cookie_has_no_expiry_and_all_attributes() {
        let c = session("mm_sid", ID, "/store");
        assert_eq!(c, format!("mm_sid={ID}; HttpOnly; SameSite=Lax; Secure; Path=/store"));
        assert!(!c.contains("Max-Age") && !c.contains("Expires"));
    }

    #[test]
    fn visitor_cookie_is_persistent_and_deletion_zeroes_it() {
        assert!(visitor("mm_vid", ID, "/store", 86_400).contains("Max-Age=86400"));
        let d = delete("mm_vid", "/store");
        assert!(d.starts_with("mm_vid=;") && d.contains("Max-Age=0") && d.contains("Path=/store"), "{d}");
    }

    #[test]
    fn reads_only_well_formed_ids() {
        let header = format!("a=1; mm_sid={ID}; mm_vid=junk");
        assert_eq!(read_id(Some(&header), "mm_sid"), Some(ID));
        assert_eq!(read_id(Some(&header), "mm_vid"), None);
        assert_eq!(read(Some(&header), "mm_vid"), Some("junk"));
        assert_eq!(read(None, "mm_sid"), None);
        assert_eq!(read(Some(";;=;"), "mm_sid"), None);
    }
}
