//! The `country` of a client address, from a MaxMind-format database (`.mmdb`: GeoLite2
//! or GeoIP2 Country or City, DB-IP, IPinfo's free country files) that the operator
//! supplies. The address is looked up and dropped; only the two-letter code is stored.

use std::net::IpAddr;
use std::path::Path;

use maxminddb::{Reader, geoip2};

/// An open database, held in memory.
pub(crate) struct GeoIp {
    reader: Reader<Vec<u8>>,
}

impl GeoIp {
    /// Reads the database; the error names the file.
    pub(crate) fn open(path: &Path) -> Result<GeoIp, String> {
        let reader = Reader::open_readfile(path)
            .map_err(|e| format!("GeoIP database {}: {e}", path.display()))?;
        Ok(GeoIp { reader })
    }

    /// From bytes (tests).
    #[cfg(test)]
    fn from_bytes(b: Vec<u8>) -> Result<GeoIp, String> {
        Ok(GeoIp {
            reader: Reader::from_source(b).map_err(|e| e.to_string())?,
        })
    }

    /// The ISO 3166-1 alpha-2 code of the address's country, when the database knows it.
    pub(crate) fn country(&self, ip: IpAddr) -> Option<String> {
        let rec: geoip2::Country<'_> = self.reader.lookup(ip).ok()??;
        let code = rec
            .country
            .and_then(|c| c.iso_code)
            .or_else(|| rec.registered_country.and_then(|c| c.iso_code))?;
        (code.len() == 2 && code.bytes().all(|b| b.is_ascii_alphabetic()))
            .then(|| code.to_ascii_uppercase())
    }
}

/// Writes small MaxMind DB files, for tests (the format is
/// <https://maxmind.github.io/MaxMind-DB/>): an IPv4 search tree with 24-bit records,
/// a data section of `{"country": {"iso_code": CODE}}` maps, and the metadata.
pub(crate) mod testdb {
    fn ctrl(out: &mut Vec<u8>, ty: u8, size: usize) {
        assert!(size < 29, "test databases hold short strings only");
        if ty <= 7 {
            out.push((ty << 5) | size as u8);
        } else {
            out.push(size as u8);
            out.push(ty - 7);
        }
    }

    fn string(out: &mut Vec<u8>, s: &str) {
        ctrl(out, 2, s.len());
        out.extend_from_slice(s.as_bytes());
    }

    fn uint(out: &mut Vec<u8>, ty: u8, v: u64) {
        let bytes = v.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        ctrl(out, ty, 8 - skip);
        out.extend_from_slice(&bytes[skip..]);
    }

    /// A database mapping IPv4 prefixes `(a.b.c.d, len)` to country codes.
    pub fn build(prefixes: &[([u8; 4], u8, &str)]) -> Vec<u8> {
        // Trie: node i has children [left, right]; None = no data; Leaf(k) = data k.
        #[derive(Clone, Copy)]
        enum Rec {
            Empty,
            Node(usize),
            Leaf(usize),
        }
        let mut nodes: Vec<[Rec; 2]> = vec![[Rec::Empty, Rec::Empty]];
        for (k, (addr, len, _)) in prefixes.iter().enumerate() {
            let bits = u32::from_be_bytes(*addr);
            let mut n = 0;
            for i in 0..*len {
                let bit = ((bits >> (31 - i)) & 1) as usize;
                if i + 1 == *len {
                    nodes[n][bit] = Rec::Leaf(k);
                } else {
                    n = match nodes[n][bit] {
                        Rec::Node(c) => c,
                        _ => {
                            nodes.push([Rec::Empty, Rec::Empty]);
                            let c = nodes.len() - 1;
                            nodes[n][bit] = Rec::Node(c);
                            c
                        }
                    };
                }
            }
        }
        let mut data = Vec::new();
        let mut offsets = Vec::new();
        for (_, _, code) in prefixes {
            offsets.push(data.len());
            ctrl(&mut data, 7, 1);
            string(&mut data, "country");
            ctrl(&mut data, 7, 1);
            string(&mut data, "iso_code");
            string(&mut data, code);
        }
        let count = nodes.len();
        let mut out = Vec::new();
        for n in &nodes {
            for r in n {
                let v = match *r {
                    Rec::Empty => count,
                    Rec::Node(c) => c,
                    Rec::Leaf(k) => count + 16 + offsets[k],
                };
                out.extend_from_slice(&(v as u32).to_be_bytes()[1..]);
            }
        }
        out.extend_from_slice(&[0; 16]);
        out.extend_from_slice(&data);
        out.extend_from_slice(b"\xAB\xCD\xEFMaxMind.com");
        ctrl(&mut out, 7, 9);
        string(&mut out, "node_count");
        uint(&mut out, 6, count as u64);
        string(&mut out, "record_size");
        uint(&mut out, 5, 24);
        string(&mut out, "ip_version");
        uint(&mut out, 5, 4);
        string(&mut out, "database_type");
        string(&mut out, "Cairn-Test-Country");
        string(&mut out, "languages");
        ctrl(&mut out, 11, 0);
        string(&mut out, "binary_format_major_version");
        uint(&mut out, 5, 2);
        string(&mut out, "binary_format_minor_version");
        uint(&mut out, 5, 0);
        string(&mut out, "build_epoch");
        uint(&mut out, 9, 1_700_000_000);
        string(&mut out, "description");
        ctrl(&mut out, 7, 0);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn countries_are_looked_up() {
        let db = GeoIp::from_bytes(testdb::build(&[
            ([192, 0, 2, 0], 24, "DE"),
            ([198, 51, 100, 0], 24, "fr"),
            ([203, 0, 113, 128], 25, "JP"),
        ]))
        .unwrap();
        let c = |s: &str| db.country(s.parse().unwrap());
        assert_eq!(c("192.0.2.77").as_deref(), Some("DE"));
        assert_eq!(c("198.51.100.1").as_deref(), Some("FR"));
        assert_eq!(c("203.0.113.200").as_deref(), Some("JP"));
        assert_eq!(c("203.0.113.1"), None);
        assert_eq!(c("10.0.0.1"), None);
        assert_eq!(
            c("2001:db8::1"),
            None,
            "an IPv4 database has no IPv6 answers"
        );
    }

    #[test]
    fn a_bad_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.mmdb");
        std::fs::write(&p, b"not a database").unwrap();
        let e = GeoIp::open(&p).err().unwrap();
        assert!(e.contains("x.mmdb"), "{e}");
    }
}
