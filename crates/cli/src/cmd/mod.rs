//! One module per command; each `run` returns the exit code.

use std::process::ExitCode;

use anyhow::Result;

use crate::cli::{Cli, Command};

mod demo;
mod export;
pub mod import;
mod maint;
mod migrate;
mod query;
mod serve;
mod site;
mod spend;
mod stats;
mod user;

pub fn run(cli: Cli) -> Result<ExitCode> {
    let data = cli.data.as_path();
    match cli.command {
        Command::Serve(a) => serve::run(data, a),
        Command::Import(a) => import::run(data, a),
        Command::Export(a) => export::run(data, a),
        Command::Stats(a) => stats::run(data, a),
        Command::Query(a) => query::run(data, a),
        Command::Site(c) => site::run(data, c),
        Command::Spend(c) => spend::run(data, c),
        Command::User(c) => user::run(data, c),
        Command::Openapi => {
            use std::io::Write;
            let _ = data;
            let doc = serde_json::to_string_pretty(&cairn_server::openapi::document())?;
            writeln!(std::io::stdout().lock(), "{doc}")?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Demo(a) => demo::run(data, a),
        Command::Verify => maint::verify(data),
        Command::Repair => maint::repair(data),
        Command::Snapshot(a) => maint::snapshot(data, a),
        Command::Retain(a) => maint::retain(data, a),
        Command::Erase(a) => maint::erase(data, a),
        Command::Migrate(a) => migrate::run(data, a),
    }
}
