//! The guides the dashboard links to, embedded in the binary and served as they are in
//! `docs/` (Markdown, readable as plain text), so a link from the Setup page works on any
//! server without the repository: `GET /docs/tracker.md`, `GET /docs/ingestion.md`.

use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::web::Embedded;

static TRACKER: Embedded = Embedded::new(include_str!("../../../docs/tracker.md"));
static INGESTION: Embedded = Embedded::new(include_str!("../../../docs/ingestion.md"));

/// `GET /docs/{name}`: one of the embedded guides, else `404`.
pub(crate) async fn serve(Path(name): Path<String>, headers: HeaderMap) -> Response {
    let file = match name.as_str() {
        "tracker.md" => &TRACKER,
        "ingestion.md" => &INGESTION,
        _ => return (StatusCode::NOT_FOUND, "no such guide\n").into_response(),
    };
    let mut r = file.answer(&headers);
    if r.status() != StatusCode::NOT_MODIFIED {
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
    }
    r
}
