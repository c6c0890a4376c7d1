//! The dashboard (`web/`, built into `web/dist/` and embedded in the binary): `GET /`
//! (the page), `/app.js` and `/app.css`. The page talks to the JSON API with the
//! session cookie ([`crate::auth`]).

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

const INDEX: &str = include_str!("../../../web/dist/index.html");
const APP_JS: &str = include_str!("../../../web/dist/app.js");
const APP_CSS: &str = include_str!("../../../web/dist/app.css");

fn asset(
    headers: &HeaderMap,
    body: &'static str,
    content_type: &'static str,
    cache: &'static str,
) -> Response {
    let etag = format!("\"{:016x}\"", cairn_model::visitor_id_from_str(body));
    if headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag))
    {
        return (StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response();
    }
    let mut r = body.into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    // The dashboard is never framed by another site, and runs only its own script.
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    r
}

/// `GET /`.
pub(crate) async fn index(headers: HeaderMap) -> Response {
    asset(&headers, INDEX, "text/html; charset=utf-8", "no-cache")
}

/// `GET /app.js`.
pub(crate) async fn app_js(headers: HeaderMap) -> Response {
    asset(
        &headers,
        APP_JS,
        "text/javascript; charset=utf-8",
        "no-cache",
    )
}

/// `GET /app.css`.
pub(crate) async fn app_css(headers: HeaderMap) -> Response {
    asset(&headers, APP_CSS, "text/css; charset=utf-8", "no-cache")
}
