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
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::response::IntoResponse;
use cairn_meta::{Role, Scope, User};
use serde_json::{Value, json};

use crate::AppState;
use crate::error::{ApiError, Reply};

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
async fn principal(
    st: &AppState,
    method: &Method,
    headers: &HeaderMap,
) -> Result<Principal, ApiError> {
    if let Some(key) = crate::bearer(headers) {
        let key = key.to_string();
        return match st.meta.read(move |m| m.check_key(&key)).await? {
            Ok(Some((site, scope))) => Ok(Principal::Key { site, scope }),
            Ok(None) => Err(ApiError::unauthorized("unknown key")),
            Err(e) => Err(ApiError::internal(e)),
        };
    }
    let Some(token) = cookie_token(headers) else {
        return Err(ApiError::unauthorized(
            "log in (POST /api/v1/login) or send `Authorization: Bearer <key>`",
        ));
    };
    let t = token.clone();
    let (user, csrf) = match st.meta.read(move |m| m.session(&t)).await? {
        Ok(Some(s)) => s,
        Ok(None) => {
            return Err(ApiError::unauthorized(
                "the session has ended: log in again",
            ));
        }
        Err(e) => return Err(ApiError::internal(e)),
    };
    if method != Method::GET && method != Method::HEAD {
        let sent = headers.get("x-csrf-token").and_then(|v| v.to_str().ok());
        if sent != Some(csrf.as_str()) {
            return Err(ApiError::forbidden(
                "missing or wrong X-CSRF-Token (from /api/v1/me)",
            ));
        }
    }
    Ok(Principal::User { user, csrf, token })
}

/// Who is asking, as an extractor: a handler that takes a [`Principal`] answers `401`
/// (or `403` for a missing CSRF token) before it runs.
impl FromRequestParts<Arc<AppState>> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, st: &Arc<AppState>) -> Result<Self, ApiError> {
        principal(st, &parts.method, &parts.headers).await
    }
}

/// The site of a write key, or the refusal.
pub(crate) async fn write_key_site(st: &AppState, key: Option<&str>) -> Result<String, ApiError> {
    let Some(key) = key else {
        return Err(ApiError::unauthorized(
            "missing write key: send `Authorization: Bearer <write key>` (from `cairn site add`)",
        ));
    };
    let key = key.to_string();
    match st.meta.read(move |m| m.check_key(&key)).await? {
        Ok(Some((site, Scope::Write))) => Ok(site),
        Ok(Some((_, Scope::Read))) => Err(ApiError::forbidden(
            "this key may only read; use a write key",
        )),
        Ok(None) => Err(ApiError::unauthorized("unknown write key")),
        Err(e) => Err(ApiError::internal(e)),
    }
}

/// Checks that the principal may do `need` on `site`. A key reads its own site with
/// read scope and administers nothing; a user needs a grant (or to be a superuser).
/// Sites the principal may not see are answered as if they did not exist.
pub(crate) async fn allow(
    st: &AppState,
    p: &Principal,
    site: &str,
    need: Need,
) -> Result<(), ApiError> {
    let hidden = || ApiError::not_found(format!("no site `{site}` that you may see"));
    match p {
        Principal::Key { site: s, scope } => {
            if s != site {
                return Err(hidden());
            }
            match (need, scope) {
                (Need::Read, Scope::Read) => Ok(()),
                (Need::Read, Scope::Write) => Err(ApiError::forbidden(
                    "a write key cannot read: use a read key (`cairn site key DOMAIN`)",
                )),
                (Need::Admin, _) => Err(ApiError::forbidden(
                    "keys cannot change settings: log in as an admin of the site",
                )),
            }
        }
        Principal::User { user, .. } => {
            let u = user.clone();
            let roles = st
                .meta
                .read(move |m| m.roles(&u))
                .await?
                .map_err(ApiError::internal)?;
            match roles.iter().find(|(d, _)| d == site) {
                None => Err(hidden()),
                Some((_, Role::Viewer)) if need == Need::Admin => Err(ApiError::forbidden(
                    format!("you may view `{site}`, not change it: ask one of its admins"),
                )),
                Some(_) => Ok(()),
            }
        }
    }
}

async fn me_body(st: &AppState, user: &User, csrf: &str) -> Result<Value, ApiError> {
    let u = user.clone();
    let roles = st
        .meta
        .read(move |m| m.roles(&u))
        .await?
        .map_err(ApiError::internal)?;
    Ok(json!({
        "email": user.email,
        "superuser": user.superuser,
        "csrf": csrf,
        "sites": roles.iter().map(|(d, r)| json!({"site": d, "role": r.as_str()})).collect::<Vec<_>>(),
    }))
}

/// `POST /api/v1/login`.
pub(crate) async fn login(
    State(st): State<Arc<AppState>>,
    client: crate::client::Client,
    headers: HeaderMap,
    body: Bytes,
) -> Reply {
    let json_body = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !json_body {
        // A cross-site form cannot send JSON without a preflight: no login CSRF.
        return Err(ApiError::unsupported_media(
            "send the login as application/json",
        ));
    }
    let v = crate::body::json_object(&body)?;
    let (Some(email), Some(password)) = (v["email"].as_str(), v["password"].as_str()) else {
        return Err(ApiError::bad_request(
            "send {\"email\": …, \"password\": …}",
        ));
    };
    // Throttled per address and per account before any work: a flood of guesses costs
    // the server nothing but this check.
    let now = std::time::Instant::now();
    let account = email.trim().to_ascii_lowercase();
    if let Err(wait) = st
        .login_ip
        .take(crate::client::rate_key(client.ip), 1.0, now)
        .and_then(|()| st.login_account.take(&account, 1.0, now))
    {
        tracing::warn!(target: "cairn::auth", ip = %client.ip, "login throttled");
        return Err(ApiError::rate_limited("login attempts", wait));
    }
    let (email, password) = (email.to_string(), password.to_string());
    // Argon2 takes tens of milliseconds: on a blocking thread, outside both registry
    // locks — only the look-up and the new session take them.
    let creds = st
        .meta
        .read(move |m| m.credentials(&email))
        .await?
        .map_err(ApiError::internal)?;
    let ok = tokio::task::spawn_blocking({
        let creds = creds.clone();
        move || cairn_meta::check_password(creds.as_ref(), &password)
    })
    .await
    .map_err(ApiError::internal)?;
    let (true, Some(c)) = (ok, creds) else {
        tracing::info!(target: "cairn::auth", "login refused");
        return Err(ApiError::unauthorized("wrong email or password"));
    };
    let (user, token, csrf) = st
        .meta
        .write(move |m| m.start_session(&c))
        .await?
        .map_err(ApiError::internal)?;
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
    let mut r = axum::Json(me_body(&st, &user, &csrf).await?).into_response();
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    tracing::info!(target: "cairn::auth", user = %user.email, "login");
    Ok(r)
}

/// `POST /api/v1/logout`.
pub(crate) async fn logout(State(st): State<Arc<AppState>>, p: Principal) -> Reply {
    let Principal::User { token, .. } = p else {
        return Err(ApiError::bad_request("keys do not log in"));
    };
    st.meta
        .write(move |m| m.logout(&token))
        .await?
        .map_err(ApiError::internal)?;
    let mut r = axum::Json(json!({ "logged_out": true })).into_response();
    r.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static("cairn_session=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0"),
    );
    Ok(r)
}

/// `GET /api/v1/me`.
pub(crate) async fn me(State(st): State<Arc<AppState>>, p: Principal) -> Reply {
    Ok(match p {
        Principal::User { user, csrf, .. } => axum::Json(me_body(&st, &user, &csrf).await?).into_response(),
        Principal::Key { site, scope } => axum::Json(json!({
            "key": {"site": site, "scope": match scope { Scope::Read => "read", Scope::Write => "write" }}
        }))
        .into_response(),
    })
}
