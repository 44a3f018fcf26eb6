//! What looks like personal data in anything a page can send.
//!
//! Every free-text value that can reach a Tier 2 row goes through this test
//! at three layers: the beacon before anything leaves the browser, the edge
//! on every batch it receives, and the collector before it builds rows (it
//! trusts neither). Detection is deliberately eager: a dropped harmless value
//! costs an analyst a column, a kept email address costs a shopper their
//! privacy.
//!
//! Keys are personal when a word of them names personal data (`email`,
//! `customer_id`, `billingAddress`, `card`); values when they contain an
//! email address, a phone-, card- or SSN-like run of 9+ digits, an
//! international number (`+` and 7+ digits), a street address (`12 Elm St`),
//! or an honorific followed by a name (`Mrs Smith`). Values are tested as
//! sent and again after [`normalise`]: percent-decoding (twice, for double
//! encoding), `+` as a space, and the Unicode look-alikes of `@`, `.` and the
//! digits (full-width `＠．０-９`, small `﹫`), so `jane%40example.com` and
//! `jane＠example.com` are caught like `jane@example.com`.
//!
//! Path segments ([`segment_looks_personal`]) are also personal when they
//! hold a digit right after a segment that names personal data
//! (`/orders/A-10042`, `/customer/42`). Product codes are not personal: in a
//! SKU or a path segment, an all-digit GTIN (8, 12, 13 or 14 digits with a
//! valid GS1 check digit) that is not also a Luhn-valid card number is kept.
//!
//! Allocation-free and `no_std`: this exact code runs in the beacon.

// Word lists as one space-separated string each: a slice table would cost
// the beacon eight bytes of pointer and length per word.

/// Fragments that make a key personal wherever they appear in it.
const KEY_FRAGMENTS: &[u8] = b"mail phone name address street passw birth postcode zipcode";

/// Whole words (split at `_`, `-`, `.`, spaces and camelCase) that make a key personal.
const KEY_WORDS: &[u8] = b"tel fax mobile cell addr card cc ccn pan iban ssn dob zip postal customer user member account \
login order visitor ip cvv cvc passport surname";

/// Street suffixes (US usage) that, after a house number, make an address.
const STREET_WORDS: &[u8] = b"st street ave avenue rd road blvd boulevard ln lane dr drive way ct court pl place ter \
terrace hwy highway pkwy parkway cir circle sq square";

const HONORIFICS: &[u8] = b"mr mrs ms miss mx dr prof";

/// A word list with a filter in front: two 128-bit Bloom filters, one over
/// each word's (length, first letter, last letter), one over its first two
/// letters. The collector asks this for every word of every value and every
/// position of every key, and almost all fail the filter, so the list itself
/// is seldom scanned. Computed at compile time; 32 bytes of filter a list.
struct WordList {
    words: &'static [u8],
    /// Two bits per word, from [`word_bits`].
    words_seen: u128,
    /// One bit per word, from [`pair_bit`].
    starts: u128,
}

/// The filter's two bits for a word of `len` bytes from `first` to `last`
/// (lowercase).
const fn word_bits(len: usize, first: u8, last: u8) -> u128 {
    let h = (len as u32).wrapping_mul(0x9E37_79B9) ^ (first as u32).wrapping_mul(0x85EB_CA6B) ^ (last as u32).wrapping_mul(0xC2B2_AE35);
    let h = h ^ (h >> 15);
    (1u128 << (h & 127)) | (1u128 << ((h >> 7) & 127))
}

/// The bit of a word's first two letters (lowercase).
const fn pair_bit(a: u8, b: u8) -> u128 {
    1u128 << ((a as u32 * 31 + b as u32) & 127)
}

impl WordList {
    const fn new(words: &'static [u8]) -> WordList {
        let (mut words_seen, mut starts) = (0u128, 0u128);
        let (mut i, mut start) = (0, 0);
        while i <= words.len() {
            if i == words.len() || words[i] == b' ' {
                assert!(i > start + 1 && words[start].is_ascii_lowercase());
                words_seen |= word_bits(i - start, words[start], words[i - 1]);
                starts |= pair_bit(words[start], words[start + 1]);
                start = i + 1;
            }
            i += 1;
        }
        WordList { words, words_seen, starts }
    }

    /// True when `word` is one of the list's, ignoring ASCII case.
    fn has(&self, word: &[u8]) -> bool {
        let (Some(&first), Some(&last)) = (word.first(), word.last()) else { return false };
        let bits = word_bits(word.len(), first.to_ascii_lowercase(), last.to_ascii_lowercase());
        // The beacon tests a few values per event and skips the filter: its
        // 128-bit arithmetic costs Wasm bytes the lists themselves do not.
        (!cfg!(feature = "std") || self.words_seen & bits == bits) && self.words.split(|&b| b == b' ').any(|w| w.eq_ignore_ascii_case(word))
    }

    /// True when some word of the list could start with `a`, `b`.
    fn may_start(&self, a: u8, b: u8) -> bool {
        !cfg!(feature = "std") || self.starts & pair_bit(a.to_ascii_lowercase(), b.to_ascii_lowercase()) != 0
    }
}

static KEY_WORD_LIST: WordList = WordList::new(KEY_WORDS);
static STREET_WORD_LIST: WordList = WordList::new(STREET_WORDS);
static HONORIFIC_LIST: WordList = WordList::new(HONORIFICS);
static KEY_FRAGMENT_LIST: WordList = WordList::new(KEY_FRAGMENTS);

/// True when some fragment of `list` occurs in `key`, ignoring ASCII case:
/// one pass over the key, comparing only where a fragment could start.
fn has_fragment(list: &WordList, key: &[u8]) -> bool {
    key.windows(2).enumerate().any(|(i, pair)| {
        list.may_start(pair[0], pair[1])
            && list.words.split(|&b| b == b' ').any(|f| key.get(i..i + f.len()).is_some_and(|w| w.eq_ignore_ascii_case(f)))
    })
}

/// True when a property key names personal data.
pub fn key_looks_personal(key: &str) -> bool {
    let key = key.as_bytes();
    if has_fragment(&KEY_FRAGMENT_LIST, key) {
        return true;
    }
    let mut start = 0;
    for i in 1..=key.len() {
        let boundary = i == key.len()
            || !key[i].is_ascii_alphanumeric()
            || (key[i].is_ascii_uppercase() && key[i - 1].is_ascii_lowercase());
        if boundary {
            let word = &key[start..i];
            if KEY_WORD_LIST.has(word) {
                return true;
            }
            start = if i < key.len() && !key[i].is_ascii_alphanumeric() { i + 1 } else { i };
        }
    }
    false
}

/// Longest value normalised in one piece; longer ones are tested in
/// overlapping windows.
pub const MAX_TESTED_LEN: usize = crate::limits::MAX_URL_LEN;

/// What a personal path segment becomes, so the page still counts:
/// `/store/orders/4111111111111111` is stored as `/store/orders/:redacted`.
pub const REDACTED: &str = ":redacted";

/// True when a string value contains something personal.
pub fn value_looks_personal(value: &str) -> bool {
    tested(value.as_bytes(), false)
}

/// True when a SKU (a store's product code) contains something personal;
/// a GTIN-shaped code is not.
pub fn sku_looks_personal(sku: &str) -> bool {
    tested(sku.as_bytes(), true)
}

/// True when a URL path segment must not be stored: it looks personal
/// itself, or it holds a digit right after a segment that names personal
/// data (`previous` = `orders`, `customer`, `account`, ...).
pub fn segment_looks_personal(previous: &str, segment: &str) -> bool {
    if tested(segment.as_bytes(), true) {
        return true;
    }
    let p = previous.as_bytes();
    let singular = match p.last() {
        Some(b's') => previous.get(..p.len() - 1).unwrap_or(""),
        _ => previous,
    };
    segment.bytes().any(|b| b.is_ascii_digit()) && (key_looks_personal(previous) || key_looks_personal(singular))
}

/// The pieces of `s` between `sep` bytes. Byte scanning, not a `str`
/// pattern: in the beacon those pull the string searchers into the Wasm.
pub fn pieces(s: &str, sep: u8) -> impl Iterator<Item = &str> {
    let mut rest = Some(s);
    core::iter::from_fn(move || {
        let r = rest?;
        match r.bytes().position(|b| b == sep) {
            Some(i) => {
                rest = r.get(i + 1..);
                r.get(..i)
            }
            None => rest.take(),
        }
    })
}

/// `path` with every personal segment replaced by [`REDACTED`], written
/// piece by piece to `emit`; returns how many segments were replaced.
pub fn redact_path(path: &str, emit: &mut dyn FnMut(&str)) -> u32 {
    let mut redacted = 0;
    let mut previous = "";
    for (i, segment) in pieces(path, b'/').enumerate() {
        if i > 0 {
            emit("/");
        }
        if !segment.is_empty() && segment_looks_personal(previous, segment) {
            emit(REDACTED);
            redacted += 1;
        } else {
            emit(segment);
        }
        previous = segment;
    }
    redacted
}

/// The test on the value as sent and on its normalised forms; a value
/// longer than [`MAX_TESTED_LEN`] is tested in windows that overlap by more
/// than the longest email address.
fn tested(v: &[u8], product_codes: bool) -> bool {
    if v.len() <= MAX_TESTED_LEN {
        return tested_window(v, product_codes);
    }
    let mut start = 0;
    loop {
        let end = v.len().min(start + MAX_TESTED_LEN);
        if tested_window(&v[start..end], product_codes) {
            return true;
        }
        if end == v.len() {
            return false;
        }
        start += MAX_TESTED_LEN - 512;
    }
}

fn tested_window(v: &[u8], product_codes: bool) -> bool {
    let personal = |v: &[u8]| personal(v, product_codes);
    if personal(v) {
        return true;
    }
    // Most values have nothing to decode; skip the buffers (the collector
    // tests every free-text field of every event).
    let decodable = |v: &[u8]| v.iter().any(|&b| b == b'%' || b == b'+' || b == 0xEF);
    if !decodable(v) {
        return false;
    }
    let (mut a, mut b) = ([0u8; MAX_TESTED_LEN], [0u8; MAX_TESTED_LEN]);
    let mut n = normalise(v, &mut a);
    if n == v.len() && a[..n] == *v {
        return false;
    }
    if personal(&a[..n]) {
        return true;
    }
    if !decodable(&a[..n]) {
        return false;
    }
    // Double encoding (`%2540`) and encoded look-alikes (`%EF%BC%A0`).
    n = normalise(&a[..n], &mut b);
    personal(&b[..n])
}

// Called on up to three forms of a value; one copy keeps the beacon small.
#[inline(never)]
fn personal(v: &[u8], product_codes: bool) -> bool {
    has_email(v) || has_long_number(v, product_codes) || has_street_or_honorific(v)
}

/// One pass of decoding into `out` (never longer than `v`): `%XX` escapes,
/// `+` as a space, and the look-alikes named in the module docs.
pub fn normalise(v: &[u8], out: &mut [u8]) -> usize {
    let hex = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    };
    let (mut i, mut n) = (0, 0);
    while i < v.len() && n < out.len() {
        let next = |k: usize| v.get(i + k).copied().unwrap_or(0);
        let (byte, used) = match (v[i], next(1), next(2)) {
            (b'%', h, l) => match (hex(h), hex(l)) {
                (Some(h), Some(l)) => (h << 4 | l, 3),
                _ => (b'%', 1),
            },
            (b'+', _, _) => (b' ', 1),
            // U+FF20 FULLWIDTH COMMERCIAL AT, U+FE6B SMALL COMMERCIAL AT
            (0xEF, 0xBC, 0xA0) | (0xEF, 0xB9, 0xAB) => (b'@', 3),
            // U+FF0E FULLWIDTH FULL STOP
            (0xEF, 0xBC, 0x8E) => (b'.', 3),
            // U+FF10..U+FF19 FULLWIDTH DIGIT ZERO..NINE
            (0xEF, 0xBC, d @ 0x90..=0x99) => (b'0' + (d - 0x90), 3),
            (b, _, _) => (b, 1),
        };
        out[n] = byte;
        n += 1;
        i += used;
    }
    n
}

/// `x@y.z`: something, an `@`, then a dot before the next space.
fn has_email(v: &[u8]) -> bool {
    v.iter().enumerate().any(|(i, &b)| {
        b == b'@'
            && i > 0
            && !v[i - 1].is_ascii_whitespace()
            && v[i + 1..].iter().take_while(|c| !c.is_ascii_whitespace()).skip(1).any(|&c| c == b'.')
    })
}

/// A run of digits joined by at most two separators in a row (`(555) 867-5309`,
/// `4111 1111 1111 1111`, `123-45-6789`) holding 9+ digits, or `+` and 7+
/// digits. With `product_codes`, an unbroken all-digit GTIN is not one.
fn has_long_number(v: &[u8], product_codes: bool) -> bool {
    let (mut digits, mut gap, mut plus, mut joined) = (0, 0, false, false);
    let (mut start, mut end) = (0, 0);
    for i in 0..=v.len() {
        let b = v.get(i).copied().unwrap_or(0);
        if b.is_ascii_digit() {
            if digits == 0 {
                start = i;
            }
            joined |= gap > 0;
            digits += 1;
            gap = 0;
            end = i + 1;
            continue;
        }
        if digits > 0 && gap < 2 && matches!(b, b' ' | b'-' | b'.' | b'(' | b')' | b'/') {
            gap += 1;
            continue;
        }
        if digits >= 9 || (plus && digits >= 7) {
            let run = &v[start..end];
            let product = product_codes && !plus && !joined && is_gtin(run) && !is_luhn(run);
            if !product {
                return true;
            }
        }
        plus = b == b'+';
        (digits, gap, joined) = (0, 0, false);
    }
    false
}

/// 8, 12, 13 or 14 digits whose last is the GS1 check digit.
fn is_gtin(d: &[u8]) -> bool {
    if !matches!(d.len(), 8 | 12 | 13 | 14) {
        return false;
    }
    // Weights 3, 1, 3, ... from the rightmost digit before the check digit.
    let sum: u32 = d[..d.len() - 1].iter().rev().enumerate().map(|(i, &c)| u32::from(c - b'0') * if i % 2 == 0 { 3 } else { 1 }).sum();
    (10 - sum % 10) % 10 == u32::from(d[d.len() - 1] - b'0')
}

/// The payment card check (Luhn).
fn is_luhn(d: &[u8]) -> bool {
    let sum: u32 = d
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &c)| {
            // Every second digit from the right is doubled, and its digits summed.
            let n = u32::from(c - b'0') * if i % 2 == 1 { 2 } else { 1 };
            n / 10 + n % 10
        })
        .sum();
    sum % 10 == 0
}

/// A house number followed within three words by a street suffix, or an
/// honorific followed by a word.
fn has_street_or_honorific(v: &[u8]) -> bool {
    let words = v.split(|b| b.is_ascii_whitespace() || *b == b',').filter(|w| !w.is_empty());
    let mut number_seen: Option<u8> = None;
    let mut after_honorific = false;
    for word in words.map(|w| w.strip_suffix(b".").unwrap_or(w)) {
        if after_honorific {
            return true;
        }
        if let Some(n) = number_seen {
            if STREET_WORD_LIST.has(word) {
                return true;
            }
            number_seen = if n < 3 { Some(n + 1) } else { None };
        }
        if !word.is_empty() && word.len() <= 6 && word.iter().all(u8::is_ascii_digit) {
            number_seen = Some(0);
        }
        after_honorific = HONORIFIC_LIST.has(word);
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn personal_keys() {
        for key in [
            "email", "Email", "customer_email", "emailAddress", "e-mail", "phone", "phoneNumber", "tel", "mobile", "name",
            "first_name", "lastName", "fullname", "address", "billingAddress", "street", "addr_line1", "zip", "zipCode",
            "postal_code", "card", "card_number", "cc", "ssn", "dob", "birthdate", "customer", "customer_id", "userId", "user",
            "order_id", "orderNumber", "visitor", "account", "ip", "password", "passport",
        ] {
            assert!(key_looks_personal(key), "{key} must count as personal");
        }
    }

    #[test]
    fn word_lists_pass_their_own_filters() {
        for list in [&KEY_WORD_LIST, &STREET_WORD_LIST, &HONORIFIC_LIST, &KEY_FRAGMENT_LIST] {
            for w in list.words.split(|&b| b == b' ') {
                assert!(list.has(w), "{:?}", core::str::from_utf8(w));
                assert!(list.has(&w.to_ascii_uppercase()), "{:?}", core::str::from_utf8(w));
                assert!(has_fragment(list, w));
                let mut within = b"x_".to_vec();
                within.extend(w.to_ascii_uppercase());
                within.extend(b"_y");
                assert!(has_fragment(list, &within), "{:?}", core::str::from_utf8(&within));
            }
        }
        assert!(!HONORIFIC_LIST.has(b"") && !HONORIFIC_LIST.has(b"mug") && !HONORIFIC_LIST.has(b"mrsx") && !HONORIFIC_LIST.has(b"9r"));
    }

    #[test]
    fn ordinary_keys() {
        for key in [
            "plan", "step", "variant", "sku", "quantity", "price", "currency", "value", "shipping", "category", "cardigan_size",
            "color", "hotel", "success", "coupon", "list", "position", "experiment", "tip", "border", "accessories",
        ] {
            assert!(!key_looks_personal(key), "{key} must not count as personal");
        }
    }

    #[test]
    fn personal_values() {
        for value in [
            "jane@example.com",
            "write to Jane.Doe+shop@mail.example.org please",
            "555-867-5309",
            "(555) 867-5309",
            "+1 555 867 5309",
            "+44 20 7946 0958",
            "+4915112345",
            "4111 1111 1111 1111",
            "4111-1111-1111-1111",
            "4111111111111111",
            "123-45-6789",
            "1600 Pennsylvania Avenue NW",
            "12 Elm St.",
            "742 Evergreen Terrace, Springfield",
            "Mrs Smith",
            "Dr. Who",
        ] {
            assert!(value_looks_personal(value), "{value:?} must count as personal");
        }
    }

    #[test]
    fn ordinary_values() {
        for value in [
            "",
            "blue",
            "MUG-1042",
            "Enamel mug, 350 ml",
            "2026-11-22",
            "12.50",
            "1200 x 800",
            "@mintmark on social",
            "summer-sale",
            "step 3 of 4",
            "v2.10.4",
            "10 ways to brew",
            "St. Louis store",
            "We ship 7 days a week",
        ] {
            assert!(!value_looks_personal(value), "{value:?} must not count as personal");
        }
    }

    #[test]
    fn encoded_and_look_alike_values_are_caught() {
        for value in [
            "jane.doe%40example.com",
            "JANE.DOE%40EXAMPLE.COM",
            "jane.doe%2540example.com",
            "jane.doe\u{ff20}example\u{ff0e}com",
            "jane.doe\u{fe6b}example.com",
            "jane.doe%EF%BC%A0example.com",
            "555%2D867%2D5309",
            "\u{ff15}\u{ff15}\u{ff15}\u{ff18}\u{ff16}\u{ff17}\u{ff15}\u{ff13}\u{ff10}\u{ff19}",
            "12+Elm+St",
            "Mrs+Smith",
            "%2B4915112345",
        ] {
            assert!(value_looks_personal(value), "{value:?} must count as personal");
        }
        let long = format!("{} jane%40example.com {}", "a ".repeat(MAX_TESTED_LEN), "b ".repeat(MAX_TESTED_LEN));
        assert!(value_looks_personal(&long), "long values are tested in windows");
        assert!(!value_looks_personal(&"a ".repeat(3 * MAX_TESTED_LEN)));
    }

    #[test]
    fn path_segments() {
        for (previous, segment) in [
            ("search", "jane.doe@example.com"),
            ("orders", "4111111111111111"),
            ("orders", "A-10042"),
            ("order", "10042"),
            ("customers", "88123"),
            ("account", "u123"),
            ("files", "invoice-jane.doe%40example.com.pdf"),
            ("p", "4111111111111111"),
        ] {
            assert!(segment_looks_personal(previous, segment), "/{previous}/{segment} must be redacted");
        }
        for (previous, segment) in [
            ("products", "enamel-mug-350ml"),
            ("p", "MUG-1042"),
            ("sku", "4006381333931"),
            ("sku", "96385074"),
            ("orders", "confirmation"),
            ("store", "orders"),
            ("c", "2026"),
            ("blog", "10-ways-to-brew"),
        ] {
            assert!(!segment_looks_personal(previous, segment), "/{previous}/{segment} must be kept");
        }
        let mut out = String::new();
        assert_eq!(redact_path("/store/orders/A-10042/items", &mut |s| out.push_str(s)), 1);
        assert_eq!(out, "/store/orders/:redacted/items");
    }

    #[test]
    fn product_codes_are_not_numbers_of_people() {
        assert!(!sku_looks_personal("4006381333931"), "EAN-13");
        assert!(!sku_looks_personal("036000291452"), "UPC-A");
        assert!(sku_looks_personal("4006381333932"), "a wrong check digit is no GTIN");
        assert!(sku_looks_personal("4111111111111111"), "a card number is not a product code");
        assert!(sku_looks_personal("555-867-5309"), "joined digits are a phone, not a GTIN");
        assert!(value_looks_personal("4006381333931"), "outside SKUs and paths a long number is personal");
    }
}
