//! API keys: random (256 bits), shown once when created, and stored only as their
//! SHA-256 hash and a short prefix that identifies them in listings. Write keys
//! authenticate server-side senders of events; read keys, queries.

use rand::RngCore;
use rusqlite::{Connection, OptionalExtension, params};

use crate::{Meta, MetaError, Result, hash, now_ms};

/// What a key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Send events.
    Write,
    /// Run queries.
    Read,
}

impl Scope {
    fn as_str(self) -> &'static str {
        match self {
            Scope::Write => "write",
            Scope::Read => "read",
        }
    }

    fn parse(s: &str) -> Option<Scope> {
        match s {
            "write" => Some(Scope::Write),
            "read" => Some(Scope::Read),
            _ => None,
        }
    }
}

/// An API key as listed (never the key itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyInfo {
    /// The first characters of the key, to recognise it.
    pub prefix: String,
    /// Its scope.
    pub scope: Scope,
    /// The site.
    pub site: String,
    /// When it was created (ms).
    pub created_ms: i64,
}

/// Characters of a key kept as its visible prefix (`cairn_w_` and 4 more).
const PREFIX_LEN: usize = 12;

/// A new random key: `cairn_w_` or `cairn_r_`, then 64 hex digits (256 bits).
fn new_key(scope: Scope) -> String {
    let mut b = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut b);
    let tag = match scope {
        Scope::Write => "w",
        Scope::Read => "r",
    };
    let mut s = format!("cairn_{tag}_");
    for x in b {
        s.push_str(&format!("{x:02x}"));
    }
    s
}

/// Stores a new random key of `scope` for site `site_id` (in a site's registration
/// transaction, or alone); the key, in full.
pub(crate) fn insert_key(
    conn: &Connection,
    site_id: i64,
    scope: Scope,
    created_ms: i64,
) -> rusqlite::Result<String> {
    let key = new_key(scope);
    conn.execute(
        "INSERT INTO api_keys (site_id, scope, prefix, hash, created_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![site_id, scope.as_str(), &key[..PREFIX_LEN], hash(&key), created_ms],
    )?;
    Ok(key)
}

impl Meta {
    /// Creates another key for a site.
    pub fn add_key(&mut self, domain: &str, scope: Scope) -> Result<String> {
        let site = self
            .site(domain)?
            .ok_or_else(|| MetaError::NoSuchSite(domain.to_string()))?;
        insert_key(&self.conn, site.id, scope, now_ms()).map_err(|e| self.err(e))
    }

    /// The keys of a site (prefixes only).
    pub fn keys(&self, domain: &str) -> Result<Vec<KeyInfo>> {
        let mut st = self
            .conn
            .prepare(
                "SELECT k.prefix, k.scope, s.domain, k.created_ms FROM api_keys k
                 JOIN sites s ON s.id = k.site_id WHERE s.domain = ?1 ORDER BY k.id",
            )
            .map_err(|e| self.err(e))?;
        let rows = st
            .query_map(params![domain], |r| {
                let scope: String = r.get(1)?;
                Ok(KeyInfo {
                    prefix: r.get(0)?,
                    scope: Scope::parse(&scope).unwrap_or(Scope::Read),
                    site: r.get(2)?,
                    created_ms: r.get(3)?,
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| self.err(e))
    }

    /// The site and scope of a key, if it is a valid key.
    pub fn check_key(&self, key: &str) -> Result<Option<(String, Scope)>> {
        self.conn
            .query_row(
                "SELECT s.domain, k.scope FROM api_keys k JOIN sites s ON s.id = k.site_id
                 WHERE k.hash = ?1",
                params![hash(key)],
                |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)),
            )
            .optional()
            .map(|o| o.and_then(|(d, s)| Scope::parse(&s).map(|s| (d, s))))
            .map_err(|e| self.err(e))
    }

    /// Revokes a site's key by its listed prefix; whether one was revoked.
    pub fn revoke_key(&mut self, domain: &str, prefix: &str) -> Result<bool> {
        let n = self
            .conn
            .execute(
                "DELETE FROM api_keys WHERE prefix = ?2 AND site_id = (SELECT id FROM sites WHERE domain = ?1)",
                params![domain, prefix],
            )
            .map_err(|e| self.err(e))?;
        Ok(n > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MIGRATIONS;

    #[test]
    fn sites_and_keys() {
        let dir = tempfile::tempdir().unwrap();
        let mut m = Meta::open(dir.path()).unwrap();
        assert_eq!(m.schema_version().unwrap(), MIGRATIONS.len() as i64);
        let (site, key) = m.add_site("shop.example", "Europe/Berlin").unwrap();
        assert_eq!(site.domain, "shop.example");
        assert!(key.starts_with("cairn_w_") && key.len() == 8 + 64, "{key}");
        assert_eq!(
            m.check_key(&key).unwrap(),
            Some(("shop.example".to_string(), Scope::Write))
        );
        assert_eq!(m.check_key("cairn_w_00").unwrap(), None);
        assert!(matches!(
            m.add_site("shop.example", "UTC"),
            Err(MetaError::SiteExists(_))
        ));
        let read = m.add_key("shop.example", Scope::Read).unwrap();
        assert_eq!(m.check_key(&read).unwrap().unwrap().1, Scope::Read);
        let keys = m.keys("shop.example").unwrap();
        assert_eq!(keys.len(), 2);
        assert_eq!(keys[0].prefix, &key[..PREFIX_LEN]);
        assert!(matches!(
            m.add_key("nope.example", Scope::Read),
            Err(MetaError::NoSuchSite(_))
        ));
        // Reopening keeps everything and applies no migration twice.
        drop(m);
        let m = Meta::open(dir.path()).unwrap();
        assert_eq!(m.sites().unwrap().len(), 1);
        assert!(m.check_key(&key).unwrap().is_some());
    }
}
