//! The live view, `GET /api/v1/sites/{site}/live`: the last events that arrived through
//! the tracker, the batch API and Segment's API, newest first, stored or ignored and why;
//! its bounds, and who may read it.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode, header};
use base64::Engine;
use cairn_meta::{Role, Scope};
use cairn_server::{AppState, Limits, router};
use cairn_store::Store;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

const CHROME: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
const BOT: &str = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)";
const PW: &str = "correct horse battery";

struct Env {
    state: Arc<AppState>,
    store: Arc<Store>,
    write_key: String,
    other_write_key: String,
    read_key: String,
    _dir: tempfile::TempDir,
}

fn env() -> Env {
    let dir = tempfile::tempdir().unwrap();
    let (store, mut meta) = common::open(dir.path());
    let (_, write_key) = meta.add_site("shop.example", "UTC").unwrap();
    let (_, other_write_key) = meta.add_site("other.example", "UTC").unwrap();
    let read_key = meta.add_key("shop.example", Scope::Read).unwrap();
    for email in ["vic@example.com", "ola@example.com"] {
        meta.add_user(email, PW, false).unwrap();
    }
    meta.grant("vic@example.com", "shop.example", Some(Role::Viewer))
        .unwrap();
    meta.grant("ola@example.com", "other.example", Some(Role::Viewer))
        .unwrap();
    Env {
        state: AppState::new(Arc::clone(&store), meta, Limits::default()),
        store,
        write_key,
        other_write_key,
        read_key,
        _dir: dir,
    }
}

struct Answer {
    status: StatusCode,
    body: Value,
    cookie: Option<String>,
}

async fn send(e: &Env, mut req: Request<Body>) -> Answer {
    let addr: SocketAddr = "192.0.2.7:40000".parse().unwrap();
    req.extensions_mut().insert(ConnectInfo(addr));
    let resp = router(Arc::clone(&e.state)).oneshot(req).await.unwrap();
    let status = resp.status();
    let cookie = resp
        .headers()
        .get(header::SET_COOKIE)
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_string());
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    Answer {
        status,
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        cookie,
    }
}

/// A tracker request from `ua`.
async fn track(e: &Env, ua: &str, body: Value) -> Answer {
    let req = Request::post("/api/v1/event")
        .header(header::CONTENT_TYPE, "text/plain")
        .header(header::USER_AGENT, ua)
        .body(Body::from(body.to_string()))
        .unwrap();
    send(e, req).await
}

async fn batch(e: &Env, key: &str, records: Value) -> Answer {
    let req = Request::post("/api/v1/batch")
        .header(header::AUTHORIZATION, format!("Bearer {key}"))
        .body(Body::from(records.to_string()))
        .unwrap();
    send(e, req).await
}

async fn live(e: &Env, site: &str, query: &str, auth: &str) -> Answer {
    let mut req = Request::get(format!("/api/v1/sites/{site}/live{query}"));
    req = if auth.starts_with("cairn_session") {
        req.header(header::COOKIE, auth)
    } else {
        req.header(header::AUTHORIZATION, format!("Bearer {auth}"))
    };
    send(e, req.body(Body::empty()).unwrap()).await
}

async fn login(e: &Env, email: &str) -> String {
    let req = Request::post("/api/v1/login")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(
            json!({"email": email, "password": PW}).to_string(),
        ))
        .unwrap();
    let a = send(e, req).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    a.cookie.unwrap()
}

fn stored(e: &Env) -> Vec<String> {
    let mut out = Vec::new();
    e.store
        .for_each_event(|ev| {
            out.push(ev.name().to_string());
            Ok(())
        })
        .unwrap();
    out
}

#[tokio::test]
async fn the_last_events_newest_first_with_the_ignored_and_why() {
    let e = env();
    let r = live(&e, "shop.example", "", &e.read_key).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body, json!({"events": [], "kept": 200}));

    // A pageview and a download from the tracker.
    let r = track(
        &e,
        CHROME,
        json!([
            {"site": "shop.example", "name": "pageview", "url": "https://shop.example/docs?utm_source=news"},
            {"site": "shop.example", "name": "file_download", "url": "https://shop.example/docs",
             "props": {"file": "a.pdf", "size": 3, "new": true}}
        ]),
    )
    .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    // A server-side purchase.
    let r = batch(
        &e,
        &e.write_key,
        json!([{"site": "shop.example", "ts": 1_750_000_000_000i64, "visitor": "a3f09c2e41b7d5e8",
                "name": "purchase", "url": "https://shop.example/thanks", "props": {"plan": "pro"}}]),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    // A bot's pageview: answered, not stored.
    let r = track(
        &e,
        BOT,
        json!({"site": "shop.example", "name": "pageview", "url": "https://shop.example/pricing",
               "props": {"ab": "x"}}),
    )
    .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    assert_eq!(r.body["reason"], "bot");
    // Another site's events never show.
    let r = batch(
        &e,
        &e.other_write_key,
        json!([{"site": "other.example", "ts": 1_750_000_000_000i64, "visitor": "v", "name": "secret"}]),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    // A Segment screen: answered, not stored.
    let auth = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{}:", e.write_key))
    );
    let req = Request::post("/v1/batch")
        .header(header::AUTHORIZATION, auth)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(
            json!({"batch": [{"type": "screen", "userId": "u2", "name": "Home"}]}).to_string(),
        ))
        .unwrap();
    let r = send(&e, req).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);

    let mut names = stored(&e);
    names.sort();
    assert_eq!(
        names,
        ["file_download", "pageview", "purchase", "secret"],
        "the bot's pageview and the screen are not stored"
    );

    let r = live(&e, "shop.example", "", &e.read_key).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["kept"], 200);
    let evs = r.body["events"].as_array().unwrap();
    let names: Vec<&str> = evs.iter().map(|x| x["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        ["Home", "pageview", "purchase", "file_download", "pageview"],
        "newest first, no other site's"
    );
    let screen = &evs[0];
    assert_eq!(
        screen["ignored"],
        json!({"reason": "unsupported", "detail": "screen"})
    );
    let bot = &evs[1];
    assert_eq!(bot["ignored"]["reason"], "bot");
    assert_eq!(bot["ignored"]["detail"], BOT);
    assert_eq!(bot["path"], "/pricing");
    assert_eq!(bot["props"], json!({"ab": "x"}));
    assert_eq!(bot["visitor"], Value::Null);
    let purchase = &evs[2];
    assert_eq!(purchase["ts"], 1_750_000_000_000i64);
    assert_eq!(purchase["visitor"], "a3f09c2e");
    assert_eq!(purchase["props"], json!({"plan": "pro"}));
    assert_eq!(purchase["ignored"], Value::Null);
    let download = &evs[3];
    assert_eq!(
        download["props"],
        json!({"file": "a.pdf", "size": 3.0, "new": true})
    );
    assert_eq!(download["path"], "/docs");
    assert_eq!(
        (download["browser"].as_str(), download["os"].as_str()),
        (Some("Chrome"), Some("Windows"))
    );
    assert_eq!(download["visitor"].as_str().map(str::len), Some(8));
    assert!(download["received"].as_i64().unwrap() > 1_700_000_000_000);
    for x in evs {
        let keys: Vec<&str> = x.as_object().unwrap().keys().map(String::as_str).collect();
        assert!(
            !keys.iter().any(|k| k.contains("ip")),
            "never the address: {keys:?}"
        );
    }
    assert!(!r.body.to_string().contains("192.0.2.7"));

    // Bounds.
    let r = live(&e, "shop.example", "?limit=2", &e.read_key).await;
    let names: Vec<&str> = r.body["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Home", "pageview"]);
    for bad in ["0", "201", "-1", "x", ""] {
        let r = live(&e, "shop.example", &format!("?limit={bad}"), &e.read_key).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "limit={bad}");
        assert!(r.body["error"].as_str().unwrap().contains("limit"));
    }
    let r = live(&e, "shop.example", "?limit=200", &e.read_key).await;
    assert_eq!(r.status, StatusCode::OK);
}

#[tokio::test]
async fn only_those_who_may_see_the_site_read_it() {
    let e = env();
    let r = track(
        &e,
        CHROME,
        json!({"site": "shop.example", "name": "pageview", "url": "https://shop.example/"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    let vic = login(&e, "vic@example.com").await;
    let r = live(&e, "shop.example", "", &vic).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["events"].as_array().unwrap().len(), 1);
    // A viewer of another site, a write key, another site's key, nobody.
    let ola = login(&e, "ola@example.com").await;
    let r = live(&e, "shop.example", "", &ola).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
    let r = live(&e, "shop.example", "", &e.write_key).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    let r = live(&e, "other.example", "", &e.read_key).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
    let req = Request::get("/api/v1/sites/shop.example/live")
        .body(Body::empty())
        .unwrap();
    assert_eq!(send(&e, req).await.status, StatusCode::UNAUTHORIZED);
}
