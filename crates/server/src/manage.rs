//! Management endpoints: sites, their keys, goals and funnels. Users need a role on the
//! site (viewer to read, admin to change; superusers may add sites); read keys may read
//! their own site's goals and funnels. Goals and funnels are checked as the query spec
//! checks them (docs/queries.md) and kept in `meta.sqlite`; queries see them by name.
//!
//! | endpoint | needs |
//! |---|---|
//! | `GET /api/v1/sites` | any login: the sites it may see |
//! | `POST /api/v1/sites` `{"domain", "timezone"?, "identity"?}` | superuser; answers the write key once |
//! | `PATCH /api/v1/sites/{site}` `{"timezone"?, "identity"?}` | admin |
//! | `GET`, `POST` `{"scope": "read"\|"write"}` `/api/v1/sites/{site}/keys`; `DELETE …/keys/{prefix}` | admin |
//! | `GET /api/v1/sites/{site}/goals`, `…/funnels` | viewer, read key |
//! | `PUT`, `DELETE /api/v1/sites/{site}/goals/{name}`, `…/funnels/{name}` | admin |

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use cairn_meta::{Identity, Scope};
use cairn_model::query::{Definitions, FunnelSpec, Goal};
use serde_json::{Value, json};

use crate::auth::{Need, Principal, allow, principal};
use crate::{AppState, error};

fn lock(st: &AppState) -> std::sync::MutexGuard<'_, cairn_meta::Meta> {
    match st.meta.lock() {
        Ok(m) => m,
        Err(p) => p.into_inner(),
    }
}

fn internal(e: impl std::fmt::Display) -> Response {
    crate::failure::ApiError::internal(e).into_response()
}

fn unprocessable(e: impl std::fmt::Display) -> Response {
    error(StatusCode::UNPROCESSABLE_ENTITY, e.to_string(), json!({}))
}

/// The caller, allowed `need` on `site`.
fn gate(
    st: &AppState,
    m: &Method,
    h: &HeaderMap,
    site: &str,
    need: Need,
) -> Result<Principal, Box<Response>> {
    let p = principal(st, m, h)?;
    allow(st, &p, site, need)?;
    Ok(p)
}

/// The caller, if a superuser; else 403 with `refusal`.
fn superuser(st: &AppState, m: &Method, h: &HeaderMap, refusal: &str) -> Result<(), Box<Response>> {
    match principal(st, m, h)? {
        Principal::User { user, .. } if user.superuser => Ok(()),
        _ => Err(Box::new(error(StatusCode::FORBIDDEN, refusal, json!({})))),
    }
}

fn site_json(s: &cairn_meta::Site, role: Option<&str>) -> Value {
    let mut v = json!({"site": s.domain, "timezone": s.timezone, "identity": s.identity.as_str()});
    if let Some(r) = role {
        v["role"] = r.into();
    }
    v
}

/// `GET /api/v1/sites`.
pub(crate) async fn sites(State(st): State<Arc<AppState>>, m: Method, h: HeaderMap) -> Response {
    let p = try_reply!(principal(&st, &m, &h));
    let meta = lock(&st);
    let all = match meta.sites() {
        Ok(s) => s,
        Err(e) => return internal(e),
    };
    let visible: Vec<Value> = match &p {
        Principal::Key { site, .. } => all
            .iter()
            .filter(|s| &s.domain == site)
            .map(|s| site_json(s, None))
            .collect(),
        Principal::User { user, .. } => {
            let roles = match meta.roles(user) {
                Ok(r) => r,
                Err(e) => return internal(e),
            };
            all.iter()
                .filter_map(|s| {
                    roles
                        .iter()
                        .find(|(d, _)| d == &s.domain)
                        .map(|(_, r)| site_json(s, Some(r.as_str())))
                })
                .collect()
        }
    };
    axum::Json(visible).into_response()
}

/// A management request's JSON body: an empty body reads as `{}`; anything else that is
/// not JSON is a 400, never read as "every field missing".
pub(crate) fn json_body(body: &[u8]) -> Result<Value, Box<Response>> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(json!({}));
    }
    serde_json::from_slice(body).map_err(|e| {
        Box::new(error(
            StatusCode::BAD_REQUEST,
            format!("the body is not JSON: {e}"),
            json!({}),
        ))
    })
}

fn identity_of(v: &Value) -> Result<Option<Identity>, Box<Response>> {
    match v.get("identity") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Identity::parse(s).map(Some).ok_or_else(|| {
            Box::new(unprocessable(format!(
                "identity: `{s}` is neither `cookieless` nor `first-party`"
            )))
        }),
        Some(_) => Err(Box::new(unprocessable("identity: must be a string"))),
    }
}

/// `POST /api/v1/sites`.
pub(crate) async fn add_site(
    State(st): State<Arc<AppState>>,
    m: Method,
    h: HeaderMap,
    body: Bytes,
) -> Response {
    try_reply!(superuser(&st, &m, &h, "only a superuser may add sites"));
    let v = try_reply!(json_body(&body));
    let Some(domain) = v["domain"].as_str() else {
        return unprocessable("domain: is missing");
    };
    let tz = v["timezone"].as_str().unwrap_or("UTC");
    let identity = try_reply!(identity_of(&v));
    let mut meta = lock(&st);
    match meta.add_site(domain, tz) {
        Ok((mut site, key)) => {
            if let Some(i) = identity {
                if let Err(e) = meta.set_identity(domain, i) {
                    return internal(e);
                }
                site.identity = i;
            }
            let mut out = site_json(&site, Some("admin"));
            out["write_key"] = key.into();
            (StatusCode::CREATED, axum::Json(out)).into_response()
        }
        Err(cairn_meta::MetaError::SiteExists(d)) => error(
            StatusCode::CONFLICT,
            format!("site {d} is registered already"),
            json!({}),
        ),
        Err(e) => unprocessable(e),
    }
}

/// `PATCH /api/v1/sites/{site}`.
pub(crate) async fn patch_site(
    State(st): State<Arc<AppState>>,
    Path(site): Path<String>,
    m: Method,
    h: HeaderMap,
    body: Bytes,
) -> Response {
    try_reply!(gate(&st, &m, &h, &site, Need::Admin));
    let v = try_reply!(json_body(&body));
    let identity = try_reply!(identity_of(&v));
    let mut meta = lock(&st);
    if let Some(tz) = v["timezone"].as_str()
        && let Err(e) = meta.set_timezone(&site, tz)
    {
        return unprocessable(e);
    }
    if let Some(i) = identity
        && let Err(e) = meta.set_identity(&site, i)
    {
        return unprocessable(e);
    }
    match meta.site(&site) {
        Ok(Some(s)) => axum::Json(site_json(&s, None)).into_response(),
        Ok(None) => error(StatusCode::NOT_FOUND, "no such site", json!({})),
        Err(e) => internal(e),
    }
}

/// `GET /api/v1/sites/{site}/keys`.
pub(crate) async fn keys(
    State(st): State<Arc<AppState>>,
    Path(site): Path<String>,
    m: Method,
    h: HeaderMap,
) -> Response {
    try_reply!(gate(&st, &m, &h, &site, Need::Admin));
    match lock(&st).keys(&site) {
        Ok(k) => axum::Json(
            k.iter()
                .map(|k| json!({"prefix": k.prefix, "scope": match k.scope { Scope::Read => "read", Scope::Write => "write" }, "created": cairn_model::format_rfc3339_ms(k.created_ms)}))
                .collect::<Vec<_>>(),
        )
        .into_response(),
        Err(e) => internal(e),
    }
}

/// `POST /api/v1/sites/{site}/keys`.
pub(crate) async fn add_key(
    State(st): State<Arc<AppState>>,
    Path(site): Path<String>,
    m: Method,
    h: HeaderMap,
    body: Bytes,
) -> Response {
    try_reply!(gate(&st, &m, &h, &site, Need::Admin));
    let v = try_reply!(json_body(&body));
    let scope = match v["scope"].as_str() {
        Some("read") | None => Scope::Read,
        Some("write") => Scope::Write,
        Some(other) => {
            return unprocessable(format!("scope: `{other}` is neither `read` nor `write`"));
        }
    };
    match lock(&st).add_key(&site, scope) {
        Ok(key) => (StatusCode::CREATED, axum::Json(json!({"key": key}))).into_response(),
        Err(e) => internal(e),
    }
}

/// `DELETE /api/v1/sites/{site}/keys/{prefix}`.
pub(crate) async fn revoke_key(
    State(st): State<Arc<AppState>>,
    Path((site, prefix)): Path<(String, String)>,
    m: Method,
    h: HeaderMap,
) -> Response {
    try_reply!(gate(&st, &m, &h, &site, Need::Admin));
    match lock(&st).revoke_key(&site, &prefix) {
        Ok(true) => StatusCode::NO_CONTENT.into_response(),
        Ok(false) => error(
            StatusCode::NOT_FOUND,
            format!("no key {prefix}… on {site}"),
            json!({}),
        ),
        Err(e) => internal(e),
    }
}

/// A site's stored goals and funnels.
pub(crate) fn stored(st: &AppState, site: &str) -> Result<Definitions, Box<Response>> {
    match lock(st).definitions(site) {
        Ok(Some(j)) => serde_json::from_str(&j).map_err(|e| Box::new(internal(e))),
        Ok(None) => Ok(Definitions::default()),
        Err(e) => Err(Box::new(internal(e))),
    }
}

/// Checks and keeps a site's definitions; a change that breaks a funnel (a goal it
/// names deleted or renamed) is refused with `409`.
fn save(st: &AppState, site: &str, d: &Definitions) -> Result<(), Box<Response>> {
    d.validate()
        .map_err(|e| Box::new(error(StatusCode::CONFLICT, e.to_string(), json!({}))))?;
    let j = serde_json::to_string(d).map_err(|e| Box::new(internal(e)))?;
    lock(st)
        .set_definitions(site, &j)
        .map_err(|e| Box::new(internal(e)))
}

/// Which list an endpoint works on.
#[derive(Clone, Copy)]
pub(crate) enum Kind {
    Goals,
    Funnels,
}

/// `GET /api/v1/sites/{site}/goals` and `…/funnels`.
pub(crate) async fn list(
    st: Arc<AppState>,
    site: String,
    m: Method,
    h: HeaderMap,
    kind: Kind,
) -> Response {
    try_reply!(gate(&st, &m, &h, &site, Need::Read));
    match stored(&st, &site) {
        Ok(d) => match kind {
            Kind::Goals => axum::Json(d.goals).into_response(),
            Kind::Funnels => axum::Json(d.funnels).into_response(),
        },
        Err(r) => *r,
    }
}

/// `GET /api/v1/sites/{site}/goals`.
pub(crate) async fn goals(
    State(st): State<Arc<AppState>>,
    Path(site): Path<String>,
    m: Method,
    h: HeaderMap,
) -> Response {
    list(st, site, m, h, Kind::Goals).await
}

/// `GET /api/v1/sites/{site}/ignored`: events answered but not stored over the last
/// hour, per reason (bots, unsupported Segment messages).
pub(crate) async fn ignored(
    State(st): State<Arc<AppState>>,
    Path(site): Path<String>,
    m: Method,
    h: HeaderMap,
) -> Response {
    try_reply!(gate(&st, &m, &h, &site, Need::Read));
    let counts = st.ignored.last_hour(&site, crate::now_ms());
    axum::Json(json!({
        "site": site,
        "minutes": crate::ignored::WINDOW_MINUTES,
        "ignored": counts,
    }))
    .into_response()
}

/// `GET /api/v1/sites/{site}/funnels`.
pub(crate) async fn funnels(
    State(st): State<Arc<AppState>>,
    Path(site): Path<String>,
    m: Method,
    h: HeaderMap,
) -> Response {
    list(st, site, m, h, Kind::Funnels).await
}

/// `PUT /api/v1/sites/{site}/goals/{name}`: creates or replaces a goal.
pub(crate) async fn put_goal(
    State(st): State<Arc<AppState>>,
    Path((site, name)): Path<(String, String)>,
    m: Method,
    h: HeaderMap,
    body: Bytes,
) -> Response {
    try_reply!(gate(&st, &m, &h, &site, Need::Admin));
    let de = &mut serde_json::Deserializer::from_slice(&body);
    let goal: Goal = match serde_path_to_error::deserialize(de) {
        Ok(g) => g,
        Err(e) => return unprocessable(format!("{}: {}", e.path().clone(), e.into_inner())),
    };
    if let Err(e) = cairn_model::query::validate_goals(std::slice::from_ref(&goal), "goal") {
        return unprocessable(e);
    }
    if goal.name != name {
        return unprocessable(format!(
            "name: the goal is `{}` but the URL says `{name}`",
            goal.name
        ));
    }
    let mut d = try_reply!(stored(&st, &site));
    let created = match d.goals.iter_mut().find(|g| g.name == name) {
        Some(g) => {
            *g = goal.clone();
            false
        }
        None => {
            d.goals.push(goal.clone());
            true
        }
    };
    try_reply!(save(&st, &site, &d));
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    (status, axum::Json(goal)).into_response()
}

/// `PUT /api/v1/sites/{site}/funnels/{name}`: creates or replaces a funnel.
pub(crate) async fn put_funnel(
    State(st): State<Arc<AppState>>,
    Path((site, name)): Path<(String, String)>,
    m: Method,
    h: HeaderMap,
    body: Bytes,
) -> Response {
    try_reply!(gate(&st, &m, &h, &site, Need::Admin));
    let de = &mut serde_json::Deserializer::from_slice(&body);
    let f: FunnelSpec = match serde_path_to_error::deserialize(de) {
        Ok(f) => f,
        Err(e) => return unprocessable(format!("{}: {}", e.path().clone(), e.into_inner())),
    };
    if let Err(e) =
        cairn_model::query::check_name("name", &name).and_then(|()| f.validate("funnel"))
    {
        return unprocessable(e);
    }
    let mut d = try_reply!(stored(&st, &site));
    let created = d.funnels.insert(name, f.clone()).is_none();
    try_reply!(save(&st, &site, &d));
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    (status, axum::Json(f)).into_response()
}

/// `DELETE /api/v1/sites/{site}/goals/{name}` and `…/funnels/{name}`.
pub(crate) async fn delete(
    st: Arc<AppState>,
    site: String,
    name: String,
    m: Method,
    h: HeaderMap,
    kind: Kind,
) -> Response {
    try_reply!(gate(&st, &m, &h, &site, Need::Admin));
    let mut d = try_reply!(stored(&st, &site));
    let found = match kind {
        Kind::Goals => {
            let n = d.goals.len();
            d.goals.retain(|g| g.name != name);
            d.goals.len() < n
        }
        Kind::Funnels => d.funnels.remove(&name).is_some(),
    };
    if !found {
        return error(
            StatusCode::NOT_FOUND,
            format!("no `{name}` on {site}"),
            json!({}),
        );
    }
    match save(&st, &site, &d) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(r) => *r,
    }
}

/// `DELETE /api/v1/sites/{site}/goals/{name}`.
pub(crate) async fn delete_goal(
    State(st): State<Arc<AppState>>,
    Path((site, name)): Path<(String, String)>,
    m: Method,
    h: HeaderMap,
) -> Response {
    delete(st, site, name, m, h, Kind::Goals).await
}

/// `DELETE /api/v1/sites/{site}/funnels/{name}`.
pub(crate) async fn delete_funnel(
    State(st): State<Arc<AppState>>,
    Path((site, name)): Path<(String, String)>,
    m: Method,
    h: HeaderMap,
) -> Response {
    delete(st, site, name, m, h, Kind::Funnels).await
}

/// `GET /api/v1/users`: superusers see every user and their roles; a site admin sees
/// the users with a role on the sites they administer.
pub(crate) async fn users(State(st): State<Arc<AppState>>, m: Method, h: HeaderMap) -> Response {
    let Principal::User { user, .. } = (try_reply!(principal(&st, &m, &h))) else {
        return error(StatusCode::FORBIDDEN, "log in to see users", json!({}));
    };
    let meta = lock(&st);
    let mine = match meta.roles(&user) {
        Ok(r) => r,
        Err(e) => return internal(e),
    };
    let admin_of: Vec<&str> = mine
        .iter()
        .filter(|(_, r)| *r == cairn_meta::Role::Admin)
        .map(|(d, _)| d.as_str())
        .collect();
    let all = match meta.users() {
        Ok(u) => u,
        Err(e) => return internal(e),
    };
    let mut out = Vec::new();
    for u in all {
        let roles = match meta.roles(&u) {
            Ok(r) => r,
            Err(e) => return internal(e),
        };
        let shown: Vec<Value> = roles
            .iter()
            .filter(|(d, _)| user.superuser || admin_of.contains(&d.as_str()))
            .map(|(d, r)| json!({"site": d, "role": r.as_str()}))
            .collect();
        if user.superuser || !shown.is_empty() {
            out.push(json!({"email": u.email, "superuser": u.superuser, "sites": shown}));
        }
    }
    axum::Json(out).into_response()
}

/// `POST /api/v1/users` `{"email", "password"}`: superusers add users.
pub(crate) async fn add_user(
    State(st): State<Arc<AppState>>,
    m: Method,
    h: HeaderMap,
    body: Bytes,
) -> Response {
    try_reply!(superuser(&st, &m, &h, "only a superuser may add users"));
    let v = try_reply!(json_body(&body));
    let (Some(email), Some(password)) = (v["email"].as_str(), v["password"].as_str()) else {
        return unprocessable("send {\"email\": …, \"password\": …}");
    };
    let (email, password) = (email.to_string(), password.to_string());
    let st2 = Arc::clone(&st);
    let res =
        tokio::task::spawn_blocking(move || lock(&st2).add_user(&email, &password, false)).await;
    match res {
        Ok(Ok(u)) => (
            StatusCode::CREATED,
            axum::Json(json!({"email": u.email, "superuser": false, "sites": []})),
        )
            .into_response(),
        Ok(Err(e)) => unprocessable(e),
        Err(e) => internal(e),
    }
}

/// `PUT /api/v1/users/{email}/sites/{site}` `{"role": "viewer"|"admin"|null}`: an admin of
/// the site (or a superuser) gives a user a role on it, or takes it away.
pub(crate) async fn grant(
    State(st): State<Arc<AppState>>,
    Path((email, site)): Path<(String, String)>,
    m: Method,
    h: HeaderMap,
    body: Bytes,
) -> Response {
    try_reply!(gate(&st, &m, &h, &site, Need::Admin));
    let v = try_reply!(json_body(&body));
    let role = match &v["role"] {
        Value::Null => None,
        Value::String(s) => match cairn_meta::Role::parse(s) {
            Some(r) => Some(r),
            None => return unprocessable(format!("role: `{s}` is neither `viewer` nor `admin`")),
        },
        _ => return unprocessable("role: `viewer`, `admin` or null"),
    };
    match lock(&st).grant(&email, &site, role) {
        Ok(()) => {
            axum::Json(json!({"email": email, "site": site, "role": role.map(|r| r.as_str())}))
                .into_response()
        }
        Err(cairn_meta::MetaError::BadUser(e)) => error(StatusCode::NOT_FOUND, e, json!({})),
        Err(e) => internal(e),
    }
}
