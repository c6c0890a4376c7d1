//! `cairn spend import --site SITE FILE.csv [--currency EUR] [--rate USD=0.92]…`, `cairn
//! spend list` and `cairn spend delete`: a site's campaign spend in the registry
//! (docs/campaigns.md), the same rows `PUT /api/v1/sites/{site}/spend` imports.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use cairn_meta::Meta;
use cairn_model::query::{Spend, SpendImport};

use crate::cli::SpendCommand;

pub fn run(data: &Path, cmd: SpendCommand) -> Result<ExitCode> {
    let mut meta = Meta::open(data).context("opening the site registry")?;
    match cmd {
        SpendCommand::Import(a) => {
            let text = if a.file.as_os_str() == "-" {
                let mut s = String::new();
                std::io::stdin().read_to_string(&mut s)?;
                s
            } else {
                std::fs::read_to_string(&a.file)
                    .with_context(|| format!("reading {}", a.file.display()))?
            };
            let name = a.file.display().to_string();
            let rows = parse_csv(&text).map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
            let currency = match a.currency {
                Some(c) => c,
                None => {
                    let set: std::collections::BTreeSet<&str> =
                        rows.iter().map(|r| r.currency.as_str()).collect();
                    match set.len() {
                        0 => bail!("{name}: no rows"),
                        1 => set.into_iter().next().unwrap_or_default().to_string(),
                        _ => bail!(
                            "{name}: the rows are in {}: choose the currency to keep with --currency, and give the others' rates with --rate CUR=RATE",
                            set.into_iter().collect::<Vec<_>>().join(", ")
                        ),
                    }
                }
            };
            let mut rates = BTreeMap::new();
            for r in &a.rates {
                let Some((c, v)) = r.split_once('=') else {
                    bail!("--rate {r}: write CUR=RATE, e.g. USD=0.92");
                };
                let v: f64 = v
                    .trim()
                    .parse()
                    .map_err(|_| anyhow::anyhow!("--rate {r}: `{v}` is not a number"))?;
                rates.insert(c.trim().to_string(), v);
            }
            let import = SpendImport {
                currency,
                rates,
                rows,
            };
            let rows = import.converted().map_err(|e| {
                // Rows are numbered as in the file: the header is line 1.
                anyhow::anyhow!("{name}: {}", line_of(&e.to_string()))
            })?;
            let n = meta.import_spend(&a.site, &rows)?;
            let total: f64 = rows.iter().map(|r| r.cost).sum();
            println!(
                "imported {n} rows of spend for {} ({total:.2} {})",
                a.site, import.currency
            );
        }
        SpendCommand::List(a) => {
            let rows = meta.spend(&a.site, a.from.zip(a.to))?;
            if a.json {
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else if rows.is_empty() {
                println!("no spend for {}", a.site);
            } else {
                println!(
                    "date        source          medium      campaign                      cost"
                );
                for r in &rows {
                    println!(
                        "{}  {:<14}  {:<10}  {:<24}  {:>10.2} {}",
                        r.date, r.source, r.medium, r.campaign, r.cost, r.currency
                    );
                }
            }
        }
        SpendCommand::Delete(a) => {
            let n = meta.delete_spend(&a.site, a.from, a.to)?;
            println!("deleted {n} rows of spend for {}", a.site);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `rows[i].field: …` as `line i + 2: field: …` (the header is line 1).
fn line_of(msg: &str) -> String {
    if let Some(rest) = msg.strip_prefix("rows[")
        && let Some((i, rest)) = rest.split_once(']')
        && let Ok(i) = i.parse::<usize>()
    {
        let rest = rest.trim_start_matches('.');
        return format!("line {}: {rest}", i + 2);
    }
    msg.to_string()
}

/// Spend rows from CSV: a header naming date, source, medium, campaign, cost and currency
/// (in any order; source, medium and campaign may be missing).
fn parse_csv(text: &str) -> Result<Vec<Spend>> {
    let mut r = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let head: Vec<String> = r
        .headers()
        .context("reading the header line")?
        .iter()
        .map(|h| h.to_ascii_lowercase())
        .collect();
    let col = |name: &str| head.iter().position(|h| h == name);
    let (Some(date), Some(cost), Some(cur)) = (col("date"), col("cost"), col("currency")) else {
        bail!(
            "line 1: the header must name date, cost and currency (and source, medium, campaign), found {}",
            head.join(",")
        );
    };
    let (source, medium, campaign) = (col("source"), col("medium"), col("campaign"));
    let mut rows = Vec::new();
    for (i, rec) in r.records().enumerate() {
        let line = i + 2;
        let rec = rec.with_context(|| format!("line {line}"))?;
        let get = |c: Option<usize>| c.and_then(|c| rec.get(c)).unwrap_or("").to_string();
        let d = get(Some(date));
        let c = get(Some(cost));
        rows.push(Spend {
            date: d.parse().map_err(|_| {
                anyhow::anyhow!("line {line}: date: `{d}` is not a day: write 2026-09-01")
            })?,
            source: get(source),
            medium: get(medium),
            campaign: get(campaign),
            cost: c
                .parse()
                .map_err(|_| anyhow::anyhow!("line {line}: cost: `{c}` is not a number"))?,
            currency: get(Some(cur)),
        });
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_rows_and_their_errors_by_line() {
        let rows = parse_csv(
            "date,source,medium,campaign,cost,currency\n2026-09-01,google,cpc,autumn_sale,12.50,EUR\n2026-09-02,,email,weekly,3,USD\n",
        )
        .unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!((rows[0].cost, rows[1].source.as_str()), (12.5, ""));
        let e = parse_csv("date,cost,currency\n2026-09-01,x,EUR\n").unwrap_err();
        assert_eq!(e.to_string(), "line 2: cost: `x` is not a number");
        let e = parse_csv("day,cost\n").unwrap_err();
        assert!(e.to_string().starts_with("line 1:"), "{e}");
        assert_eq!(
            line_of("rows[3].currency: USD is not EUR"),
            "line 5: currency: USD is not EUR"
        );
    }
}
