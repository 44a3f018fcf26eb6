//! IP truncation: the one place an address loses the bits that identify a
//! household.
//!
//! IPv4 keeps its first three octets (/24), IPv6 keeps /48, and an
//! IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) is treated as the IPv4 address
//! it carries, so a dual-stack socket cannot smuggle a full IPv4 through as
//! "IPv6". The edge calls [`truncate`] before anything else touches the
//! address; the collector calls [`is_truncated`] to refuse a non-Tier-3 batch
//! whose address still carries host bits.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// An address that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an IP address: {0:?}")]
pub struct MalformedIp(pub String);

/// Parses `raw` and returns its truncated form, canonically formatted.
pub fn truncate(raw: &str) -> Result<IpAddr, MalformedIp> {
    parse(raw).map(truncate_addr)
}

/// Truncates an already parsed address.
pub fn truncate_addr(addr: IpAddr) -> IpAddr {
    match unmap(addr) {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            IpAddr::V4(Ipv4Addr::new(a, b, c, 0))
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], 0, 0, 0, 0, 0))
        }
    }
}

/// True when `raw` is a well-formed address with no bits beyond what
/// [`truncate`] keeps, and is not written as IPv4-mapped IPv6 (truncation
/// always yields the plain IPv4 form).
pub fn is_truncated(raw: &str) -> bool {
    match parse(raw) {
        Ok(addr) => addr == truncate_addr(addr),
        Err(_) => false,
    }
}

/// Parses an address as it arrives from a platform header: surrounding
/// whitespace is tolerated, brackets and ports are not.
pub fn parse(raw: &str) -> Result<IpAddr, MalformedIp> {
    raw.trim()
        .parse::<IpAddr>()
        .map_err(|_| MalformedIp(raw.chars().take(64).collect()))
}

/// IPv4-mapped IPv6 becomes the IPv4 address it carries.
pub fn unmap(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        },
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(raw: &str) -> String {
        truncate(raw).unwrap().to_string()
    }

    #[test]
    fn ipv4_keeps_slash_24() {
        assert_eq!(t("203.0.113.77"), "203.0.113.0");
        assert_eq!(t("10.1.2.255"), "10.1.2.0");
        assert_eq!(t("0.0.0.0"), "0.0.0.0");
        assert_eq!(t(" 198.51.100.9 "), "198.51.100.0");
    }

    #[test]
    fn ipv6_keeps_slash_48() {
        assert_eq!(t("2001:db8:abcd:12:1:2:3:4"), "2001:db8:abcd::");
        assert_eq!(t("2001:db8:abcd:ffff::1"), "2001:db8:abcd::");
        assert_eq!(t("::1"), "::");
        assert_eq!(t("fe80::1"), "fe80::");
    }

    #[test]
    fn ipv4_mapped_ipv6_is_treated_as_ipv4() {
        assert_eq!(t("::ffff:203.0.113.77"), "203.0.113.0");
        assert_eq!(t("::ffff:cb00:714d"), "203.0.113.0");
        // A mapped address must not pass as an already truncated /48.
        assert!(!is_truncated("::ffff:203.0.113.0"));
    }

    #[test]
    fn malformed_addresses_are_errors() {
        for bad in ["", "203.0.113", "203.0.113.256", "1.2.3.4:80", "[::1]", "example.org", "::g", "1.2.3.4, 5.6.7.8"] {
            assert!(truncate(bad).is_err(), "{bad:?} should be rejected");
            assert!(!is_truncated(bad), "{bad:?} is not a truncated address");
        }
    }

    #[test]
    fn is_truncated_detects_host_bits() {
        assert!(is_truncated("203.0.113.0"));
        assert!(!is_truncated("203.0.113.1"));
        assert!(is_truncated("2001:db8:abcd::"));
        assert!(!is_truncated("2001:db8:abcd:1::"));
        assert!(!is_truncated("2001:db8:abcd::1"));
    }

    #[test]
    fn truncation_is_idempotent() {
        for raw in ["203.0.113.77", "2001:db8:abcd:12::9", "::ffff:1.2.3.4"] {
            let once = truncate(raw).unwrap();
            assert_eq!(truncate(&once.to_string()).unwrap(), once);
        }
    }
}
