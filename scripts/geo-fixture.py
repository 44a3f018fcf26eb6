#!/usr/bin/env python3
"""Writes small GeoIP databases with known answers, for tests and the local demo.

    geo-fixture.py <out dir> <layout>

layout "maxmind": MaxMind's nested GeoIP2/GeoLite2 City record
    (country.iso_code, subdivisions[].names.en) and GeoLite2-ASN;
layout "flat": ip-location-db's flat records (country_code, state1) and its
    ASN layout. Writes city.mmdb and asn.mmdb. The networks are documentation
    and private ranges only: this is not geo data, it is a fixture.
"""
import sys
from pathlib import Path

from mmdb_writer import MMDBWriter
from netaddr import IPSet

# network → (country, region, asn, organisation)
NETWORKS = {
    "203.0.113.0/24": ("US", "Virginia", 64500, "Example Transit"),
    "198.51.100.0/24": ("DE", "Berlin", 64501, "Beispiel Netz"),
    "192.0.2.0/24": ("FR", "Ile-de-France", 64502, "Exemple Reseau"),
    "2001:db8:abcd::/48": ("JP", "Tokyo", 64503, "Example v6"),
    "127.0.0.0/8": ("ZZ", "Loopback", 64511, "Local Demo Network"),
}


def city_record(layout, country, region):
    if layout == "maxmind":
        return {
            "country": {"iso_code": country, "names": {"en": country}},
            "subdivisions": [{"iso_code": region[:2].upper(), "names": {"en": region}}],
        }
    return {"country_code": country, "state1": region}


def main():
    out, layout = Path(sys.argv[1]), sys.argv[2]
    assert layout in ("maxmind", "flat"), layout
    out.mkdir(parents=True, exist_ok=True)
    city = MMDBWriter(ip_version=6, ipv4_compatible=True,
                      database_type="GeoLite2-City" if layout == "maxmind" else "ip-location-db-city")
    asn = MMDBWriter(ip_version=6, ipv4_compatible=True,
                     database_type="GeoLite2-ASN" if layout == "maxmind" else "ip-location-db-asn")
    for net, (country, region, number, org) in NETWORKS.items():
        city.insert_network(IPSet([net]), city_record(layout, country, region))
        asn.insert_network(IPSet([net]), {"autonomous_system_number": number, "autonomous_system_organization": org})
    city.to_db_file(str(out / "city.mmdb"))
    asn.to_db_file(str(out / "asn.mmdb"))


if __name__ == "__main__":
    main()
