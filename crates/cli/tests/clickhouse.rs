//! End to end, the `cairn` binary with the ClickHouse backend (`cairn serve --backend
//! clickhouse`), as a user sees it: events sent to the batch API are acknowledged, shipped
//! to ClickHouse and counted exactly by `POST /api/v1/query`; `kill -9` while events are
//! acknowledged but not shipped (and while they are being shipped) loses none and doubles
//! none; while ClickHouse does not answer, writes are still taken, `/healthz` says
//! `unreachable`, and everything arrives once it is back; a server whose ClickHouse is
//! unreachable at start exits with an error naming ClickHouse and the URL.
//!
//! ClickHouse is the server named by `CAIRN_CLICKHOUSE_URL` (`scripts/test` starts
//! `scripts/chfront`, ClickHouse's HTTP interface over chDB, and sets it). Without it the
//! test says "skipped" and passes, unless `CAIRN_CLICKHOUSE_REQUIRED` is set. The server
//! talks to it through a small TCP proxy in this test, which can stop answering. Each run
//! uses its own database, `cairn_cli_<pid>`, dropped at the end.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

const SITE: &str = "shop.example";
/// 2026-03-01T08:00:00Z: event `k` happens `k` seconds later.
const T0_MS: u64 = 1_772_352_000_000;
/// The query range: that day.
const DAY: &str = "2026-03-01";
/// Longest wait for shipping (the shipper backs off up to a minute while failing).
const PATIENCE: Duration = Duration::from_secs(60);

/// The ClickHouse server to use, or `None` (the test is skipped).
fn clickhouse_url() -> Option<String> {
    match std::env::var("CAIRN_CLICKHOUSE_URL") {
        Ok(u) if !u.is_empty() => Some(u.trim_end_matches('/').to_string()),
        _ => {
            assert!(
                std::env::var_os("CAIRN_CLICKHOUSE_REQUIRED").is_none(),
                "CAIRN_CLICKHOUSE_REQUIRED is set but CAIRN_CLICKHOUSE_URL is not"
            );
            eprintln!("skipped: CAIRN_CLICKHOUSE_URL is not set (scripts/test sets it)");
            None
        }
    }
}

/// `host:port` of an `http://host:port[/…]` URL.
fn host_port(url: &str) -> String {
    let rest = url
        .strip_prefix("http://")
        .unwrap_or_else(|| panic!("CAIRN_CLICKHOUSE_URL must be http://HOST:PORT, not {url}"));
    let hp = rest.split('/').next().unwrap();
    if hp.contains(':') {
        hp.to_string()
    } else {
        format!("{hp}:80")
    }
}

// ---------------------------------------------------------------------------------------
// Processes and HTTP.

struct Dir(tempfile::TempDir);

impl Dir {
    fn new() -> Dir {
        Dir(tempfile::tempdir().expect("temporary directory"))
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.path().join(name)
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, text).expect("write test file");
        p
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A `cairn` command without the environment that would change what it does.
fn cairn_cmd(data: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cairn"));
    for var in [
        "CAIRN_DATA",
        "CAIRN_LISTEN",
        "CAIRN_CONFIG",
        "CAIRN_BACKEND",
        "CAIRN_CLICKHOUSE_URL",
        "CAIRN_CLICKHOUSE_DATABASE",
    ] {
        cmd.env_remove(var);
    }
    cmd.arg("--data").arg(data);
    cmd
}

/// Runs `cairn --data DATA ARGS…`, which must succeed; returns its stdout.
fn ok(data: &Path, args: &[&str]) -> String {
    let out: Output = cairn_cmd(data)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run cairn");
    assert!(
        out.status.success(),
        "cairn {args:?} failed ({:?})\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// Sends one HTTP/1.1 request and returns (status, body).
fn http(
    addr: &str,
    method: &str,
    path: &str,
    key: Option<&str>,
    body: &str,
) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(20)))?;
    let auth = key
        .map(|k| format!("Authorization: Bearer {k}\r\n"))
        .unwrap_or_default();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{auth}Connection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    let status = out
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("no status in {out:?}")))?;
    let body = out.split("\r\n\r\n").nth(1).unwrap_or("").to_string();
    Ok((status, body))
}

/// A running `cairn serve`, killed (SIGKILL) when dropped.
struct Server {
    child: Child,
    addr: String,
    /// What it printed to stdout before it listened.
    banner: String,
    log: PathBuf,
}

impl Server {
    /// Starts `cairn serve --backend clickhouse` on a free port with a configuration
    /// file; its log (stderr) is appended to `log`.
    fn start(data: &Path, url: &str, db: &str, config: &Path, log: &Path) -> Server {
        let err = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .expect("open the server's log");
        let mut child = cairn_cmd(data)
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--backend",
                "clickhouse",
            ])
            .args(["--clickhouse-url", url, "--clickhouse-database", db])
            .arg("--config")
            .arg(config)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(err)
            .spawn()
            .expect("start cairn serve");
        let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
        let mut banner = String::new();
        let addr = loop {
            match lines.next() {
                Some(Ok(line)) => {
                    banner.push_str(&line);
                    banner.push('\n');
                    if let Some(rest) = line.strip_prefix("listening on http://") {
                        break rest.split_whitespace().next().unwrap().to_string();
                    }
                }
                _ => {
                    let status = child.wait().unwrap();
                    panic!(
                        "cairn serve did not listen ({status})\nstdout:\n{banner}\nlog:\n{}",
                        log_tail(log)
                    );
                }
            }
        };
        // Whatever it prints later must not find a closed pipe.
        std::thread::spawn(move || for _ in lines {});
        Server {
            child,
            addr,
            banner,
            log: log.to_path_buf(),
        }
    }

    fn healthz(&self) -> Value {
        let (status, body) = http(&self.addr, "GET", "/healthz", None, "").unwrap();
        assert_eq!(status, 200, "/healthz: {body}");
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("/healthz: {e}: {body}"))
    }

    /// `POST /api/v1/query`: (status, body).
    fn query_raw(&self, key: &str, analysis: &str, goals: &str) -> (u16, String) {
        let spec = format!(
            r#"{{"site": "{SITE}", "from": "{DAY}", "to": "{DAY}", "goals": [{goals}], "analysis": {analysis}}}"#
        );
        http(&self.addr, "POST", "/api/v1/query", Some(key), &spec).unwrap()
    }

    fn query(&self, key: &str, analysis: &str, goals: &str) -> Value {
        let (status, body) = self.query_raw(key, analysis, goals);
        assert_eq!(
            status,
            200,
            "query {analysis}: {body}\n{}",
            log_tail(&self.log)
        );
        serde_json::from_str(&body).unwrap()
    }

    /// Pageviews per path, from the pages report.
    fn pages(&self, key: &str) -> BTreeMap<String, u64> {
        let v = self.query(key, r#"{"type": "pages", "limit": 1000}"#, "");
        let rows = v["pages"].as_array().unwrap_or_else(|| panic!("{v}"));
        assert!(
            rows.len() < 1000,
            "the pages report was cut: {}",
            rows.len()
        );
        rows.iter()
            .map(|r| {
                (
                    r["path"].as_str().unwrap().to_string(),
                    r["pageviews"].as_u64().unwrap(),
                )
            })
            .collect()
    }

    /// Waits until `/healthz` says ClickHouse is reachable, no segment waits and at
    /// least `shipped` events went since the server started; returns `/healthz`.
    fn wait_shipped(&self, shipped: u64) -> Value {
        let t = Instant::now();
        loop {
            let h = self.healthz();
            let c = &h["clickhouse"];
            if c["status"] == "ok"
                && c["waiting_events"] == 0
                && c["shipped_events"].as_u64().unwrap() >= shipped
            {
                return h;
            }
            assert!(
                t.elapsed() < PATIENCE,
                "not shipped after {PATIENCE:?} (want {shipped}): {h}\n{}",
                log_tail(&self.log)
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Sends a batch of NDJSON records with the write key; it must be acknowledged.
    fn send(&self, key: &str, lines: &[String]) {
        let body = lines.concat();
        let (status, reply) = http(&self.addr, "POST", "/api/v1/batch", Some(key), &body).unwrap();
        assert_eq!(status, 200, "batch: {reply}");
        assert_eq!(
            reply,
            format!("{{\"accepted\":{}}}", lines.len()),
            "batch: {reply}"
        );
    }

    /// `kill -9`.
    fn kill9(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn log_tail(log: &Path) -> String {
    let all = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = all.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

/// A TCP proxy in front of ClickHouse that can stop answering: while down, it cuts
/// every open connection and closes new ones at once.
struct Proxy {
    addr: String,
    up: Arc<AtomicBool>,
    open: Arc<Mutex<Vec<TcpStream>>>,
}

impl Proxy {
    fn start(upstream: String) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let up = Arc::new(AtomicBool::new(true));
        let open = Arc::new(Mutex::new(Vec::<TcpStream>::new()));
        let (up2, open2) = (Arc::clone(&up), Arc::clone(&open));
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                if !up2.load(Ordering::SeqCst) {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                }
                let Ok(server) = TcpStream::connect(&upstream) else {
                    continue;
                };
                {
                    let mut o = open2.lock().unwrap();
                    o.push(client.try_clone().unwrap());
                    o.push(server.try_clone().unwrap());
                }
                for (mut from, mut to) in [
                    (client.try_clone().unwrap(), server.try_clone().unwrap()),
                    (server, client),
                ] {
                    std::thread::spawn(move || {
                        let _ = std::io::copy(&mut from, &mut to);
                        let _ = to.shutdown(Shutdown::Write);
                    });
                }
            }
        });
        Proxy { addr, up, open }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn down(&self) {
        self.up.store(false, Ordering::SeqCst);
        for s in self.open.lock().unwrap().drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }

    fn up(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

/// Runs one statement on ClickHouse over its HTTP interface; true if it answered 200.
fn clickhouse_exec(upstream: &str, sql: &str) -> bool {
    http(upstream, "POST", "/", None, sql).is_ok_and(|(s, _)| s == 200)
}

/// Drops the test's database when the test ends, passed or not.
struct DropDatabase {
    upstream: String,
    db: String,
}

impl Drop for DropDatabase {
    fn drop(&mut self) {
        clickhouse_exec(
            &self.upstream,
            &format!("DROP DATABASE IF EXISTS {}", self.db),
        );
    }
}

// ---------------------------------------------------------------------------------------
// What was sent, and what the queries must then say.

#[derive(Clone)]
struct Ev {
    visitor: u64,
    name: &'static str,
    path: String,
}

impl Ev {
    /// The record as the batch API takes it; `k` numbers the event (its time).
    fn line(&self, k: u64) -> String {
        format!(
            "{{\"site\":\"{SITE}\",\"ts\":{},\"visitor\":\"{:016x}\",\"name\":\"{}\",\"url\":\"https://{SITE}{}\"}}\n",
            T0_MS + k * 1000,
            self.visitor,
            self.name,
            self.path
        )
    }
}

/// Every event acknowledged (or found stored although its answer was lost).
#[derive(Default)]
struct Sent {
    events: Vec<Ev>,
    next_k: u64,
}

impl Sent {
    /// Numbers `evs` and gives their lines, without recording them.
    fn lines(&mut self, evs: &[Ev]) -> Vec<String> {
        evs.iter()
            .map(|e| {
                let l = e.line(self.next_k);
                self.next_k += 1;
                l
            })
            .collect()
    }

    fn record(&mut self, evs: &[Ev]) {
        self.events.extend_from_slice(evs);
    }

    fn count(&self, name: &str) -> u64 {
        self.events.iter().filter(|e| e.name == name).count() as u64
    }

    fn visitors_of(&self, name: Option<&str>) -> u64 {
        self.events
            .iter()
            .filter(|e| name.is_none_or(|n| e.name == n))
            .map(|e| e.visitor)
            .collect::<BTreeSet<_>>()
            .len() as u64
    }

    fn pageviews_per_path(&self) -> BTreeMap<String, u64> {
        let mut m = BTreeMap::new();
        for e in self.events.iter().filter(|e| e.name == "pageview") {
            *m.entry(e.path.clone()).or_default() += 1;
        }
        m
    }
}

/// Events of visitors `first…`, five each: three pageviews, a sign-up, then an add to
/// cart or (every other visitor) a purchase.
fn shop_events(first_visitor: u64, visitors: u64) -> Vec<Ev> {
    let mut out = Vec::new();
    for v in first_visitor..first_visitor + visitors {
        for j in 0..5u64 {
            let (name, path) = match j {
                0..=2 => ("pageview", format!("/p/{}", (v + j) % 3)),
                3 => ("signup", "/signup".to_string()),
                _ if v % 2 == 0 => ("purchase", "/checkout".to_string()),
                _ => ("add_to_cart", "/cart".to_string()),
            };
            out.push(Ev {
                visitor: v,
                name,
                path,
            });
        }
    }
    out
}

/// `n` pageviews of `path`, each by a visitor of its own from `first_visitor`.
fn pageviews(first_visitor: u64, n: u64, path: &str) -> Vec<Ev> {
    (0..n)
        .map(|i| Ev {
            visitor: first_visitor + i,
            name: "pageview",
            path: path.to_string(),
        })
        .collect()
}

const GOALS: &str = r#"{"name": "Signup", "type": "event", "event": "signup", "count": "every"},
    {"name": "Purchase", "type": "event", "event": "purchase", "conversion": "macro", "count": "every"},
    {"name": "Cart", "type": "event", "event": "add_to_cart", "count": "every"}"#;

/// The overview, the goal report and the pages report count exactly what was sent.
fn check_counts(srv: &Server, key: &str, sent: &Sent, when: &str) {
    let v = srv.query(key, r#"{"type": "overview"}"#, "");
    let f = &v["figures"];
    let want = serde_json::json!({
        "events": sent.events.len(),
        "pageviews": sent.count("pageview"),
        "visitors": sent.visitors_of(None),
    });
    let got = serde_json::json!({
        "events": f["events"],
        "pageviews": f["pageviews"],
        "visitors": f["visitors"],
    });
    assert_eq!(got, want, "{when}: the overview: {v}");

    let v = srv.query(key, r#"{"type": "goals", "units": ["visitor"]}"#, GOALS);
    assert_eq!(
        v["totals"][0]["total"].as_u64(),
        Some(sent.visitors_of(None)),
        "{when}: visitors in the goal report: {v}"
    );
    for (i, (goal, event)) in [
        ("Signup", "signup"),
        ("Purchase", "purchase"),
        ("Cart", "add_to_cart"),
    ]
    .into_iter()
    .enumerate()
    {
        let row = &v["goals"][i];
        assert_eq!(row["name"], goal, "{when}: {v}");
        assert_eq!(
            row["conversions"].as_u64(),
            Some(sent.count(event)),
            "{when}: {goal} conversions: {v}"
        );
        assert_eq!(
            row["rates"][0]["rate"]["num"].as_u64(),
            Some(sent.visitors_of(Some(event))),
            "{when}: visitors converting on {goal}: {v}"
        );
    }

    assert_eq!(
        srv.pages(key),
        sent.pageviews_per_path(),
        "{when}: pageviews per page"
    );
}

// ---------------------------------------------------------------------------------------

#[test]
fn events_reach_clickhouse_exactly_once_across_kill_9_and_outages() {
    let Some(url) = clickhouse_url() else { return };
    let t_start = Instant::now();
    let upstream = host_port(&url);
    let db = format!("cairn_cli_{}", std::process::id());
    assert!(
        clickhouse_exec(&upstream, &format!("DROP DATABASE IF EXISTS {db}")),
        "ClickHouse at {url} does not answer"
    );
    let _drop_db = DropDatabase {
        upstream: upstream.clone(),
        db: db.clone(),
    };
    let proxy = Proxy::start(upstream.clone());
    let ch = proxy.url();

    let dir = Dir::new();
    let data = dir.path("store");
    let log = dir.path("server.log");
    let v: Value = serde_json::from_str(&ok(&data, &["site", "add", SITE, "--json"])).unwrap();
    let write_key = v["write_key"].as_str().unwrap().to_string();
    let read_key = ok(&data, &["site", "key", SITE])
        .split_whitespace()
        .find(|w| w.starts_with("cairn_r_"))
        .expect("a read key")
        .to_string();
    let fast = dir.write("fast.toml", "[clickhouse]\nbatch_interval_secs = 1\n");
    let slow = dir.write("slow.toml", "[clickhouse]\nbatch_interval_secs = 3600\n");
    let mut sent = Sent::default();

    // 1. 500 events in 5 acknowledged batches: once shipped, the queries count them
    // exactly.
    let srv = Server::start(&data, &ch, &db, &fast, &log);
    assert!(
        srv.banner
            .contains(&format!("events are shipped to ClickHouse at {ch}")),
        "{}",
        srv.banner
    );
    let h = srv.healthz();
    assert_eq!(h["clickhouse"]["status"], "ok", "{h}");
    let first = shop_events(0x1000, 100);
    for chunk in first.chunks(100) {
        let lines = sent.lines(chunk);
        srv.send(&write_key, &lines);
        sent.record(chunk);
    }
    assert_eq!(sent.events.len(), 500);
    let h = srv.wait_shipped(500);
    assert_eq!(h["clickhouse"]["shipped_events"], 500, "{h}");
    check_counts(&srv, &read_key, &sent, "after the first 500");
    srv.kill9();

    // 2. A server that ships only every hour acknowledges 300 more events: not shipped,
    // so not in the queries (answered from ClickHouse only); then kill -9.
    let srv = Server::start(&data, &ch, &db, &slow, &log);
    let second = shop_events(0x2000, 60);
    for chunk in second.chunks(100) {
        let lines = sent.lines(chunk);
        srv.send(&write_key, &lines);
    }
    std::thread::sleep(Duration::from_millis(300));
    let h = srv.healthz();
    assert_eq!(h["clickhouse"]["shipped_events"], 0, "{h}");
    assert_eq!(
        h["clickhouse"]["waiting_events"], 300,
        "buffered events wait too: {h}"
    );
    eprintln!("acknowledged, not shipped, before kill -9: /healthz {h}");
    check_counts(&srv, &read_key, &sent, "300 acknowledged, not shipped");
    srv.kill9();
    sent.record(&second);

    // 3. Restarted on the same store: the 300 are shipped, none lost, none doubled.
    let srv = Server::start(&data, &ch, &db, &fast, &log);
    srv.wait_shipped(300);
    check_counts(&srv, &read_key, &sent, "after kill -9 and a restart");

    // … then kill -9 while batches keep coming and being shipped. Each batch is 50
    // pageviews of its own page, so a lost or doubled batch shows in the pages report.
    let batches: Vec<(Vec<Ev>, Vec<String>)> = (0..400u64)
        .map(|b| {
            let evs = pageviews(0x10_0000 + b * 100, 50, &format!("/b/{b}"));
            let lines = sent.lines(&evs);
            (evs, lines)
        })
        .collect();
    let sender = {
        let (addr, key) = (srv.addr.clone(), write_key.clone());
        let lines: Vec<String> = batches.iter().map(|(_, l)| l.concat()).collect();
        std::thread::spawn(move || {
            let mut acked = 0usize;
            for body in &lines {
                match http(&addr, "POST", "/api/v1/batch", Some(&key), body) {
                    Ok((200, _)) => acked += 1,
                    Ok((s, body)) => panic!("batch {acked}: {s} {body}"),
                    Err(_) => break,
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            acked
        })
    };
    std::thread::sleep(Duration::from_millis(2500));
    let shipped_before_kill = srv.healthz()["clickhouse"]["shipped_events"].clone();
    srv.kill9();
    let acked = sender.join().unwrap();
    eprintln!(
        "kill -9 while sending: {acked} batches of 50 acknowledged, {shipped_before_kill} events shipped"
    );
    assert!(
        acked > 0 && acked < batches.len(),
        "{acked} batches acknowledged"
    );
    for (evs, _) in &batches[..acked] {
        sent.record(evs);
    }

    // 4. Restarted: a last batch, once visible, is behind everything the store held (the
    // segments are shipped in order).
    let srv = Server::start(&data, &ch, &db, &fast, &log);
    let marker = pageviews(0x20_0000, 50, "/after-restart");
    let lines = sent.lines(&marker);
    srv.send(&write_key, &lines);
    sent.record(&marker);
    let t = Instant::now();
    let pages = loop {
        let pages = srv.pages(&read_key);
        if pages.get("/after-restart") == Some(&50) {
            break pages;
        }
        assert!(
            t.elapsed() < PATIENCE,
            "the batch after the restart is not shipped: {pages:?}\n{}",
            log_tail(&log)
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    // The batch in flight at the kill was not acknowledged: stored whole or not at all.
    let in_flight = format!("/b/{acked}");
    match pages.get(&in_flight) {
        None => {}
        Some(50) => {
            eprintln!("the batch in flight at the kill was stored (allowed: not acknowledged)");
            sent.record(&batches[acked].0);
        }
        Some(n) => panic!("the batch in flight at the kill has {n} of its 50 events"),
    }
    srv.wait_shipped(50);
    check_counts(&srv, &read_key, &sent, "after kill -9 while shipping");

    // 5. ClickHouse stops answering: writes are still acknowledged, /healthz says
    // `unreachable` (and the server `degraded`), queries answer 503; once it is back, the
    // events are shipped, once.
    let shipped0 = srv.healthz()["clickhouse"]["shipped_events"]
        .as_u64()
        .unwrap();
    proxy.down();
    let during = shop_events(0x3000, 20);
    let lines = sent.lines(&during);
    srv.send(&write_key, &lines);
    let t = Instant::now();
    let h = loop {
        let h = srv.healthz();
        if h["clickhouse"]["status"] == "unreachable" {
            break h;
        }
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "/healthz does not notice ClickHouse is down: {h}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    eprintln!("ClickHouse down: /healthz {h}");
    assert_eq!(h["status"], "degraded", "{h}");
    assert!(
        h["clickhouse"]["error"]
            .as_str()
            .is_some_and(|e| !e.is_empty()),
        "{h}"
    );
    let (status, body) = srv.query_raw(&read_key, r#"{"type": "overview"}"#, "");
    eprintln!("ClickHouse down: a query answers {status} {body}");
    // Never numbers without ClickHouse (the store's few unshipped events are not the
    // answer): a `503`, to retry later.
    assert_eq!(status, 503, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert!(v["error"].as_str().is_some_and(|e| !e.is_empty()), "{body}");
    if let Some(id) = v["request_id"].as_str() {
        let cause: Vec<String> = std::fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains(id))
            .map(str::to_string)
            .collect();
        eprintln!("ClickHouse down: the log on request {id}: {cause:?}");
    }
    // Still taking writes.
    let more = pageviews(0x30_0000, 10, "/while-down");
    let lines = sent.lines(&more);
    srv.send(&write_key, &lines);
    sent.record(&during);
    sent.record(&more);
    proxy.up();
    let h = srv.wait_shipped(shipped0 + 100 + 10);
    eprintln!("ClickHouse back: /healthz {h}");
    check_counts(&srv, &read_key, &sent, "after ClickHouse came back");

    // A clean stop.
    let mut srv = srv;
    let kill = Command::new("kill")
        .args(["-TERM", &srv.child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let t = Instant::now();
    let code = loop {
        if let Some(s) = srv.child.try_wait().unwrap() {
            break s;
        }
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "still running after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(code.success(), "exit {code:?}\n{}", log_tail(&log));
    eprintln!(
        "{} events checked in {:?}",
        sent.events.len(),
        t_start.elapsed()
    );
}

/// A server whose ClickHouse does not answer at start stops at once, naming ClickHouse
/// and the URL. (Needs no ClickHouse.)
#[test]
fn serve_refuses_to_start_when_clickhouse_is_unreachable() {
    let dir = Dir::new();
    let data = dir.path("store");
    ok(&data, &["site", "add", SITE]);
    let url = "http://127.0.0.1:1";
    let mut child = cairn_cmd(&data)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--backend",
            "clickhouse",
        ])
        .args(["--clickhouse-url", url])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start cairn serve");
    let t = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if t.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            panic!("cairn serve with an unreachable ClickHouse still runs after 30 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    eprintln!("exit {:?}; stderr:\n{stderr}", out.status.code());
    assert!(!out.status.success(), "{stdout}\n{stderr}");
    assert!(!stdout.contains("listening on"), "{stdout}");
    assert!(
        stderr.contains(&format!("connecting to ClickHouse at {url}")),
        "{stderr}"
    );
}
