//! Visitor ids for browser events.
//!
//! * **Cookieless** (the default): the first 64 bits of
//!   `SHA-256(daily salt ‖ site ‖ client address ‖ user agent)`. The salt is random, made
//!   once per UTC day and kept only in `meta.sqlite` until the next day's salt replaces it
//!   (then it is deleted), so an id cannot be linked to an address, nor to the same
//!   visitor's id on another day. The address itself is never stored.
//! * **First-party** (a site that opted in): the id the tracker keeps in the browser
//!   (`vid`), hashed with the site, so the visitor is recognised across days.

use std::net::IpAddr;
use std::sync::Mutex;

use sha2::{Digest, Sha256};

use crate::registry::Registry;

/// Milliseconds in a day.
const DAY_MS: i64 = 86_400_000;

/// The current day's salt, cached; fetched from (or created in) the metadata database
/// when the UTC day changes.
#[derive(Default)]
pub(crate) struct Salts {
    current: Mutex<Option<(i64, [u8; 32])>>,
}

/// Why no salt could be had.
#[derive(Debug)]
pub(crate) struct SaltError(pub String);

impl Salts {
    /// The salt for the UTC day of `now_ms`, if it is in memory.
    pub(crate) fn cached(&self, now_ms: i64) -> Option<[u8; 32]> {
        let day = now_ms.div_euclid(DAY_MS);
        let cur = self.current.lock().unwrap_or_else(|p| p.into_inner());
        cur.filter(|(d, _)| *d == day).map(|(_, s)| s)
    }

    /// The salt for the UTC day of `now_ms`: from memory, else read from (or made in)
    /// the registry. Blocks: call it from a blocking thread.
    pub(crate) fn get(&self, meta: &Registry, now_ms: i64) -> Result<[u8; 32], SaltError> {
        let day = now_ms.div_euclid(DAY_MS);
        let mut cur = match self.current.lock() {
            Ok(c) => c,
            Err(p) => p.into_inner(),
        };
        if let Some((d, salt)) = *cur
            && d == day
        {
            return Ok(salt);
        }
        let mut meta = meta.write_blocking();
        match meta.salt(day) {
            Ok(Some(salt)) => {
                *cur = Some((day, salt));
                Ok(salt)
            }
            Ok(None) => Err(SaltError(
                "this server's clock is behind another Cairn process sharing the data directory"
                    .into(),
            )),
            Err(e) => Err(SaltError(e.to_string())),
        }
    }
}

/// The cookieless visitor id.
pub(crate) fn cookieless(salt: &[u8; 32], site: &str, ip: IpAddr, user_agent: &str) -> u64 {
    let mut h = Sha256::new();
    h.update(salt);
    h.update(site.as_bytes());
    h.update([0]);
    match ip {
        IpAddr::V4(a) => h.update(a.octets()),
        IpAddr::V6(a) => h.update(a.octets()),
    }
    h.update([0]);
    h.update(user_agent.as_bytes());
    first_u64(&h.finalize())
}

/// The visitor id of a first-party id kept by the tracker.
pub(crate) fn first_party(site: &str, vid: &str) -> u64 {
    let mut h = Sha256::new();
    h.update(b"cairn-first-party\0");
    h.update(site.as_bytes());
    h.update([0]);
    h.update(vid.as_bytes());
    first_u64(&h.finalize())
}

fn first_u64(digest: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&digest[..8]);
    u64::from_le_bytes(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_depend_on_every_input() {
        let s = [7u8; 32];
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let base = cookieless(&s, "a.example", ip, "UA");
        assert_eq!(base, cookieless(&s, "a.example", ip, "UA"));
        assert_ne!(base, cookieless(&[8; 32], "a.example", ip, "UA"));
        assert_ne!(base, cookieless(&s, "b.example", ip, "UA"));
        assert_ne!(
            base,
            cookieless(&s, "a.example", "192.0.2.2".parse().unwrap(), "UA")
        );
        assert_ne!(base, cookieless(&s, "a.example", ip, "UA2"));
        assert_ne!(first_party("a.example", "x"), first_party("b.example", "x"));
    }

    #[test]
    fn the_salt_changes_with_the_day() {
        let dir = tempfile::tempdir().unwrap();
        let meta = Registry::new(cairn_meta::Meta::open(dir.path()).unwrap()).unwrap();
        let salts = Salts::default();
        let d0 = 20_000 * DAY_MS;
        let a = salts.get(&meta, d0 + 5).unwrap();
        assert_eq!(salts.get(&meta, d0 + DAY_MS - 1).unwrap(), a);
        let b = salts.get(&meta, d0 + DAY_MS).unwrap();
        assert_ne!(a, b);
        assert_eq!(meta.write_blocking().salt_count().unwrap(), 1);
    }
}
