//! Hardening item 7: slow clients cannot take the server down. 1,000 connections of each
//! slow kind (headers, body, chunked body, idle keep-alive) stay open while `/healthz`
//! keeps answering quickly and a tracker event is still acknowledged; the server cuts
//! them after its timeouts; connections over the per-address cap are closed at once.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cairn_server::{AppState, ConnLimits, Settings};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

const UA: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36";

async fn server(conn: ConnLimits) -> (SocketAddr, Arc<AppState>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let (store, mut meta) = common::open(dir.path());
    meta.add_site("shop.example", "UTC").unwrap();
    let settings = Settings {
        conn,
        ..Settings::default()
    };
    let state = AppState::with_settings(store, meta, settings).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(cairn_server::serve_on(listener, Arc::clone(&state)));
    (addr, state, dir)
}

/// A connection from another loopback address than the checks' (127.0.0.1).
async fn connect_from(src: [u8; 4], to: SocketAddr) -> TcpStream {
    let s = TcpSocket::new_v4().unwrap();
    s.bind(SocketAddr::from((src, 0))).unwrap();
    s.connect(to).await.unwrap()
}

/// One request on a fresh connection from 127.0.0.1: (status, time taken).
async fn request(to: SocketAddr, req: String) -> (u16, Duration) {
    let t = Instant::now();
    let mut s = TcpStream::connect(to).await.unwrap();
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out))
        .await
        .expect("an answer within 10 s")
        .unwrap();
    let text = String::from_utf8_lossy(&out);
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, t.elapsed())
}

async fn healthz(to: SocketAddr) -> (u16, Duration) {
    request(
        to,
        format!("GET /healthz HTTP/1.1\r\nHost: {to}\r\nConnection: close\r\n\r\n"),
    )
    .await
}

async fn tracker_event(to: SocketAddr) -> u16 {
    let body = r#"{"site":"shop.example","name":"pageview","url":"https://shop.example/"}"#;
    request(
        to,
        format!(
            "POST /api/v1/event HTTP/1.1\r\nHost: {to}\r\nUser-Agent: {UA}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    )
    .await
    .0
}

/// Whether the server has closed `s` (EOF or a final answer, then EOF).
async fn closed(s: &mut TcpStream) -> bool {
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout(Duration::from_millis(200), s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue,
            Err(_) => return false,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn item7_slow_clients_do_not_take_the_server_down() {
    let (addr, state, _dir) = server(ConnLimits {
        max_per_ip: 5_000,
        header_timeout: Duration::from_secs(2),
        body_timeout: Duration::from_secs(2),
        ..ConnLimits::default()
    })
    .await;
    let kinds: [(&str, String); 4] = [
        (
            "headers",
            format!("POST /api/v1/event HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: "),
        ),
        (
            "body",
            format!(
                "POST /api/v1/event HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{{\"site\":"
            ),
        ),
        (
            "chunked",
            format!(
                "POST /api/v1/batch HTTP/1.1\r\nHost: {addr}\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n[{{}},\r\n"
            ),
        ),
        (
            "idle",
            format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\n\r\n"),
        ),
    ];
    for (kind, start) in kinds {
        let mut slow = Vec::new();
        for _ in 0..1_000 {
            let mut s = connect_from([127, 0, 0, 2], addr).await;
            s.write_all(start.as_bytes()).await.unwrap();
            slow.push(s);
        }
        if kind == "idle" {
            // Read each answer: the connections stay open, kept alive and idle.
            for s in &mut slow {
                let mut buf = [0u8; 1024];
                let _ = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf)).await;
            }
        }
        let mut worst = Duration::ZERO;
        for _ in 0..10 {
            let (status, took) = healthz(addr).await;
            assert_eq!(status, 200, "{kind}: /healthz");
            worst = worst.max(took);
        }
        // Generous for a debug build on a shared 2-core machine; ~1 ms in release.
        assert!(
            worst < Duration::from_millis(500),
            "{kind}: /healthz took {worst:?}"
        );
        assert_eq!(tracker_event(addr).await, 202, "{kind}: a tracker event");
        // Past the timeouts the server has closed every slow connection.
        tokio::time::sleep(Duration::from_secs(3)).await;
        let mut open = 0;
        for s in &mut slow {
            if !closed(s).await {
                open += 1;
            }
        }
        assert_eq!(open, 0, "{kind}: connections the server kept open");
    }
    drop(state);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn item7_connections_over_the_per_address_cap_are_closed() {
    let (addr, _state, _dir) = server(ConnLimits {
        max_per_ip: 50,
        ..ConnLimits::default()
    })
    .await;
    let mut held = Vec::new();
    for _ in 0..50 {
        let mut s = connect_from([127, 0, 0, 3], addr).await;
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            .await
            .unwrap();
        held.push(s);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut extra = connect_from([127, 0, 0, 3], addr).await;
    let _ = extra
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await;
    assert!(closed(&mut extra).await, "the 51st connection is closed");
    // Another address is served.
    assert_eq!(healthz(addr).await.0, 200);
    let (_, metrics) = {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).await.unwrap();
        ((), out)
    };
    assert!(
        metrics.contains("cairn_connections_refused_total 1"),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn item9_bodies_over_the_budget_get_503() {
    let (addr, _state, _dir) = server(ConnLimits {
        body_budget: 8 << 20,
        ..ConnLimits::default()
    })
    .await;
    // A stalled 8 MiB upload holds the whole budget.
    let mut big = connect_from([127, 0, 0, 4], addr).await;
    big.write_all(
        format!(
            "POST /api/v1/batch HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\n\r\n[",
            8 << 20
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let body = "[]";
    let (status, _) = request(
        addr,
        format!(
            "POST /api/v1/batch HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    )
    .await;
    assert_eq!(status, 503);
    drop(big);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (status, _) = request(
        addr,
        format!(
            "POST /api/v1/batch HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    )
    .await;
    assert_eq!(
        status, 401,
        "the budget is back: the request reaches its key check"
    );
}
