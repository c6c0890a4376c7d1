//! Random bodies never panic the server and never store part of a batch: the answer is
//! 200 with every record stored, or an error with nothing stored.

mod common;

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use cairn_server::{AppState, Limits, router};
use cairn_store::Store;
use proptest::prelude::*;
use tower::ServiceExt;

fn count(store: &Store) -> u64 {
    let mut n = 0;
    store
        .for_each_event(|_| {
            n += 1;
            Ok(())
        })
        .unwrap();
    n
}

/// JSON-ish fragments that make plausible and implausible records.
fn record() -> impl Strategy<Value = String> {
    let site = prop_oneof![
        Just("shop.example"),
        Just("other.example"),
        Just(""),
        Just("shop example")
    ];
    let ts = prop_oneof![
        Just("\"2026-03-01T10:00:00Z\"".to_string()),
        Just("\"2099-01-01T00:00:00Z\"".to_string()),
        Just("1772409600000".to_string()),
        Just("-5".to_string()),
        Just("\"soon\"".to_string()),
        Just("null".to_string()),
    ];
    let name = prop_oneof![
        Just("\"pageview\""),
        Just("\"\""),
        Just("7"),
        Just("\"signup\""),
        Just("[]")
    ];
    let extra = prop_oneof![
        Just(String::new()),
        Just(",\"props\":{\"plan\":\"pro\",\"n\":3}".to_string()),
        Just(",\"props\":{\"bad\":{\"nested\":1}}".to_string()),
        Just(",\"revenue\":{\"amount\":12.5,\"currency\":\"EUR\"}".to_string()),
        Just(",\"revenue\":{\"amount\":\"x\",\"currency\":\"EURO\"}".to_string()),
        Just(",\"url\":\"https://shop.example/p?utm_source=x\"".to_string()),
        Just(",\"unknown_field\":1".to_string()),
    ];
    (site, ts, name, extra, any::<bool>()).prop_map(|(s, t, n, x, identify)| {
        if identify {
            format!("{{\"type\":\"identify\",\"site\":\"{s}\",\"ts\":{t},\"visitor\":\"v1\",\"user\":\"u\"{x}}}")
        } else {
            format!("{{\"site\":\"{s}\",\"ts\":{t},\"visitor\":\"v1\",\"name\":{n}{x}}}")
        }
    })
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        // Raw bytes.
        proptest::collection::vec(any::<u8>(), 0..300),
        // NDJSON of records, possibly with a cut-off last line.
        (proptest::collection::vec(record(), 0..6), any::<u16>()).prop_map(|(rs, cut)| {
            let mut s = rs.join("\n");
            if cut % 5 == 0 && !s.is_empty() {
                s.truncate(cut as usize % s.len());
            }
            s.into_bytes()
        }),
        // JSON arrays of records.
        proptest::collection::vec(record(), 0..6)
            .prop_map(|rs| format!("[{}]", rs.join(",")).into_bytes()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 120, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn random_bodies_store_all_or_nothing(bodies in proptest::collection::vec(body(), 1..4)) {
        let dir = tempfile::tempdir().unwrap();
        let (store, mut meta) = common::open(dir.path());
        let (_, key) = meta.add_site("shop.example", "UTC").unwrap();
        let state = AppState::new(Arc::clone(&store), meta, Limits { max_body: 4096, max_batch: 4, max_inflight_writes: 4, ..Limits::default() });
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        for b in bodies {
            let before = count(&store);
            let req = Request::post("/api/v1/batch")
                .header(header::AUTHORIZATION, format!("Bearer {key}"))
                .body(Body::from(b.clone()))
                .unwrap();
            let resp = rt.block_on(router(Arc::clone(&state)).oneshot(req)).unwrap();
            let status = resp.status();
            let after = count(&store);
            let text = String::from_utf8_lossy(&b).to_string();
            if status == StatusCode::OK {
                let records = if text.trim_start().starts_with('[') {
                    serde_json::from_str::<Vec<serde_json::Value>>(text.trim_start()).map(|v| v.len()).unwrap_or(0)
                } else {
                    text.lines().filter(|l| !l.trim().is_empty()).count()
                };
                // Identify records are links, not events.
                let events = text.matches("\"name\"").count().min(records);
                prop_assert_eq!(after - before, events as u64, "body {:?}", text);
            } else {
                prop_assert!(
                    [StatusCode::BAD_REQUEST, StatusCode::FORBIDDEN, StatusCode::PAYLOAD_TOO_LARGE, StatusCode::UNPROCESSABLE_ENTITY].contains(&status),
                    "status {} for {:?}", status, text
                );
                prop_assert_eq!(after, before, "an error stored something: {:?}", text);
            }
        }
    }
}

/// Random tracker, Plausible and Segment bodies: fragments of valid and invalid fields.
fn browser_body() -> impl Strategy<Value = (usize, Vec<u8>)> {
    let field = prop_oneof![
        Just("\"site\":\"shop.example\"".to_string()),
        Just("\"site\":\"nope.example\"".to_string()),
        Just("\"domain\":\"shop.example\"".to_string()),
        Just("\"d\":\"shop.example,other.example\"".to_string()),
        Just("\"name\":\"pageview\"".to_string()),
        Just("\"n\":\"signup\"".to_string()),
        Just("\"name\":7".to_string()),
        Just("\"url\":\"https://shop.example/p?utm_source=x\"".to_string()),
        Just("\"u\":\"https://shop.example/\"".to_string()),
        Just("\"url\":\"nope\"".to_string()),
        Just("\"referrer\":\"https://www.google.com/\"".to_string()),
        Just("\"props\":{\"plan\":\"pro\",\"n\":3}".to_string()),
        Just("\"props\":{\"bad\":[1]}".to_string()),
        Just("\"p\":\"{\\\"a\\\":1}\"".to_string()),
        Just("\"revenue\":{\"amount\":12.5,\"currency\":\"EUR\"}".to_string()),
        Just("\"$\":{\"amount\":\"x\",\"currency\":\"EUR\"}".to_string()),
        Just("\"type\":\"identify\"".to_string()),
        Just("\"type\":\"track\"".to_string()),
        Just("\"type\":\"page\"".to_string()),
        Just("\"user\":\"lead-1\"".to_string()),
        Just("\"userId\":\"u1\"".to_string()),
        Just("\"anonymousId\":\"a1\"".to_string()),
        Just("\"event\":\"Order Completed\"".to_string()),
        Just("\"properties\":{\"revenue\":3,\"x\":{\"y\":1}}".to_string()),
        Just("\"timestamp\":\"2099-01-01T00:00:00Z\"".to_string()),
        Just("\"timestamp\":\"2026-11-01T00:00:00Z\"".to_string()),
        Just("\"age\":5000".to_string()),
        Just("\"age\":-1".to_string()),
        Just("\"vid\":\"abc\"".to_string()),
        Just("\"screen\":\"1x2\"".to_string()),
        Just("\"context\":{\"ip\":\"192.0.2.1\",\"userAgent\":\"curl/8\"}".to_string()),
        "[a-z\"{}:,]{0,12}".prop_map(|s| s),
    ];
    let object =
        proptest::collection::vec(field, 0..7).prop_map(|fs| format!("{{{}}}", fs.join(",")));
    let endpoint = 0usize..3;
    (
        endpoint,
        proptest::collection::vec(object, 1..4),
        any::<u8>(),
        proptest::collection::vec(any::<u8>(), 0..64),
    )
        .prop_map(|(ep, objs, shape, raw)| {
            let body = match (ep, shape % 4) {
                (_, 3) => raw,
                (0, 0) => format!("[{}]", objs.join(",")).into_bytes(),
                (2, 0 | 1) => format!("{{\"batch\":[{}]}}", objs.join(",")).into_bytes(),
                _ => objs[0].clone().into_bytes(),
            };
            (ep, body)
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn browser_and_compat_parsers_never_panic_nor_store_part(reqs in proptest::collection::vec(browser_body(), 1..5)) {
        use axum::extract::ConnectInfo;
        let dir = tempfile::tempdir().unwrap();
        let (store, mut meta) = common::open(dir.path());
        let (_, key) = meta.add_site("shop.example", "UTC").unwrap();
        meta.add_site("other.example", "UTC").unwrap();
        let state = AppState::new(Arc::clone(&store), meta, Limits { max_body: 4096, max_batch: 4, ..Limits::default() });
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        for (ep, b) in reqs {
            let before = count(&store);
            let path = ["/api/v1/event", "/api/event", "/v1/batch"][ep];
            let mut req = Request::post(path)
                .header(header::USER_AGENT, "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0")
                .header(header::AUTHORIZATION, format!("Bearer {key}"))
                .body(Body::from(b.clone()))
                .unwrap();
            if ep == 2 {
                use base64::Engine;
                let auth = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{key}:")));
                req.headers_mut().insert(header::AUTHORIZATION, auth.parse().unwrap());
            }
            req.extensions_mut().insert(ConnectInfo("192.0.2.1:5".parse::<std::net::SocketAddr>().unwrap()));
            let resp = rt.block_on(router(Arc::clone(&state)).oneshot(req)).unwrap();
            let status = resp.status();
            let bytes = rt.block_on(http_body_util::BodyExt::collect(resp.into_body())).unwrap().to_bytes();
            let after = count(&store);
            let text = String::from_utf8_lossy(&b).to_string();
            if status.is_success() {
                if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&bytes)
                    && let Some(n) = v["accepted"].as_u64()
                {
                    prop_assert!(after - before <= n, "{} stored, {} acknowledged: {:?}", after - before, n, text);
                }
            } else {
                prop_assert!(status.is_client_error(), "status {} for {:?}", status, text);
                prop_assert_eq!(after, before, "an error stored something: {:?}", text);
            }
        }
    }
}
