//! The dashboard (`web/`, built into `web/dist/` and embedded in the binary): `GET /`
//! (the page), `/app.js` and `/app.css`. The page talks to the JSON API with the
//! session cookie ([`crate::auth`]).

use std::sync::OnceLock;

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

const INDEX: &str = include_str!("../../../web/dist/index.html");
const APP_JS: &str = include_str!("../../../web/dist/app.js");
const APP_CSS: &str = include_str!("../../../web/dist/app.css");

/// Whether the client takes gzip (`Accept-Encoding`, a `q=0` refusal respected).
fn takes_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|e| {
            let mut parts = e.split(';').map(str::trim);
            let name = parts.next().unwrap_or("");
            let q = parts
                .find_map(|p| p.strip_prefix("q="))
                .map_or(1.0, |q| q.trim().parse::<f32>().unwrap_or(0.0));
            (name.eq_ignore_ascii_case("gzip") || name == "*") && q > 0.0
        })
}

/// An embedded file, compressed once (on first use) and kept.
pub(crate) struct Embedded {
    text: &'static str,
    gzip: OnceLock<Vec<u8>>,
}

impl Embedded {
    pub(crate) const fn new(text: &'static str) -> Embedded {
        Embedded {
            text,
            gzip: OnceLock::new(),
        }
    }

    fn gzip(&self) -> &[u8] {
        self.gzip.get_or_init(|| {
            use std::io::Write;
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
            // Writing to memory cannot fail.
            let _ = e.write_all(self.text.as_bytes());
            e.finish().unwrap_or_default()
        })
    }

    /// The file's answer: `304` when the client has this version (its ETag), else the
    /// file, gzip-compressed when the client takes it; `Vary: Accept-Encoding` either way.
    pub(crate) fn answer(&self, headers: &HeaderMap) -> Response {
        let etag = format!("\"{:016x}\"", cairn_model::visitor_id_from_str(self.text));
        if headers
            .get(header::IF_NONE_MATCH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.split(',').any(|t| t.trim() == etag))
        {
            return (StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response();
        }
        let mut r = if takes_gzip(headers) {
            let mut r = self.gzip().to_vec().into_response();
            r.headers_mut()
                .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            r
        } else {
            self.text.into_response()
        };
        let h = r.headers_mut();
        if let Ok(v) = HeaderValue::from_str(&etag) {
            h.insert(header::ETAG, v);
        }
        h.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
        r
    }
}

static INDEX_FILE: Embedded = Embedded::new(INDEX);
static APP_JS_FILE: Embedded = Embedded::new(APP_JS);
static APP_CSS_FILE: Embedded = Embedded::new(APP_CSS);

fn asset(
    headers: &HeaderMap,
    file: &'static Embedded,
    content_type: &'static str,
    cache: &'static str,
) -> Response {
    let mut r = file.answer(headers);
    if r.status() == StatusCode::NOT_MODIFIED {
        return r;
    }
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
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
    asset(
        &headers,
        &INDEX_FILE,
        "text/html; charset=utf-8",
        "no-cache",
    )
}

/// `GET /app.js`.
pub(crate) async fn app_js(headers: HeaderMap) -> Response {
    asset(
        &headers,
        &APP_JS_FILE,
        "text/javascript; charset=utf-8",
        "no-cache",
    )
}

/// `GET /app.css`.
pub(crate) async fn app_css(headers: HeaderMap) -> Response {
    asset(
        &headers,
        &APP_CSS_FILE,
        "text/css; charset=utf-8",
        "no-cache",
    )
}
