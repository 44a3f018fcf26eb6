//! Enrichment: what an address and a user agent say, without keeping either.
//!
//! Country, region and network (ASN organisation) come from the *truncated*
//! address, for every tier, through `maxminddb`. Both record layouts are
//! read: MaxMind's nested one (`country.iso_code`, `subdivisions[].names.en`)
//! and ip-location-db's flat one (`country_code`, `state1`); ASN databases
//! share `autonomous_system_organization`. OS, browser and device class come
//! from the user agent through the ua-parser project's regexes
//! (`regexes.yaml` from uap-core); results are cached per user agent, the
//! least recently seen agents leaving first.

use std::net::IpAddr;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::{bail, Context};
use maxminddb::Reader;
use serde::{Deserialize, Serialize};

/// User agents remembered. Parsing one runs hundreds of regexes; a store's
/// traffic comes from a few thousand browser builds at a time, and the
/// long tail (and crafted agents) only ever push out the rarest.
const UA_CACHE: NonZeroUsize = NonZeroUsize::new(10_000).unwrap();

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Place {
    pub country: String,
    pub region: String,
    pub network: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Agent {
    pub os: String,
    pub browser: String,
    /// desktop, mobile, tablet, bot or other.
    pub device: String,
}

/// Where the databases are; see `[collector]` in the example config.
#[derive(Debug, Clone, Default)]
pub struct EnrichConfig {
    pub city_mmdb: Option<PathBuf>,
    pub asn_mmdb: Option<PathBuf>,
    pub geo_disabled: bool,
    pub ua_regexes: Option<PathBuf>,
}

pub struct Enricher {
    city: Option<Reader<Vec<u8>>>,
    asn: Option<Reader<Vec<u8>>>,
    ua: ua_parser::Extractor<'static>,
    cache: Mutex<lru::LruCache<String, Agent>>,
}

#[derive(Deserialize)]
struct Names<'a> {
    #[serde(borrow, default)]
    en: Option<&'a str>,
}

#[derive(Deserialize)]
struct Named<'a> {
    #[serde(borrow, default)]
    iso_code: Option<&'a str>,
    #[serde(borrow, default)]
    names: Option<Names<'a>>,
}

/// Both layouts in one shape: unknown fields are ignored, absent ones None.
#[derive(Deserialize)]
struct GeoRecord<'a> {
    #[serde(borrow, default)]
    country: Option<Named<'a>>,
    #[serde(borrow, default)]
    subdivisions: Option<Vec<Named<'a>>>,
    #[serde(borrow, default)]
    country_code: Option<&'a str>,
    #[serde(borrow, default)]
    state1: Option<&'a str>,
    #[serde(borrow, default)]
    autonomous_system_organization: Option<&'a str>,
}

fn open_mmdb(path: &Path, what: &str) -> anyhow::Result<Reader<Vec<u8>>> {
    Reader::open_readfile(path).with_context(|| format!("opening the {what} database {}", path.display()))
}

impl Enricher {
    pub fn open(cfg: &EnrichConfig) -> anyhow::Result<Enricher> {
        let (city, asn) = if cfg.geo_disabled {
            (None, None)
        } else {
            let Some(city) = &cfg.city_mmdb else {
                bail!(
                    "collector.geo_city_mmdb is not set: point it at a GeoIP2/GeoLite2 City or ip-location-db city .mmdb, \
                     or set collector.geo_disabled = true"
                );
            };
            (Some(open_mmdb(city, "city")?), cfg.asn_mmdb.as_deref().map(|p| open_mmdb(p, "ASN")).transpose()?)
        };
        let Some(regexes) = &cfg.ua_regexes else {
            bail!("collector.ua_regexes is not set: point it at uap-core's regexes.yaml (npm package uap-core)");
        };
        let yaml = std::fs::read_to_string(regexes).with_context(|| format!("reading {}", regexes.display()))?;
        // The extractor borrows its patterns for as long as the process runs.
        let yaml: &'static str = Box::leak(yaml.into_boxed_str());
        let parsed: ua_parser::Regexes<'static> = serde_yaml::from_str(yaml).with_context(|| format!("parsing {}", regexes.display()))?;
        let ua = ua_parser::Extractor::try_from(parsed).map_err(|e| anyhow::anyhow!("compiling {}: {e}", regexes.display()))?;
        Ok(Enricher { city, asn, ua, cache: Mutex::new(lru::LruCache::new(UA_CACHE)) })
    }

    /// Looks up an address, which must already be truncated.
    pub fn place(&self, ip: IpAddr) -> Place {
        let mut place = Place::default();
        if let Some(rec) = self.city.as_ref().and_then(|r| lookup(r, ip)) {
            place.country = rec.country.and_then(|c| c.iso_code).or(rec.country_code).unwrap_or_default().to_string();
            let sub = rec.subdivisions.and_then(|s| s.into_iter().next());
            place.region = sub.and_then(|s| s.names.and_then(|n| n.en).or(s.iso_code)).or(rec.state1).unwrap_or_default().to_string();
        }
        if let Some(rec) = self.asn.as_ref().and_then(|r| lookup(r, ip)) {
            place.network = rec.autonomous_system_organization.unwrap_or_default().to_string();
        }
        place
    }

    pub fn agent(&self, user_agent: &str) -> Agent {
        if let Some(hit) = self.cache.lock().unwrap().get(user_agent) {
            return hit.clone();
        }
        let (browser, os, device) = self.ua.extract(user_agent);
        let os = os.map(|o| o.os.to_string()).unwrap_or_else(|| "Other".into());
        let browser = browser.map(|b| b.family.to_string()).unwrap_or_else(|| "Other".into());
        let device_family = device.map(|d| d.device.to_string()).unwrap_or_default();
        let agent = Agent { device: device_class(user_agent, &os, &device_family).into(), os, browser };
        self.cache.lock().unwrap().put(user_agent.to_string(), agent.clone());
        agent
    }
}

fn lookup<'a>(reader: &'a Reader<Vec<u8>>, ip: IpAddr) -> Option<GeoRecord<'a>> {
    reader.lookup(ip).ok()?.decode::<GeoRecord<'a>>().ok().flatten()
}

/// uap names devices, not classes; the class follows from device, OS and the
/// usual UA markers.
fn device_class(ua: &str, os: &str, device: &str) -> &'static str {
    let tablet_marker = ua.contains("iPad") || ua.contains("Tablet") || device.contains("iPad") || device.contains("Tablet");
    if device == "Spider" {
        "bot"
    } else if tablet_marker || (os == "Android" && !ua.contains("Mobile")) {
        "tablet"
    } else if ua.contains("Mobile") || matches!(os, "iOS" | "Android" | "Windows Phone" | "KaiOS") {
        "mobile"
    } else if matches!(os, "Windows" | "Mac OS X" | "macOS" | "Linux" | "Ubuntu" | "Chrome OS" | "Fedora" | "FreeBSD") {
        "desktop"
    } else {
        "other"
    }
}


/// `collector enrich`: one JSON object per input line, in order. A line that
/// cannot be read gets `{"error": ...}` and the rest go on.
pub fn debug_lines(cfg: &EnrichConfig, input: impl std::io::BufRead, mut output: impl std::io::Write) -> anyhow::Result<()> {
    #[derive(Deserialize)]
    struct Line {
        ip: String,
        #[serde(default)]
        ua: String,
    }
    let enricher = Enricher::open(cfg)?;
    for line in input.lines() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let out = match serde_json::from_str::<Line>(&line) {
            Err(e) => serde_json::json!({ "error": format!("not {{\"ip\":..,\"ua\":..}}: {e}") }),
            Ok(l) => match mintmark_protocol::ip::truncate(&l.ip) {
                Err(e) => serde_json::json!({ "error": e.to_string() }),
                Ok(prefix) => {
                    let p = enricher.place(prefix);
                    let a = enricher.agent(&l.ua);
                    serde_json::json!({
                        "ip_prefix": prefix.to_string(),
                        "country": p.country, "region": p.region, "network": p.network,
                        "os": a.os, "browser": a.browser, "device": a.device,
                    })
                }
            },
        };
        writeln!(output, "{out}")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn regexes() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../node_modules/uap-core/regexes.yaml")
    }

    #[test]
    fn missing_geo_data_is_a_clear_start_up_error_unless_disabled() {
        let no_city = EnrichConfig { ua_regexes: Some(regexes()), ..Default::default() };
        let err = Enricher::open(&no_city).err().expect("refuses to start").to_string();
        assert!(err.contains("geo_city_mmdb") && err.contains("geo_disabled"), "{err}");
        let missing = EnrichConfig { city_mmdb: Some("/nonexistent/city.mmdb".into()), ..no_city.clone() };
        let err = format!("{:#}", Enricher::open(&missing).err().expect("refuses to start"));
        assert!(err.contains("/nonexistent/city.mmdb"), "{err}");
        let disabled = EnrichConfig { geo_disabled: true, ..no_city };
        let e = Enricher::open(&disabled).unwrap();
        assert_eq!(e.place("203.0.113.0".parse().unwrap()), Place::default());
        let no_ua = EnrichConfig { geo_disabled: true, ..Default::default() };
        assert!(Enricher::open(&no_ua).err().unwrap().to_string().contains("ua_regexes"));
    }
}
