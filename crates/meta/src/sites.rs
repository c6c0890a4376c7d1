//! Registered sites: the domain events name, the time zone reports use, and how the
//! ingestion server identifies the site's visitors. Registering a site also creates its
//! first write key (see `keys`).

use rusqlite::{OptionalExtension, params};

use crate::keys::{Scope, insert_key};
use crate::{Meta, MetaError, Result, now_ms};

/// Longest site domain accepted.
pub const DOMAIN_MAX: usize = 253;

/// A registered site.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Site {
    /// Row id.
    pub id: i64,
    /// The domain, as events name it (`site` field).
    pub domain: String,
    /// IANA time zone for reports.
    pub timezone: String,
    /// When it was registered (ms).
    pub created_ms: i64,
    /// How the server identifies the site's visitors.
    pub identity: VisitorIdMode,
}

/// How the ingestion server derives a visitor id for a site's browser events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum VisitorIdMode {
    /// A hash of a daily salt, the site, the IP address and the user agent: no cookie, no
    /// storage in the browser; a visitor is recognised within one UTC day only.
    #[default]
    Cookieless,
    /// A random id the tracker keeps in the browser's local storage (the site asks its
    /// visitors' consent), so journeys over several days are joined. Events without the
    /// id fall back to the cookieless hash.
    FirstParty,
}

impl VisitorIdMode {
    /// The name used in configuration and listings.
    pub fn as_str(self) -> &'static str {
        match self {
            VisitorIdMode::Cookieless => "cookieless",
            VisitorIdMode::FirstParty => "first-party",
        }
    }

    /// Parses `cookieless` or `first-party`.
    pub fn parse(s: &str) -> Option<VisitorIdMode> {
        match s {
            "cookieless" => Some(VisitorIdMode::Cookieless),
            "first-party" => Some(VisitorIdMode::FirstParty),
            _ => None,
        }
    }
}

/// Checks a site domain: lower-case letters, digits, `-` and `.` (and `:port`), no empty
/// labels.
pub fn check_domain(domain: &str) -> Result<()> {
    let bad = |why| {
        Err(MetaError::BadDomain {
            domain: domain.to_string(),
            why,
        })
    };
    if domain.is_empty() {
        return bad("it is empty");
    }
    if domain.len() > DOMAIN_MAX {
        return bad("it is longer than 253 characters");
    }
    if domain.bytes().any(|b| b.is_ascii_uppercase()) {
        return bad("write it in lower case");
    }
    let (host, port) = match domain.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (domain, None),
    };
    if let Some(p) = port
        && (p.is_empty() || p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit()))
    {
        return bad("the port must be a number");
    }
    if !host
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
    {
        return bad("use letters, digits, `-` and `.` only (no scheme or path)");
    }
    if host.split('.').any(str::is_empty) {
        return bad("it has an empty label (a leading, trailing or doubled dot)");
    }
    Ok(())
}

impl Meta {
    /// Registers a site and creates its first write key, returned in full (it is not
    /// stored and cannot be shown again).
    pub fn add_site(&mut self, domain: &str, timezone: &str) -> Result<(Site, String)> {
        check_domain(domain)?;
        if timezone.parse::<chrono_tz::Tz>().is_err() {
            return Err(MetaError::BadTimeZone(timezone.to_string()));
        }
        if self.site(domain)?.is_some() {
            return Err(MetaError::SiteExists(domain.to_string()));
        }
        let created_ms = now_ms();
        let tx = self.conn.transaction().map_err(|e| MetaError::Sqlite {
            path: self.path.clone(),
            source: e,
        })?;
        let path = self.path.clone();
        let err = |source| MetaError::Sqlite {
            path: path.clone(),
            source,
        };
        tx.execute(
            "INSERT INTO sites (domain, timezone, created_ms) VALUES (?1, ?2, ?3)",
            params![domain, timezone, created_ms],
        )
        .map_err(err)?;
        let id = tx.last_insert_rowid();
        let key = insert_key(&tx, id, Scope::Write, created_ms).map_err(err)?;
        tx.commit().map_err(err)?;
        Ok((
            Site {
                id,
                domain: domain.to_string(),
                timezone: timezone.to_string(),
                created_ms,
                identity: VisitorIdMode::Cookieless,
            },
            key,
        ))
    }

    /// A site by domain.
    pub fn site(&self, domain: &str) -> Result<Option<Site>> {
        self.conn
            .query_row(
                "SELECT id, domain, timezone, created_ms, identity FROM sites WHERE domain = ?1",
                params![domain],
                site_row,
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    /// Every site, by domain.
    pub fn sites(&self) -> Result<Vec<Site>> {
        let mut st = self
            .conn
            .prepare("SELECT id, domain, timezone, created_ms, identity FROM sites ORDER BY domain")
            .map_err(|e| self.err(e))?;
        let rows = st.query_map([], site_row).map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| self.err(e))
    }

    /// Sets how the site's visitors are identified.
    pub fn set_identity(&mut self, domain: &str, identity: VisitorIdMode) -> Result<()> {
        let n = self
            .conn
            .execute(
                "UPDATE sites SET identity = ?2 WHERE domain = ?1",
                params![domain, identity.as_str()],
            )
            .map_err(|e| self.err(e))?;
        if n == 0 {
            return Err(MetaError::NoSuchSite(domain.to_string()));
        }
        Ok(())
    }

    /// Sets the site's time zone.
    pub fn set_timezone(&mut self, domain: &str, timezone: &str) -> Result<()> {
        if timezone.parse::<chrono_tz::Tz>().is_err() {
            return Err(MetaError::BadTimeZone(timezone.to_string()));
        }
        let n = self
            .conn
            .execute(
                "UPDATE sites SET timezone = ?2 WHERE domain = ?1",
                params![domain, timezone],
            )
            .map_err(|e| self.err(e))?;
        if n == 0 {
            return Err(MetaError::NoSuchSite(domain.to_string()));
        }
        Ok(())
    }
}

fn site_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Site> {
    let identity: String = r.get(4)?;
    Ok(Site {
        id: r.get(0)?,
        domain: r.get(1)?,
        timezone: r.get(2)?,
        created_ms: r.get(3)?,
        identity: VisitorIdMode::parse(&identity).unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains_and_time_zones_are_checked() {
        for ok in ["shop.example", "localhost:8080", "a-b.c0.example"] {
            check_domain(ok).unwrap();
        }
        for (bad, why) in [
            ("", "empty"),
            ("Shop.example", "lower case"),
            ("https://shop.example", "port must be a number"),
            ("shop.example/path", "letters, digits"),
            ("shop..example", "empty label"),
            (".example", "empty label"),
            ("shop.example:", "port"),
        ] {
            let e = check_domain(bad).unwrap_err().to_string();
            assert!(e.contains(why), "{bad}: {e}");
        }
        let dir = tempfile::tempdir().unwrap();
        let mut m = Meta::open(dir.path()).unwrap();
        assert!(matches!(
            m.add_site("shop.example", "Mars/Base"),
            Err(MetaError::BadTimeZone(_))
        ));
        assert!(m.sites().unwrap().is_empty());
    }

    #[test]
    fn identity_and_time_zone_can_change() {
        let dir = tempfile::tempdir().unwrap();
        let mut m = Meta::open(dir.path()).unwrap();
        m.add_site("shop.example", "UTC").unwrap();
        assert_eq!(
            m.site("shop.example").unwrap().unwrap().identity,
            VisitorIdMode::Cookieless
        );
        m.set_identity("shop.example", VisitorIdMode::FirstParty)
            .unwrap();
        m.set_timezone("shop.example", "Europe/Berlin").unwrap();
        let s = m.site("shop.example").unwrap().unwrap();
        assert_eq!(
            (s.identity, s.timezone.as_str()),
            (VisitorIdMode::FirstParty, "Europe/Berlin")
        );
        assert!(matches!(
            m.set_identity("nope.example", VisitorIdMode::FirstParty),
            Err(MetaError::NoSuchSite(_))
        ));
        assert!(matches!(
            m.set_timezone("shop.example", "Nowhere/Land"),
            Err(MetaError::BadTimeZone(_))
        ));
    }
}
