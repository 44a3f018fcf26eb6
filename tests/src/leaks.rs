//! Finding personal data in stored values the way a reader could decode
//! it: lower-cased, `+` as a space, `%XX` undone twice, and the Unicode
//! look-alikes of `@`, `.` and the digits mapped back. Used by the privacy
//! tests to read rows and batches as an attacker would.

use serde_json::Value;

/// What must never be readable: lower-case text, or a run of digits (found
/// with every separator removed, so `555 867-5309` holds `5558675309`).
#[derive(Debug, Clone)]
pub enum Needle {
    Text(String),
    Digits(String),
}

/// `s` as a reader could decode it.
pub fn decoded(s: &str) -> String {
    let mut out = s.to_lowercase().replace('+', " ");
    for _ in 0..2 {
        out = percent_encoding::percent_decode_str(&out).decode_utf8_lossy().into_owned();
    }
    out.chars()
        .map(|c| match c {
            '\u{ff20}' | '\u{fe6b}' => '@',
            '\u{ff0e}' => '.',
            '\u{ff10}'..='\u{ff19}' => char::from_u32('0' as u32 + (c as u32 - 0xff10)).unwrap_or(c),
            c => c,
        })
        .collect()
}

/// True when the decoded `s` holds `needle`.
pub fn holds(s: &str, needle: &Needle) -> bool {
    let d = decoded(s);
    match needle {
        Needle::Text(t) => d.contains(t.as_str()),
        Needle::Digits(n) => d.chars().filter(char::is_ascii_digit).collect::<String>().contains(n.as_str()),
    }
}

/// Every string anywhere in `v` (rows, batches) that holds one of `needles`.
pub fn leaks(v: &Value, needles: &[Needle]) -> Vec<String> {
    let mut out = Vec::new();
    walk(v, &mut |s| {
        if needles.iter().any(|n| holds(s, n)) {
            out.push(s.to_string());
        }
    });
    out
}

fn walk(v: &Value, f: &mut dyn FnMut(&str)) {
    match v {
        Value::String(s) => f(s),
        Value::Array(items) => items.iter().for_each(|i| walk(i, f)),
        Value::Object(map) => map.values().for_each(|i| walk(i, f)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn encoded_data_is_found() {
        let email = [Needle::Text("jane.doe@example.com".into())];
        for stored in ["/store/JANE.DOE%2540EXAMPLE.COM", "jane.doe\u{ff20}example\u{ff0e}com", "x jane.doe%40example.com"] {
            assert_eq!(leaks(&json!([{"path": stored}]), &email), [stored]);
        }
        assert_eq!(leaks(&json!({"t": "555+867+5309"}), &[Needle::Digits("5558675309".into())]).len(), 1);
        assert!(leaks(&json!({"path": "/store/orders/:redacted"}), &email).is_empty());
    }
}
