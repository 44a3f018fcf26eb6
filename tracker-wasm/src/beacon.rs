//! What the beacon measures and what it refuses to.
//!
//! The loader hands over facts as UTF-8 text in [`Beacon::io`]: 64 random
//! bytes (for event ids), then `\0`-separated fields. Every operation checks
//! the store scope first, so a page outside it, or a single-page store that
//! navigated outside it, produces nothing. Page URLs lose their query string
//! except the `utm_*` campaign fields, referrers and download links keep
//! only origin and path, outbound links only their domain
//! ([`mintmark_protocol::clean`]). Path segments, campaign values, titles,
//! props, SKUs and search terms go through [`mintmark_protocol::pii`]: a
//! personal path segment becomes `:redacted`, anything else that looks
//! personal is dropped, each one counted, and the counts travel with the
//! next batch so the edge can report them.

use mintmark_protocol::limits::{
    MAX_ITEMS, MAX_PROPS, MAX_PROP_KEY_LEN, MAX_PROP_VALUE_LEN, MAX_SHORT_LEN, MAX_SKU_LEN, MAX_TITLE_LEN, MAX_URL_LEN,
};
use mintmark_protocol::clean;
use mintmark_protocol::pii::{key_looks_personal, sku_looks_personal, value_looks_personal};
use mintmark_protocol::scope::{in_scope, parse_url, RawUrl};

use crate::json::{is_number, Json};
use crate::queue::Queue;

/// Input and output buffer shared with the loader.
pub const IO_BYTES: usize = 32 * 1024;
/// Random bytes at the start of every input: four event ids' worth.
pub const RANDOM_BYTES: usize = 64;


/// Commerce events the page's JavaScript may send by name.
const COMMERCE: [&str; 5] = ["product_view", "add_to_cart", "remove_from_cart", "checkout_start", "purchase"];
/// Keys of a commerce call that are fields, not props.
const COMMERCE_KEYS: [&str; 5] = ["sku", "quantity", "price", "value", "currency"];
/// Separates line items in a `track` call's pairs.
const ITEM_MARK: &[u8] = b"\x01";

/// Operations the loader calls through `on(op, len)`.
pub mod op {
    /// Every operation's first field is the time (`Date.now()`).
    ///
    /// `origins, prefixes, download extensions, cookieEnabled, screen width,
    /// height, colour depth, language, time zone, effectiveType, downlink`.
    pub const INIT: u32 = 0;
    /// `url, title, referrer, search term`.
    pub const PAGE: u32 = 1;
    /// `href` of the clicked link.
    pub const CLICK: u32 = 2;
    /// `name, (key, tagged value)*`; values are `#number` or `$string`,
    /// and a `\x01` key starts the next line item.
    pub const TRACK: u32 = 3;
}

pub struct Beacon {
    pub io: [u8; IO_BYTES],
    state: State,
}

struct State {
    /// `origins \0 prefixes \0 extensions`, as configured on the script tag.
    config: [u8; 2048],
    config_len: usize,
    /// `"cookies":…,"context":{…}`, written once at init.
    context: [u8; 512],
    context_len: usize,
    /// The current page's cleaned URL: the next page's referrer.
    page: [u8; MAX_URL_LEN],
    page_len: usize,
    /// FNV-1a of the current page's full URL: tells a repeated History API
    /// call from a new search on the same page.
    page_hash: u32,
    in_scope: bool,
    queue: Queue,
    pii_dropped: u32,
    errors: u32,
    /// The counts carried by the batch in flight.
    sent: (u32, u32),
}

/// The `\0`-separated fields of an input, front to back; past the end
/// every field is empty.
#[derive(Clone)]
struct Fields<'a>(&'a [u8]);

impl<'a> Fields<'a> {
    fn next(&mut self) -> &'a [u8] {
        let end = self.0.iter().position(|&b| b == 0).unwrap_or(self.0.len());
        let field = &self.0[..end];
        self.0 = self.0.get(end + 1..).unwrap_or_default();
        field
    }
}

fn text(b: &[u8]) -> &str {
    // SAFETY: the loader writes with `TextEncoder.encodeInto`, which writes
    // only whole UTF-8 sequences, and fields are split at NUL bytes only.
    unsafe { core::str::from_utf8_unchecked(b) }
}

impl Default for Beacon {
    fn default() -> Self {
        Beacon::new()
    }
}

impl Beacon {
    pub const fn new() -> Beacon {
        Beacon {
            io: [0; IO_BYTES],
            state: State {
                config: [0; 2048],
                config_len: 0,
                context: [0; 512],
                context_len: 0,
                page: [0; MAX_URL_LEN],
                page_len: 0,
                page_hash: 0,
                in_scope: false,
                queue: Queue::new(),
                pii_dropped: 0,
                errors: 0,
                sent: (0, 0),
            },
        }
    }

    /// Runs `op` on the `len` input bytes after the random ones; returns how
    /// many events it queued (for `INIT`: 1 when the configuration is usable).
    pub fn on(&mut self, op: u32, len: usize) -> u32 {
        let (random, rest) = self.io.split_at(RANDOM_BYTES);
        let input = &rest[..len.min(rest.len())];
        let mut fields = Fields(input);
        let st = &mut self.state;
        let ts = fields.next();
        let ts = if !ts.is_empty() && ts.len() <= 15 && ts.iter().all(u8::is_ascii_digit) { ts } else { b"0" };
        if op == op::INIT {
            return st.init(fields);
        }
        let mut ev = Events { st, random, ts, queued: 0 };
        match op {
            op::PAGE => ev.page(fields),
            op::CLICK => ev.click(fields),
            op::TRACK => ev.track(fields),
            _ => ev.st.errors += 1,
        }
        ev.queued
    }

    /// Cuts the next batch into `io`; returns its length (0: nothing to send).
    pub fn batch(&mut self) -> usize {
        let st = &mut self.state;
        let (pii, errors) = (st.pii_dropped, st.errors);
        let context = &st.context[..st.context_len];
        let n = st.queue.cut(
            |j| {
                j.raw(b"{\"v\":1,").raw(context).key("pii_dropped").uint(pii).key("errors").uint(errors).key("events").raw(b"[");
            },
            &mut self.io,
        );
        st.sent = if n > 0 { (pii, errors) } else { (0, 0) };
        n
    }

    /// The loader's verdict on the last batch: delivered (or hopeless) or to retry.
    pub fn done(&mut self, delivered: bool) {
        let st = &mut self.state;
        if delivered && st.queue.in_flight() > 0 {
            st.queue.delivered();
            st.pii_dropped -= st.sent.0;
            st.errors -= st.sent.1;
        } else {
            st.queue.failed();
        }
        st.sent = (0, 0);
    }

    /// Something went wrong in the loader (a bad API call, a failed send).
    pub fn oops(&mut self) {
        self.state.errors += 1;
    }
}

impl State {
    /// Configuration list `which` (0 origins, 1 path prefixes, 2 download
    /// extensions), split at commas (blanks were removed at init).
    fn list(&self, which: usize) -> impl Iterator<Item = &str> {
        let mut config = Fields(&self.config[..self.config_len]);
        for _ in 0..which {
            config.next();
        }
        config.next().split(|&b| b == b',').filter(|s| !s.is_empty()).map(text)
    }

    fn contains(&self, url: &str) -> bool {
        in_scope(self.list(0), self.list(1), url)
    }

    fn init(&mut self, mut f: Fields) -> u32 {
        // The three configuration lists, without blanks (no origin, path
        // or extension has any).
        let mut n = 0;
        for i in 0..3 {
            for &b in f.next().iter().filter(|b| !b.is_ascii_whitespace()) {
                if n == self.config.len() {
                    return 0;
                }
                self.config[n] = b;
                n += 1;
            }
            if i < 2 && n < self.config.len() {
                self.config[n] = 0;
                n += 1;
            }
        }
        self.config_len = n;
        let mut next = || f.next();
        let (cookies, width, height, depth) = (next(), next(), next(), next());
        let (language, time_zone, connection, downlink) = (next(), next(), next(), next());
        let mut j = Json::new(&mut self.context);
        j.raw(b"\"cookies\":").raw(if cookies == b"true" { b"true" } else { b"false" });
        j.raw(b",\"context\":{\"language\":").str(language, 35).key("time_zone").str(time_zone, 64);
        uint_field(&mut j, "screen_width", width, 65_535);
        uint_field(&mut j, "screen_height", height, 65_535);
        uint_field(&mut j, "color_depth", depth, 255);
        // The Network Information API is Chromium-only: absent elsewhere.
        if connection != b"undefined" {
            j.key("connection_type").str(connection, 16);
        }
        if is_number(downlink) && downlink[0] != b'-' {
            j.key("downlink_mbps").raw(downlink);
        }
        j.raw(b"}");
        self.context_len = j.finish().unwrap_or(0);
        u32::from(self.context_len > 0 && self.list(0).next().is_some() && self.list(1).next().is_some())
    }
}

/// `key` with `value` when it is a decimal number no larger than `max`.
fn uint_field(j: &mut Json, key: &str, value: &[u8], max: u32) {
    if value.is_empty() || value.len() > 9 || !value.iter().all(u8::is_ascii_digit) {
        return;
    }
    let n = value.iter().fold(0u32, |n, d| n * 10 + u32::from(d - b'0'));
    if n <= max {
        j.key(key).uint(n);
    }
}

/// One operation's event making.
struct Events<'a> {
    st: &'a mut State,
    random: &'a [u8],
    ts: &'a [u8],
    queued: u32,
}

/// Personal-looking values dropped and errors met while writing one event.
#[derive(Default)]
struct Counts {
    pii: u32,
    errors: u32,
}

impl Events<'_> {
    /// Starts an event in the queue's free space: id, type, time and the
    /// current page's cleaned URL. Finish it with `}` and [`Events::commit`].
    fn open(&mut self, kind: &str) -> Json<'_> {
        let at = self.queued as usize * 16;
        let st = &mut *self.st;
        let mut j = st.queue.space();
        match self.random.get(at..at + 16) {
            Some(id) => j.raw(b"{\"id\":").hex(id),
            None => j.fail(), // no random bytes left for an id
        };
        j.key("type").str(kind.as_bytes(), 32).key("ts").raw(self.ts).key("url").str(&st.page[..st.page_len], MAX_URL_LEN);
        j
    }

    fn commit(&mut self, written: Option<usize>, counts: Counts) {
        let ok = self.st.queue.commit(written);
        self.st.pii_dropped += counts.pii;
        self.st.errors += counts.errors + u32::from(!ok);
        self.queued += u32::from(ok);
    }

    fn page(&mut self, mut f: Fields) {
        let (url, title, referrer, search) = (text(f.next()), f.next(), f.next(), f.next());
        // A single-page store's later views come from its last page.
        let mut previous = [0u8; MAX_URL_LEN];
        let previous_len = self.st.page_len;
        previous[..previous_len].copy_from_slice(&self.st.page[..previous_len]);
        let referrer = if previous_len > 0 { &previous[..previous_len] } else { referrer };

        let was_in_scope = self.st.in_scope;
        self.st.in_scope = self.st.contains(url);
        let Some((len, removed)) = clean_page_url(url, &mut self.st.page) else {
            self.st.page_len = 0;
            self.st.in_scope = false;
            return;
        };
        self.st.page_len = len;
        let hash = url.bytes().fold(0x811c_9dc5u32, |h, b| (h ^ u32::from(b)).wrapping_mul(0x0100_0193));
        let repeat = was_in_scope && hash == self.st.page_hash;
        self.st.page_hash = hash;
        if !self.st.in_scope || repeat {
            return;
        }
        self.st.pii_dropped += removed;
        // History API calls that keep the page (state updates, filters in
        // the query) are not page views; a new search term still counts.
        if !(was_in_scope && previous[..previous_len] == self.st.page[..len]) {
            self.pageview(title, referrer);
        }
        if !search.is_empty() {
            if value_looks_personal(text(search)) {
                self.st.pii_dropped += 1;
            } else {
                let n = self.open("search").key("target").str(search, MAX_SHORT_LEN).raw(b"}").finish();
                self.commit(n, Counts::default());
            }
        }
    }

    fn pageview(&mut self, title: &[u8], referrer: &[u8]) {
        let mut referrer_buf = [0u8; MAX_URL_LEN];
        let mut counts = Counts::default();
        let referrer = parse_url(text(referrer)).and_then(|r| origin_path(&r, &mut referrer_buf, &mut counts));
        let mut j = self.open("pageview");
        if let Some(n) = referrer {
            j.key("referrer").str(&referrer_buf[..n], MAX_URL_LEN);
        }
        if value_looks_personal(text(title)) {
            counts.pii += 1;
        } else {
            j.key("title").str(title, MAX_TITLE_LEN);
        }
        let n = j.raw(b"}").finish();
        self.commit(n, counts);
    }

    fn click(&mut self, mut f: Fields) {
        let href = text(f.next());
        let Some(link) = parse_url(href) else { return };
        if !self.st.in_scope {
            return;
        }
        let path = link.path.as_bytes();
        let file = &path[path.iter().rposition(|&c| c == b'/').map_or(0, |i| i + 1)..];
        let ext = file.iter().rposition(|&c| c == b'.').map(|i| &file[i + 1..]);
        let download = ext.is_some_and(|ext| {
            self.st.list(2).any(|e| {
                let e = e.as_bytes();
                e.strip_prefix(b".").unwrap_or(e).eq_ignore_ascii_case(ext)
            })
        });
        if download {
            // The file's URL without its query: it is the content, not a visitor's.
            let mut target = [0u8; MAX_URL_LEN];
            let mut counts = Counts::default();
            let Some(len) = origin_path(&link, &mut target, &mut counts) else { return };
            let n = self.open("download").key("target").str(&target[..len], MAX_URL_LEN).raw(b"}").finish();
            self.commit(n, counts);
        } else if value_looks_personal(link.host) {
            self.st.pii_dropped += 1;
        } else if !self.st.contains(href) {
            let n = self.open("outbound").key("target").str(link.host.as_bytes(), MAX_SHORT_LEN).raw(b"}").finish();
            self.commit(n, Counts::default());
        }
    }

    fn track(&mut self, mut f: Fields) {
        if !self.st.in_scope {
            return;
        }
        let name = f.next();
        let commerce = COMMERCE.iter().find(|c| c.as_bytes() == name);
        let custom_ok = !name.is_empty()
            && name.len() <= 40
            && name.iter().all(|b| b.is_ascii_alphanumeric() || b"_-.:".contains(b));
        if commerce.is_none() && !custom_ok {
            self.st.errors += 1;
            return;
        }
        if commerce.is_none() && value_looks_personal(text(name)) {
            self.st.pii_dropped += 1;
            return;
        }
        let mut counts = Counts::default();
        let mut j = self.open(commerce.copied().unwrap_or("custom"));
        if commerce.is_none() {
            j.key("target").str(name, 40);
        }
        write_props(&mut j, f.clone(), &mut counts);
        // A commerce event about nothing (no product, no value) is a bad call.
        if !write_commerce(&mut j, f, &mut counts) && commerce.is_some() {
            j.fail();
        }
        let n = j.raw(b"}").finish();
        self.commit(n, counts);
    }
}

/// The page URL as [`clean::page_url`] keeps it (origin, redacted path,
/// harmless `utm_*` fields), and how many values that removed.
fn clean_page_url(url: &str, out: &mut [u8]) -> Option<(usize, u32)> {
    let mut j = Json::new(out);
    let removed = clean::page_url(url, &mut |s| {
        j.raw(s.as_bytes());
    })?;
    Some((j.finish()?, removed.segments + removed.campaign))
}

/// `scheme://authority/path` of `u` into `out`, personal segments redacted
/// and counted.
fn origin_path(u: &RawUrl, out: &mut [u8], counts: &mut Counts) -> Option<usize> {
    let mut j = Json::new(out);
    counts.pii += clean::origin_path(u, &mut |s| {
        j.raw(s.as_bytes());
    });
    j.finish()
}

/// Pairs of `key, tagged value` from a track call; an odd trailing key
/// has an empty value.
fn pairs<'a>(mut f: Fields<'a>) -> impl Iterator<Item = (&'a [u8], &'a [u8])> {
    core::iter::from_fn(move || (!f.0.is_empty()).then(|| (f.next(), f.next())))
}

/// The page's own props: top-level pairs that are not commerce fields,
/// minus whatever looks personal.
fn write_props(j: &mut Json, f: Fields, counts: &mut Counts) {
    let mut n = 0;
    for (key, value) in pairs(f) {
        if key == ITEM_MARK {
            break; // line items follow; they carry only sku/quantity/price
        }
        if key.is_empty() || COMMERCE_KEYS.iter().any(|k| k.as_bytes() == key) {
            continue;
        }
        let (tag, v) = value.split_first().unwrap_or((&b'?', &[]));
        if key_looks_personal(text(key)) || (*tag == b'$' && value_looks_personal(text(v))) {
            counts.pii += 1;
            continue;
        }
        if n == MAX_PROPS || !(*tag == b'$' || (*tag == b'#' && is_number(v))) {
            counts.errors += 1;
            continue;
        }
        j.raw(if n == 0 { b",\"props\":[[" } else { b",[" }).str(key, MAX_PROP_KEY_LEN).raw(b",");
        if *tag == b'$' {
            j.str(v, MAX_PROP_VALUE_LEN);
        } else {
            j.raw(v);
        }
        j.raw(b"]");
        n += 1;
    }
    if n > 0 {
        j.raw(b"]");
    }
}

/// `value`, `currency` and the line items. Top-level `sku`/`quantity`/`price`
/// make the first item (a product view); each `\x01` mark starts another.
/// True when it wrote a value or an item.
fn write_commerce(j: &mut Json, f: Fields, counts: &mut Counts) -> bool {
    let mut items = 0;
    let mut valued = false;
    let mut top = true;
    let mut item: (&[u8], &[u8], &[u8]) = (b"", b"", b"");
    let mut flush = |j: &mut Json, item: &mut (&[u8], &[u8], &[u8]), counts: &mut Counts| {
        let (sku, quantity, price) = core::mem::take(item);
        if sku.is_empty() {
            return;
        }
        if sku_looks_personal(text(sku)) {
            counts.pii += 1;
            return;
        }
        if items == MAX_ITEMS {
            counts.errors += 1;
            return;
        }
        j.raw(if items == 0 { b",\"items\":[{\"sku\":" } else { b",{\"sku\":" }).str(sku, MAX_SKU_LEN);
        if !quantity.is_empty() && quantity.len() <= 9 && quantity.iter().all(u8::is_ascii_digit) {
            j.key("quantity").raw(quantity);
        }
        if is_number(price) {
            j.key("price").raw(price);
        }
        j.raw(b"}");
        items += 1;
    };
    for (key, value) in pairs(f) {
        let v = value.get(1..).unwrap_or_default();
        match key {
            ITEM_MARK => {
                flush(j, &mut item, counts);
                top = false;
            }
            b"sku" => item.0 = v,
            b"quantity" if value.first() == Some(&b'#') => item.1 = v,
            b"price" if value.first() == Some(&b'#') => item.2 = v,
            b"value" if top && value.first() == Some(&b'#') && is_number(v) => {
                j.key("value").raw(v);
                valued = true;
            }
            b"currency" if top && v.len() == 3 && v.iter().all(u8::is_ascii_alphabetic) => {
                j.key("currency").raw(b"\"").raw(&[v[0] & !32, v[1] & !32, v[2] & !32]).raw(b"\"");
            }
            _ => {}
        }
    }
    flush(j, &mut item, counts);
    if items > 0 {
        j.raw(b"]");
    }
    valued || items > 0
}

#[cfg(test)]
mod tests;
