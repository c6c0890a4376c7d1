//! Each site's stored goals and funnels: one JSON document per site (of
//! `cairn_model::query::Definitions`), replaced as a whole.

use rusqlite::{OptionalExtension, params};

use crate::{Meta, MetaError, Result, now_ms};

impl Meta {
    /// The goals and funnels kept for a site (JSON of `cairn_model::query::Definitions`).
    pub fn definitions(&self, domain: &str) -> Result<Option<String>> {
        self.conn
            .query_row(
                "SELECT d.json FROM definitions d JOIN sites s ON s.id = d.site_id WHERE s.domain = ?1",
                params![domain],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    /// Replaces a site's goals and funnels.
    pub fn set_definitions(&mut self, domain: &str, json: &str) -> Result<()> {
        let site = self
            .site(domain)?
            .ok_or_else(|| MetaError::NoSuchSite(domain.to_string()))?;
        self.conn
            .execute(
                "INSERT INTO definitions (site_id, json, updated_ms) VALUES (?1, ?2, ?3)
                 ON CONFLICT (site_id) DO UPDATE SET json = excluded.json, updated_ms = excluded.updated_ms",
                params![site.id, json, now_ms()],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn definitions_are_kept_per_site_and_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let mut m = Meta::open(dir.path()).unwrap();
        m.add_site("shop.example", "UTC").unwrap();
        assert_eq!(m.definitions("shop.example").unwrap(), None);
        m.set_definitions("shop.example", r#"{"goals":[]}"#)
            .unwrap();
        m.set_definitions("shop.example", r#"{"goals":[1]}"#)
            .unwrap();
        assert_eq!(
            m.definitions("shop.example").unwrap().as_deref(),
            Some(r#"{"goals":[1]}"#)
        );
        assert!(matches!(
            m.set_definitions("nope.example", "{}"),
            Err(MetaError::NoSuchSite(_))
        ));
    }
}
