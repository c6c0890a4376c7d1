//! The demo shop's campaign spend: what `shop.example` paid per day for each of its paid
//! campaigns, at a cost per visit of each (with ±15% daily noise), tallied from the
//! generated sessions that arrived through the campaign. Its newsletter (`weekly_deals`,
//! email) is an owned channel and costs nothing.

use std::collections::BTreeMap;

use cairn_model::query::Spend;
use cairn_model::{Dim, Record};
use chrono::NaiveDate;

use crate::GenConfig;

/// The site whose spend is tallied.
const SITE: &str = "shop.example";

/// Paid campaigns: (campaign, source, medium, cost per visit in EUR).
const PAID: [(&str, &str, &str, f64); 5] = [
    ("autumn_sale", "google", "cpc", 0.55),
    ("brand_search", "google", "cpc", 0.20),
    ("shopping_generic", "google", "cpc", 0.40),
    ("lookalike_audience", "facebook", "paid_social", 0.70),
    ("retargeting_cart", "facebook", "paid_social", 0.45),
];

/// Counts the visits each paid campaign brought per day, from the generated records (a
/// session's first pageview carries its campaign), and prices them.
#[derive(Debug)]
pub struct SpendTally {
    seed: u64,
    visits: BTreeMap<(NaiveDate, usize), u64>,
}

impl SpendTally {
    /// A tally for the records of `cfg`.
    pub fn new(cfg: &GenConfig) -> SpendTally {
        SpendTally {
            seed: cfg.seed,
            visits: BTreeMap::new(),
        }
    }

    /// Counts one record.
    pub fn see(&mut self, r: &Record) {
        let Record::Event(e) = r else { return };
        if e.site != SITE || e.name() != "pageview" {
            return;
        }
        let c = e.dim(Dim::UtmCampaign);
        if c.is_empty() {
            return;
        }
        if let Some(i) = PAID.iter().position(|p| p.0 == c)
            && let Some(t) = chrono::DateTime::from_timestamp_millis(e.ts)
        {
            *self.visits.entry((t.date_naive(), i)).or_default() += 1;
        }
    }

    /// The spend rows: per day and paid campaign with visits, in EUR, to the cent.
    pub fn rows(&self) -> Vec<Spend> {
        self.visits
            .iter()
            .map(|(&(date, i), &n)| {
                let (campaign, source, medium, cpc) = PAID[i];
                let cost = n as f64 * cpc * noise(self.seed, date, i);
                Spend {
                    date,
                    source: source.into(),
                    medium: medium.into(),
                    campaign: campaign.into(),
                    cost: (cost * 100.0).round() / 100.0,
                    currency: "EUR".into(),
                }
            })
            .collect()
    }
}

/// A factor in [0.85, 1.15], fixed by the seed, the day and the campaign.
fn noise(seed: u64, date: NaiveDate, i: usize) -> f64 {
    let mut z = seed
        ^ (date.to_epoch_days() as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)
        ^ (i as u64).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    0.85 + 0.30 * ((z >> 11) as f64 / (1u64 << 53) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paid_campaigns_cost_by_their_visits_and_the_newsletter_nothing() {
        let cfg = GenConfig {
            events: 200_000,
            ..GenConfig::default()
        };
        let mut t = SpendTally::new(&cfg);
        for r in crate::generate(&cfg) {
            t.see(&r);
        }
        let rows = t.rows();
        assert!(!rows.is_empty());
        assert!(rows.iter().all(|r| r.campaign != "weekly_deals"));
        for r in &rows {
            let (_, _, _, cpc) = PAID.iter().find(|p| p.0 == r.campaign).copied().unwrap();
            let n = t.visits[&(r.date, PAID.iter().position(|p| p.0 == r.campaign).unwrap())];
            let per = r.cost / n as f64;
            assert!(
                per >= cpc * 0.85 - 0.01 && per <= cpc * 1.15 + 0.01,
                "{r:?}"
            );
        }
        // The same seed, the same spend.
        let mut again = SpendTally::new(&cfg);
        for r in crate::generate(&cfg) {
            again.see(&r);
        }
        assert_eq!(again.rows(), rows);
    }
}
