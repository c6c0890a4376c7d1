//! Connections: the accept loop, connection caps (global and per client address),
//! header, idle and body timeouts, a budget for request bodies in flight, and a graceful
//! shutdown with a deadline.
//!
//! Slow clients cannot take the server down: a client that sends its headers slowly, or
//! stays idle on a kept-alive connection, is cut after `header_timeout`; one that sends
//! its body slowly gets `408` after `body_timeout`; connections beyond the caps are
//! closed at once; and running out of file descriptors pauses the accept loop instead
//! of ending it.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tower::ServiceExt;

use crate::AppState;
use crate::error::ApiError;

/// How the server treats connections.
#[derive(Debug, Clone, PartialEq)]
pub struct ConnLimits {
    /// Open connections at once; more are closed as soon as they are accepted. Lowered
    /// at start to fit the process's open-file limit.
    pub max: usize,
    /// Open connections from one client address (an IPv6 /64 counts as one address).
    pub max_per_ip: usize,
    /// Time a client has to send a request's headers, and to start the next request on a
    /// kept-alive connection.
    pub header_timeout: Duration,
    /// Time a client has to send a whole request body.
    pub body_timeout: Duration,
    /// Bytes of request bodies held at once, over all requests; beyond it, `503` with
    /// `Retry-After`.
    pub body_budget: usize,
    /// Time the server waits for requests in flight after SIGTERM before it closes their
    /// connections (everything acknowledged is durable either way).
    pub shutdown_timeout: Duration,
}

impl Default for ConnLimits {
    fn default() -> Self {
        ConnLimits {
            max: 10_000,
            max_per_ip: 512,
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            body_budget: 256 << 20,
            shutdown_timeout: Duration::from_secs(10),
        }
    }
}

/// File descriptors kept free for the store, the registry and logs.
const FD_RESERVE: usize = 256;

/// The process's open-file limit (Linux: `/proc/self/limits`), when it can be read.
fn open_file_limit() -> Option<usize> {
    let text = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = text.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// The connection cap that fits the open-file limit.
pub(crate) fn effective_max(configured: usize) -> usize {
    match open_file_limit() {
        Some(limit) if limit < configured + FD_RESERVE => {
            let max = limit.saturating_sub(FD_RESERVE).max(16);
            tracing::warn!(
                target: "cairn::serve",
                configured,
                open_file_limit = limit,
                max,
                "the open-file limit is too low for connections.max: lowered (raise LimitNOFILE / ulimit -n)"
            );
            max
        }
        _ => configured,
    }
}

/// The key a client address counts under: IPv6 addresses by their /64.
fn ip_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) if v6.to_ipv4_mapped().is_none() => {
            let s = v6.segments();
            IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
        }
        IpAddr::V6(v6) => IpAddr::V4(v6.to_ipv4_mapped().expect("mapped")),
        v4 => v4,
    }
}

/// Open connections per client address.
#[derive(Default)]
struct PerIp(Mutex<HashMap<IpAddr, usize>>);

/// One connection of an address, counted until dropped.
struct IpSlot {
    table: Arc<PerIp>,
    ip: IpAddr,
}

impl PerIp {
    fn take(table: &Arc<PerIp>, ip: IpAddr, max: usize) -> Option<IpSlot> {
        let ip = ip_key(ip);
        let mut t = table.0.lock().unwrap_or_else(|p| p.into_inner());
        let n = t.entry(ip).or_default();
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(IpSlot {
            table: Arc::clone(table),
            ip,
        })
    }
}

impl Drop for IpSlot {
    fn drop(&mut self) {
        let mut t = self.table.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = t.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                t.remove(&self.ip);
            }
        }
    }
}

/// Serves on `listener` until SIGTERM or Ctrl-C, then stops accepting, lets requests in
/// flight finish for at most `shutdown_timeout`, and flushes the store.
pub async fn serve_on(
    listener: tokio::net::TcpListener,
    state: Arc<AppState>,
) -> std::io::Result<()> {
    let limits = state.settings.conn.clone();
    let max = effective_max(limits.max);
    let global = Arc::new(tokio::sync::Semaphore::new(max));
    let per_ip = Arc::new(PerIp::default());
    let app = crate::router(Arc::clone(&state));
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .keep_alive(true);
    let graceful = GracefulShutdown::new();
    let rotation = crate::spawn_salt_rotation(&state);
    let mut stop = std::pin::pin!(crate::shutdown());
    let mut last_accept_error: Option<std::time::Instant> = None;
    loop {
        let (sock, addr) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    // Out of file descriptors (or another passing error): wait and go on,
                    // logging at most once a second.
                    if last_accept_error.is_none_or(|t| t.elapsed() > Duration::from_secs(1)) {
                        tracing::warn!(target: "cairn::serve", error = %e, "accept failed; retrying");
                        last_accept_error = Some(std::time::Instant::now());
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut stop => break,
        };
        let Ok(permit) = Arc::clone(&global).try_acquire_owned() else {
            state.metrics.conns_refused.fetch_add(1, Relaxed);
            drop(sock);
            continue;
        };
        let Some(slot) = PerIp::take(&per_ip, addr.ip(), limits.max_per_ip) else {
            state.metrics.conns_refused.fetch_add(1, Relaxed);
            drop(sock);
            continue;
        };
        let _ = sock.set_nodelay(true);
        let svc = app
            .clone()
            .map_request(move |mut req: Request<hyper::body::Incoming>| {
                req.extensions_mut().insert(ConnectInfo::<SocketAddr>(addr));
                req
            });
        let conn = http.serve_connection(TokioIo::new(sock), TowerToHyperService::new(svc));
        let watched = graceful.watch(conn);
        let open = Arc::clone(&state.metrics.conns_open);
        open.fetch_add(1, Relaxed);
        tokio::spawn(async move {
            let _ = watched.await;
            open.fetch_sub(1, Relaxed);
            drop((permit, slot));
        });
    }
    drop(listener);
    rotation.abort();
    if tokio::time::timeout(limits.shutdown_timeout, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            target: "cairn::serve",
            open = state.metrics.conns_open.load(Relaxed),
            "requests still running at the shutdown deadline: their connections are closed"
        );
    }
    let store = Arc::clone(&state.store);
    let flushed = tokio::task::spawn_blocking(move || store.flush())
        .await
        .map_err(std::io::Error::other)?;
    match flushed {
        Ok(()) => Ok(()),
        // A store that refuses writes (a full disk) has everything it acknowledged in
        // its fsynced log already: stopping loses nothing; the next start replays it.
        Err(e) if state.store.writable().is_err() => {
            tracing::warn!(target: "cairn::serve", error = %e, "not flushed at shutdown: the store refuses writes; every acknowledged event is in the log");
            Ok(())
        }
        Err(e) => Err(std::io::Error::other(e)),
    }
}

/// Reads a request's body before its handler runs, within `body_timeout` (`408`
/// otherwise), `limit` bytes (`413`), and the server's budget for bodies in flight
/// (`503` with `Retry-After`). Requests without a body pass straight through.
pub(crate) async fn read_body(
    State((st, limit)): State<(Arc<AppState>, usize)>,
    req: Request,
    next: Next,
) -> Response {
    let headers = req.headers();
    let length = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let chunked = headers.contains_key(header::TRANSFER_ENCODING);
    if length.unwrap_or(0) == 0 && !chunked {
        return next.run(req).await;
    }
    if length.is_some_and(|n| n > limit as u64) {
        return too_large(limit);
    }
    // Reserve what the body may take (all of `limit` when its length is not announced).
    let want = length.map_or(limit, |n| n as usize).min(limit).max(1);
    let Ok(reserved) = Arc::clone(&st.bodies).try_acquire_many_owned(want as u32) else {
        return ApiError::overloaded(
            "the server is receiving too many request bodies at once; retry shortly",
        )
        .into_response();
    };
    let (parts, body) = req.into_parts();
    let timeout = st.settings.conn.body_timeout;
    let read = tokio::time::timeout(timeout, axum::body::to_bytes(body, limit)).await;
    let bytes = match read {
        Ok(Ok(b)) => b,
        Ok(Err(e)) => {
            // Over the limit while reading a body of unannounced length, or the client
            // broke off.
            let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(&e);
            while let Some(c) = cause {
                if c.is::<http_body_util::LengthLimitError>() {
                    return too_large(limit);
                }
                cause = c.source();
            }
            return ApiError::bad_request(format!("could not read the body: {e}")).into_response();
        }
        Err(_) => {
            let mut r = ApiError::bad_request(format!(
                "the body did not arrive within {} s",
                timeout.as_secs_f64()
            ))
            .status(StatusCode::REQUEST_TIMEOUT)
            .into_response();
            r.headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
            return r;
        }
    };
    let resp = next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .await;
    drop(reserved);
    resp
}

fn too_large(limit: usize) -> Response {
    ApiError::too_large(format!("the body is larger than {limit} bytes")).into_response()
}
