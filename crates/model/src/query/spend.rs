//! Campaign spend: what a site paid per day for its campaigns, imported from the ad
//! platforms (CSV or the API) and joined to the goal report broken down by campaign,
//! source or medium: cost, cost per conversion and return on spend. `docs/campaigns.md`.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::SpecError;
use super::cond::Field;
use crate::Dim;

/// The longest source, medium or campaign name.
pub const MAX_SPEND_NAME: usize = 200;

/// The most rows one import may hold.
pub const MAX_SPEND_ROWS: usize = 100_000;

/// One day's cost of a campaign, in one currency. `source`, `medium` and `campaign` are
/// the `utm_source`, `utm_medium` and `utm_campaign` its visits carry; an empty one is
/// unknown (the row counts for no value of that field).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Spend {
    /// The day (`2026-09-01`), in the site's calendar.
    #[schemars(with = "String")]
    #[serde(with = "day")]
    pub date: NaiveDate,
    /// `utm_source`.
    #[serde(default)]
    pub source: String,
    /// `utm_medium`.
    #[serde(default)]
    pub medium: String,
    /// `utm_campaign`.
    #[serde(default)]
    pub campaign: String,
    /// The cost, in `currency`.
    pub cost: f64,
    /// ISO 4217 code: `EUR`, `USD`, …
    pub currency: String,
}

/// A day as `2026-09-01`.
mod day {
    use chrono::NaiveDate;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &NaiveDate, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&d.format("%Y-%m-%d"))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<NaiveDate, D::Error> {
        let s = String::deserialize(d)?;
        NaiveDate::parse_from_str(&s, "%Y-%m-%d")
            .map_err(|_| serde::de::Error::custom(format!("`{s}` is not a day: write 2026-09-01")))
    }
}

/// An import of spend: the rows, the currency they are kept in, and the rate of every
/// other currency they use. Nothing is converted silently: a row in a currency without a
/// rate is refused.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SpendImport {
    /// The currency the site's spend is kept in (`EUR`).
    pub currency: String,
    /// For every other currency of the rows, what one unit of it is worth in `currency`
    /// (`{"USD": 0.92}`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub rates: BTreeMap<String, f64>,
    /// The rows. A row replaces a stored one of the same day, source, medium and
    /// campaign.
    pub rows: Vec<Spend>,
}

fn check_currency(c: &str, path: &str) -> Result<(), SpecError> {
    if c.len() == 3 && c.bytes().all(|b| b.is_ascii_uppercase()) {
        Ok(())
    } else {
        Err(SpecError::new(
            path,
            format!("`{c}` is not a currency code: write three capital letters, e.g. EUR"),
        ))
    }
}

impl Spend {
    /// Checks one row; `path` names it (`rows[3]`).
    pub fn validate(&self, path: &str) -> Result<(), SpecError> {
        if !self.cost.is_finite() || self.cost < 0.0 {
            return Err(SpecError::new(
                &format!("{path}.cost"),
                format!("{} is not a cost: write a number, 0 or more", self.cost),
            ));
        }
        check_currency(&self.currency, &format!("{path}.currency"))?;
        if self.source.is_empty() && self.medium.is_empty() && self.campaign.is_empty() {
            return Err(SpecError::new(
                path,
                "name the campaign, its source or its medium".into(),
            ));
        }
        for (f, v) in [
            ("source", &self.source),
            ("medium", &self.medium),
            ("campaign", &self.campaign),
        ] {
            if v.len() > MAX_SPEND_NAME {
                return Err(SpecError::new(
                    &format!("{path}.{f}"),
                    format!("longer than {MAX_SPEND_NAME} bytes"),
                ));
            }
        }
        Ok(())
    }

    /// The row's value of a breakdown field: its campaign, source or medium; none for
    /// another field.
    pub fn value_of(&self, f: &Field) -> Option<&str> {
        match f {
            Field::Dim(Dim::UtmCampaign) => Some(&self.campaign),
            Field::Dim(Dim::UtmSource) => Some(&self.source),
            Field::Dim(Dim::UtmMedium) => Some(&self.medium),
            _ => None,
        }
    }
}

impl SpendImport {
    /// The rows, checked, in the import's currency: a row in another currency is
    /// converted at its rate, and refused without one.
    pub fn converted(&self) -> Result<Vec<Spend>, SpecError> {
        check_currency(&self.currency, "currency")?;
        for (c, r) in &self.rates {
            check_currency(c, &format!("rates.{c}"))?;
            if !r.is_finite() || *r <= 0.0 {
                return Err(SpecError::new(
                    &format!("rates.{c}"),
                    format!(
                        "{r} is not a rate: write how much one {c} is worth in {}",
                        self.currency
                    ),
                ));
            }
        }
        if self.rows.len() > MAX_SPEND_ROWS {
            return Err(SpecError::new(
                "rows",
                format!("more than {MAX_SPEND_ROWS} rows: import them in parts"),
            ));
        }
        self.rows
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let path = format!("rows[{i}]");
                r.validate(&path)?;
                let rate = if r.currency == self.currency {
                    1.0
                } else {
                    *self.rates.get(&r.currency).ok_or_else(|| {
                        SpecError::new(
                            &format!("{path}.currency"),
                            format!(
                                "{} is not {}: give its rate in `rates` (what one {} is worth in {}); currencies are never mixed",
                                r.currency, self.currency, r.currency, self.currency
                            ),
                        )
                    })?
                };
                Ok(Spend {
                    cost: r.cost * rate,
                    currency: self.currency.clone(),
                    ..r.clone()
                })
            })
            .collect()
    }
}

/// The spend of a range per value of a breakdown field, in one currency.
#[derive(Debug, Clone, PartialEq)]
pub struct SpendTotals {
    /// The currency.
    pub currency: String,
    /// Cost per value of the field.
    pub by_value: BTreeMap<String, f64>,
    /// All the spend of the range, whatever its value.
    pub total: f64,
}

/// The spend of the days `[from, to]` per value of `by` (campaign, source or medium);
/// none when `by` is another field or there is no spend. Rows in several currencies are
/// an error: an import keeps one.
pub fn spend_totals(
    rows: &[Spend],
    by: &Field,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Option<SpendTotals>, SpecError> {
    let in_range: Vec<&Spend> = rows
        .iter()
        .filter(|r| r.date >= from && r.date <= to)
        .collect();
    let Some(first) = in_range.first() else {
        return Ok(None);
    };
    // Only campaign, source and medium carry spend.
    if first.value_of(by).is_none() {
        return Ok(None);
    }
    let currency = first.currency.clone();
    if let Some(r) = in_range.iter().find(|r| r.currency != currency) {
        return Err(SpecError::new(
            "spend",
            format!(
                "spend in {currency} and {}: import it in one currency, converting at the rates you give",
                r.currency
            ),
        ));
    }
    let mut by_value: BTreeMap<String, f64> = BTreeMap::new();
    let mut total = 0.0;
    for r in &in_range {
        total += r.cost;
        if let Some(v) = r.value_of(by).filter(|v| !v.is_empty()) {
            *by_value.entry(v.to_string()).or_default() += r.cost;
        }
    }
    for v in by_value.values_mut() {
        *v = to_micros(*v);
    }
    Ok(Some(SpendTotals {
        currency,
        by_value,
        total: to_micros(total),
    }))
}

/// A sum of money rounded to millionths of its unit, so that sums of cents read as
/// cents (`1185.68`, not `1185.6799999999998`).
pub fn to_micros(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(date: &str, campaign: &str, cost: f64, currency: &str) -> Spend {
        Spend {
            date: date.parse().unwrap(),
            source: "google".into(),
            medium: "cpc".into(),
            campaign: campaign.into(),
            cost,
            currency: currency.into(),
        }
    }

    #[test]
    fn an_import_converts_at_the_given_rates_and_refuses_a_currency_without_one() {
        let mut imp = SpendImport {
            currency: "EUR".into(),
            rates: [("USD".to_string(), 0.5)].into(),
            rows: vec![
                row("2026-09-01", "a", 10.0, "EUR"),
                row("2026-09-01", "b", 10.0, "USD"),
            ],
        };
        let rows = imp.converted().unwrap();
        assert_eq!((rows[0].cost, rows[1].cost), (10.0, 5.0));
        assert!(rows.iter().all(|r| r.currency == "EUR"));
        imp.rows.push(row("2026-09-02", "c", 1.0, "GBP"));
        let e = imp.converted().unwrap_err();
        assert_eq!(e.path, "rows[2].currency", "{e}");
        assert!(e.message.contains("never mixed"), "{e}");
        imp.rows.pop();
        imp.rows.push(row("2026-09-02", "c", -1.0, "EUR"));
        assert_eq!(imp.converted().unwrap_err().path, "rows[2].cost");
        imp.rows.pop();
        imp.rates.insert("GBP".into(), 0.0);
        assert_eq!(imp.converted().unwrap_err().path, "rates.GBP");
        imp.rates.clear();
        imp.currency = "euro".into();
        assert_eq!(imp.converted().unwrap_err().path, "currency");
    }

    #[test]
    fn totals_per_value_in_the_range() {
        let rows = vec![
            row("2026-09-01", "a", 10.0, "EUR"),
            row("2026-09-02", "a", 5.0, "EUR"),
            row("2026-09-02", "b", 1.0, "EUR"),
            row("2026-09-03", "", 2.0, "EUR"),
            row("2026-10-01", "a", 100.0, "EUR"),
        ];
        let d = |s: &str| s.parse::<NaiveDate>().unwrap();
        let t = spend_totals(
            &rows,
            &Field::Dim(Dim::UtmCampaign),
            d("2026-09-01"),
            d("2026-09-30"),
        )
        .unwrap()
        .unwrap();
        assert_eq!(t.by_value["a"], 15.0);
        assert_eq!(t.by_value["b"], 1.0);
        assert_eq!(
            t.total, 18.0,
            "the row without a campaign counts in the total"
        );
        let t = spend_totals(
            &rows,
            &Field::Dim(Dim::UtmSource),
            d("2026-09-01"),
            d("2026-09-30"),
        )
        .unwrap()
        .unwrap();
        assert_eq!(t.by_value["google"], 18.0);
        assert!(
            spend_totals(
                &rows,
                &Field::Dim(Dim::Device),
                d("2026-09-01"),
                d("2026-09-30")
            )
            .unwrap()
            .is_none()
        );
        let mixed = vec![
            row("2026-09-01", "a", 1.0, "EUR"),
            row("2026-09-01", "b", 1.0, "USD"),
        ];
        assert!(
            spend_totals(
                &mixed,
                &Field::Dim(Dim::UtmCampaign),
                d("2026-09-01"),
                d("2026-09-30")
            )
            .is_err()
        );
    }
}
