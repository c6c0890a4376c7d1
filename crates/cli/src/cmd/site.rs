//! `cairn site add DOMAIN`, `cairn site list`, `cairn site set DOMAIN` and `cairn site
//! key DOMAIN`: the registered sites and their keys.

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
            let (mut site, key) = meta.add_site(&a.domain, &a.timezone)?;
            if let Some(id) = a.identity {
                meta.set_identity(&site.domain, id.into())?;
                site.identity = id.into();
            }
            if a.json {
                let v = json!({
                    "site": site.domain,
                    "timezone": site.timezone,
                    "identity": site.identity.as_str(),
                    "created": format_rfc3339_ms(site.created_ms),
                    "write_key": key,
                });
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                println!(
                    "registered {} (time zone {}, {} visitor ids)",
                    site.domain,
                    site.timezone,
                    site.identity.as_str()
                );
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
                        "identity": s.identity.as_str(),
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
                    "{:<w$}  {:<20}  {:<11}  {:<24}  keys",
                    "site", "time zone", "identity", "registered"
                );
                for s in &sites {
                    let keys = meta.keys(&s.domain)?;
                    let prefixes: Vec<String> =
                        keys.iter().map(|k| format!("{}…", k.prefix)).collect();
                    println!(
                        "{:<w$}  {:<20}  {:<11}  {:<24}  {}",
                        s.domain,
                        s.timezone,
                        s.identity.as_str(),
                        format_rfc3339_ms(s.created_ms),
                        prefixes.join(", ")
                    );
                }
            }
        }
        SiteCommand::Key(a) => {
            let scope = if a.write {
                cairn_meta::Scope::Write
            } else {
                cairn_meta::Scope::Read
            };
            let key = meta.add_key(&a.domain, scope)?;
            println!(
                "{} key for {}: {key}",
                if a.write { "write" } else { "read" },
                a.domain
            );
            println!("The key is shown only now.");
        }
        SiteCommand::Set(a) => {
            if a.timezone.is_none() && a.identity.is_none() {
                anyhow::bail!("nothing to change: give --timezone or --identity");
            }
            if let Some(tz) = &a.timezone {
                meta.set_timezone(&a.domain, tz)?;
            }
            if let Some(id) = a.identity {
                meta.set_identity(&a.domain, id.into())?;
            }
            let s = meta
                .site(&a.domain)?
                .ok_or_else(|| anyhow::anyhow!("no site {}", a.domain))?;
            println!(
                "{}: time zone {}, {} visitor ids (a running server sees the change within a minute)",
                s.domain,
                s.timezone,
                s.identity.as_str()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
