//! A load generator for Cairn's ingestion endpoints, over loopback HTTP/1.1 keep-alive
//! connections: how many durable acknowledgements per second, and their latency.
//!
//! ```sh
//! cargo run --release -p cairn-server --example load -- \
//!     --url http://127.0.0.1:8080 --site shop.example --key cairn_w_… \
//!     --mode single --conns 64 --secs 10
//! ```
//!
//! * `--mode single`: one tracker event per request (`POST /api/v1/event`), the
//!   browser's path; each connection poses as its own visitor (own address header
//!   `X-Forwarded-For` is not sent: start the server with `--per-ip-rate 0`).
//! * `--mode batch --batch N`: N events per request (`POST /api/v1/batch`, write key).
//!
//! Prints requests/s, events/s and latency percentiles of the 2xx answers; any other
//! answer is counted and reported (and makes the exit status 1).

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

struct Args {
    addr: String,
    host: String,
    site: String,
    key: String,
    mode: String,
    batch: usize,
    conns: usize,
    secs: f64,
}

fn args() -> Args {
    let mut a = Args {
        addr: "127.0.0.1:8080".into(),
        host: "127.0.0.1:8080".into(),
        site: "shop.example".into(),
        key: String::new(),
        mode: "single".into(),
        batch: 100,
        conns: 32,
        secs: 10.0,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut val = || it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--url" => {
                let u = val();
                let hp = u
                    .trim_start_matches("http://")
                    .trim_end_matches('/')
                    .to_string();
                a.addr = hp.clone();
                a.host = hp;
            }
            "--site" => a.site = val(),
            "--key" => a.key = val(),
            "--mode" => a.mode = val(),
            "--batch" => a.batch = val().parse().expect("--batch N"),
            "--conns" => a.conns = val().parse().expect("--conns N"),
            "--secs" => a.secs = val().parse().expect("--secs S"),
            other => panic!("unknown flag {other}"),
        }
    }
    a
}

fn body(a: &Args, conn: usize, seq: u64) -> (String, usize) {
    let url = format!("https://{}/p/{}?utm_source=load", a.site, seq % 500);
    if a.mode == "single" {
        let b = format!(
            "{{\"site\":\"{}\",\"name\":\"pageview\",\"url\":\"{url}\",\"referrer\":\"https://www.google.com/\",\"screen\":\"1920x1080\",\"language\":\"en-US\"}}",
            a.site
        );
        (b, 1)
    } else {
        let mut b = String::with_capacity(a.batch * 160);
        for i in 0..a.batch {
            b.push_str(&format!(
                "{{\"site\":\"{}\",\"ts\":{},\"visitor\":\"c{conn}-{}\",\"name\":\"pageview\",\"url\":\"{url}\",\"device\":\"desktop\"}}\n",
                a.site,
                1_763_000_000_000i64 + (seq as i64) * 1000 + i as i64,
                seq % 1000
            ));
        }
        (b, a.batch)
    }
}

/// Sends one request and reads one response; returns the status.
async fn roundtrip(s: &mut TcpStream, req: &[u8], buf: &mut Vec<u8>) -> std::io::Result<u16> {
    s.write_all(req).await?;
    buf.clear();
    let mut tmp = [0u8; 4096];
    loop {
        let n = s.read(&mut tmp).await?;
        if n == 0 {
            return Err(std::io::Error::other("connection closed"));
        }
        buf.extend_from_slice(&tmp[..n]);
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let status: u16 = head
                .split_whitespace()
                .nth(1)
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            while buf.len() < end + 4 + len {
                let n = s.read(&mut tmp).await?;
                if n == 0 {
                    return Err(std::io::Error::other("connection closed"));
                }
                buf.extend_from_slice(&tmp[..n]);
            }
            return Ok(status);
        }
    }
}

#[tokio::main]
async fn main() {
    let a = std::sync::Arc::new(args());
    let deadline = Instant::now() + Duration::from_secs_f64(a.secs);
    let mut tasks = Vec::new();
    for c in 0..a.conns {
        let a = std::sync::Arc::clone(&a);
        tasks.push(tokio::spawn(async move {
            let mut s = TcpStream::connect(&a.addr).await.expect("connect");
            s.set_nodelay(true).ok();
            let ua = format!(
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.{c}.0 Safari/537.36"
            );
            let (mut lat, mut events, mut bad, mut buf, mut seq) =
                (Vec::new(), 0u64, 0u64, Vec::new(), 0u64);
            while Instant::now() < deadline {
                let (b, n) = body(&a, c, seq);
                seq += 1;
                let (path, auth) = if a.mode == "single" {
                    ("/api/v1/event", String::new())
                } else {
                    ("/api/v1/batch", format!("Authorization: Bearer {}\r\n", a.key))
                };
                let req = format!(
                    "POST {path} HTTP/1.1\r\nHost: {}\r\nUser-Agent: {ua}\r\nContent-Type: text/plain\r\n{auth}Content-Length: {}\r\n\r\n{b}",
                    a.host,
                    b.len()
                );
                let t0 = Instant::now();
                match roundtrip(&mut s, req.as_bytes(), &mut buf).await {
                    Ok(st) if (200..300).contains(&st) => {
                        lat.push(t0.elapsed());
                        events += n as u64;
                    }
                    Ok(st) => {
                        bad += 1;
                        if bad == 1 {
                            eprintln!("answer {st}: {}", String::from_utf8_lossy(&buf));
                        }
                    }
                    Err(e) => {
                        eprintln!("connection {c}: {e}");
                        break;
                    }
                }
            }
            (lat, events, bad)
        }));
    }
    let t0 = Instant::now();
    let (mut lat, mut events, mut bad) = (Vec::new(), 0, 0);
    for t in tasks {
        let (l, e, b) = t.await.expect("task");
        lat.extend(l);
        events += e;
        bad += b;
    }
    let secs = t0.elapsed().as_secs_f64().max(a.secs);
    lat.sort_unstable();
    let pct = |p: f64| {
        lat.get(((lat.len() as f64 * p) as usize).min(lat.len().saturating_sub(1)))
            .map_or(0.0, |d| d.as_secs_f64() * 1e3)
    };
    println!(
        "{{\"mode\":\"{}\",\"conns\":{},\"batch\":{},\"seconds\":{:.1},\"requests_per_s\":{:.0},\"events_per_s\":{:.0},\"p50_ms\":{:.2},\"p99_ms\":{:.2},\"non_2xx\":{}}}",
        a.mode,
        a.conns,
        if a.mode == "single" { 1 } else { a.batch },
        secs,
        lat.len() as f64 / secs,
        events as f64 / secs,
        pct(0.5),
        pct(0.99),
        bad
    );
    if bad > 0 {
        std::process::exit(1);
    }
}
