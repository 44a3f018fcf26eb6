//! Known crawlers and headless browsers, by user agent (the isbot project's
//! patterns). Their beacons are answered 204 and dropped: no cookie, no row.

use std::sync::OnceLock;

static BOTS: OnceLock<isbot::Bots> = OnceLock::new();

pub fn is_bot(user_agent: &str) -> bool {
    // An empty user agent is not a browser either.
    user_agent.trim().is_empty() || BOTS.get_or_init(isbot::Bots::default).is_bot(user_agent)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crawlers_and_headless_are_bots_browsers_are_not() {
        for ua in [
            "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/156.0.0.0 Safari/537.36",
            "curl/8.5.0",
            "python-requests/2.32",
            "",
        ] {
            assert!(is_bot(ua), "{ua:?} is a bot");
        }
        for ua in [
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36",
            "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.0 Mobile/15E148 Safari/604.1",
            "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0",
        ] {
            assert!(!is_bot(ua), "{ua:?} is a browser");
        }
    }
}
