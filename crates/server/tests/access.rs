//! Dashboard users and keys: login, sessions, CSRF, roles per site, management of sites,
//! keys, goals and funnels, and that a site's data is visible only to those granted it.

mod common;

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use cairn_meta::{Role, Scope};
use cairn_server::{AppState, Limits, router};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

const PW: &str = "correct horse battery";

struct Env {
    state: Arc<AppState>,
    read_key: String,
    _dir: tempfile::TempDir,
}

fn env() -> Env {
    env_with(Vec::new())
}

/// The test sites, users and events, and `extra` records.
fn env_with(extra: Vec<cairn_model::Record>) -> Env {
    let dir = tempfile::tempdir().unwrap();
    let (store, mut meta) = common::open(dir.path());
    meta.add_site("shop.example", "UTC").unwrap();
    meta.add_site("other.example", "UTC").unwrap();
    let read_key = meta.add_key("shop.example", Scope::Read).unwrap();
    for (email, superuser) in [
        ("ann@example.com", false),
        ("vic@example.com", false),
        ("ola@example.com", false),
        ("root@example.com", true),
    ] {
        meta.add_user(email, PW, superuser).unwrap();
    }
    meta.grant("ann@example.com", "shop.example", Some(Role::Admin))
        .unwrap();
    meta.grant("vic@example.com", "shop.example", Some(Role::Viewer))
        .unwrap();
    meta.grant("ola@example.com", "other.example", Some(Role::Viewer))
        .unwrap();
    // Events for both sites.
    let recs: Vec<cairn_model::Record> = [
        ("shop.example", "a", "add_to_cart", 0),
        ("shop.example", "a", "begin_checkout", 1),
        ("shop.example", "a", "purchase", 2),
        ("shop.example", "b", "add_to_cart", 0),
        ("other.example", "c", "add_to_cart", 0),
    ]
    .iter()
    .map(|(site, v, n, m)| {
        cairn_model::Record::from_json(
            &format!("{{\"site\":\"{site}\",\"ts\":\"2026-03-01T10:0{m}:00Z\",\"visitor\":\"{v}\",\"name\":\"{n}\"}}"),
            i64::MAX / 2,
        )
        .unwrap()
    })
    .collect();
    store.append(&recs, i64::MAX / 2).unwrap();
    if !extra.is_empty() {
        store.append(&extra, i64::MAX / 2).unwrap();
    }
    Env {
        state: AppState::new(store, meta, Limits::default()),
        read_key,
        _dir: dir,
    }
}

/// A logged-in client: its cookie and CSRF token.
struct Session {
    cookie: String,
    csrf: String,
}

struct Answer {
    status: StatusCode,
    body: Value,
    set_cookie: Option<String>,
}

async fn call(
    e: &Env,
    method: &str,
    path: &str,
    s: Option<&Session>,
    csrf: bool,
    body: Option<Value>,
) -> Answer {
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header(header::CONTENT_TYPE, "application/json");
    if let Some(s) = s {
        req = req.header(header::COOKIE, &s.cookie);
        if csrf {
            req = req.header("x-csrf-token", &s.csrf);
        }
    }
    let req = req
        .body(body.map_or(Body::empty(), |b| Body::from(b.to_string())))
        .unwrap();
    let resp = router(Arc::clone(&e.state)).oneshot(req).await.unwrap();
    let status = resp.status();
    let set_cookie = resp
        .headers()
        .get(header::SET_COOKIE)
        .map(|v| v.to_str().unwrap().to_string());
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    Answer {
        status,
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        set_cookie,
    }
}

async fn login(e: &Env, email: &str) -> Session {
    let a = call(
        e,
        "POST",
        "/api/v1/login",
        None,
        false,
        Some(json!({"email": email, "password": PW})),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let c = a.set_cookie.unwrap();
    assert!(
        c.contains("HttpOnly") && c.contains("SameSite=Strict"),
        "{c}"
    );
    Session {
        cookie: c.split(';').next().unwrap().to_string(),
        csrf: a.body["csrf"].as_str().unwrap().to_string(),
    }
}

async fn with_key(e: &Env, key: &str, path: &str, body: Value) -> Answer {
    let req = Request::post(path)
        .header(header::AUTHORIZATION, format!("Bearer {key}"))
        .body(Body::from(body.to_string()))
        .unwrap();
    let resp = router(Arc::clone(&e.state)).oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    Answer {
        status,
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        set_cookie: None,
    }
}

fn funnel_spec(site: &str) -> Value {
    json!({"site": site, "from": "2026-03-01", "to": "2026-03-02",
           "analysis": {"type": "funnel", "window": "1d",
                        "steps": [{"event": "add_to_cart"}, {"event": "purchase"}]}})
}

#[tokio::test]
async fn logins_sessions_and_csrf() {
    let e = env();
    let bad = call(
        &e,
        "POST",
        "/api/v1/login",
        None,
        false,
        Some(json!({"email": "ann@example.com", "password": "nope nope nope"})),
    )
    .await;
    assert_eq!(bad.status, StatusCode::UNAUTHORIZED);
    let form = Request::post("/api/v1/login")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from("email=ann@example.com"))
        .unwrap();
    let r = router(Arc::clone(&e.state)).oneshot(form).await.unwrap();
    assert_eq!(
        r.status(),
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "no login from a cross-site form"
    );
    let ann = login(&e, "ann@example.com").await;
    let me = call(&e, "GET", "/api/v1/me", Some(&ann), false, None).await;
    assert_eq!(
        me.body["sites"],
        json!([{"site": "shop.example", "role": "admin"}])
    );
    // A state-changing request needs the CSRF token.
    let goal =
        json!({"name": "Purchase", "type": "event", "event": "purchase", "conversion": "macro"});
    let a = call(
        &e,
        "PUT",
        "/api/v1/sites/shop.example/goals/Purchase",
        Some(&ann),
        false,
        Some(goal.clone()),
    )
    .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN, "{}", a.body);
    let forged = Session {
        cookie: ann.cookie.clone(),
        csrf: "0".repeat(32),
    };
    let a = call(
        &e,
        "PUT",
        "/api/v1/sites/shop.example/goals/Purchase",
        Some(&forged),
        true,
        Some(goal.clone()),
    )
    .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    let a = call(
        &e,
        "PUT",
        "/api/v1/sites/shop.example/goals/Purchase",
        Some(&ann),
        true,
        Some(goal),
    )
    .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
    // Logout ends the session.
    let a = call(&e, "POST", "/api/v1/logout", Some(&ann), true, None).await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(a.set_cookie.unwrap().contains("Max-Age=0"));
    assert_eq!(
        call(&e, "GET", "/api/v1/me", Some(&ann), false, None)
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        call(&e, "GET", "/api/v1/me", None, false, None)
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn a_sites_data_is_visible_only_to_those_granted_it() {
    let e = env();
    let vic = login(&e, "vic@example.com").await;
    let ola = login(&e, "ola@example.com").await;
    let sites = call(&e, "GET", "/api/v1/sites", Some(&vic), false, None).await;
    assert_eq!(sites.body.as_array().unwrap().len(), 1, "{}", sites.body);
    assert_eq!(sites.body[0]["site"], "shop.example");
    // Viewers query their site; another site does not exist for them.
    let q = call(
        &e,
        "POST",
        "/api/v1/query",
        Some(&vic),
        true,
        Some(funnel_spec("shop.example")),
    )
    .await;
    assert_eq!(q.status, StatusCode::OK, "{}", q.body);
    assert_eq!(q.body["steps"][0]["count"], 2);
    for (who, site) in [(&vic, "other.example"), (&ola, "shop.example")] {
        let q = call(
            &e,
            "POST",
            "/api/v1/query",
            Some(who),
            true,
            Some(funnel_spec(site)),
        )
        .await;
        assert_eq!(q.status, StatusCode::NOT_FOUND, "{}", q.body);
        let g = call(
            &e,
            "GET",
            &format!("/api/v1/sites/{site}/goals"),
            Some(who),
            false,
            None,
        )
        .await;
        assert_eq!(g.status, StatusCode::NOT_FOUND);
    }
    let q = call(
        &e,
        "POST",
        "/api/v1/query",
        Some(&ola),
        true,
        Some(funnel_spec("other.example")),
    )
    .await;
    assert_eq!(
        (q.status, q.body["steps"][0]["count"].as_u64()),
        (StatusCode::OK, Some(1))
    );
    // A viewer changes nothing.
    let goal = json!({"name": "Cart", "type": "event", "event": "add_to_cart"});
    let a = call(
        &e,
        "PUT",
        "/api/v1/sites/shop.example/goals/Cart",
        Some(&vic),
        true,
        Some(goal),
    )
    .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN, "{}", a.body);
    // A read key reads its site only, and changes nothing.
    let a = with_key(
        &e,
        &e.read_key,
        "/api/v1/query",
        funnel_spec("other.example"),
    )
    .await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    let a = with_key(
        &e,
        &e.read_key,
        "/api/v1/query",
        funnel_spec("shop.example"),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK);
    let a = with_key(
        &e,
        &e.read_key,
        "/api/v1/sites",
        json!({"domain": "x.example"}),
    )
    .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn admins_manage_goals_funnels_keys_and_superusers_sites() {
    let e = env();
    let ann = login(&e, "ann@example.com").await;
    let put = |path: &'static str, body: Value| {
        let ann = &ann;
        let e = &e;
        async move { call(e, "PUT", path, Some(ann), true, Some(body)).await }
    };
    let a = put(
        "/api/v1/sites/shop.example/goals/Purchase",
        json!({"name": "Purchase", "type": "event"}),
    )
    .await;
    assert_eq!(
        a.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "a goal is checked as in a spec: {}",
        a.body
    );
    let a = put(
        "/api/v1/sites/shop.example/goals/Purchase",
        json!({"name": "Buy", "type": "event", "event": "purchase"}),
    )
    .await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", a.body);
    let a = put(
        "/api/v1/sites/shop.example/goals/Purchase",
        json!({"name": "Purchase", "type": "event", "event": "purchase", "conversion": "macro"}),
    )
    .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
    let a = put(
        "/api/v1/sites/shop.example/funnels/checkout",
        json!({"window": "1d", "steps": [{"event": "add_to_cart"}, {"goal": "Purchase"}]}),
    )
    .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
    let a = put(
        "/api/v1/sites/shop.example/funnels/broken",
        json!({"window": "1d", "steps": [{"event": "add_to_cart"}, {"goal": "Nope"}]}),
    )
    .await;
    assert_eq!(
        a.status,
        StatusCode::CONFLICT,
        "a funnel may name only defined goals: {}",
        a.body
    );
    // Experiments: checked, kept, read by key with their definition, listed.
    let a = put(
        "/api/v1/sites/shop.example/experiments/cta",
        json!({"variants": ["control"], "metrics": ["Purchase"]}),
    )
    .await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", a.body);
    assert!(a.body.to_string().contains("variants"), "{}", a.body);
    let a = put(
        "/api/v1/sites/shop.example/experiments/cta",
        json!({"variants": ["control", "B"], "metrics": ["Nope"]}),
    )
    .await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", a.body);
    let a = put(
        "/api/v1/sites/shop.example/experiments/cta",
        json!({"variants": ["control", "B"], "metrics": ["Purchase"], "funnels": ["nope"]}),
    )
    .await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", a.body);
    assert!(a.body.to_string().contains("funnels[0]"), "{}", a.body);
    let a = put(
        "/api/v1/sites/shop.example/experiments/cta",
        json!({"hypothesis": "B sells more", "variants": ["control", "B"],
               "metrics": ["Purchase"], "funnels": ["checkout"], "mde": 0.2, "start": "2026-03-01"}),
    )
    .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
    // A funnel a kept experiment compares cannot be deleted.
    let d = call(
        &e,
        "DELETE",
        "/api/v1/sites/shop.example/funnels/checkout",
        Some(&ann),
        true,
        None,
    )
    .await;
    assert_eq!(d.status, StatusCode::CONFLICT, "{}", d.body);
    let spec = json!({"site": "shop.example", "from": "2026-03-01", "to": "2026-03-02",
                      "analysis": {"type": "experiment", "key": "cta"}});
    let q = call(&e, "POST", "/api/v1/query", Some(&ann), true, Some(spec)).await;
    assert_eq!(q.status, StatusCode::OK, "{}", q.body);
    assert_eq!(q.body["mde"], 0.2, "{}", q.body);
    assert_eq!(q.body["metrics"][0]["goal"], "Purchase", "{}", q.body);
    assert_eq!(
        (
            &q.body["metrics"][1]["goal"],
            &q.body["metrics"][1]["funnel"]
        ),
        (&json!("checkout"), &json!(true)),
        "the kept experiment's funnel: {}",
        q.body
    );
    let names: Vec<&str> = q.body["variants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["control", "B"],
        "declared variants, unseen: {}",
        q.body
    );
    let l = call(
        &e,
        "GET",
        "/api/v1/sites/shop.example/experiments",
        Some(&ann),
        true,
        None,
    )
    .await;
    assert_eq!(l.body["cta"]["hypothesis"], "B sells more", "{}", l.body);
    let d = call(
        &e,
        "DELETE",
        "/api/v1/sites/shop.example/experiments/cta",
        Some(&ann),
        true,
        None,
    )
    .await;
    assert_eq!(d.status, StatusCode::NO_CONTENT);
    // A stored funnel runs by name; a goal it uses cannot be deleted.
    let spec = json!({"site": "shop.example", "from": "2026-03-01", "to": "2026-03-02",
                      "analysis": {"type": "saved_funnel", "name": "checkout"}});
    let q = call(&e, "POST", "/api/v1/query", Some(&ann), true, Some(spec)).await;
    assert_eq!(q.status, StatusCode::OK, "{}", q.body);
    assert_eq!(
        (
            q.body["steps"][0]["count"].as_u64(),
            q.body["steps"][1]["count"].as_u64()
        ),
        (Some(2), Some(1))
    );
    let d = call(
        &e,
        "DELETE",
        "/api/v1/sites/shop.example/goals/Purchase",
        Some(&ann),
        true,
        None,
    )
    .await;
    assert_eq!(d.status, StatusCode::CONFLICT, "{}", d.body);
    let d = call(
        &e,
        "DELETE",
        "/api/v1/sites/shop.example/funnels/checkout",
        Some(&ann),
        true,
        None,
    )
    .await;
    assert_eq!(d.status, StatusCode::NO_CONTENT);
    let d = call(
        &e,
        "DELETE",
        "/api/v1/sites/shop.example/goals/Purchase",
        Some(&ann),
        true,
        None,
    )
    .await;
    assert_eq!(d.status, StatusCode::NO_CONTENT);
    let g = call(
        &e,
        "GET",
        "/api/v1/sites/shop.example/goals",
        Some(&ann),
        false,
        None,
    )
    .await;
    assert_eq!(g.body, json!([]));
    // Keys: made, used, revoked.
    let k = call(
        &e,
        "POST",
        "/api/v1/sites/shop.example/keys",
        Some(&ann),
        true,
        Some(json!({"scope": "read"})),
    )
    .await;
    assert_eq!(k.status, StatusCode::CREATED);
    let key = k.body["key"].as_str().unwrap().to_string();
    assert_eq!(
        with_key(&e, &key, "/api/v1/query", funnel_spec("shop.example"))
            .await
            .status,
        StatusCode::OK
    );
    let path = format!("/api/v1/sites/shop.example/keys/{}", &key[..12]);
    let d = call(&e, "DELETE", &path, Some(&ann), true, None).await;
    assert_eq!(d.status, StatusCode::NO_CONTENT);
    assert_eq!(
        with_key(&e, &key, "/api/v1/query", funnel_spec("shop.example"))
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    // Settings; sites are added by superusers only.
    let p = call(
        &e,
        "PATCH",
        "/api/v1/sites/shop.example",
        Some(&ann),
        true,
        Some(json!({"timezone": "Europe/Berlin", "identity": "first-party"})),
    )
    .await;
    assert_eq!(
        (p.body["timezone"].as_str(), p.body["identity"].as_str()),
        (Some("Europe/Berlin"), Some("first-party")),
        "{}",
        p.body
    );
    let s = call(
        &e,
        "POST",
        "/api/v1/sites",
        Some(&ann),
        true,
        Some(json!({"domain": "new.example"})),
    )
    .await;
    assert_eq!(s.status, StatusCode::FORBIDDEN);
    let root = login(&e, "root@example.com").await;
    let s = call(
        &e,
        "POST",
        "/api/v1/sites",
        Some(&root),
        true,
        Some(json!({"domain": "new.example", "timezone": "Asia/Tokyo"})),
    )
    .await;
    assert_eq!(s.status, StatusCode::CREATED, "{}", s.body);
    assert!(
        s.body["write_key"]
            .as_str()
            .unwrap()
            .starts_with("cairn_w_")
    );
    let s = call(
        &e,
        "POST",
        "/api/v1/sites",
        Some(&root),
        true,
        Some(json!({"domain": "new.example"})),
    )
    .await;
    assert_eq!(s.status, StatusCode::CONFLICT);
}

#[tokio::test]
async fn users_are_listed_added_and_granted_within_ones_sites() {
    let e = env();
    let root = login(&e, "root@example.com").await;
    let ann = login(&e, "ann@example.com").await;
    let all = call(&e, "GET", "/api/v1/users", Some(&root), false, None).await;
    assert_eq!(all.body.as_array().unwrap().len(), 4, "{}", all.body);
    // An admin sees the users of the sites they administer, and only those roles.
    let mine = call(&e, "GET", "/api/v1/users", Some(&ann), false, None).await;
    let emails: Vec<&str> = mine
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["email"].as_str().unwrap())
        .collect();
    assert!(
        emails.contains(&"vic@example.com") && !emails.contains(&"ola@example.com"),
        "{emails:?}"
    );
    // Only superusers add users.
    let new = json!({"email": "bob@example.com", "password": PW});
    assert_eq!(
        call(
            &e,
            "POST",
            "/api/v1/users",
            Some(&ann),
            true,
            Some(new.clone())
        )
        .await
        .status,
        StatusCode::FORBIDDEN
    );
    let a = call(&e, "POST", "/api/v1/users", Some(&root), true, Some(new)).await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
    // An admin grants roles on their site, not on another.
    let a = call(
        &e,
        "PUT",
        "/api/v1/users/bob@example.com/sites/shop.example",
        Some(&ann),
        true,
        Some(json!({"role": "viewer"})),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let a = call(
        &e,
        "PUT",
        "/api/v1/users/bob@example.com/sites/other.example",
        Some(&ann),
        true,
        Some(json!({"role": "admin"})),
    )
    .await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    let bob = login(&e, "bob@example.com").await;
    let me = call(&e, "GET", "/api/v1/me", Some(&bob), false, None).await;
    assert_eq!(
        me.body["sites"],
        json!([{"site": "shop.example", "role": "viewer"}])
    );
    let a = call(
        &e,
        "PUT",
        "/api/v1/users/bob@example.com/sites/shop.example",
        Some(&ann),
        true,
        Some(json!({"role": null})),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK);
    let sites = call(&e, "GET", "/api/v1/sites", Some(&bob), false, None).await;
    assert_eq!(sites.body, json!([]));
}

#[tokio::test]
async fn bodies_that_are_not_json_are_refused_with_400_and_change_nothing() {
    let e = env();
    let root = login(&e, "root@example.com").await;
    for (method, path) in [
        ("POST", "/api/v1/sites"),
        ("PATCH", "/api/v1/sites/shop.example"),
        ("POST", "/api/v1/sites/shop.example/keys"),
        ("POST", "/api/v1/users"),
        ("PUT", "/api/v1/users/ann@example.com/sites/shop.example"),
        ("POST", "/api/v1/login"),
    ] {
        let req = Request::builder()
            .method(method)
            .uri(path)
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::COOKIE, &root.cookie)
            .header("x-csrf-token", &root.csrf)
            .body(Body::from("{\"role\": \"admin\""))
            .unwrap();
        let resp = router(Arc::clone(&e.state)).oneshot(req).await.unwrap();
        let status = resp.status();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        let text = String::from_utf8_lossy(&bytes);
        assert_eq!(status, StatusCode::BAD_REQUEST, "{method} {path}: {text}");
        assert!(text.contains("not JSON"), "{method} {path}: {text}");
    }
    // Ann's role on shop.example is what it was.
    let ann = login(&e, "ann@example.com").await;
    let me = call(&e, "GET", "/api/v1/me", Some(&ann), false, None).await;
    assert!(
        me.body["sites"].to_string().contains("admin"),
        "{}",
        me.body
    );
}

async fn login_from(e: &Env, ip: &str, email: &str, password: &str) -> (StatusCode, bool) {
    let mut req = Request::post("/api/v1/login")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(
            json!({"email": email, "password": password}).to_string(),
        ))
        .unwrap();
    req.extensions_mut().insert(axum::extract::ConnectInfo(
        format!("{ip}:1").parse::<std::net::SocketAddr>().unwrap(),
    ));
    let resp = router(Arc::clone(&e.state)).oneshot(req).await.unwrap();
    let retry = resp.headers().contains_key(header::RETRY_AFTER);
    (resp.status(), retry)
}

/// Hardening item 10: login attempts are throttled per address (10 at once, then one
/// every 5 s) and per account (5, then one every 30 s), with 429 and Retry-After, before
/// any password is checked.
#[tokio::test]
async fn item10_logins_are_throttled_per_address_and_per_account() {
    let e = env();
    // Per address: ten guesses for ten accounts, then even the right password waits.
    for i in 0..10 {
        let (s, _) = login_from(
            &e,
            "192.0.2.10",
            &format!("u{i}@example.com"),
            "wrong password",
        )
        .await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "attempt {i}");
    }
    let (s, retry) = login_from(&e, "192.0.2.10", "ann@example.com", PW).await;
    assert_eq!((s, retry), (StatusCode::TOO_MANY_REQUESTS, true));
    // Another address is not held back by that one.
    assert_eq!(
        login_from(&e, "192.0.2.11", "ann@example.com", PW).await.0,
        StatusCode::OK
    );
    // Per account: guesses from many addresses count together.
    for i in 0..5 {
        let (s, _) = login_from(
            &e,
            &format!("198.51.100.{i}"),
            "vic@example.com",
            "wrong password",
        )
        .await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "guess {i}");
    }
    let (s, retry) = login_from(&e, "203.0.113.7", "vic@example.com", PW).await;
    assert_eq!((s, retry), (StatusCode::TOO_MANY_REQUESTS, true));
}

#[tokio::test]
async fn page_grouping_rules_are_kept_per_site_and_apply_to_every_query() {
    // Pageviews of three product pages and the cart, in one session.
    let recs: Vec<cairn_model::Record> = ["/product/1", "/product/2", "/cart", "/product/3"]
        .iter()
        .enumerate()
        .map(|(m, p)| {
            cairn_model::Record::from_json(
                &format!("{{\"site\":\"shop.example\",\"ts\":\"2026-03-01T11:0{m}:00Z\",\"visitor\":\"p\",\"name\":\"pageview\",\"path\":\"{p}\"}}"),
                i64::MAX / 2,
            )
            .unwrap()
        })
        .collect();
    let e = env_with(recs);
    let ann = login(&e, "ann@example.com").await;
    let vic = login(&e, "vic@example.com").await;
    const URL: &str = "/api/v1/sites/shop.example/page-groups";
    let rules = json!([{"name": "Product page", "pattern": "/product/*"}]);
    let a = call(&e, "PUT", URL, Some(&vic), true, Some(rules.clone())).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN, "a viewer changes nothing");
    let bad =
        json!([{"name": "x", "pattern": "/x"}, {"name": "y", "pattern": "(", "match": "regex"}]);
    let a = call(&e, "PUT", URL, Some(&ann), true, Some(bad)).await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", a.body);
    assert!(
        a.body.to_string().contains("page_groups[1].pattern"),
        "the rule at fault is named: {}",
        a.body
    );
    let a = call(&e, "PUT", URL, Some(&ann), true, Some(rules.clone())).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let g = call(&e, "GET", URL, Some(&vic), false, None).await;
    assert_eq!(g.body[0]["name"], "Product page", "{}", g.body);
    // Queries use the stored rules: the pages report by page, and the product pages as
    // one node of a path.
    let spec = |analysis: Value| json!({"site": "shop.example", "from": "2026-03-01", "to": "2026-03-02", "analysis": analysis});
    let q = call(
        &e,
        "POST",
        "/api/v1/query",
        Some(&vic),
        true,
        Some(spec(json!({"type": "pages", "grouped": true}))),
    )
    .await;
    assert_eq!(q.status, StatusCode::OK, "{}", q.body);
    assert_eq!(
        (
            q.body["pages"][0]["path"].as_str(),
            q.body["pages"][0]["pageviews"].as_u64()
        ),
        (Some("Product page"), Some(3)),
        "{}",
        q.body
    );
    let q = call(
        &e,
        "POST",
        "/api/v1/query",
        Some(&vic),
        true,
        Some(spec(json!({"type": "pages"}))),
    )
    .await;
    let row = |path: &str| {
        q.body["pages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["path"] == path)
            .cloned()
            .unwrap()
    };
    assert_eq!(row("/product/1")["group"], "Product page", "{}", q.body);
    assert_eq!(row("/cart").get("group"), None, "no rule matches /cart");
    let q = call(
        &e,
        "POST",
        "/api/v1/query",
        Some(&vic),
        true,
        Some(spec(
            json!({"type": "transitions", "node": {"kind": "page", "name": "Product page"}}),
        )),
    )
    .await;
    assert_eq!(q.status, StatusCode::OK, "{}", q.body);
    assert_eq!(
        q.body["occurrences"], 2,
        "collapsed: 1, 2 | cart | 3: {}",
        q.body
    );
    // A spec's own rules replace the stored ones (the dashboard's preview).
    let mut s = spec(json!({"type": "pages", "grouped": true}));
    s["page_groups"] = json!([{"name": "Everything", "pattern": "/*"}]);
    let q = call(&e, "POST", "/api/v1/query", Some(&vic), true, Some(s)).await;
    assert_eq!(q.body["pages"][0]["path"], "Everything", "{}", q.body);
}

#[tokio::test]
async fn influence_attribution_and_leading_indicators_are_answered_over_http_with_their_errors_named()
 {
    // v1 watches then buys; v2 watches; v3 buys then watches; v4 only looks.
    let evs = [
        ("v1", 0, "video_play"),
        ("v1", 1, "purchase"),
        ("v2", 0, "video_play"),
        ("v3", 0, "purchase"),
        ("v3", 1, "video_play"),
        ("v4", 0, "pageview"),
    ];
    let recs: Vec<cairn_model::Record> = evs
        .iter()
        .map(|(v, m, n)| {
            cairn_model::Record::from_json(
                &format!("{{\"site\":\"shop.example\",\"ts\":\"2026-03-01T11:0{m}:00Z\",\"visitor\":\"{v}\",\"name\":\"{n}\",\"path\":\"/\"}}"),
                i64::MAX / 2,
            )
            .unwrap()
        })
        .collect();
    let e = env_with(recs);
    let vic = login(&e, "vic@example.com").await;
    let spec = |analysis: Value| {
        json!({"site": "shop.example", "from": "2026-03-01", "to": "2026-03-02",
               "goals": [
                   {"name": "Purchase", "type": "event", "event": "purchase", "conversion": "macro"},
                   {"name": "Video", "type": "event", "event": "video_play"}],
               "analysis": analysis})
    };
    let q = call(
        &e,
        "POST",
        "/api/v1/query",
        Some(&vic),
        true,
        Some(spec(
            json!({"type": "influence", "min_support": 1, "stratify": []}),
        )),
    )
    .await;
    assert_eq!(q.status, StatusCode::OK, "{}", q.body);
    let c = &q.body["candidates"][0];
    assert_eq!(c["name"], "Video", "{}", q.body);
    assert_eq!(
        (c["with"]["num"].as_u64(), c["with"]["den"].as_u64()),
        (Some(1), Some(2))
    );
    assert_eq!(c["after_only"], 1, "v3 watched after buying: {}", q.body);
    let q = call(
        &e,
        "POST",
        "/api/v1/query",
        Some(&vic),
        true,
        Some(spec(json!({"type": "attribution", "bootstrap": 20}))),
    )
    .await;
    assert_eq!(q.status, StatusCode::OK, "{}", q.body);
    // The environment's own visitors buy too, with no touch before.
    let video = q.body["touches"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["touch"] == "Video")
        .unwrap();
    assert_eq!(
        video["paths"], 1,
        "only v1 watched before buying: {}",
        q.body
    );
    assert_eq!(video["first_touch"]["conversions"], 1.0, "{}", q.body);
    assert!(
        video["markov"]["low"].is_number(),
        "bootstrap intervals: {}",
        q.body
    );
    let q = call(
        &e,
        "POST",
        "/api/v1/query",
        Some(&vic),
        true,
        Some(spec(
            json!({"type": "influence", "candidates": ["Purchase"]}),
        )),
    )
    .await;
    assert_eq!(q.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", q.body);
    assert!(
        q.body.to_string().contains("analysis.candidates[0]"),
        "{}",
        q.body
    );
    let q = call(
        &e,
        "POST",
        "/api/v1/query",
        Some(&vic),
        true,
        Some(spec(json!({"type": "attribution", "unit": "session"}))),
    )
    .await;
    assert_eq!(q.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", q.body);
    assert!(q.body.to_string().contains("analysis.unit"), "{}", q.body);
    // Leading indicators: the range runs to the end of March 2nd, so March 1st's cohort
    // has had its day of horizon.
    let q = call(
        &e,
        "POST",
        "/api/v1/query",
        Some(&vic),
        true,
        Some(spec(json!({"type": "leading_indicators", "period": "day",
                         "early_days": 1, "horizon_days": 1, "min_visitors": 1}))),
    )
    .await;
    assert_eq!(q.status, StatusCode::OK, "{}", q.body);
    assert_eq!(q.body["type"], "leading_indicators", "{}", q.body);
    let none = q.body["cohorts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["value"] == "(none)" && c["period"] == "2026-03-01")
        .unwrap();
    assert!(none["visitors"].as_u64().unwrap() >= 4, "{}", q.body);
    assert_eq!(none["status"], "complete", "{}", q.body);
    assert_eq!(none["early"]["Video"]["num"], 3, "{}", q.body);
    let q = call(
        &e,
        "POST",
        "/api/v1/query",
        Some(&vic),
        true,
        Some(spec(
            json!({"type": "leading_indicators", "horizon_days": 1, "early_days": 3}),
        )),
    )
    .await;
    assert_eq!(q.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", q.body);
    assert!(
        q.body.to_string().contains("analysis.horizon_days"),
        "{}",
        q.body
    );
}

#[tokio::test]
async fn campaign_spend_is_imported_converted_and_joined_to_the_campaign_breakdown() {
    // Two visitors from `autumn` (one buys for 60 EUR), one from `spring`.
    let evs = [
        ("a1", 0, "pageview", "autumn", None),
        ("a1", 1, "purchase", "", Some(60.0)),
        ("a2", 0, "pageview", "autumn", None),
        ("s1", 0, "pageview", "spring", None),
    ];
    let recs: Vec<cairn_model::Record> = evs
        .iter()
        .map(|(v, m, n, c, rev)| {
            let revenue = rev.map_or(String::new(), |x| {
                format!(",\"revenue\":{{\"amount\":{x},\"currency\":\"EUR\"}}")
            });
            cairn_model::Record::from_json(
                &format!("{{\"site\":\"shop.example\",\"ts\":\"2026-03-01T11:0{m}:00Z\",\"visitor\":\"{v}\",\"name\":\"{n}\",\"path\":\"/\",\"utm_campaign\":\"{c}\"{revenue}}}"),
                i64::MAX / 2,
            )
            .unwrap()
        })
        .collect();
    let e = env_with(recs);
    let ann = login(&e, "ann@example.com").await;
    let vic = login(&e, "vic@example.com").await;
    const URL: &str = "/api/v1/sites/shop.example/spend";
    let import = json!({
        "currency": "EUR",
        "rates": {"USD": 0.5},
        "rows": [
            {"date": "2026-03-01", "source": "google", "medium": "cpc", "campaign": "autumn", "cost": 20.0, "currency": "EUR"},
            {"date": "2026-03-01", "source": "facebook", "medium": "paid_social", "campaign": "spring", "cost": 10.0, "currency": "USD"},
            {"date": "2026-03-01", "source": "google", "medium": "cpc", "campaign": "winter", "cost": 7.0, "currency": "EUR"}
        ]
    });
    let a = call(&e, "PUT", URL, Some(&vic), true, Some(import.clone())).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN, "a viewer imports nothing");
    let mut bad = import.clone();
    bad["rows"][1]["currency"] = json!("GBP");
    let a = call(&e, "PUT", URL, Some(&ann), true, Some(bad)).await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", a.body);
    assert!(
        a.body.to_string().contains("rows[1].currency"),
        "{}",
        a.body
    );
    let a = call(&e, "PUT", URL, Some(&ann), true, Some(import)).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(a.body["imported"], 3, "{}", a.body);
    let other = json!({"currency": "USD", "rows": [{"date": "2026-03-02", "campaign": "x", "cost": 1.0, "currency": "USD"}]});
    let a = call(&e, "PUT", URL, Some(&ann), true, Some(other)).await;
    assert_eq!(
        a.status,
        StatusCode::CONFLICT,
        "one currency per site: {}",
        a.body
    );
    let g = call(
        &e,
        "GET",
        &format!("{URL}?from=2026-03-01&to=2026-03-01"),
        Some(&vic),
        false,
        None,
    )
    .await;
    assert_eq!(g.status, StatusCode::OK, "{}", g.body);
    assert_eq!(g.body.as_array().unwrap().len(), 3, "{}", g.body);
    assert_eq!(
        g.body[0]["campaign"], "spring",
        "ordered by day, source: {}",
        g.body
    );
    assert_eq!(g.body[0]["cost"], 5.0, "USD converted at 0.5: {}", g.body);
    // The campaign breakdown of a goal report gains cost, cost per conversion and return
    // on spend.
    let spec = json!({"site": "shop.example", "from": "2026-03-01", "to": "2026-03-01",
        "goals": [{"name": "Purchase", "type": "event", "event": "purchase", "conversion": "macro", "value": "revenue"}],
        "analysis": {"type": "goals", "breakdown": {"by": "utm_campaign", "limit": 2}}});
    let q = call(&e, "POST", "/api/v1/query", Some(&vic), true, Some(spec)).await;
    assert_eq!(q.status, StatusCode::OK, "{}", q.body);
    let row = |v: &str| {
        q.body["breakdown"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["value"] == v)
            .cloned()
            .unwrap_or_else(|| panic!("no row {v}: {}", q.body))
    };
    let autumn = row("autumn");
    assert_eq!(autumn["cost"], 20.0, "{}", q.body);
    assert_eq!(
        autumn["cost_per_conversion"][0], 20.0,
        "one buyer: {}",
        q.body
    );
    assert_eq!(autumn["return_on_spend"], 3.0, "60 EUR for 20: {}", q.body);
    assert_eq!(q.body["spend"]["total"], 32.0, "{}", q.body);
    assert_eq!(q.body["spend"]["currency"], "EUR", "{}", q.body);
    let d = call(
        &e,
        "DELETE",
        &format!("{URL}?from=2026-03-01&to=2026-03-01"),
        Some(&ann),
        true,
        None,
    )
    .await;
    assert_eq!(d.body["deleted"], 3, "{}", d.body);
}
