//! Failures that are not the client's fault: the cause goes to the log with a request id,
//! the client gets a generic message and the same id (never a file path or an internal
//! error text), so an operator can find the cause from a user's report.

use std::fmt::Display;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// A failure of the server or of something it depends on.
#[derive(Debug)]
pub(crate) enum ApiError {
    /// 500: a bug or an unexpected failure.
    Internal(String),
    /// 503 with `Retry-After`: a part (the store, the registry) cannot serve now.
    Unavailable {
        /// What the client is told cannot be done, e.g. "the store cannot take writes".
        what: &'static str,
        /// The cause, for the log only.
        cause: String,
    },
}

impl ApiError {
    /// An internal error caused by `cause`.
    pub(crate) fn internal(cause: impl Display) -> ApiError {
        ApiError::Internal(cause.to_string())
    }

    /// `what` cannot be done now because of `cause`.
    pub(crate) fn unavailable(what: &'static str, cause: impl Display) -> ApiError {
        ApiError::Unavailable {
            what,
            cause: cause.to_string(),
        }
    }
}

/// A new request id: 16 hex digits, unique in this process (a counter) and unlikely to
/// repeat across restarts (it starts from the clock); scrambled by an odd multiplier,
/// which keeps it unique.
pub(crate) fn request_id() -> String {
    static START: OnceLock<u64> = OnceLock::new();
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let start = *START.get_or_init(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64)
    });
    let n = start.wrapping_add(NEXT.fetch_add(1, Ordering::Relaxed));
    format!("{:016x}", n.wrapping_mul(0x9E37_79B9_7F4A_7C15))
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let id = request_id();
        match self {
            ApiError::Internal(cause) => {
                tracing::error!(target: "cairn::error", request_id = %id, cause = %cause, "internal error");
                let body = json!({
                    "error": format!("internal error (request {id}): the cause is in the server's log"),
                    "request_id": id,
                });
                (StatusCode::INTERNAL_SERVER_ERROR, axum::Json(body)).into_response()
            }
            ApiError::Unavailable { what, cause } => {
                tracing::error!(target: "cairn::error", request_id = %id, cause = %cause, "{what}");
                let body = json!({
                    "error": format!("{what} right now: retry later (request {id}; the cause is in the server's log)"),
                    "request_id": id,
                });
                let mut r = (StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)).into_response();
                r.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
                r
            }
        }
    }
}

impl From<ApiError> for Box<Response> {
    fn from(e: ApiError) -> Self {
        Box::new(e.into_response())
    }
}
