//! Store scope: which pages belong to the store.
//!
//! Tracking exists only inside the scope. The beacon asks [`StoreScope::contains`]
//! before it does anything, the edge asks again for every event's page URL, and
//! the referrer is checked against the same scope to tell an entry from outside
//! the store (which starts a new session) from navigation within it.
//!
//! A scope is a set of origins and a set of path prefixes; a URL is in scope
//! when both match. Prefixes match on whole segments: `/store` covers `/store`,
//! `/store/` and `/store/cart`, never `/storefront`. Anything odd (userinfo,
//! dot segments, a URL that does not parse) is out of scope: when in doubt,
//! do not track.
//!
//! The matching itself ([`in_scope`], [`parse_url`], [`RawUrl::same_origin`])
//! neither allocates nor formats, so the beacon runs exactly this code in
//! `no_std` Wasm; [`StoreScope`] is the owned form the edge and config use.

#[cfg(feature = "std")]
use std::{string::String, string::ToString, vec::Vec};

/// Origins and path prefixes that make up the store.
#[cfg(feature = "std")]
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[cfg_attr(feature = "wire", derive(serde::Serialize, serde::Deserialize))]
pub struct StoreScope {
    /// `scheme://host[:port]`, e.g. `https://shop.example.gov`.
    pub origins: Vec<String>,
    /// Path prefixes, e.g. `/store`. A trailing slash is ignored.
    pub path_prefixes: Vec<String>,
}

/// The two parts of an absolute http(s) URL that scope cares about.
#[cfg(feature = "std")]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlParts<'a> {
    /// Lowercased scheme and host, default port removed.
    pub origin: String,
    /// Path without query or fragment; `/` when empty.
    pub path: &'a str,
}

#[cfg(feature = "std")]
impl StoreScope {
    pub fn new<O, P>(origins: O, path_prefixes: P) -> Self
    where
        O: IntoIterator,
        O::Item: Into<String>,
        P: IntoIterator,
        P::Item: Into<String>,
    {
        StoreScope {
            origins: origins.into_iter().map(Into::into).collect(),
            path_prefixes: path_prefixes.into_iter().map(Into::into).collect(),
        }
    }

    /// True when `url` (absolute) is a store page.
    pub fn contains(&self, url: &str) -> bool {
        in_scope(self.origins.iter().map(String::as_str), self.path_prefixes.iter().map(String::as_str), url)
    }

    /// True when `origin` (`scheme://host[:port]`) is one of the store's.
    pub fn has_origin(&self, origin: &str) -> bool {
        parse_url(origin).is_some_and(|o| has_origin(self.origins.iter().map(String::as_str), &o))
    }

    /// True when `path` lies under one of the prefixes, on a segment boundary.
    pub fn has_path(&self, path: &str) -> bool {
        self.path_prefixes.iter().any(|prefix| path_under(path, prefix))
    }

    /// True when the scope could ever match something: at least one origin
    /// and one prefix. Components refuse to start with an empty scope.
    pub fn is_usable(&self) -> bool {
        !self.origins.is_empty()
            && !self.path_prefixes.is_empty()
            && self.origins.iter().all(|o| parse_url(o).is_some())
            && self.path_prefixes.iter().all(|p| p.starts_with('/'))
    }
}

/// True when `url` (absolute) lies in the scope given by `origins` and
/// `prefixes`, allocation-free: the beacon passes its comma-separated
/// configuration split in place, the edge its owned lists.
pub fn in_scope<'a>(
    origins: impl IntoIterator<Item = &'a str>,
    prefixes: impl IntoIterator<Item = &'a str>,
    url: &str,
) -> bool {
    match parse_url(url) {
        Some(u) => has_origin(origins, &u) && prefixes.into_iter().any(|p| path_under(u.path, p)),
        None => false,
    }
}

fn has_origin<'a>(origins: impl IntoIterator<Item = &'a str>, url: &RawUrl<'_>) -> bool {
    origins.into_iter().filter_map(parse_url).any(|o| o.same_origin(url))
}

/// True when `path` lies under `prefix` on a segment boundary (a trailing
/// slash on the prefix is ignored) and has no dot segments.
pub fn path_under(path: &str, prefix: &str) -> bool {
    let (path, mut prefix) = (path.as_bytes(), prefix.as_bytes());
    while let [rest @ .., b'/'] = prefix {
        prefix = rest;
    }
    !path.is_empty()
        && !has_dot_segment(path)
        && path.strip_prefix(prefix).is_some_and(|rest| rest.is_empty() || rest[0] == b'/')
}

/// The pieces of an absolute http(s) URL as they are written, borrowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawUrl<'a> {
    /// `scheme://authority` exactly as written.
    pub origin: &'a str,
    pub scheme: &'a str,
    pub host: &'a str,
    pub port: Option<u16>,
    /// Path without query or fragment; `/` when empty.
    pub path: &'a str,
}

/// Reads an absolute http(s) URL without allocating, or `None` for
/// anything that is not one (relative, other scheme, userinfo, bad port).
///
/// Written over bytes, with no `str` patterns and no panicking slices:
/// in the beacon either would pull `core::fmt` and the string searchers
/// into the Wasm.
pub fn parse_url(url: &str) -> Option<RawUrl<'_>> {
    let b = url.as_bytes();
    let colon = scan(b, 0, |c| c == b':');
    let scheme = url.get(..colon)?;
    if b.get(colon + 1..colon + 3)? != b"//" {
        return None;
    }
    if !scheme.eq_ignore_ascii_case("https") && !scheme.eq_ignore_ascii_case("http") {
        return None;
    }
    let start = colon + 3;
    let auth_end = scan(b, start, |c| matches!(c, b'/' | b'?' | b'#'));
    let path_end = scan(b, auth_end, |c| matches!(c, b'?' | b'#'));
    let authority = &b[start..auth_end];
    // A bracketed IPv6 literal's colons are not a port separator.
    let host_end = if authority.first() == Some(&b'[') {
        scan(authority, 0, |c| c == b']') + 1
    } else {
        scan(authority, 0, |c| c == b':')
    };
    let port = match authority.get(host_end..)? {
        [] => None,
        [b':', digits @ ..] => Some(parse_port(digits)?),
        _ => return None,
    };
    // Userinfo (`user@host`, `user:pw@host`) fails here or in the port.
    let host = url.get(start..start + host_end)?;
    if host.is_empty() || !host.bytes().all(|c| c.is_ascii_alphanumeric() || b"-.[]:".contains(&c)) {
        return None;
    }
    let path = if path_end == auth_end { "/" } else { url.get(auth_end..path_end)? };
    Some(RawUrl { origin: url.get(..auth_end)?, scheme, host, port, path })
}

/// Index of the first byte at or after `from` that `stop` accepts, or the end.
fn scan(s: &[u8], from: usize, stop: impl Fn(u8) -> bool) -> usize {
    let mut i = from;
    while i < s.len() && !stop(s[i]) {
        i += 1;
    }
    i
}

fn parse_port(digits: &[u8]) -> Option<u16> {
    if digits.is_empty() || digits.len() > 5 {
        return None;
    }
    let mut n = 0u32;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        n = n * 10 + u32::from(d - b'0');
    }
    u16::try_from(n).ok()
}

impl RawUrl<'_> {
    /// The port the URL really talks to: the explicit one or the scheme's default.
    pub fn effective_port(&self) -> u16 {
        self.port.unwrap_or(self.default_port())
    }

    /// 443 for https, 80 for http.
    pub fn default_port(&self) -> u16 {
        if self.scheme.eq_ignore_ascii_case("https") {
            443
        } else {
            80
        }
    }

    /// Same scheme, host and effective port, ignoring ASCII case.
    pub fn same_origin(&self, other: &RawUrl<'_>) -> bool {
        self.scheme.eq_ignore_ascii_case(other.scheme)
            && self.host.eq_ignore_ascii_case(other.host)
            && self.effective_port() == other.effective_port()
    }
}

/// Splits an absolute http(s) URL into its normalised origin and its path,
/// or `None` for anything that is not one (see [`parse_url`]).
#[cfg(feature = "std")]
pub fn split_url(url: &str) -> Option<UrlParts<'_>> {
    let raw = parse_url(url)?;
    let RawUrl { scheme, host, port, path, .. } = raw;
    let default_port = raw.default_port();
    let mut origin = scheme.to_ascii_lowercase();
    origin.push_str("://");
    origin.push_str(&host.to_ascii_lowercase());
    if let Some(port) = port.filter(|&p| p != default_port) {
        origin.push(':');
        origin.push_str(&port.to_string());
    }
    Some(UrlParts { origin, path })
}

fn has_dot_segment(path: &[u8]) -> bool {
    path.split(|&c| c == b'/').any(|seg| {
        seg == b"." || seg == b".." || seg.eq_ignore_ascii_case(b"%2e") || seg.eq_ignore_ascii_case(b"%2e%2e")
    })
}

#[cfg(all(test, feature = "std"))]
mod tests {
    use super::*;

    fn store() -> StoreScope {
        StoreScope::new(["https://shop.example.gov"], ["/store"])
    }

    #[test]
    fn prefix_matches_whole_segments_only() {
        let s = store();
        assert!(s.contains("https://shop.example.gov/store"));
        assert!(s.contains("https://shop.example.gov/store/"));
        assert!(s.contains("https://shop.example.gov/store/cart?x=1#top"));
        assert!(s.contains("https://shop.example.gov/store?q=shoes"));
        assert!(!s.contains("https://shop.example.gov/storefront"));
        assert!(!s.contains("https://shop.example.gov/storefront/cart"));
        assert!(!s.contains("https://shop.example.gov/"));
        assert!(!s.contains("https://shop.example.gov/about/store"));
        assert!(!s.contains("https://shop.example.gov"));
    }

    #[test]
    fn trailing_slash_in_prefix_is_ignored() {
        let s = StoreScope::new(["https://shop.example.gov"], ["/store/"]);
        assert!(s.contains("https://shop.example.gov/store"));
        assert!(s.contains("https://shop.example.gov/store/x"));
        assert!(!s.contains("https://shop.example.gov/storex"));
    }

    #[test]
    fn origin_must_match_exactly_modulo_case_and_default_port() {
        let s = store();
        assert!(s.contains("HTTPS://Shop.Example.GOV/store/x"));
        assert!(s.contains("https://shop.example.gov:443/store/x"));
        assert!(!s.contains("http://shop.example.gov/store/x"));
        assert!(!s.contains("https://shop.example.gov:8443/store/x"));
        assert!(!s.contains("https://evil.example.gov/store/x"));
        assert!(!s.contains("https://shop.example.gov.evil.com/store/x"));
        assert!(!s.contains("https://other.org/store"));
    }

    #[test]
    fn non_default_ports_are_part_of_the_origin() {
        let s = StoreScope::new(["http://127.0.0.1:8080"], ["/store"]);
        assert!(s.contains("http://127.0.0.1:8080/store/x"));
        assert!(!s.contains("http://127.0.0.1:8081/store/x"));
        assert!(!s.contains("http://127.0.0.1/store/x"));
        assert!(s.has_origin("http://127.0.0.1:8080"));
        assert!(!s.has_origin("http://127.0.0.1:9"));
    }

    #[test]
    fn odd_urls_are_out_of_scope() {
        let s = store();
        for url in [
            "",
            "/store/x",
            "store/x",
            "ftp://shop.example.gov/store",
            "javascript:alert(1)",
            "https://user@shop.example.gov/store",
            "https://shop.example.gov@evil.com/store",
            "https://shop.example.gov:/store",
            "https://shop.example.gov:99999x/store",
            "https://shop.example.gov/store/../admin",
            "https://shop.example.gov/store/%2e%2e/admin",
            "https:///store",
        ] {
            assert!(!s.contains(url), "{url:?} must be out of scope");
        }
    }

    #[test]
    fn ipv6_literal_origins() {
        let s = StoreScope::new(["http://[::1]:8080"], ["/store"]);
        assert!(s.contains("http://[::1]:8080/store"));
        assert!(!s.contains("http://[::1]:8081/store"));
    }

    #[test]
    fn several_origins_and_prefixes() {
        let s = StoreScope::new(["https://a.example", "https://b.example"], ["/store", "/checkout"]);
        assert!(s.contains("https://b.example/checkout/pay"));
        assert!(s.contains("https://a.example/store"));
        assert!(!s.contains("https://a.example/blog"));
    }

    #[test]
    fn usable_scope_needs_origin_and_prefix() {
        assert!(store().is_usable());
        assert!(!StoreScope::default().is_usable());
        assert!(!StoreScope::new(["https://a.example"], Vec::<String>::new()).is_usable());
        assert!(!StoreScope::new(["not a url"], ["/store"]).is_usable());
        assert!(!StoreScope::new(["https://a.example"], ["store"]).is_usable());
    }
}
