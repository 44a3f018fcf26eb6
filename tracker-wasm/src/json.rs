//! JSON written into a fixed buffer: no allocator, no `core::fmt`.
//!
//! The beacon's whole output is JSON, so this is the one place bytes are
//! escaped and clipped. Strings are clipped to their wire limit *before*
//! escaping, on a UTF-8 boundary, so what the edge measures after decoding
//! is what was clipped here. A write that does not fit marks the writer as
//! overflowed instead of writing half a value; the caller then discards the
//! whole event.

pub struct Json<'a> {
    buf: &'a mut [u8],
    len: usize,
    overflow: bool,
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// `s` cut to at most `max` bytes without splitting a UTF-8 sequence.
pub fn clip(s: &[u8], max: usize) -> &[u8] {
    if s.len() <= max {
        return s;
    }
    let mut n = max;
    while n > 0 && s[n] & 0xC0 == 0x80 {
        n -= 1;
    }
    &s[..n]
}

/// True for the number grammar JavaScript's `String(n)` produces for a
/// finite number: `-?digits(.digits)?(e[+-]digits)?`.
pub fn is_number(s: &[u8]) -> bool {
    let mut i = usize::from(s.first() == Some(&b'-'));
    let digits = |i: &mut usize| {
        let start = *i;
        while *i < s.len() && s[*i].is_ascii_digit() {
            *i += 1;
        }
        *i > start
    };
    if !digits(&mut i) {
        return false;
    }
    if s.get(i) == Some(&b'.') {
        i += 1;
        if !digits(&mut i) {
            return false;
        }
    }
    if matches!(s.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(s.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if !digits(&mut i) {
            return false;
        }
    }
    i == s.len()
}

impl<'a> Json<'a> {
    pub fn new(buf: &'a mut [u8]) -> Json<'a> {
        Json { buf, len: 0, overflow: false }
    }

    /// Bytes written, or `None` when something did not fit.
    pub fn finish(&self) -> Option<usize> {
        (!self.overflow).then_some(self.len)
    }

    /// Marks the value as unwritable: [`Json::finish`] will say so.
    pub fn fail(&mut self) -> &mut Self {
        self.overflow = true;
        self
    }

    pub fn raw(&mut self, b: &[u8]) -> &mut Self {
        match self.buf.get_mut(self.len..self.len + b.len()) {
            Some(dst) if !self.overflow => {
                dst.copy_from_slice(b);
                self.len += b.len();
            }
            _ => self.overflow = true,
        }
        self
    }

    /// `,"key":` — every member after the first of an object.
    pub fn key(&mut self, key: &str) -> &mut Self {
        self.raw(b",\"").raw(key.as_bytes()).raw(b"\":")
    }

    /// A quoted, escaped string of at most `max` bytes (before escaping).
    pub fn str(&mut self, s: &[u8], max: usize) -> &mut Self {
        self.raw(b"\"");
        for &b in clip(s, max) {
            match b {
                b'"' | b'\\' => self.raw(&[b'\\', b]),
                0..=0x1f => self.raw(&[b'\\', b'u', b'0', b'0', HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]]),
                _ => self.raw(&[b]),
            };
        }
        self.raw(b"\"")
    }

    /// Lowercase hex of `bytes`, quoted.
    pub fn hex(&mut self, bytes: &[u8]) -> &mut Self {
        self.raw(b"\"");
        for &b in bytes {
            self.raw(&[HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]]);
        }
        self.raw(b"\"")
    }

    pub fn uint(&mut self, n: u32) -> &mut Self {
        let mut digits = [0u8; 10];
        let mut i = digits.len();
        let mut n = n;
        loop {
            i -= 1;
            digits[i] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        self.raw(&digits[i..])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(f: impl FnOnce(&mut Json)) -> String {
        let mut buf = [0u8; 64];
        let mut j = Json::new(&mut buf);
        f(&mut j);
        let n = j.finish().expect("fits");
        String::from_utf8(buf[..n].to_vec()).unwrap()
    }

    #[test]
    fn strings_are_escaped_and_valid_json() {
        let s = written(|j| {
            j.str("a\"b\\c\n\u{1}é".as_bytes(), 100);
        });
        assert_eq!(s, r#""a\"b\\c\u000a\u0001é""#);
        assert_eq!(serde_json::from_str::<String>(&s).unwrap(), "a\"b\\c\n\u{1}é");
    }

    #[test]
    fn clipping_never_splits_a_character() {
        assert_eq!(clip("aé".as_bytes(), 2), b"a");
        assert_eq!(clip("aé".as_bytes(), 3), "aé".as_bytes());
        assert_eq!(clip("€€".as_bytes(), 4), "€".as_bytes());
        assert_eq!(written(|j| { j.str("ab€".as_bytes(), 4); }), "\"ab\"");
    }

    #[test]
    fn numbers() {
        assert_eq!(written(|j| { j.uint(0).raw(b",").uint(4_294_967_295); }), "0,4294967295");
        for ok in ["0", "12", "-3", "12.5", "1e+21", "1.5e-7", "-0"] {
            assert!(is_number(ok.as_bytes()), "{ok}");
        }
        for bad in ["", "-", "NaN", "Infinity", "1.", ".5", "1e", "0x10", "1 ", "12abc"] {
            assert!(!is_number(bad.as_bytes()), "{bad}");
        }
    }

    #[test]
    fn overflow_is_reported_not_truncated() {
        let mut buf = [0u8; 4];
        let mut j = Json::new(&mut buf);
        j.raw(b"abc").raw(b"de");
        assert_eq!(j.finish(), None);
    }
}
