//! The browser tracker's endpoint, Plausible's and Segment's APIs through the router:
//! what each stores (enrichment, visitor ids, links), CORS, rate limits and refusals.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode, header};
use base64::Engine;
use cairn_meta::VisitorIdMode;
use cairn_model::{Dim, Event, PropValue};
use cairn_server::{AppState, Limits, Settings, router};
use cairn_store::Store;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

const CHROME: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
const IPHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1";
const BOT: &str = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)";

struct Env {
    state: Arc<AppState>,
    store: Arc<Store>,
    key: String,
    _dir: tempfile::TempDir,
}

fn env_with(limits: Limits) -> Env {
    env_settings(|_| Settings {
        limits,
        ..Settings::default()
    })
}

/// A store and registry in a fresh directory (shop.example cookieless, fp.example
/// first-party); `settings` may put files in the directory.
fn env_settings(settings: impl FnOnce(&std::path::Path) -> Settings) -> Env {
    let dir = tempfile::tempdir().unwrap();
    let (store, mut meta) = common::open(dir.path());
    let (_, key) = meta.add_site("shop.example", "UTC").unwrap();
    meta.add_site("fp.example", "UTC").unwrap();
    meta.set_identity("fp.example", VisitorIdMode::FirstParty)
        .unwrap();
    let settings = settings(dir.path());
    Env {
        state: AppState::with_settings(Arc::clone(&store), meta, settings).unwrap(),
        store,
        key,
        _dir: dir,
    }
}

fn env() -> Env {
    env_with(Limits::default())
}

struct Sent {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: Value,
    text: String,
}

async fn send(e: &Env, req: Request<Body>) -> Sent {
    let resp = router(Arc::clone(&e.state)).oneshot(req).await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    let text = String::from_utf8_lossy(&bytes).to_string();
    Sent {
        status,
        headers,
        body: serde_json::from_str(&text).unwrap_or(Value::Null),
        text,
    }
}

fn from(ip: &str, ua: &str, path: &str, body: impl Into<String>) -> Request<Body> {
    let mut req = Request::post(path)
        .header(header::CONTENT_TYPE, "text/plain")
        .header(header::USER_AGENT, ua)
        .header(header::ACCEPT_LANGUAGE, "de-DE,de;q=0.9")
        .body(Body::from(body.into()))
        .unwrap();
    let addr: SocketAddr = format!("{ip}:40000").parse().unwrap();
    req.extensions_mut().insert(ConnectInfo(addr));
    req
}

fn events(e: &Env) -> Vec<Event> {
    let mut out = Vec::new();
    e.store
        .for_each_event(|ev| {
            out.push(ev.clone());
            Ok(())
        })
        .unwrap();
    out.sort_by_key(|e| (e.ts, e.name().to_string()));
    out
}

fn prop(e: &Event, k: &str) -> Option<PropValue> {
    e.prop(k).cloned()
}

#[tokio::test]
async fn tracker_events_are_enriched_and_stored() {
    let e = env();
    let landing = json!({"site":"shop.example","name":"pageview",
        "url":"https://shop.example/p/42?utm_source=news&utm_medium=email&utm_campaign=nov",
        "referrer":"https://mail.google.com/","screen":"390x844","language":"en-GB"});
    let r = send(
        &e,
        from("192.0.2.1", IPHONE, "/api/v1/event", landing.to_string()),
    )
    .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    assert_eq!(r.body["accepted"], 1);
    assert_eq!(r.headers[header::ACCESS_CONTROL_ALLOW_ORIGIN], "*");
    // An internal pageview and a conversion with props and revenue, in one request.
    let two = json!([
        {"site":"shop.example","name":"pageview","url":"https://shop.example/cart",
         "referrer":"https://shop.example/p/42"},
        {"site":"shop.example","name":"purchase","url":"https://shop.example/thanks",
         "props":{"items":2,"coupon":"X"},"revenue":{"amount":19.9,"currency":"EUR"},"age":1000}
    ]);
    let r = send(
        &e,
        from("192.0.2.1", IPHONE, "/api/v1/event", two.to_string()),
    )
    .await;
    assert_eq!(
        (r.status, r.body["accepted"].as_u64()),
        (StatusCode::ACCEPTED, Some(2)),
        "{}",
        r.text
    );
    let evs = events(&e);
    assert_eq!(evs.len(), 3);
    let land = evs.iter().find(|x| x.dim(Dim::Path) == "/p/42").unwrap();
    for (d, v) in [
        (Dim::Host, "shop.example"),
        (Dim::UtmSource, "news"),
        (Dim::UtmMedium, "email"),
        (Dim::UtmCampaign, "nov"),
        (Dim::Channel, "email"),
        (Dim::Referrer, "https://mail.google.com/"),
        (Dim::Device, "mobile"),
        (Dim::Browser, "Safari"),
        (Dim::Os, "iOS"),
        (Dim::Screen, "390x844"),
        (Dim::Language, "en-GB"),
    ] {
        assert_eq!(land.dim(d), v, "{d:?}");
    }
    let cart = evs.iter().find(|x| x.dim(Dim::Path) == "/cart").unwrap();
    for d in [Dim::Referrer, Dim::Source, Dim::Channel] {
        assert_eq!(
            cart.dim(d),
            "",
            "internal navigation keeps no acquisition field {d:?}"
        );
    }
    assert_eq!(cart.dim(Dim::Language), "de-DE", "from Accept-Language");
    let buy = evs.iter().find(|x| x.name() == "purchase").unwrap();
    assert_eq!(prop(buy, "items"), Some(PropValue::Num(2.0)));
    assert_eq!(buy.revenue.as_ref().unwrap().micros, 19_900_000);
    assert_eq!(
        buy.dim(Dim::Channel),
        "",
        "only pageviews carry acquisition fields"
    );
    assert!(evs.iter().all(|x| x.visitor == land.visitor), "one visitor");
    assert!(buy.ts < cart.ts, "age moves the event back");
}

#[tokio::test]
async fn cookieless_ids_separate_clients_and_first_party_ids_join_them() {
    let e = env();
    let pv = |site: &str, i: usize| {
        json!({"site":site,"name":"pageview","url":format!("https://{site}/"),"vid":"abc","props":{"i":i}})
            .to_string()
    };
    let clients = [
        ("192.0.2.1", CHROME),
        ("192.0.2.1", IPHONE),
        ("192.0.2.2", CHROME),
        ("192.0.2.1", CHROME),
    ];
    for (i, (ip, ua)) in clients.iter().enumerate() {
        let r = send(&e, from(ip, ua, "/api/v1/event", pv("shop.example", i))).await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    }
    // On a first-party site the id wins over address and user agent.
    for (i, (ip, ua)) in [("192.0.2.1", CHROME), ("198.51.100.7", IPHONE)]
        .iter()
        .enumerate()
    {
        let r = send(&e, from(ip, ua, "/api/v1/event", pv("fp.example", i))).await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    }
    let evs = events(&e);
    let visitor = |site: &str, i: usize| {
        evs.iter()
            .find(|x| x.site == site && prop(x, "i") == Some(PropValue::Num(i as f64)))
            .map(|x| x.visitor)
            .unwrap()
    };
    let shop: Vec<u64> = (0..4).map(|i| visitor("shop.example", i)).collect();
    let mut distinct = shop.clone();
    distinct.sort_unstable();
    distinct.dedup();
    assert_eq!(
        distinct.len(),
        3,
        "cookieless: the vid of a site that did not opt in is ignored"
    );
    assert_eq!(
        shop[0], shop[3],
        "same address and user agent, same visitor"
    );
    let fp = [visitor("fp.example", 0), visitor("fp.example", 1)];
    assert_eq!(fp[0], fp[1]);
    assert!(!shop.contains(&fp[0]));
}

#[tokio::test]
async fn identify_links_the_visitor() {
    let e = env();
    let pv = json!({"site":"shop.example","name":"pageview","url":"https://shop.example/"});
    send(
        &e,
        from("192.0.2.1", CHROME, "/api/v1/event", pv.to_string()),
    )
    .await;
    let id = json!({"type":"identify","site":"shop.example","user":"lead-7"});
    let r = send(
        &e,
        from("192.0.2.1", CHROME, "/api/v1/event", id.to_string()),
    )
    .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    let v = events(&e)[0].visitor;
    let ids = e.store.user_links("shop.example");
    assert_eq!(
        ids.by_visitor.get(&v).map(|(u, _)| u.as_str()),
        Some("lead-7")
    );
}

#[tokio::test]
async fn bad_tracker_input_is_refused_precisely_and_stores_nothing() {
    let e = env();
    let cases: Vec<(String, StatusCode, &str)> = vec![
        ("".into(), StatusCode::BAD_REQUEST, "empty"),
        ("{".into(), StatusCode::BAD_REQUEST, "not JSON"),
        ("[]".into(), StatusCode::BAD_REQUEST, "empty"),
        (json!({"site":"nope.example","name":"pageview","url":"https://nope.example/"}).to_string(),
            StatusCode::NOT_FOUND, "cairn site add nope.example"),
        (json!({"site":"shop.example","url":"https://shop.example/"}).to_string(),
            StatusCode::UNPROCESSABLE_ENTITY, "name"),
        (json!({"site":"shop.example","name":"x","url":"ftp://x"}).to_string(),
            StatusCode::UNPROCESSABLE_ENTITY, "url"),
        (json!({"site":"shop.example","name":"x","url":"https://shop.example/","props":{"a":{"b":1}}}).to_string(),
            StatusCode::UNPROCESSABLE_ENTITY, "props.a"),
        (json!({"site":"shop.example","name":"x","url":"https://shop.example/","age":-1}).to_string(),
            StatusCode::UNPROCESSABLE_ENTITY, "age"),
        (json!({"site":"shop.example","name":"x","url":"https://shop.example/","colour":"red"}).to_string(),
            StatusCode::UNPROCESSABLE_ENTITY, "colour"),
        (json!([{"site":"shop.example","name":"ok","url":"https://shop.example/"},
                {"site":"shop.example","name":"","url":"https://shop.example/"}]).to_string(),
            StatusCode::UNPROCESSABLE_ENTITY, "\"event\":1"),
        (format!("[{}]", vec![json!({"site":"shop.example","name":"x","url":"https://shop.example/"}).to_string(); 51].join(",")),
            StatusCode::PAYLOAD_TOO_LARGE, "at most 50"),
    ];
    for (body, status, needle) in cases {
        let r = send(&e, from("192.0.2.1", CHROME, "/api/v1/event", body.clone())).await;
        assert_eq!(r.status, status, "{body}: {}", r.text);
        assert!(r.text.contains(needle), "{body}: {} lacks {needle}", r.text);
        assert_eq!(
            r.headers[header::ACCESS_CONTROL_ALLOW_ORIGIN],
            "*",
            "errors carry CORS too"
        );
    }
    let mut bad_utf8 = Request::post("/api/v1/event")
        .body(Body::from(vec![b'{', 0xff, b'}']))
        .unwrap();
    bad_utf8
        .extensions_mut()
        .insert(ConnectInfo("192.0.2.1:1".parse::<SocketAddr>().unwrap()));
    let r = send(&e, bad_utf8).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.text.contains("UTF-8"), "{}", r.text);
    assert!(events(&e).is_empty());
}

#[tokio::test]
async fn bots_are_answered_and_not_stored() {
    let e = env();
    let pv = json!({"site":"shop.example","name":"pageview","url":"https://shop.example/"});
    let r = send(&e, from("192.0.2.1", BOT, "/api/v1/event", pv.to_string())).await;
    assert_eq!(
        (r.status, r.body["reason"].as_str()),
        (StatusCode::ACCEPTED, Some("bot")),
        "{}",
        r.text
    );
    let r = send(&e, from("192.0.2.1", "", "/api/v1/event", pv.to_string())).await;
    assert_eq!(r.body["reason"], "bot", "no user agent at all");
    assert!(events(&e).is_empty());
}

#[tokio::test]
async fn cors_preflight_and_the_script() {
    let e = env();
    let r = send(
        &e,
        Request::options("/api/v1/event")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(r.headers[header::ACCESS_CONTROL_ALLOW_ORIGIN], "*");
    assert!(
        r.headers[header::ACCESS_CONTROL_ALLOW_METHODS]
            .to_str()
            .unwrap()
            .contains("POST")
    );
    let r = send(&e, Request::get("/cairn.js").body(Body::empty()).unwrap()).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(
        r.headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/javascript")
    );
    assert!(
        r.text.contains("/api/v1/event"),
        "the script posts to the endpoint"
    );
    let etag = r.headers[header::ETAG].clone();
    let r = send(
        &e,
        Request::get("/cairn.js")
            .header(header::IF_NONE_MATCH, etag)
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_MODIFIED);
    // The body limit's refusal on an open endpoint is JSON and carries CORS too.
    let big = "x".repeat(cairn_server::OPEN_BODY_MAX + 1);
    let r = send(&e, from("192.0.2.1", CHROME, "/api/v1/event", big)).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(r.headers[header::ACCESS_CONTROL_ALLOW_ORIGIN], "*");
    assert!(r.body["error"].is_string(), "{}", r.text);
    // A page's URL with a control character in a UTM value, or an over-long one, is
    // cleaned, not refused.
    let pv = json!({"site":"shop.example","name":"pageview",
        "url":format!("https://shop.example/?utm_campaign=spring%0Asale&utm_content={}", "c".repeat(300))});
    let r = send(
        &e,
        from("192.0.2.1", CHROME, "/api/v1/event", pv.to_string()),
    )
    .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    let ev = events(&e).pop().unwrap();
    assert_eq!(
        (ev.dim(Dim::UtmCampaign), ev.dim(Dim::UtmContent).len()),
        ("springsale", 256)
    );
    // The server-side batch API is not open to browsers.
    let r = send(
        &e,
        Request::options("/api/v1/batch")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert!(!r.headers.contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN));
}

#[tokio::test]
async fn rate_limits_answer_429_with_retry_after() {
    let e = env_with(Limits {
        per_ip_rate: 1.0,
        per_ip_burst: 3.0,
        per_site_rate: 1.0,
        per_site_burst: 5.0,
        ..Limits::default()
    });
    let pv =
        json!({"site":"shop.example","name":"pageview","url":"https://shop.example/"}).to_string();
    for _ in 0..3 {
        let r = send(&e, from("192.0.2.1", CHROME, "/api/v1/event", pv.clone())).await;
        assert_eq!(r.status, StatusCode::ACCEPTED);
    }
    let r = send(&e, from("192.0.2.1", CHROME, "/api/v1/event", pv.clone())).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.text);
    assert_eq!(r.headers[header::RETRY_AFTER], "1");
    // Another address may still send, until the site's own limit (5 events) is reached.
    let r = send(&e, from("192.0.2.2", CHROME, "/api/v1/event", pv.clone())).await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    let three = format!("[{pv},{pv},{pv}]");
    let r = send(&e, from("192.0.2.3", CHROME, "/api/v1/event", three)).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.text);
    assert!(r.text.contains("shop.example"));
    assert_eq!(events(&e).len(), 4, "a limited request stores nothing");
}

#[tokio::test]
async fn plausible_events_api() {
    let e = env();
    // The payload of Plausible's documented example, and the script's short form.
    let doc = json!({"name":"pageview","url":"https://shop.example/login?utm_source=ads&utm_medium=cpc",
        "domain":"shop.example","referrer":"https://www.bing.com/","props":{"author":"John Doe","logged_in":"false"}});
    let r = send(&e, from("192.0.2.9", CHROME, "/api/event", doc.to_string())).await;
    assert_eq!((r.status, r.text.as_str()), (StatusCode::ACCEPTED, "ok"));
    assert_eq!(r.headers[header::ACCESS_CONTROL_ALLOW_ORIGIN], "*");
    let short = json!({"n":"Purchase","u":"https://shop.example/thanks","d":"shop.example","r":null,
        "p":{"plan":"pro"},"$":{"amount":"49.90","currency":"USD"}});
    let r = send(
        &e,
        from("192.0.2.9", CHROME, "/api/event", short.to_string()),
    )
    .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    let out = json!({"n":"Outbound Link: Click","u":"https://shop.example/","d":"shop.example","p":{"url":"https://elsewhere.example/"}});
    send(&e, from("192.0.2.9", CHROME, "/api/event", out.to_string())).await;
    let eng =
        json!({"n":"engagement","u":"https://shop.example/","d":"shop.example","e":4200,"sd":60});
    send(&e, from("192.0.2.9", CHROME, "/api/event", eng.to_string())).await;
    let evs = events(&e);
    let names: Vec<&str> = evs.iter().map(|x| x.name()).collect();
    for n in [
        "pageview",
        "Purchase",
        "outbound_click",
        "engagement",
        "scroll",
    ] {
        assert!(names.contains(&n), "{n} in {names:?}");
    }
    let pv = evs.iter().find(|x| x.name() == "pageview").unwrap();
    assert_eq!(
        (
            pv.dim(Dim::Channel),
            pv.dim(Dim::UtmSource),
            pv.dim(Dim::Browser)
        ),
        ("paid", "ads", "Chrome")
    );
    assert_eq!(prop(pv, "author"), Some(PropValue::Str("John Doe".into())));
    let buy = evs.iter().find(|x| x.name() == "Purchase").unwrap();
    assert_eq!(
        buy.revenue
            .as_ref()
            .map(|r| (r.micros, r.currency.as_str())),
        Some((49_900_000, "USD"))
    );
    let sc = evs.iter().find(|x| x.name() == "scroll").unwrap();
    assert_eq!(prop(sc, "depth"), Some(PropValue::Num(60.0)));
    // Errors.
    let r = send(
        &e,
        from(
            "192.0.2.9",
            CHROME,
            "/api/event",
            json!({"n":"x","u":"https://a/"}).to_string(),
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text.contains("domain"), "{}", r.text);
    let r = send(
        &e,
        from(
            "192.0.2.9",
            CHROME,
            "/api/event",
            json!({"n":"x","u":"https://nope.example/","d":"nope.example"}).to_string(),
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(events(&e).len(), 5);
}

/// Hardening item 12: a blank domain is answered as an unknown site (not 202 and
/// nothing stored); a domain named twice stores one event.
#[tokio::test]
async fn item12_plausible_blank_and_repeated_domains() {
    let e = env();
    let blank = json!({"n":"pageview","u":"https://shop.example/","d":" "});
    let r = send(
        &e,
        from("192.0.2.9", CHROME, "/api/event", blank.to_string()),
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);
    let twice =
        json!({"n":"pageview","u":"https://shop.example/","d":"shop.example, shop.example"});
    let r = send(
        &e,
        from("192.0.2.9", CHROME, "/api/event", twice.to_string()),
    )
    .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    assert_eq!(events(&e).len(), 1);
}

fn basic(key: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{key}:"))
    )
}

fn segment(e: &Env, path: &str, auth: Option<&str>, body: Value) -> Request<Body> {
    let mut req = from("10.1.1.1", "analytics-node/1.0", path, body.to_string());
    if let Some(a) = auth {
        req.headers_mut()
            .insert(header::AUTHORIZATION, a.parse().unwrap());
    }
    let _ = e;
    req
}

#[tokio::test]
async fn segment_tracking_api() {
    let e = env();
    let auth = basic(&e.key);
    // The Segment spec's documented examples, trimmed to what Cairn reads.
    let track = json!({"type":"track","anonymousId":"507f191e810c19729de860ea","event":"Order Completed",
        "properties":{"revenue":25.0,"currency":"eur","products":[{"sku":"45790-32"}],"coupon":"hasbros"},
        "context":{"ip":"8.8.8.8","locale":"nl-NL","userAgent":IPHONE,
                   "page":{"url":"https://shop.example/checkout","referrer":""},
                   "campaign":{"name":"TPS Innovation Newsletter","source":"Newsletter","medium":"email"}},
        "timestamp":"2026-11-20T23:30:52.388Z","messageId":"022bb90c-bbac-11e4-8dfc-aa07a5b093db"});
    let r = send(&e, segment(&e, "/v1/track", Some(&auth), track)).await;
    assert_eq!(
        (r.status, r.body["success"].as_bool()),
        (StatusCode::OK, Some(true)),
        "{}",
        r.text
    );
    let page = json!({"type":"page","userId":"97980cfea0067","name":"Home","category":"Docs",
        "properties":{"path":"/academy/","referrer":"https://www.google.com/","url":"https://shop.example/academy/"},
        "context":{"userAgent":CHROME}});
    let r = send(&e, segment(&e, "/v1/page", Some(&auth), page)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let identify = json!({"type":"identify","anonymousId":"507f191e810c19729de860ea","userId":"97980cfea0067",
        "traits":{"email":"peter@example.com"}});
    let r = send(&e, segment(&e, "/v1/identify", Some(&auth), identify)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let batch = json!({"writeKey": e.key, "batch":[
        {"type":"track","userId":"u2","event":"Signed Up","properties":{"plan":"Pro"}},
        {"type":"group","userId":"u2","groupId":"g1"},
        {"type":"screen","userId":"u2","name":"Home"}]});
    let r = send(&e, segment(&e, "/v1/batch", None, batch)).await;
    assert_eq!(
        (
            r.status,
            r.body["accepted"].as_u64(),
            r.body["ignored"].as_u64()
        ),
        (StatusCode::OK, Some(1), Some(2)),
        "{}",
        r.text
    );
    let evs = events(&e);
    assert_eq!(evs.len(), 3);
    let order = evs.iter().find(|x| x.name() == "Order Completed").unwrap();
    assert_eq!(
        order.ts,
        cairn_model::parse_timestamp("2026-11-20T23:30:52.388Z").unwrap()
    );
    assert_eq!(
        order
            .revenue
            .as_ref()
            .map(|r| (r.micros, r.currency.as_str())),
        Some((25_000_000, "EUR"))
    );
    assert_eq!(
        prop(order, "products"),
        Some(PropValue::Str("[{\"sku\":\"45790-32\"}]".into()))
    );
    assert_eq!(order.dim(Dim::UtmCampaign), "TPS Innovation Newsletter");
    assert_eq!(
        (
            order.dim(Dim::Os),
            order.dim(Dim::Language),
            order.dim(Dim::Path)
        ),
        ("iOS", "nl-NL", "/checkout")
    );
    let pv = evs.iter().find(|x| x.name() == "pageview").unwrap();
    assert_eq!(
        (pv.dim(Dim::Source), pv.dim(Dim::Channel), pv.dim(Dim::User)),
        ("Google", "search", "97980cfea0067")
    );
    assert_eq!(prop(pv, "page_name"), Some(PropValue::Str("Home".into())));
    let ids = e.store.user_links("shop.example");
    assert_eq!(
        ids.by_visitor.get(&order.visitor).map(|(u, _)| u.as_str()),
        Some("97980cfea0067")
    );
    // Auth and errors.
    let r = send(
        &e,
        segment(&e, "/v1/track", None, json!({"event":"x","userId":"u"})),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = send(
        &e,
        segment(
            &e,
            "/v1/track",
            Some(&basic("cairn_w_nope")),
            json!({"event":"x","userId":"u"}),
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let bad = json!({"batch":[{"type":"track","userId":"u","event":"ok"},{"type":"track","event":"no id"},{"type":"fly"}]});
    let r = send(&e, segment(&e, "/v1/batch", Some(&auth), bad)).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);
    assert!(r.text.contains("batch[2].type"), "{}", r.text);
    let bad = json!({"batch":[{"type":"track","userId":"u","event":"ok"},{"type":"track","event":"no id"}]});
    let r = send(&e, segment(&e, "/v1/batch", Some(&auth), bad)).await;
    assert!(r.text.contains("batch[1].anonymousId"), "{}", r.text);
    assert_eq!(events(&e).len(), 3, "nothing of a refused batch is stored");
    // What Cairn cannot store is left out and named, not a reason to refuse a batch.
    let products: Vec<Value> = (0..40)
        .map(|i| json!({"sku": format!("sku-{i}"), "price": 9.5}))
        .collect();
    let lenient = json!({"batch":[
        {"type":"track","anonymousId":"a9","event":"Order Completed","properties":{"products":products,"total":380}},
        {"type":"identify","anonymousId":"a9","traits":{"plan":"pro"}},
        {"type":"page","anonymousId":"a9","context":{"page":{"url":"capacitor://localhost/home"},
         "campaign":{"name":"x".repeat(300)}}}]});
    let r = send(&e, segment(&e, "/v1/batch", Some(&auth), lenient)).await;
    assert_eq!(
        (
            r.status,
            r.body["accepted"].as_u64(),
            r.body["ignored"].as_u64()
        ),
        (StatusCode::OK, Some(2), Some(1)),
        "{}",
        r.text
    );
    let w = r.body["warnings"].to_string();
    assert!(
        w.contains("batch[0].properties.products") && w.contains("batch[2].context.page.url"),
        "{w}"
    );
    let evs = events(&e);
    let order = evs
        .iter()
        .find(|x| x.name() == "Order Completed" && x.prop("total").is_some())
        .unwrap();
    assert!(order.prop("products").is_none());
    let pv = evs
        .iter()
        .filter(|x| x.name() == "pageview")
        .find(|x| x.dim(Dim::UtmCampaign).len() == 256);
    assert!(pv.is_some(), "a long campaign name is cut to 256 bytes");
    // The other message types have their own endpoints too.
    let r = send(
        &e,
        segment(
            &e,
            "/v1/screen",
            Some(&auth),
            json!({"userId":"u","name":"Home"}),
        ),
    )
    .await;
    assert_eq!(
        (r.status, r.body["ignored"].as_u64()),
        (StatusCode::OK, Some(1)),
        "{}",
        r.text
    );
}

#[tokio::test]
async fn countries_come_from_the_geoip_database() {
    let e = env_settings(|dir| {
        let db = dir.join("country.mmdb");
        std::fs::write(
            &db,
            cairn_server::test_geoip_db(&[([192, 0, 2, 0], 24, "DE")]),
        )
        .unwrap();
        Settings {
            geoip: Some(db),
            trust_proxy: true,
            ..Settings::default()
        }
    });
    let pv =
        json!({"site":"shop.example","name":"pageview","url":"https://shop.example/"}).to_string();
    let mut req = from("10.0.0.1", CHROME, "/api/v1/event", pv.clone());
    req.headers_mut()
        .insert("x-forwarded-for", "192.0.2.55".parse().unwrap());
    assert_eq!(send(&e, req).await.status, StatusCode::ACCEPTED);
    send(&e, from("203.0.113.1", CHROME, "/api/v1/event", pv)).await;
    let mut countries: Vec<String> = events(&e)
        .iter()
        .map(|x| x.dim(Dim::Country).to_string())
        .collect();
    countries.sort();
    assert_eq!(
        countries,
        ["", "DE"],
        "events of one millisecond come in any order"
    );
}

/// The dashboard's files and the tracker come gzip-compressed to a browser that takes
/// it (the same bytes once inflated, `Vary: Accept-Encoding`), and as they are to a
/// client that does not or refuses it (`gzip;q=0`).
#[tokio::test]
async fn static_files_are_gzip_compressed_for_browsers_that_take_it() {
    use std::io::Read;
    let e = env();
    let get = |path: &str, enc: Option<&str>| {
        let mut b = Request::get(path);
        if let Some(x) = enc {
            b = b.header(header::ACCEPT_ENCODING, x);
        }
        let req = b.body(Body::empty()).unwrap();
        let state = Arc::clone(&e.state);
        async move {
            let resp = router(state).oneshot(req).await.unwrap();
            let enc = resp
                .headers()
                .get(header::CONTENT_ENCODING)
                .map(|v| v.to_str().unwrap().to_string());
            let vary = resp.headers().get(header::VARY).cloned();
            let bytes = resp.into_body().collect().await.unwrap().to_bytes();
            (enc, vary, bytes.to_vec())
        }
    };
    for path in [
        "/",
        "/app.js",
        "/app.css",
        "/cairn.js",
        "/docs/tracker.md",
        "/docs/ingestion.md",
    ] {
        let (enc, _, plain) = get(path, None).await;
        assert_eq!(enc, None, "{path}");
        let (enc, vary, gz) = get(path, Some("br, gzip, deflate")).await;
        assert_eq!(enc.as_deref(), Some("gzip"), "{path}");
        assert_eq!(vary.unwrap(), "accept-encoding", "{path}");
        let mut inflated = Vec::new();
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_end(&mut inflated)
            .unwrap();
        assert_eq!(inflated, plain, "{path}: the same bytes once inflated");
        if path == "/app.js" {
            assert!(
                gz.len() * 2 < plain.len(),
                "{} of {}",
                gz.len(),
                plain.len()
            );
        }
        let (enc, _, refused) = get(path, Some("gzip;q=0, identity")).await;
        assert_eq!(enc, None, "{path}");
        assert_eq!(refused, plain);
    }
    // The guides the Setup page links to are the repository's, as they are; no other.
    let (_, _, guide) = get("/docs/tracker.md", None).await;
    assert_eq!(guide, include_bytes!("../../../docs/tracker.md"));
    let resp = router(Arc::clone(&e.state))
        .oneshot(
            Request::get("/docs/secrets.md")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_server_assigned_exposure_joins_the_trackers_visitor() {
    // fp.example is first-party, with a write key of its own.
    let dir = tempfile::tempdir().unwrap();
    let (store, mut meta) = common::open(dir.path());
    let (_, shop_key) = meta.add_site("shop.example", "UTC").unwrap();
    // A kept experiment with planned shares of 1:3.
    meta.set_definitions(
        "shop.example",
        r#"{"experiments": {"kept": {"variants": ["a", "b"], "weights": {"a": 1, "b": 3}}}}"#,
    )
    .unwrap();
    meta.add_site("fp.example", "UTC").unwrap();
    meta.set_identity("fp.example", VisitorIdMode::FirstParty)
        .unwrap();
    let fp_key = meta
        .add_key("fp.example", cairn_meta::Scope::Write)
        .unwrap();
    let e = Env {
        state: AppState::with_settings(Arc::clone(&store), meta, Settings::default()).unwrap(),
        store,
        key: shop_key,
        _dir: dir,
    };
    let pv = json!({"site": "fp.example", "name": "pageview", "url": "https://fp.example/", "vid": "abc"});
    let r = send(
        &e,
        from("192.0.2.1", CHROME, "/api/v1/event", pv.to_string()),
    )
    .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    let assign = |key: &str, body: Value| {
        Request::post("/api/v1/assign")
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::AUTHORIZATION, format!("Bearer {key}"))
            .body(Body::from(body.to_string()))
            .unwrap()
    };
    let body =
        json!({"experiment": "cta", "variants": ["control", "B"], "vid": "abc", "expose": true});
    let r = send(&e, assign(&fp_key, body)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(
        r.body["index"].as_u64(),
        Some(cairn_model::assign::assign("abc", "cta", 2) as u64)
    );
    let evs = events(&e);
    let page = evs.iter().find(|x| x.name() == "pageview").unwrap();
    let exposure = evs
        .iter()
        .find(|x| x.name() == "experiment_exposure")
        .unwrap();
    assert_eq!(
        exposure.visitor, page.visitor,
        "the tracker's id, hashed with the site as its events are"
    );
    // A cookieless site's tracker keeps no id: a back end's own id is asked for.
    let body = json!({"experiment": "cta", "variants": ["control", "B"], "vid": "abc"});
    let r = send(&e, assign(&e.key, body)).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);
    assert!(r.text.contains("cookieless"), "{}", r.text);
    let body = json!({"experiment": "cta", "variants": ["control", "B"], "visitor": "crm-7", "vid": "abc"});
    let r = send(&e, assign(&e.key, body)).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);

    // Uneven weights: the variant follows them (and the model's weighted assignment);
    // a wrong count or a weight of 0 is refused, naming the field.
    let mut seen = [0u32; 2];
    for i in 0..400 {
        let id = format!("crm-{i}");
        let body = json!({"experiment": "cta", "variants": ["control", "B"], "visitor": id, "weights": [9, 1]});
        let r = send(&e, assign(&e.key, body)).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        let index = r.body["index"].as_u64().unwrap() as usize;
        assert_eq!(
            index,
            cairn_model::assign::assign_weighted(&id, "cta", &[9.0, 1.0])
        );
        seen[index] += 1;
    }
    assert!(seen[0] > 300 && seen[1] > 15, "about 90/10: {seen:?}");
    for (weights, field) in [(json!([1]), "weights"), (json!([1, 0]), "weights[1]")] {
        let body = json!({"experiment": "cta", "variants": ["control", "B"], "visitor": "x", "weights": weights});
        let r = send(&e, assign(&e.key, body)).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);
        assert!(r.text.contains(field), "{}", r.text);
    }

    // Without weights, a kept experiment of that key and those variants gives its own.
    for i in 0..50 {
        let id = format!("crm-{i}");
        let body = json!({"experiment": "kept", "variants": ["a", "b"], "visitor": id});
        let r = send(&e, assign(&e.key, body)).await;
        assert_eq!(
            r.body["index"].as_u64(),
            Some(cairn_model::assign::assign_weighted(&id, "kept", &[1.0, 3.0]) as u64)
        );
    }

    // By user: the same variant from two devices, and the exposures carry the user
    // (linking both visitors to it, so a lead counts once).
    let by_user = |visitor: &str| {
        json!({"experiment": "cta", "variants": ["control", "B", "C"], "visitor": visitor,
               "user": "lead-42", "expose": true})
    };
    let a = send(&e, assign(&e.key, by_user("phone-1"))).await;
    let b = send(&e, assign(&e.key, by_user("laptop-9"))).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text);
    assert_eq!(a.body["variant"], b.body["variant"]);
    assert_eq!(
        a.body["index"].as_u64(),
        Some(cairn_model::assign::assign("lead-42", "cta", 3) as u64)
    );
    let users: Vec<String> = events(&e)
        .iter()
        .filter(|x| x.name() == "experiment_exposure" && x.site == "shop.example")
        .map(|x| x.dim(cairn_model::Dim::User).to_string())
        .collect();
    assert_eq!(users, ["lead-42", "lead-42"]);
}
