//! `cairn site add DOMAIN` and `cairn site list`: the registered sites.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};
use cairn_meta::Meta;
use cairn_model::format_rfc3339_ms;
use serde_json::json;

use crate::cli::SiteCommand;

pub fn run(data: &Path, cmd: SiteCommand) -> Result<ExitCode> {
    let mut meta = Meta::open(data).context("opening the site registry")?;
    match cmd {
        SiteCommand::Add(a) => {
            let (site, key) = meta.add_site(&a.domain, &a.timezone)?;
            if a.json {
                let v = json!({
                    "site": site.domain,
                    "timezone": site.timezone,
                    "created": format_rfc3339_ms(site.created_ms),
                    "write_key": key,
                });
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                println!("registered {} (time zone {})", site.domain, site.timezone);
                println!("write key: {key}");
                println!("The key is shown only now: keep it where your servers can read it.");
            }
        }
        SiteCommand::List(a) => {
            let sites = meta.sites()?;
            if a.json {
                let mut out = Vec::new();
                for s in &sites {
                    let keys = meta.keys(&s.domain)?;
                    out.push(json!({
                        "site": s.domain,
                        "timezone": s.timezone,
                        "created": format_rfc3339_ms(s.created_ms),
                        "keys": keys.iter().map(|k| json!({
                            "prefix": k.prefix,
                            "scope": format!("{:?}", k.scope).to_lowercase(),
                            "created": format_rfc3339_ms(k.created_ms),
                        })).collect::<Vec<_>>(),
                    }));
                }
                println!("{}", serde_json::to_string_pretty(&out)?);
            } else if sites.is_empty() {
                println!("no sites registered: add one with `cairn site add DOMAIN`");
            } else {
                let w = sites
                    .iter()
                    .map(|s| s.domain.len())
                    .max()
                    .unwrap_or(4)
                    .max(4);
                println!(
                    "{:<w$}  {:<20}  {:<24}  keys",
                    "site", "time zone", "registered"
                );
                for s in &sites {
                    let keys = meta.keys(&s.domain)?;
                    let prefixes: Vec<String> =
                        keys.iter().map(|k| format!("{}…", k.prefix)).collect();
                    println!(
                        "{:<w$}  {:<20}  {:<24}  {}",
                        s.domain,
                        s.timezone,
                        format_rfc3339_ms(s.created_ms),
                        prefixes.join(", ")
                    );
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
