//! The OpenAPI document lists exactly the routes the router serves, and every schema
//! reference in it resolves.

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use cairn_server::{AppState, Limits, openapi, router};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

fn refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            if let Some(Value::String(r)) = m.get("$ref") {
                out.push(r.clone());
            }
            m.values().for_each(|x| refs(x, out));
        }
        Value::Array(a) => a.iter().for_each(|x| refs(x, out)),
        _ => {}
    }
}

#[test]
fn every_reference_resolves() {
    let doc = openapi::document();
    assert_eq!(doc["openapi"], "3.1.0");
    let mut all = Vec::new();
    refs(&doc, &mut all);
    assert!(
        all.len() > 20,
        "the model's types are referenced: {}",
        all.len()
    );
    for r in all {
        let name = r
            .strip_prefix("#/components/schemas/")
            .unwrap_or_else(|| panic!("a reference outside the components: {r}"));
        assert!(
            doc["components"]["schemas"].get(name).is_some(),
            "{r} does not resolve"
        );
    }
    // The query spec's analysis is documented with its variants.
    let text = doc.to_string();
    for needle in [
        "saved_funnel",
        "cart_abandonment",
        "\"Goal\"",
        "\"FunnelSpec\"",
        "QueryResult",
    ] {
        assert!(text.contains(needle), "{needle} is missing");
    }
}

#[tokio::test]
async fn the_document_lists_exactly_the_served_routes() {
    // Every route in the router's source is documented…
    let source = include_str!("../src/lib.rs");
    let served: BTreeSet<&str> = source
        .split(".route(")
        .skip(1)
        .filter_map(|s| s.trim_start().strip_prefix('"')?.split('"').next())
        .collect();
    let documented: BTreeSet<&str> = openapi::ROUTES.iter().map(|r| r.path).collect();
    assert_eq!(served, documented);
    // …and every documented method is served (not the router's own 404 or 405).
    let dir = tempfile::tempdir().unwrap();
    let (store, mut meta) = common::open(dir.path());
    meta.add_site("shop.example", "UTC").unwrap();
    let state = AppState::new(store, meta, Limits::default());
    for r in openapi::ROUTES {
        let path = r
            .path
            .replace("{site}", "shop.example")
            .replace("{name}", "x")
            .replace("{prefix}", "x")
            .replace("{email}", "ann@example.com");
        let method: Method = r.method.to_uppercase().parse().unwrap();
        let req = Request::builder()
            .method(method)
            .uri(&path)
            .body(Body::empty())
            .unwrap();
        let resp = router(Arc::clone(&state)).oneshot(req).await.unwrap();
        let status = resp.status();
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        assert_ne!(
            status,
            StatusCode::METHOD_NOT_ALLOWED,
            "{} {path}",
            r.method
        );
        assert!(
            !(status == StatusCode::NOT_FOUND && body.is_empty()),
            "{} {path} is not routed",
            r.method
        );
    }
    // And the document is served.
    let resp = router(state)
        .oneshot(
            Request::get("/api/openapi.json")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
}
