//! Failures that are not the client's fault: the answer names no file and no internal
//! error, carries a request id, and the log has the cause under the same id.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use cairn_meta::Scope;
use cairn_server::{AppState, Limits, router};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

/// Everything logged by this test process.
fn log() -> &'static Arc<Mutex<Vec<u8>>> {
    static LOG: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOG.get_or_init(|| {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let w = Arc::clone(&buf);
        tracing_subscriber::fmt()
            .with_writer(move || Sink(Arc::clone(&w)))
            .with_ansi(false)
            .init();
        buf
    })
}

struct Sink(Arc<Mutex<Vec<u8>>>);

impl Write for Sink {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

async fn call(state: &Arc<AppState>, path: &str, key: &str, body: String) -> (StatusCode, Value) {
    let req = Request::post(path)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::AUTHORIZATION, format!("Bearer {key}"))
        .body(Body::from(body))
        .unwrap();
    let resp = router(Arc::clone(state)).oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// The answer hides the cause, and the log has it under the answer's request id.
fn check_hidden(body: &Value, dir: &std::path::Path, cause_in_log: &str) {
    let text = body.to_string();
    let id = body["request_id"].as_str().expect("a request id");
    assert!(text.contains(id), "{text}");
    for internal in [
        dir.to_str().unwrap(),
        "/",
        "segment",
        "corrupted",
        "checksum",
    ] {
        assert!(!text.contains(internal), "`{internal}` in {text}");
    }
    let log = String::from_utf8_lossy(&log().lock().unwrap()).to_string();
    let line = log
        .lines()
        .find(|l| l.contains(id))
        .unwrap_or_else(|| panic!("no log line with request id {id}:\n{log}"));
    assert!(line.contains("ERROR"), "{line}");
    assert!(
        line.contains(cause_in_log),
        "`{cause_in_log}` not in {line}"
    );
}

#[tokio::test]
async fn a_damaged_segment_fails_queries_without_showing_paths_and_is_logged() {
    log();
    let dir = tempfile::tempdir().unwrap();
    let (store, mut meta) = common::open(dir.path());
    let (_, key) = meta.add_site("shop.example", "UTC").unwrap();
    let read_key = meta.add_key("shop.example", Scope::Read).unwrap();
    let state = AppState::new(Arc::clone(&store), meta, Limits::default());
    let mut body = String::new();
    for v in 0..200 {
        body.push_str(&format!(
            r#"{{"site":"shop.example","ts":"2026-03-01T10:{:02}:00Z","visitor":"v{v}","name":"pageview","url":"https://shop.example/p{v}"}}"#,
            v % 60
        ));
        body.push('\n');
    }
    assert_eq!(
        call(&state, "/api/v1/batch", &key, body).await.0,
        StatusCode::OK
    );
    store.flush().unwrap();
    // Damage every segment's data (the footers were read when the segments opened).
    for ent in std::fs::read_dir(dir.path().join("segments")).unwrap() {
        let path = ent.unwrap().path();
        let mut b = std::fs::read(&path).unwrap();
        let n = b.len();
        for x in &mut b[n / 8..n / 2] {
            *x ^= 0x5A;
        }
        std::fs::write(&path, b).unwrap();
    }
    let spec = r#"{"site":"shop.example","from":"2026-03-01","to":"2026-03-02","analysis":{"type":"overview"}}"#;
    let (status, body) = call(&state, "/api/v1/query", &read_key, spec.into()).await;
    assert!(status.is_server_error(), "{status} {body}");
    check_hidden(&body, dir.path(), "corrupted");
}

#[tokio::test]
async fn a_failed_write_is_a_503_without_paths_and_is_logged() {
    log();
    let dir = tempfile::tempdir().unwrap();
    let faults = cairn_store::Faults::default();
    let (store, mut meta) = common::open_with_faults(dir.path(), faults.clone());
    let (_, key) = meta.add_site("shop.example", "UTC").unwrap();
    let state = AppState::new(Arc::clone(&store), meta, Limits::default());
    faults.fail_log_writes(1);
    let ev = r#"{"site":"shop.example","ts":"2026-03-01T10:00:00Z","visitor":"v1","name":"pageview","url":"https://shop.example/"}"#;
    let (status, body) = call(&state, "/api/v1/batch", &key, ev.into()).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    check_hidden(&body, dir.path(), "injected");
}

async fn metrics_text(state: &Arc<AppState>) -> String {
    let req = Request::get("/metrics").body(Body::empty()).unwrap();
    let resp = router(Arc::clone(state)).oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8(bytes.to_vec()).unwrap()
}

/// A refusal is counted under the reason it was made with, never one guessed from its
/// status: a store that cannot take records answers 503 with `Retry-After`, as an
/// overloaded writer does, yet counts as `store_error`. Every request is one log line of
/// `cairn::http` and counted per route.
#[tokio::test]
async fn refusals_are_counted_by_their_reason_and_every_request_per_route() {
    log();
    let dir = tempfile::tempdir().unwrap();
    let faults = cairn_store::Faults::default();
    let (store, mut meta) = common::open_with_faults(dir.path(), faults.clone());
    let (_, key) = meta.add_site("shop.example", "UTC").unwrap();
    let state = AppState::new(Arc::clone(&store), meta, Limits::default());
    let ev = r#"{"site":"shop.example","ts":"2026-03-01T10:00:00Z","visitor":"v1","name":"pageview","url":"https://shop.example/"}"#;
    faults.fail_log_writes(1);
    let (status, _) = call(&state, "/api/v1/batch", &key, ev.into()).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    store.resume_writes().unwrap();
    assert_eq!(
        call(&state, "/api/v1/batch", &key, ev.into()).await.0,
        StatusCode::OK
    );
    assert_eq!(
        call(&state, "/api/v1/batch", "cairn_w_nope", ev.into())
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        call(&state, "/api/v1/batch", &key, "[1,".into()).await.0,
        StatusCode::BAD_REQUEST
    );
    // Not an ingestion route: not a rejected ingestion request.
    assert_eq!(
        call(&state, "/api/v1/query", "cairn_r_nope", "{}".into())
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
    let text = metrics_text(&state).await;
    for line in [
        "cairn_requests_rejected_total{reason=\"store_error\"} 1",
        "cairn_requests_rejected_total{reason=\"overloaded\"} 0",
        "cairn_requests_rejected_total{reason=\"unauthorized\"} 1",
        "cairn_requests_rejected_total{reason=\"malformed\"} 1",
        "cairn_http_requests_total{route=\"/api/v1/batch\",status=\"2xx\"} 1",
        "cairn_http_requests_total{route=\"/api/v1/batch\",status=\"4xx\"} 2",
        "cairn_http_requests_total{route=\"/api/v1/batch\",status=\"5xx\"} 1",
        "cairn_http_requests_total{route=\"/api/v1/query\",status=\"4xx\"} 1",
        "cairn_http_request_seconds_count{route=\"/api/v1/batch\"} 4",
    ] {
        assert!(text.lines().any(|l| l == line), "no `{line}` in\n{text}");
    }
    let log = String::from_utf8_lossy(&log().lock().unwrap()).to_string();
    assert!(
        log.lines().any(|l| l.contains("cairn::http")
            && l.contains("route=/api/v1/batch")
            && l.contains("status=401")
            && l.contains("reason=\"unauthorized\"")),
        "no request line for the refused batch:\n{log}"
    );
}
