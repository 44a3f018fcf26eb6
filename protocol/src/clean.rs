//! What of a URL is ours to keep.
//!
//! A page URL keeps its origin, its path with personal segments redacted
//! ([`crate::pii::redact_path`]) and the `utm_*` campaign fields whose values
//! are not personal: other query parameters may carry anything, from search
//! filters to reset tokens, and fragments are the page's own business. A
//! referrer or a download link keeps origin and redacted path only.
//!
//! The beacon, the edge and the collector all clean with these functions, so
//! the three layers cannot drift apart. They write through a callback
//! instead of returning a string so that the `no_std`, heap-free beacon can
//! write straight into its JSON buffer.

use crate::pii::{pieces, redact_path, value_looks_personal};
use crate::scope::{parse_url, RawUrl};

/// What cleaning removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Removed {
    /// Path segments replaced by [`crate::pii::REDACTED`].
    pub segments: u32,
    /// `utm_*` parameters dropped because their value looked personal.
    pub campaign: u32,
}

/// Writes the cleaned form of the page URL `url`; `None` when it is not an
/// absolute http(s) URL (nothing was written).
pub fn page_url(url: &str, emit: &mut dyn FnMut(&str)) -> Option<Removed> {
    let u = parse_url(url)?;
    let mut removed = Removed { segments: origin_path(&u, emit), campaign: 0 };
    let b = url.as_bytes();
    let end = b.iter().position(|&c| c == b'#').unwrap_or(b.len());
    let query = match b[..end].iter().position(|&c| c == b'?') {
        Some(i) => url.get(i + 1..end).unwrap_or(""),
        None => "",
    };
    let mut sep = "?";
    for param in pieces(query, b'&').filter(|p| p.as_bytes().starts_with(b"utm_")) {
        let value = param.bytes().position(|c| c == b'=').and_then(|i| param.get(i + 1..)).unwrap_or("");
        if value_looks_personal(value) {
            removed.campaign += 1;
            continue;
        }
        emit(sep);
        emit(param);
        sep = "&";
    }
    Some(removed)
}

/// Writes `scheme://authority/path` of `u`, personal segments redacted;
/// returns how many were.
pub fn origin_path(u: &RawUrl, emit: &mut dyn FnMut(&str)) -> u32 {
    emit(u.origin);
    redact_path(u.path, emit)
}

/// Runs `write` once against `original`, and again into a new string only
/// when what it writes differs: clean input, the usual case, costs no
/// allocation.
#[cfg(feature = "std")]
fn rewritten<R>(original: &str, write: impl Fn(&mut dyn FnMut(&str)) -> Option<R>) -> Option<(Option<std::string::String>, R)> {
    let (mut pos, mut same) = (0, true);
    let r = write(&mut |s| {
        if same && original.get(pos..pos + s.len()) == Some(s) {
            pos += s.len();
        } else {
            same = false;
        }
    })?;
    if same && pos == original.len() {
        return Some((None, r));
    }
    let mut out = std::string::String::with_capacity(original.len());
    let r = write(&mut |s| out.push_str(s))?;
    Some((Some(out), r))
}

/// [`page_url`] of `url`: the new text when cleaning changed it, and what
/// it removed; `None` when `url` is not an absolute http(s) URL.
#[cfg(feature = "std")]
pub fn page_url_rewritten(url: &str) -> Option<(Option<std::string::String>, Removed)> {
    rewritten(url, |emit| page_url(url, emit))
}

/// [`origin_path`] of `url`, likewise.
#[cfg(feature = "std")]
pub fn origin_path_rewritten(url: &str) -> Option<(Option<std::string::String>, u32)> {
    let u = parse_url(url)?;
    rewritten(url, |emit| Some(origin_path(&u, emit)))
}

#[cfg(all(test, feature = "std"))]
mod tests {
    use super::*;

    fn page_url_string(url: &str) -> Option<(String, Removed)> {
        page_url_rewritten(url).map(|(new, removed)| (new.unwrap_or_else(|| url.to_string()), removed))
    }

    fn origin_path_string(url: &str) -> Option<(String, u32)> {
        origin_path_rewritten(url).map(|(new, n)| (new.unwrap_or_else(|| url.to_string()), n))
    }

    #[test]
    fn clean_input_is_not_rewritten() {
        assert_eq!(page_url_rewritten("https://shop.example.gov/store/p/MUG-1?utm_source=x"), Some((None, Removed::default())));
        assert_eq!(page_url_rewritten("https://shop.example.gov/store/p?q=1").unwrap().0.as_deref(), Some("https://shop.example.gov/store/p"));
        assert_eq!(origin_path_rewritten("https://shop.example.gov/store/"), Some((None, 0)));
    }

    #[test]
    fn page_urls_keep_origin_redacted_path_and_harmless_campaign_fields() {
        let (url, removed) = page_url_string(
            "https://shop.example.gov/store/orders/4111111111111111?utm_source=news&utm_content=jane.doe%40example.com&q=x&utm_term=5558675309#top",
        )
        .unwrap();
        assert_eq!(url, "https://shop.example.gov/store/orders/:redacted?utm_source=news");
        assert_eq!(removed, Removed { segments: 1, campaign: 2 });
        let (url, removed) = page_url_string("https://shop.example.gov/store/search/jane.doe@example.com").unwrap();
        assert_eq!((url.as_str(), removed.segments), ("https://shop.example.gov/store/search/:redacted", 1));
        assert!(page_url_string("/relative").is_none());
    }

    #[test]
    fn product_pages_are_kept_whole() {
        for url in [
            "https://shop.example.gov/store/products/enamel-mug-350ml",
            "https://shop.example.gov/store/p/MUG-1042",
            "https://shop.example.gov/store/sku/4006381333931",
            "https://shop.example.gov/store/c/kitchen/2026/11",
            "https://shop.example.gov/store/?utm_source=newsletter&utm_campaign=fall-sale-2026",
        ] {
            let (clean, removed) = page_url_string(url).unwrap();
            assert_eq!((clean.as_str(), removed), (url, Removed::default()));
        }
    }

    #[test]
    fn targets_keep_origin_and_redacted_path() {
        let (t, n) = origin_path_string("https://shop.example.gov/store/files/invoice-jane.doe@example.com.pdf?sig=1").unwrap();
        assert_eq!((t.as_str(), n), ("https://shop.example.gov/store/files/:redacted", 1));
        let (t, n) = origin_path_string("https://shop.example.gov/store/customers/88123/invoice.pdf").unwrap();
        assert_eq!((t.as_str(), n), ("https://shop.example.gov/store/customers/:redacted/invoice.pdf", 1));
    }
}
