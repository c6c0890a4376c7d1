//! The ingestion API through the router (no network): authentication, validation,
//! limits, and that acknowledged records are in the store.

mod common;

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use cairn_meta::Scope;
use cairn_server::{AppState, Limits, router};
use cairn_store::Store;
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

struct Env {
    state: Arc<AppState>,
    store: Arc<Store>,
    key: String,
    read_key: String,
    _dir: tempfile::TempDir,
}

fn env(limits: Limits) -> Env {
    let dir = tempfile::tempdir().unwrap();
    let (store, mut meta) = common::open(dir.path());
    let (_, key) = meta.add_site("shop.example", "UTC").unwrap();
    let read_key = meta.add_key("shop.example", Scope::Read).unwrap();
    meta.add_site("other.example", "UTC").unwrap();
    Env {
        state: AppState::new(Arc::clone(&store), meta, limits),
        store,
        key,
        read_key,
        _dir: dir,
    }
}

async fn post(e: &Env, key: Option<&str>, body: &str) -> (StatusCode, Value) {
    let mut req = Request::post("/api/v1/batch").header(header::CONTENT_TYPE, "application/json");
    if let Some(k) = key {
        req = req.header(header::AUTHORIZATION, format!("Bearer {k}"));
    }
    let resp = router(Arc::clone(&e.state))
        .oneshot(req.body(Body::from(body.to_string())).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

fn stored(e: &Env) -> u64 {
    let mut n = 0;
    e.store
        .for_each_event(|_| {
            n += 1;
            Ok(())
        })
        .unwrap();
    n
}

const EV: &str = r#"{"site":"shop.example","ts":"2026-03-01T10:00:00Z","visitor":"v1","name":"pageview","url":"https://shop.example/"}"#;

#[tokio::test]
async fn batches_are_stored_when_acknowledged() {
    let e = env(Limits::default());
    let body = format!("[{EV},{EV}]");
    let (s, v) = post(&e, Some(&e.key), &body).await;
    assert_eq!(
        (s, v["accepted"].as_u64()),
        (StatusCode::OK, Some(2)),
        "{v}"
    );
    assert_eq!(stored(&e), 2);
    // NDJSON, with an identify record and a blank line.
    let body = format!(
        "{EV}\n\n{{\"type\":\"identify\",\"site\":\"shop.example\",\"ts\":\"2026-03-01T10:01:00Z\",\"visitor\":\"v1\",\"user\":\"ann\"}}\n"
    );
    let (s, v) = post(&e, Some(&e.key), &body).await;
    assert_eq!(
        (s, v["accepted"].as_u64()),
        (StatusCode::OK, Some(2)),
        "{v}"
    );
    assert_eq!(stored(&e), 3);
    let (s, v) = router(Arc::clone(&e.state))
        .oneshot(Request::get("/healthz").body(Body::empty()).unwrap())
        .await
        .map(|r| (r.status(), r))
        .map(|(s, _)| (s, Value::Null))
        .unwrap();
    assert_eq!(s, StatusCode::OK, "{v}");
}

#[tokio::test]
async fn keys_are_checked() {
    let e = env(Limits::default());
    let (s, v) = post(&e, None, EV).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert!(v["error"].as_str().unwrap().contains("missing write key"));
    let (s, _) = post(&e, Some("cairn_w_0000"), EV).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, v) = post(&e, Some(&e.read_key), EV).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    // A record for another site than the key's: nothing stored.
    let body = format!(
        "{EV}\n{}",
        EV.replace("shop.example\",\"ts", "other.example\",\"ts")
    );
    let (s, v) = post(&e, Some(&e.key), &body).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    assert!(v["error"].as_str().unwrap().contains("other.example"));
    assert_eq!(stored(&e), 0);
}

#[tokio::test]
async fn bad_records_store_nothing_and_are_named() {
    let e = env(Limits::default());
    let bad = r#"{"site":"shop.example","ts":"2026-03-01T10:00:00Z","visitor":"v1","name":7}"#;
    let body = format!("{EV}\n{bad}\nnot json\n");
    let (s, v) = post(&e, Some(&e.key), &body).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(v["invalid"].as_u64(), Some(2));
    assert_eq!(v["errors"][0]["line"].as_u64(), Some(2));
    assert_eq!(v["errors"][0]["field"], "name");
    assert_eq!(v["errors"][1]["line"].as_u64(), Some(3));
    assert_eq!(stored(&e), 0);
    // A future timestamp, an empty batch, a broken array, invalid UTF-8.
    let future = EV.replace("2026-03-01", "2099-03-01");
    let (s, v) = post(&e, Some(&e.key), &future).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(v["errors"][0]["field"], "ts");
    assert_eq!(post(&e, Some(&e.key), "").await.0, StatusCode::BAD_REQUEST);
    assert_eq!(
        post(&e, Some(&e.key), "[{").await.0,
        StatusCode::BAD_REQUEST
    );
    let req = Request::post("/api/v1/batch")
        .header(header::AUTHORIZATION, format!("Bearer {}", e.key))
        .body(Body::from(vec![0xff, 0xfe]))
        .unwrap();
    let resp = router(Arc::clone(&e.state)).oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert_eq!(stored(&e), 0);
}

#[tokio::test]
async fn records_over_64_kib_are_refused_in_arrays_too() {
    let e = env(Limits::default());
    let big = EV.replace(
        "\"name\":\"pageview\"",
        &format!(
            "\"name\":\"pageview\",\"props\":{{{}}}",
            (0..30)
                .map(|i| format!("\"k{i}\":\"{}\"", "x".repeat(2500)))
                .collect::<Vec<_>>()
                .join(",")
        ),
    );
    let (s, v) = post(&e, Some(&e.key), &format!("[{EV},{big}]")).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(v["errors"][0]["record"], 1);
    assert!(
        v["errors"][0]["reason"].as_str().unwrap().contains("65536"),
        "{v}"
    );
    assert_eq!(stored(&e), 0);
}

#[tokio::test]
async fn limits_give_precise_answers() {
    let e = env(Limits {
        max_body: 2_000,
        max_batch: 3,
        max_inflight_writes: 1,
        ..Limits::default()
    });
    let body = [EV; 4].join("\n");
    let (s, v) = post(&e, Some(&e.key), &body).await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE, "{v}");
    assert!(v["error"].as_str().unwrap().contains("at most 3"));
    let big = format!("{}\n", EV).repeat(40);
    let (s, _) = post(&e, Some(&e.key), &big).await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(stored(&e), 0);
}

#[tokio::test]
async fn metrics_count_what_happened() {
    let e = env(Limits::default());
    post(&e, Some(&e.key), &format!("{EV}\n{EV}")).await;
    post(&e, None, EV).await;
    post(&e, Some(&e.key), "[{").await;
    let resp = router(Arc::clone(&e.state))
        .oneshot(Request::get("/metrics").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let text = String::from_utf8(
        resp.into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec(),
    )
    .unwrap();
    for line in [
        "cairn_records_accepted_total{kind=\"event\"} 2",
        "cairn_batches_accepted_total 1",
        "cairn_requests_rejected_total{reason=\"unauthorized\"} 1",
        "cairn_requests_rejected_total{reason=\"malformed\"} 1",
        "cairn_requests_rejected_total{reason=\"invalid\"} 0",
        "cairn_durable_write_seconds_count 1",
        "cairn_writes_in_flight 0",
        "# TYPE cairn_chunk_cache_bytes gauge",
        "# TYPE cairn_chunk_cache_reads_total counter",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing `{line}` in\n{text}"
        );
    }
}

#[test]
fn configuration_files_name_their_mistakes() {
    use cairn_server::Config;
    let c = Config::from_toml(
        "listen = \"0.0.0.0:9000\"\ndata = \"/var/lib/cairn\"\n[limits]\nmax_batch = 5\n",
    )
    .unwrap();
    assert_eq!(c.listen.unwrap().port(), 9000);
    let l = c.limits().unwrap();
    assert_eq!((l.max_batch, l.max_body), (5, Limits::default().max_body));
    let e = Config::from_toml("[limits]\nmax_batc = 5\n").unwrap_err();
    assert!(
        e.contains("limits") && e.contains("unknown field `max_batc`"),
        "{e}"
    );
    let e = Config::from_toml("listen = \"nowhere\"\n").unwrap_err();
    assert!(e.starts_with("listen:"), "{e}");
    let e = Config::from_toml("[limits]\nmax_body = 0\n")
        .unwrap()
        .limits()
        .unwrap_err();
    assert!(e.contains("at least 1"), "{e}");
}

async fn query(e: &Env, key: Option<&str>, spec: &str) -> (StatusCode, Value) {
    let mut req = Request::post("/api/v1/query").header(header::CONTENT_TYPE, "application/json");
    if let Some(k) = key {
        req = req.header(header::AUTHORIZATION, format!("Bearer {k}"));
    }
    let resp = router(Arc::clone(&e.state))
        .oneshot(req.body(Body::from(spec.to_string())).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn queries_answer_what_the_engine_computes_for_the_keys_site_only() {
    let e = env(Limits::default());
    // Two visitors of shop.example through a funnel, one of other.example.
    let mut body = String::new();
    for (site, v, names) in [
        (
            "shop.example",
            "a",
            &["view_item", "add_to_cart", "purchase"][..],
        ),
        ("shop.example", "b", &["view_item"][..]),
        ("other.example", "c", &["view_item", "add_to_cart"][..]),
    ] {
        for (i, n) in names.iter().enumerate() {
            body.push_str(&format!(
                "{{\"site\":\"{site}\",\"ts\":\"2026-03-01T10:0{i}:00Z\",\"visitor\":\"{v}\",\"name\":\"{n}\"}}\n"
            ));
        }
    }
    e.store
        .append(
            &body
                .lines()
                .map(|l| cairn_model::Record::from_json(l, i64::MAX / 2).unwrap())
                .collect::<Vec<_>>(),
            i64::MAX / 2,
        )
        .unwrap();
    let spec = r#"{"site":"shop.example","from":"2026-03-01","to":"2026-03-02",
        "analysis":{"type":"funnel","window":"1d","steps":[{"event":"view_item"},{"event":"add_to_cart"},{"event":"purchase"}]}}"#;
    let (s, v) = query(&e, Some(&e.read_key), spec).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let q = cairn_model::query::Query::from_json(spec).unwrap();
    let direct = cairn_engine::run(
        &*e.store,
        &q.plan().unwrap(),
        &cairn_engine::RunOptions::default(),
    )
    .unwrap();
    assert_eq!(
        v,
        serde_json::to_value(&direct).unwrap(),
        "the engine's own result"
    );
    assert_eq!(v["steps"][0]["count"], 2, "{v}");
    assert_eq!(v["steps"][2]["count"], 1, "{v}");
    // Keys: none, a write key, another site's spec.
    assert_eq!(query(&e, None, spec).await.0, StatusCode::UNAUTHORIZED);
    let (s, v) = query(&e, Some(&e.key), spec).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    // Another site's data does not exist for this key.
    let other = spec.replace("shop.example", "other.example");
    let (s, v) = query(&e, Some(&e.read_key), &other).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{v}");
    // A bad spec names the field.
    let bad = spec.replace("\"window\":\"1d\"", "\"window\":\"soon\"");
    let (s, v) = query(&e, Some(&e.read_key), &bad).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert!(v["error"].as_str().unwrap().contains("window"), "{v}");
    // The query is timed in /metrics.
    let resp = router(Arc::clone(&e.state))
        .oneshot(Request::get("/metrics").body(Body::empty()).unwrap())
        .await
        .unwrap();
    let text = String::from_utf8(
        resp.into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec(),
    )
    .unwrap();
    assert!(
        text.lines().any(|l| l == "cairn_query_seconds_count 1"),
        "{text}"
    );
}

#[tokio::test]
async fn events_before_the_retention_cut_are_refused_not_dropped() {
    let e = env(Limits::default());
    let now = cairn_model::parse_timestamp("2026-03-20T00:00:00Z").unwrap();
    e.store.retain_days(10, now).unwrap();
    let (s, v) = post(&e, Some(&e.key), EV).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert!(
        v["errors"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("retention cut"),
        "{v}"
    );
    assert_eq!(stored(&e), 0);
    let recent = EV.replace("2026-03-01T10:00:00Z", "2026-03-15T10:00:00Z");
    let (s, v) = post(&e, Some(&e.key), &recent).await;
    assert_eq!(s, StatusCode::OK, "{v}");
}

/// Hardening item 16: `/metrics` answers only this machine, or whoever shows the
/// metrics token when one is set.
#[tokio::test]
async fn item16_metrics_are_protected() {
    use axum::extract::ConnectInfo;
    async fn get(state: &Arc<AppState>, from: &str, auth: Option<&str>) -> StatusCode {
        let mut req = Request::get("/metrics");
        if let Some(a) = auth {
            req = req.header(header::AUTHORIZATION, a);
        }
        let mut req = req.body(Body::empty()).unwrap();
        req.extensions_mut()
            .insert(ConnectInfo(from.parse::<std::net::SocketAddr>().unwrap()));
        router(Arc::clone(state))
            .oneshot(req)
            .await
            .unwrap()
            .status()
    }
    let dir = tempfile::tempdir().unwrap();
    let (store, meta) = common::open(dir.path());
    let open = AppState::new(store, meta, Limits::default());
    assert_eq!(get(&open, "127.0.0.1:5", None).await, StatusCode::OK);
    assert_eq!(get(&open, "[::1]:5", None).await, StatusCode::OK);
    assert_eq!(
        get(&open, "192.0.2.1:5", None).await,
        StatusCode::UNAUTHORIZED
    );
    drop(open);
    let dir = tempfile::tempdir().unwrap();
    let (store, meta) = common::open(dir.path());
    let settings = cairn_server::Settings {
        metrics_token: Some("s3cret-token".into()),
        ..cairn_server::Settings::default()
    };
    let locked = AppState::with_settings(store, meta, settings).unwrap();
    assert_eq!(
        get(&locked, "192.0.2.1:5", None).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        get(&locked, "127.0.0.1:5", None).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        get(&locked, "192.0.2.1:5", Some("Bearer wrong")).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        get(&locked, "192.0.2.1:5", Some("Bearer s3cret-token")).await,
        StatusCode::OK
    );
}

/// Hardening item 5 (and the seam issue's must-show): a failed log write is answered
/// 503, what it carried is never visible, /healthz says so, and writes resume once the
/// disk takes them again, without a restart.
#[tokio::test]
async fn item5_a_failed_log_write_is_a_503_never_visible_and_writes_resume() {
    let dir = tempfile::tempdir().unwrap();
    let faults = cairn_store::Faults::default();
    let (store, mut meta) = common::open_with_faults(dir.path(), faults.clone());
    let (_, key) = meta.add_site("shop.example", "UTC").unwrap();
    let e = Env {
        state: AppState::new(Arc::clone(&store), meta, Limits::default()),
        store,
        key,
        read_key: String::new(),
        _dir: dir,
    };
    let health = |e: &Env| {
        router(Arc::clone(&e.state)).oneshot(Request::get("/healthz").body(Body::empty()).unwrap())
    };
    assert_eq!(post(&e, Some(&e.key), EV).await.0, StatusCode::OK);
    faults.fail_log_writes(1);
    let (status, _) = post(&e, Some(&e.key), &format!("{EV}\n{EV}")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(stored(&e), 1, "the refused batch is not visible");
    assert_eq!(
        health(&e).await.unwrap().status(),
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(
        post(&e, Some(&e.key), EV).await.0,
        StatusCode::SERVICE_UNAVAILABLE
    );
    e.store.resume_writes().unwrap();
    assert_eq!(health(&e).await.unwrap().status(), StatusCode::OK);
    assert_eq!(post(&e, Some(&e.key), EV).await.0, StatusCode::OK);
    assert_eq!(stored(&e), 2);
}

/// The example configuration shipped for deployment parses, with every table.
#[test]
fn deploy_example_configuration_parses() {
    let c = cairn_server::Config::from_toml(include_str!("../../../deploy/cairn.toml")).unwrap();
    c.limits().unwrap();
    assert_eq!(
        c.connections().unwrap(),
        cairn_server::ConnLimits::default()
    );
}

async fn assign(e: &Env, key: Option<&str>, body: Value) -> (StatusCode, Value) {
    let mut req = Request::post("/api/v1/assign").header(header::CONTENT_TYPE, "application/json");
    if let Some(k) = key {
        req = req.header(header::AUTHORIZATION, format!("Bearer {k}"));
    }
    let resp = router(Arc::clone(&e.state))
        .oneshot(req.body(Body::from(body.to_string())).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn experiments_are_assigned_as_the_tracker_does_and_exposures_recorded() {
    use serde_json::json;
    let e = env(Limits::default());
    let variants = ["control", "B", "C"];
    // The same variant for the same id, the tracker's: fnv1a(id + key) % 3.
    for id in ["v-1", "v-2", "4f3c2a", "jörg@example.com"] {
        let (s, v) = assign(
            &e,
            Some(&e.key),
            json!({"experiment": "cta_text", "variants": variants, "visitor": id}),
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        let want = cairn_model::assign::assign(id, "cta_text", 3);
        assert_eq!(v["index"].as_u64(), Some(want as u64), "{v}");
        assert_eq!(v["variant"], variants[want], "{v}");
        assert_eq!(v["exposed"], false);
    }
    assert_eq!(stored(&e), 0, "no exposure unless asked");
    let (s, v) = assign(
        &e,
        Some(&e.key),
        json!({"experiment": "cta_text", "variants": variants, "visitor": "v-1", "expose": true}),
    )
    .await;
    assert_eq!(
        (s, v["exposed"].as_bool()),
        (StatusCode::OK, Some(true)),
        "{v}"
    );
    let mut seen = Vec::new();
    e.store
        .for_each_event(|ev| {
            seen.push((ev.name().to_string(), format!("{:?}", ev.props)));
            Ok(())
        })
        .unwrap();
    assert_eq!(seen.len(), 1, "the exposure is in the store once answered");
    assert_eq!(seen[0].0, "experiment_exposure");
    assert!(seen[0].1.contains("cta_text") && seen[0].1.contains(v["variant"].as_str().unwrap()));
    // Keys and bodies are checked.
    let body = json!({"experiment": "cta_text", "variants": variants, "visitor": "v-1"});
    assert_eq!(
        assign(&e, None, body.clone()).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        assign(&e, Some(&e.read_key), body).await.0,
        StatusCode::FORBIDDEN,
        "a read key cannot record exposures"
    );
    for (bad, field) in [
        (
            json!({"experiment": "", "variants": ["a"], "visitor": "x"}),
            "experiment",
        ),
        (
            json!({"experiment": "k", "variants": [], "visitor": "x"}),
            "variants",
        ),
        (
            json!({"experiment": "k", "variants": ["a", "a"], "visitor": "x"}),
            "variants[1]",
        ),
        (
            json!({"experiment": "k", "variants": ["a"], "visitor": " "}),
            "visitor",
        ),
        (
            json!({"experiment": "k", "variants": ["a"]}),
            "vid or visitor",
        ),
    ] {
        let (s, v) = assign(&e, Some(&e.key), bad).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
        assert!(v.to_string().contains(field), "{field}: {v}");
    }
    let (s, _) = assign(&e, Some(&e.key), json!({"experiment": "k"})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
}
