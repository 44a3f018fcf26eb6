//! A minimal JSON writer: objects, arrays, strings, unsigned numbers and
//! booleans, which is all a beacon batch needs. Commas are handled by
//! tracking whether the current container already has a member.

pub struct Json {
    out: String,
    needs_comma: bool,
}

impl Default for Json {
    fn default() -> Self {
        Self::new()
    }
}

impl Json {
    pub fn new() -> Json {
        Json { out: String::with_capacity(512), needs_comma: false }
    }

    fn sep(&mut self) {
        if self.needs_comma {
            self.out.push(',');
        }
    }

    pub fn obj_start(&mut self) -> &mut Self {
        self.sep();
        self.out.push('{');
        self.needs_comma = false;
        self
    }

    pub fn obj_end(&mut self) -> &mut Self {
        self.out.push('}');
        self.needs_comma = true;
        self
    }

    pub fn arr_start(&mut self) -> &mut Self {
        self.sep();
        self.out.push('[');
        self.needs_comma = false;
        self
    }

    pub fn arr_end(&mut self) -> &mut Self {
        self.out.push(']');
        self.needs_comma = true;
        self
    }

    /// An object key; the value call that follows must not add a comma.
    pub fn key(&mut self, k: &str) -> &mut Self {
        self.string(k, usize::MAX);
        self.out.push(':');
        self.needs_comma = false;
        self
    }

    /// A string, cut to at most `max_bytes` on a character boundary.
    pub fn string(&mut self, s: &str, max_bytes: usize) -> &mut Self {
        self.sep();
        let mut end = s.len().min(max_bytes);
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        self.out.push('"');
        for c in s[..end].chars() {
            match c {
                '"' => self.out.push_str("\\\""),
                '\\' => self.out.push_str("\\\\"),
                c if (c as u32) < 0x20 => {
                    self.out.push_str("\\u00");
                    self.out.push(hex_digit(c as u32 >> 4));
                    self.out.push(hex_digit(c as u32 & 15));
                }
                c => self.out.push(c),
            }
        }
        self.out.push('"');
        self.needs_comma = true;
        self
    }

    pub fn num(&mut self, mut n: u64) -> &mut Self {
        self.sep();
        let mut digits = [0u8; 20];
        let mut i = digits.len();
        loop {
            i -= 1;
            digits[i] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        for &d in &digits[i..] {
            self.out.push(d as char);
        }
        self.needs_comma = true;
        self
    }

    pub fn boolean(&mut self, b: bool) -> &mut Self {
        self.sep();
        self.out.push_str(if b { "true" } else { "false" });
        self.needs_comma = true;
        self
    }

    pub fn finish(self) -> String {
        self.out
    }
}

fn hex_digit(n: u32) -> char {
    char::from_digit(n, 16).unwrap_or('0')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_nested_json_that_parses() {
        let mut j = Json::new();
        j.obj_start();
        j.key("a").num(0);
        j.key("b").arr_start().num(18446744073709551615).string("x\"\\\n\u{1}é", 100).boolean(false).arr_end();
        j.key("c").obj_start().key("d").boolean(true).obj_end();
        j.obj_end();
        assert_eq!(j.finish(), r#"{"a":0,"b":[18446744073709551615,"x\"\\\u000a\u0001é",false],"c":{"d":true}}"#);
    }

    #[test]
    fn strings_are_cut_on_char_boundaries() {
        let mut j = Json::new();
        j.string("aé", 2);
        assert_eq!(j.finish(), "\"a\"");
    }
}
