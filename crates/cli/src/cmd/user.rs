//! `cairn user add EMAIL` and `cairn user grant EMAIL SITE --role ROLE`: dashboard users.

use std::io::BufRead;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};
use cairn_meta::{Meta, Role};

use crate::cli::{RoleArg, UserCommand};

pub fn run(data: &Path, cmd: UserCommand) -> Result<ExitCode> {
    let mut meta = Meta::open(data).context("opening the site registry")?;
    match cmd {
        UserCommand::Add(a) => {
            let password = match std::env::var("CAIRN_PASSWORD") {
                Ok(p) => p,
                Err(_) => {
                    let mut line = String::new();
                    std::io::stdin()
                        .lock()
                        .read_line(&mut line)
                        .context("reading the password from standard input")?;
                    line.trim_end_matches(['\r', '\n']).to_string()
                }
            };
            let u = meta.add_user(&a.email, &password, a.superuser)?;
            println!(
                "added {}{}",
                u.email,
                if u.superuser { " (superuser)" } else { "" }
            );
        }
        UserCommand::Grant(a) => {
            let role = match a.role {
                RoleArg::Viewer => Some(Role::Viewer),
                RoleArg::Admin => Some(Role::Admin),
                RoleArg::None => None,
            };
            meta.grant(&a.email, &a.site, role)?;
            match role {
                Some(r) => println!("{} is {} of {}", a.email, r.as_str(), a.site),
                None => println!("{} has no access to {}", a.email, a.site),
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
