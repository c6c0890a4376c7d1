//! Every answer that is not a success: [`ApiError`].
//!
//! * A **refusal** (4xx, and `503` when too many writes wait) is the client's to act on:
//!   Cairn's JSON error shape, `{"error": message, …details}`, with `Retry-After` where
//!   retrying helps, and the reason it is counted under in `/metrics`
//!   ([`Reject`], carried on the response for the request middleware).
//! * A **failure** that is not the client's fault (`500`; `503` when the store or the
//!   registry cannot serve) sends its cause to the log with a request id; the client gets
//!   a generic message and the same id (never a file path or an internal error text), so
//!   an operator can find the cause from a user's report.
//!
//! Handlers return `Result<Response, ApiError>` (the [`Reply`] alias) and use `?`.

use std::fmt::Display;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

/// What a handler returns.
pub(crate) type Reply = Result<Response, ApiError>;

/// Why a request was refused, as counted by `cairn_requests_rejected_total{reason}` on
/// the ingestion endpoints. Set by the constructor, never worked out from the status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reject {
    /// 401: no key, or an unknown one.
    Unauthorized,
    /// 403: a key or user without the right.
    Forbidden,
    /// 400 or 415: a body that cannot be read.
    Malformed,
    /// 422: records or a spec that fail validation.
    Invalid,
    /// 413: too many records, too large a body.
    TooLarge,
    /// 404: an unknown (or hidden) site, or no such thing.
    NotFound,
    /// 409: a conflict with what exists.
    Conflict,
    /// 429: over a rate limit.
    RateLimited,
    /// 503 with `Retry-After`: too much work waiting.
    Overloaded,
    /// 500, or 503 because a part cannot serve: the server's failure.
    Failure,
}

impl Reject {
    /// Every reason, in the order `/metrics` lists them.
    pub(crate) const ALL: [Reject; 10] = [
        Reject::Unauthorized,
        Reject::Forbidden,
        Reject::Malformed,
        Reject::Invalid,
        Reject::TooLarge,
        Reject::Overloaded,
        Reject::Failure,
        Reject::NotFound,
        Reject::RateLimited,
        Reject::Conflict,
    ];

    /// Its label in `/metrics`.
    pub(crate) fn label(self) -> &'static str {
        match self {
            Reject::Unauthorized => "unauthorized",
            Reject::Forbidden => "forbidden",
            Reject::Malformed => "malformed",
            Reject::Invalid => "invalid",
            Reject::TooLarge => "too_large",
            Reject::NotFound => "unknown_site",
            Reject::Conflict => "conflict",
            Reject::RateLimited => "rate_limited",
            Reject::Overloaded => "overloaded",
            Reject::Failure => "store_error",
        }
    }

    fn status(self) -> StatusCode {
        match self {
            Reject::Unauthorized => StatusCode::UNAUTHORIZED,
            Reject::Forbidden => StatusCode::FORBIDDEN,
            Reject::Malformed => StatusCode::BAD_REQUEST,
            Reject::Invalid => StatusCode::UNPROCESSABLE_ENTITY,
            Reject::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Reject::NotFound => StatusCode::NOT_FOUND,
            Reject::Conflict => StatusCode::CONFLICT,
            Reject::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            Reject::Overloaded => StatusCode::SERVICE_UNAVAILABLE,
            Reject::Failure => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// A refusal: what the client is told.
#[derive(Debug)]
pub(crate) struct Refusal {
    reason: Reject,
    status: StatusCode,
    message: String,
    details: Map<String, Value>,
    retry_after: Option<u64>,
}

/// Every answer that is not a success.
#[derive(Debug)]
pub(crate) enum ApiError {
    /// The client's to act on (4xx; 503 when overloaded).
    Refused(Box<Refusal>),
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
    fn refused(reason: Reject, message: impl Into<String>) -> ApiError {
        ApiError::Refused(Box::new(Refusal {
            reason,
            status: reason.status(),
            message: message.into(),
            details: Map::new(),
            retry_after: None,
        }))
    }

    /// 400: the body or a parameter cannot be read.
    pub(crate) fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::refused(Reject::Malformed, message)
    }

    /// 415: the body is not of a type the endpoint takes.
    pub(crate) fn unsupported_media(message: impl Into<String>) -> ApiError {
        ApiError::refused(Reject::Malformed, message).status(StatusCode::UNSUPPORTED_MEDIA_TYPE)
    }

    /// 401: who is asking is unknown.
    pub(crate) fn unauthorized(message: impl Into<String>) -> ApiError {
        ApiError::refused(Reject::Unauthorized, message)
    }

    /// 403: known, but not allowed.
    pub(crate) fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::refused(Reject::Forbidden, message)
    }

    /// 404.
    pub(crate) fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::refused(Reject::NotFound, message)
    }

    /// 409.
    pub(crate) fn conflict(message: impl Into<String>) -> ApiError {
        ApiError::refused(Reject::Conflict, message)
    }

    /// 422: well-formed, but wrong.
    pub(crate) fn unprocessable(message: impl Display) -> ApiError {
        ApiError::refused(Reject::Invalid, message.to_string())
    }

    /// 413.
    pub(crate) fn too_large(message: impl Into<String>) -> ApiError {
        ApiError::refused(Reject::TooLarge, message)
    }

    /// 429 with `Retry-After` (whole seconds, at least 1): `what` is over its limit.
    pub(crate) fn rate_limited(what: &str, wait: Duration) -> ApiError {
        let secs = wait.as_secs_f64().ceil().max(1.0) as u64;
        ApiError::refused(
            Reject::RateLimited,
            format!("rate limit of {what} exceeded: retry in {secs} s"),
        )
        .retry_after(secs)
    }

    /// 503 with `Retry-After: 1`: too much work is waiting.
    pub(crate) fn overloaded(message: impl Into<String>) -> ApiError {
        ApiError::refused(Reject::Overloaded, message).retry_after(1)
    }

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

    /// Adds the fields of `details` (a JSON object) to a refusal's body.
    pub(crate) fn with(mut self, details: Value) -> ApiError {
        if let (ApiError::Refused(r), Value::Object(d)) = (&mut self, details) {
            r.details.extend(d);
        }
        self
    }

    /// A refusal with another status than its reason's usual one.
    pub(crate) fn status(mut self, status: StatusCode) -> ApiError {
        if let ApiError::Refused(r) = &mut self {
            r.status = status;
        }
        self
    }

    fn retry_after(mut self, secs: u64) -> ApiError {
        if let ApiError::Refused(r) = &mut self {
            r.retry_after = Some(secs);
        }
        self
    }

    /// Why, for `/metrics`.
    pub(crate) fn reason(&self) -> Reject {
        match self {
            ApiError::Refused(r) => r.reason,
            ApiError::Internal(_) | ApiError::Unavailable { .. } => Reject::Failure,
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
        let reason = self.reason();
        let mut r = match self {
            ApiError::Refused(r) => {
                let Refusal {
                    status,
                    message,
                    details,
                    retry_after,
                    ..
                } = *r;
                let mut body = Map::new();
                body.insert("error".into(), Value::String(message));
                body.extend(details);
                let mut resp = (status, axum::Json(Value::Object(body))).into_response();
                if let Some(secs) = retry_after
                    && let Ok(v) = HeaderValue::from_str(&secs.to_string())
                {
                    resp.headers_mut().insert(header::RETRY_AFTER, v);
                }
                resp
            }
            ApiError::Internal(cause) => {
                let id = request_id();
                tracing::error!(target: "cairn::error", request_id = %id, cause = %cause, "internal error");
                let body = json!({
                    "error": format!("internal error (request {id}): the cause is in the server's log"),
                    "request_id": id,
                });
                (StatusCode::INTERNAL_SERVER_ERROR, axum::Json(body)).into_response()
            }
            ApiError::Unavailable { what, cause } => {
                let id = request_id();
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
        };
        r.extensions_mut().insert(reason);
        r
    }
}
