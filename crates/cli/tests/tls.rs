//! ClickHouse over HTTPS: `scripts/chfront` serves TLS with a certificate for 127.0.0.1
//! signed by a throwaway test CA (`scripts/chfront/test-ca.pem`). Trusted through
//! `SSL_CERT_FILE`, as an operator trusts a private CA, `cairn migrate` and `cairn query`
//! work; without it the certificate is refused and the error says so.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

struct Front(Child);

impl Drop for Front {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn cairn(data: &Path, args: &[&str], ca: Option<&Path>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cairn"));
    cmd.arg("--data").arg(data).args(args);
    cmd.env_remove("SSL_CERT_FILE").env_remove("SSL_CERT_DIR");
    if let Some(ca) = ca {
        cmd.env("SSL_CERT_FILE", ca);
    }
    cmd.output().expect("run cairn")
}

#[test]
fn clickhouse_over_https_with_a_private_ca() {
    let python = repo().join("bench/.venv/bin/python");
    if !python.exists() {
        assert!(
            std::env::var_os("CAIRN_CLICKHOUSE_REQUIRED").is_none(),
            "CAIRN_CLICKHOUSE_REQUIRED is set but bench/.venv (bench/venv makes it) is missing"
        );
        eprintln!("skipped: no bench/.venv with chDB (run bench/venv)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let certs = repo().join("scripts/chfront");
    let mut child = Command::new(&python)
        .arg(certs.join("chfront.py"))
        .args(["--port", "0", "--path"])
        .arg(dir.path().join("ch"))
        .arg("--tls-cert")
        .arg(certs.join("test-tls.pem"))
        .arg("--tls-key")
        .arg(certs.join("test-tls.key"))
        .stdout(Stdio::piped())
        .spawn()
        .expect("start chfront");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let _front = Front(child);
    let port = line.trim().rsplit(':').next().unwrap().to_string();
    let url = format!("https://127.0.0.1:{port}");

    let data = dir.path().join("data");
    let file = dir.path().join("ev.ndjson");
    let f = file.to_str().unwrap();
    assert!(
        cairn(&data, &["demo", "--generate", "500", "--out", f], None)
            .status
            .success()
    );
    assert!(cairn(&data, &["import", f], None).status.success());
    let migrate = ["migrate", "--to", "clickhouse", "--clickhouse-url", &url];

    // Not trusted: refused, and the message says why.
    let out = cairn(&data, &migrate, None);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains(&url), "{err}");
    assert!(err.to_lowercase().contains("certificate"), "{err}");

    // Trusted through SSL_CERT_FILE: copied and verified, then queried over TLS.
    let ca = certs.join("test-ca.pem");
    let out = cairn(&data, &migrate, Some(&ca));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("copied 500 events") && text.contains("verified"),
        "{text}"
    );
    let spec = dir.path().join("q.json");
    std::fs::write(
        &spec,
        r#"{"site": "shop.example", "from": "2000-01-01", "to": "2100-01-01", "analysis": {"type": "overview"}}"#,
    )
    .unwrap();
    let s = spec.to_str().unwrap();
    let local = cairn(&data, &["query", "--spec", s, "--json"], None);
    let remote = cairn(
        &data,
        &["query", "--spec", s, "--json", "--clickhouse-url", &url],
        Some(&ca),
    );
    assert!(
        remote.status.success(),
        "{}",
        String::from_utf8_lossy(&remote.stderr)
    );
    assert_eq!(remote.stdout, local.stdout);
}
