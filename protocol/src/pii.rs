//! What looks like personal data in page-supplied properties.
//!
//! The beacon drops any property whose key or value looks personal before
//! anything leaves the browser, and the edge runs the same test again on
//! every batch it receives, so a modified or buggy beacon still cannot put
//! an email address into Tier 2. Detection is deliberately eager: a dropped
//! harmless prop costs an analyst a column, a kept email address costs a
//! shopper their privacy.
//!
//! Keys are personal when a word of them names personal data (`email`,
//! `customer_id`, `billingAddress`, `card`); values when they contain an
//! email address, a phone-, card- or SSN-like run of 9+ digits, an
//! international number (`+` and 7+ digits), a street address (`12 Elm St`),
//! or an honorific followed by a name (`Mrs Smith`).
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

/// True when `word` is one of the space-separated `list`, ignoring ASCII case.
fn listed(list: &[u8], word: &[u8]) -> bool {
    list.split(|&b| b == b' ').any(|w| w.eq_ignore_ascii_case(word))
}

/// True when a property key names personal data.
pub fn key_looks_personal(key: &str) -> bool {
    let key = key.as_bytes();
    if KEY_FRAGMENTS.split(|&b| b == b' ').any(|f| contains_ignore_case(key, f)) {
        return true;
    }
    let mut start = 0;
    for i in 1..=key.len() {
        let boundary = i == key.len()
            || !key[i].is_ascii_alphanumeric()
            || (key[i].is_ascii_uppercase() && key[i - 1].is_ascii_lowercase());
        if boundary {
            let word = &key[start..i];
            if listed(KEY_WORDS, word) {
                return true;
            }
            start = if i < key.len() && !key[i].is_ascii_alphanumeric() { i + 1 } else { i };
        }
    }
    false
}

/// True when a string value contains something personal.
pub fn value_looks_personal(value: &str) -> bool {
    let v = value.as_bytes();
    has_email(v) || has_long_number(v) || has_street_or_honorific(v)
}

fn contains_ignore_case(hay: &[u8], needle: &[u8]) -> bool {
    hay.len() >= needle.len() && (0..=hay.len() - needle.len()).any(|i| hay[i..i + needle.len()].eq_ignore_ascii_case(needle))
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
/// `4111 1111 1111 1111`, `123-45-6789`) holding 9+ digits, or `+` and 7+ digits.
fn has_long_number(v: &[u8]) -> bool {
    let mut digits = 0;
    let mut gap = 0;
    let mut plus = false;
    for &b in v {
        if b.is_ascii_digit() {
            digits += 1;
            gap = 0;
        } else if digits > 0 && gap < 2 && matches!(b, b' ' | b'-' | b'.' | b'(' | b')' | b'/') {
            gap += 1;
            continue;
        } else {
            plus = b == b'+';
            digits = 0;
            gap = 0;
            continue;
        }
        if digits >= 9 || (plus && digits >= 7) {
            return true;
        }
    }
    false
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
            if listed(STREET_WORDS, word) {
                return true;
            }
            number_seen = if n < 3 { Some(n + 1) } else { None };
        }
        if !word.is_empty() && word.len() <= 6 && word.iter().all(u8::is_ascii_digit) {
            number_seen = Some(0);
        }
        after_honorific = listed(HONORIFICS, word);
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
}
