//! Each site's campaign spend: one row per day, source, medium and campaign, in one
//! currency per site (an import converts at the rates it is given:
//! `cairn_model::query::SpendImport`).

use cairn_model::query::Spend;
use chrono::NaiveDate;
use rusqlite::params;

use crate::{Meta, MetaError, Result, now_ms};

impl Meta {
    /// Stores spend rows, all in one currency (as [`SpendImport::converted`] gives them);
    /// a row replaces a stored one of the same day, source, medium and campaign. Refused,
    /// whole, when the site's spend is kept in another currency.
    ///
    /// [`SpendImport::converted`]: cairn_model::query::SpendImport::converted
    pub fn import_spend(&mut self, domain: &str, rows: &[Spend]) -> Result<usize> {
        let site = self
            .site(domain)?
            .ok_or_else(|| MetaError::NoSuchSite(domain.to_string()))?;
        let Some(first) = rows.first() else {
            return Ok(0);
        };
        if let Some(r) = rows.iter().find(|r| r.currency != first.currency) {
            return Err(MetaError::SpendCurrency {
                kept: first.currency.clone(),
                given: r.currency.clone(),
            });
        }
        let path = self.path.clone();
        let err = |source| MetaError::Sqlite {
            path: path.clone(),
            source,
        };
        let tx = self.conn.transaction().map_err(err)?;
        let kept: Option<String> = tx
            .query_row(
                "SELECT currency FROM spend WHERE site_id = ?1 LIMIT 1",
                params![site.id],
                |r| r.get(0),
            )
            .map(Some)
            .or_else(|e| match e {
                rusqlite::Error::QueryReturnedNoRows => Ok(None),
                e => Err(e),
            })
            .map_err(err)?;
        if let Some(k) = kept
            && k != first.currency
        {
            return Err(MetaError::SpendCurrency {
                kept: k,
                given: first.currency.clone(),
            });
        }
        {
            let mut ins = tx
                .prepare(
                    "INSERT INTO spend (site_id, day, source, medium, campaign, cost, currency, imported_ms)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                     ON CONFLICT (site_id, day, source, medium, campaign)
                     DO UPDATE SET cost = excluded.cost, currency = excluded.currency,
                                   imported_ms = excluded.imported_ms",
                )
                .map_err(err)?;
            let now = now_ms();
            for r in rows {
                ins.execute(params![
                    site.id,
                    r.date.format("%Y-%m-%d").to_string(),
                    r.source,
                    r.medium,
                    r.campaign,
                    r.cost,
                    r.currency,
                    now
                ])
                .map_err(err)?;
            }
        }
        tx.commit().map_err(err)?;
        Ok(rows.len())
    }

    /// A site's spend, by day, source, medium and campaign; with `range`, of those days
    /// only (inclusive).
    pub fn spend(&self, domain: &str, range: Option<(NaiveDate, NaiveDate)>) -> Result<Vec<Spend>> {
        let (from, to) = range.map_or((String::new(), "9999-12-31".to_string()), |(a, b)| {
            (
                a.format("%Y-%m-%d").to_string(),
                b.format("%Y-%m-%d").to_string(),
            )
        });
        let mut st = self
            .conn
            .prepare(
                "SELECT p.day, p.source, p.medium, p.campaign, p.cost, p.currency
                 FROM spend p JOIN sites s ON s.id = p.site_id
                 WHERE s.domain = ?1 AND p.day >= ?2 AND p.day <= ?3
                 ORDER BY p.day, p.source, p.medium, p.campaign",
            )
            .map_err(|e| self.err(e))?;
        let rows = st
            .query_map(params![domain, from, to], |r| {
                let day: String = r.get(0)?;
                Ok(Spend {
                    date: NaiveDate::parse_from_str(&day, "%Y-%m-%d").map_err(|e| {
                        rusqlite::Error::FromSqlConversionFailure(
                            0,
                            rusqlite::types::Type::Text,
                            Box::new(e),
                        )
                    })?,
                    source: r.get(1)?,
                    medium: r.get(2)?,
                    campaign: r.get(3)?,
                    cost: r.get(4)?,
                    currency: r.get(5)?,
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<std::result::Result<_, _>>()
            .map_err(|e| self.err(e))
    }

    /// Deletes a site's spend of the days `[from, to]`; the number of rows deleted.
    pub fn delete_spend(&mut self, domain: &str, from: NaiveDate, to: NaiveDate) -> Result<usize> {
        let site = self
            .site(domain)?
            .ok_or_else(|| MetaError::NoSuchSite(domain.to_string()))?;
        self.conn
            .execute(
                "DELETE FROM spend WHERE site_id = ?1 AND day >= ?2 AND day <= ?3",
                params![
                    site.id,
                    from.format("%Y-%m-%d").to_string(),
                    to.format("%Y-%m-%d").to_string()
                ],
            )
            .map_err(|e| self.err(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(day: &str, campaign: &str, cost: f64, currency: &str) -> Spend {
        Spend {
            date: day.parse().unwrap(),
            source: "google".into(),
            medium: "cpc".into(),
            campaign: campaign.into(),
            cost,
            currency: currency.into(),
        }
    }

    #[test]
    fn spend_is_kept_per_site_replaced_by_key_and_in_one_currency() {
        let dir = tempfile::tempdir().unwrap();
        let mut m = Meta::open(dir.path()).unwrap();
        m.add_site("shop.example", "UTC").unwrap();
        m.add_site("news.example", "UTC").unwrap();
        let n = m
            .import_spend(
                "shop.example",
                &[
                    row("2026-09-01", "a", 10.0, "EUR"),
                    row("2026-09-02", "a", 5.0, "EUR"),
                ],
            )
            .unwrap();
        assert_eq!(n, 2);
        // The same day and campaign again: replaced, not added.
        m.import_spend("shop.example", &[row("2026-09-01", "a", 12.5, "EUR")])
            .unwrap();
        let all = m.spend("shop.example", None).unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].cost, 12.5);
        assert!(m.spend("news.example", None).unwrap().is_empty());
        let d = |s: &str| s.parse::<NaiveDate>().unwrap();
        assert_eq!(
            m.spend("shop.example", Some((d("2026-09-02"), d("2026-09-30"))))
                .unwrap()
                .len(),
            1
        );
        // Another currency is refused, whole.
        let e = m
            .import_spend(
                "shop.example",
                &[
                    row("2026-09-03", "b", 1.0, "USD"),
                    row("2026-09-04", "b", 1.0, "USD"),
                ],
            )
            .unwrap_err();
        assert!(matches!(e, MetaError::SpendCurrency { .. }), "{e}");
        assert_eq!(m.spend("shop.example", None).unwrap().len(), 2);
        assert!(
            m.import_spend(
                "shop.example",
                &[
                    row("2026-09-03", "b", 1.0, "EUR"),
                    row("2026-09-03", "c", 1.0, "USD")
                ]
            )
            .is_err()
        );
        assert_eq!(
            m.delete_spend("shop.example", d("2026-09-01"), d("2026-09-01"))
                .unwrap(),
            1
        );
        assert_eq!(m.spend("shop.example", None).unwrap().len(), 1);
        assert!(matches!(
            m.import_spend("nope.example", &[row("2026-09-01", "a", 1.0, "EUR")]),
            Err(MetaError::NoSuchSite(_))
        ));
    }
}
