//! `cairn migrate --to clickhouse`, then `cairn query` and `cairn export` from ClickHouse:
//! the same answers and the same records as from the store. ClickHouse is the server
//! named by `CAIRN_CLICKHOUSE_URL` (`scripts/test` starts `scripts/chfront`); without
//! it the test says so and passes, unless `CAIRN_CLICKHOUSE_REQUIRED` is set.

use std::path::Path;
use std::process::{Command, Output};

fn cairn(data: &Path, args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_cairn"))
        .arg("--data")
        .arg(data)
        .args(args)
        .env_remove("CAIRN_CLICKHOUSE_DATABASE")
        .output()
        .expect("run cairn");
    assert!(
        out.status.success(),
        "cairn {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn sorted_lines(p: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_to_string(p)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    v.sort();
    v
}

#[test]
fn a_migrated_store_answers_and_exports_the_same_from_clickhouse() {
    let Ok(url) = std::env::var("CAIRN_CLICKHOUSE_URL") else {
        assert!(
            std::env::var_os("CAIRN_CLICKHOUSE_REQUIRED").is_none(),
            "CAIRN_CLICKHOUSE_REQUIRED is set but CAIRN_CLICKHOUSE_URL is not"
        );
        eprintln!("skipped: CAIRN_CLICKHOUSE_URL is not set");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let file = dir.path().join("events.ndjson");
    let db = format!("cairn_migrate_{}", std::process::id());
    let f = file.to_str().unwrap();
    cairn(&data, &["demo", "--generate", "4000", "--out", f]);
    cairn(&data, &["import", f]);
    let ch = ["--clickhouse-url", &url, "--clickhouse-database", &db];
    let migrate = |data: &Path| {
        let mut args = vec!["migrate", "--to", "clickhouse", "--batch-rows", "500"];
        args.extend_from_slice(&ch);
        String::from_utf8(cairn(data, &args).stdout).unwrap()
    };
    let first = migrate(&data);
    assert!(first.contains("copied 4,000 events"), "{first}");
    assert!(first.contains("verified"), "{first}");
    // Run again: nothing more is copied, and the counts still agree.
    let again = migrate(&data);
    assert!(again.contains("copied 0 events"), "{again}");
    assert!(again.contains("verified"), "{again}");

    // A funnel broken down by device, from either side.
    let spec = dir.path().join("q.json");
    std::fs::write(
        &spec,
        r#"{"site": "shop.example", "from": "2000-01-01", "to": "2100-01-01",
            "analysis": {"type": "funnel", "steps": [{"event": "pageview"},
              {"event": "add_to_cart"}, {"event": "purchase"}], "breakdown": {"by": "device"}}}"#,
    )
    .unwrap();
    let s = spec.to_str().unwrap();
    let local = cairn(&data, &["query", "--spec", s, "--json"]).stdout;
    let mut args = vec!["query", "--spec", s, "--json"];
    args.extend_from_slice(&ch);
    let remote = cairn(&data, &args).stdout;
    assert_eq!(
        String::from_utf8(remote).unwrap(),
        String::from_utf8(local).unwrap()
    );

    // Every record exported from ClickHouse is one the store exports.
    let a = dir.path().join("a.ndjson");
    let b = dir.path().join("b.ndjson");
    cairn(&data, &["export", "--out", a.to_str().unwrap()]);
    let mut args = vec!["export", "--out", b.to_str().unwrap()];
    args.extend_from_slice(&ch);
    cairn(&data, &args);
    assert_eq!(sorted_lines(&b), sorted_lines(&a));

    // Erasing a user's visitors in ClickHouse (and the store): the same rows go on both.
    let user = std::fs::read_to_string(&a)
        .unwrap()
        .lines()
        .find_map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).ok()?;
            if v["type"] != "identify" {
                return None;
            }
            Some((
                v["site"].as_str()?.to_string(),
                v["user"].as_str()?.to_string(),
            ))
        })
        .expect("the demo has identify records");
    let mut args = vec!["erase", "--site", &user.0, "--user", &user.1];
    args.extend_from_slice(&ch);
    let out = String::from_utf8(cairn(&data, &args).stdout).unwrap();
    assert!(out.contains("in ClickHouse"), "{out}");
    cairn(&data, &["export", "--out", a.to_str().unwrap()]);
    let mut args = vec!["export", "--out", b.to_str().unwrap()];
    args.extend_from_slice(&ch);
    cairn(&data, &args);
    let (after_a, after_b) = (sorted_lines(&a), sorted_lines(&b));
    assert!(after_a.len() < 4000, "something was erased");
    assert_eq!(after_b, after_a);
}
