//! Who is asking: an API key (`Authorization: Bearer cairn_r_…` / `cairn_w_…`, one site,
//! read or write) or a dashboard user's session (the `cairn_session` cookie: HttpOnly,
//! SameSite=Strict), with a role per site (viewer, admin; superusers administer every
//! site). A request from a session that changes anything must repeat the session's CSRF
//! token in `X-CSRF-Token`.
//!
//! * `POST /api/v1/login` `{"email", "password"}` (JSON only) opens a session;
//! * `POST /api/v1/logout` ends it;
//! * `GET /api/v1/me` says who is logged in, the CSRF token and the sites and roles.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use cairn_meta::{Role, Scope, User};
use serde_json::{Value, json};

use crate::failure::ApiError;
use crate::{AppState, boxed, error};

/// The session cookie's name.
pub const COOKIE: &str = "cairn_session";

/// Who made a request.
pub(crate) enum Principal {
    /// An API key of one site.
    Key { site: String, scope: Scope },
    /// A logged-in user.
    User {
        user: User,
        csrf: String,
        token: String,
    },
}

/// What a request needs on a site.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Need {
    /// See its data and definitions.
    Read,
    /// Change its settings, definitions and keys.
    Admin,
}

fn lock(st: &AppState) -> std::sync::MutexGuard<'_, cairn_meta::Meta> {
    match st.meta.lock() {
        Ok(m) => m,
        Err(p) => p.into_inner(),
    }
}

fn cookie_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|c| {
            let (k, v) = c.trim().split_once('=')?;
            (k == COOKIE && !v.is_empty()).then(|| v.to_string())
        })
}

/// The principal of a request; `401` when there is none. A session's state-changing
/// request without the right CSRF token is refused with `403`.
pub(crate) fn principal(
    st: &AppState,
    method: &Method,
    headers: &HeaderMap,
) -> Result<Principal, Box<Response>> {
    if let Some(key) = crate::bearer(headers) {
        return match lock(st).check_key(key) {
            Ok(Some((site, scope))) => Ok(Principal::Key { site, scope }),
            Ok(None) => Err(boxed(StatusCode::UNAUTHORIZED, "unknown key", json!({}))),
            Err(e) => Err(ApiError::internal(e).into()),
        };
    }
    let Some(token) = cookie_token(headers) else {
        return Err(boxed(
            StatusCode::UNAUTHORIZED,
            "log in (POST /api/v1/login) or send `Authorization: Bearer <key>`",
            json!({}),
        ));
    };
    let (user, csrf) = match lock(st).session(&token) {
        Ok(Some(s)) => s,
        Ok(None) => {
            return Err(boxed(
                StatusCode::UNAUTHORIZED,
                "the session has ended: log in again",
                json!({}),
            ));
        }
        Err(e) => {
            return Err(ApiError::internal(e).into());
        }
    };
    if method != Method::GET && method != Method::HEAD {
        let sent = headers.get("x-csrf-token").and_then(|v| v.to_str().ok());
        if sent != Some(csrf.as_str()) {
            return Err(boxed(
                StatusCode::FORBIDDEN,
                "missing or wrong X-CSRF-Token (from /api/v1/me)",
                json!({}),
            ));
        }
    }
    Ok(Principal::User { user, csrf, token })
}

/// Checks that the principal may do `need` on `site`. A key reads its own site with
/// read scope and administers nothing; a user needs a grant (or to be a superuser).
/// Sites the principal may not see are answered as if they did not exist.
pub(crate) fn allow(
    st: &AppState,
    p: &Principal,
    site: &str,
    need: Need,
) -> Result<(), Box<Response>> {
    let hidden = || {
        boxed(
            StatusCode::NOT_FOUND,
            format!("no site `{site}` that you may see"),
            json!({}),
        )
    };
    match p {
        Principal::Key { site: s, scope } => {
            if s != site {
                return Err(hidden());
            }
            match (need, scope) {
                (Need::Read, Scope::Read) => Ok(()),
                (Need::Read, Scope::Write) => Err(boxed(
                    StatusCode::FORBIDDEN,
                    "a write key cannot read: use a read key (`cairn site key DOMAIN`)",
                    json!({}),
                )),
                (Need::Admin, _) => Err(boxed(
                    StatusCode::FORBIDDEN,
                    "keys cannot change settings: log in as an admin of the site",
                    json!({}),
                )),
            }
        }
        Principal::User { user, .. } => {
            let roles = lock(st)
                .roles(user)
                .map_err(|e| Box::<Response>::from(ApiError::internal(e)))?;
            match roles.iter().find(|(d, _)| d == site) {
                None => Err(hidden()),
                Some((_, Role::Viewer)) if need == Need::Admin => Err(boxed(
                    StatusCode::FORBIDDEN,
                    format!("you may view `{site}`, not change it: ask one of its admins"),
                    json!({}),
                )),
                Some(_) => Ok(()),
            }
        }
    }
}

fn me_body(st: &AppState, user: &User, csrf: &str) -> Value {
    let roles = lock(st).roles(user).unwrap_or_default();
    json!({
        "email": user.email,
        "superuser": user.superuser,
        "csrf": csrf,
        "sites": roles.iter().map(|(d, r)| json!({"site": d, "role": r.as_str()})).collect::<Vec<_>>(),
    })
}

/// `POST /api/v1/login`.
pub(crate) async fn login(
    State(st): State<Arc<AppState>>,
    client: crate::ingest::Client,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let json_body = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !json_body {
        // A cross-site form cannot send JSON without a preflight: no login CSRF.
        return error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "send the login as application/json",
            json!({}),
        );
    }
    let v = try_reply!(crate::manage::json_body(&body));
    let (Some(email), Some(password)) = (v["email"].as_str(), v["password"].as_str()) else {
        return error(
            StatusCode::BAD_REQUEST,
            "send {\"email\": …, \"password\": …}",
            json!({}),
        );
    };
    // Throttled per address and per account before any work: a flood of guesses costs
    // the server nothing but this check.
    let now = std::time::Instant::now();
    let account = email.trim().to_ascii_lowercase();
    if let Err(wait) = st
        .login_ip
        .take(crate::ingest::rate_key(client.ip), 1.0, now)
        .and_then(|()| st.login_account.take(&account, 1.0, now))
    {
        tracing::warn!(target: "cairn::auth", ip = %client.ip, "login throttled");
        return crate::ingest::too_many_requests("login attempts", wait);
    }
    let (email, password) = (email.to_string(), password.to_string());
    let st2 = Arc::clone(&st);
    // Argon2 takes tens of milliseconds: off the async threads, and outside the
    // registry's lock (which ingestion and queries need) — only the look-up and the new
    // session take it.
    let res = tokio::task::spawn_blocking(move || {
        let creds = lock(&st2).credentials(&email)?;
        if !cairn_meta::check_password(creds.as_ref(), &password) {
            return Ok(None);
        }
        let c = creds.expect("checked");
        lock(&st2).start_session(&c).map(Some)
    })
    .await;
    match res {
        Ok(Ok(Some((user, token, csrf)))) => {
            let secure = if st.settings.trust_proxy
                && headers
                    .get("x-forwarded-proto")
                    .is_some_and(|v| v.as_bytes() == b"https")
            {
                "; Secure"
            } else {
                ""
            };
            let cookie = format!(
                "{COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}{secure}",
                cairn_meta::SESSION_MS / 1000
            );
            let mut r = axum::Json(me_body(&st, &user, &csrf)).into_response();
            if let Ok(v) = HeaderValue::from_str(&cookie) {
                r.headers_mut().insert(header::SET_COOKIE, v);
            }
            tracing::info!(target: "cairn::auth", user = %user.email, "login");
            r
        }
        Ok(Ok(None)) => {
            tracing::info!(target: "cairn::auth", "login refused");
            error(
                StatusCode::UNAUTHORIZED,
                "wrong email or password",
                json!({}),
            )
        }
        Ok(Err(e)) => ApiError::internal(e).into_response(),
        Err(e) => ApiError::internal(e).into_response(),
    }
}

/// `POST /api/v1/logout`.
pub(crate) async fn logout(
    State(st): State<Arc<AppState>>,
    method: Method,
    headers: HeaderMap,
) -> Response {
    match principal(&st, &method, &headers) {
        Ok(Principal::User { token, .. }) => {
            let _ = lock(&st).logout(&token);
            let mut r = axum::Json(json!({ "logged_out": true })).into_response();
            r.headers_mut().insert(
                header::SET_COOKIE,
                HeaderValue::from_static(
                    "cairn_session=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0",
                ),
            );
            r
        }
        Ok(Principal::Key { .. }) => {
            error(StatusCode::BAD_REQUEST, "keys do not log in", json!({}))
        }
        Err(r) => *r,
    }
}

/// `GET /api/v1/me`.
pub(crate) async fn me(
    State(st): State<Arc<AppState>>,
    method: Method,
    headers: HeaderMap,
) -> Response {
    match principal(&st, &method, &headers) {
        Ok(Principal::User { user, csrf, .. }) => axum::Json(me_body(&st, &user, &csrf)).into_response(),
        Ok(Principal::Key { site, scope }) => axum::Json(json!({
            "key": {"site": site, "scope": match scope { Scope::Read => "read", Scope::Write => "write" }}
        }))
        .into_response(),
        Err(r) => *r,
    }
}
