//! `GET /metrics`: Prometheus counters. Records accepted, ingestion requests refused by
//! reason, browser events ignored, connections, writes in flight, durable-write and
//! query time, and per route: answers by status class and time to answer
//! ([`crate::requests`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::IntoResponse;

use crate::AppState;
use crate::client::Client;
use crate::error::{ApiError, Reject, Reply};
use crate::requests::RequestStats;

/// Counters for `/metrics`.
#[derive(Default)]
pub(crate) struct Metrics {
    pub(crate) events: AtomicU64,
    pub(crate) identifies: AtomicU64,
    pub(crate) batches: AtomicU64,
    pub(crate) bots: AtomicU64,
    pub(crate) ignored: AtomicU64,
    pub(crate) write_micros: AtomicU64,
    pub(crate) writes: AtomicU64,
    pub(crate) in_flight: Arc<AtomicU64>,
    pub(crate) conns_open: Arc<AtomicU64>,
    pub(crate) conns_refused: AtomicU64,
    pub(crate) queries: AtomicU64,
    pub(crate) query_micros: AtomicU64,
    /// Per route, and ingestion refusals by reason.
    pub(crate) requests: RequestStats,
}

pub(crate) async fn metrics(
    State(st): State<Arc<AppState>>,
    client: Client,
    headers: HeaderMap,
) -> Reply {
    // With a token, every reader shows it; without one, only this machine may read.
    let allowed = match &st.settings.metrics_token {
        Some(token) => crate::bearer(&headers).is_some_and(|b| {
            use sha2::Digest;
            // Compared as hashes: the time taken says nothing of the token.
            sha2::Sha256::digest(b.as_bytes()) == sha2::Sha256::digest(token.as_bytes())
        }),
        None => client.ip.is_loopback() || client.ip.is_unspecified(),
    };
    if !allowed {
        let msg = if st.settings.metrics_token.is_some() {
            "send the metrics token: `Authorization: Bearer <metrics_token>`"
        } else {
            "/metrics answers clients on this machine only; set `metrics_token` to read it from elsewhere"
        };
        return Err(ApiError::unauthorized(msg));
    }
    let m = &st.metrics;
    let mut out = String::new();
    let put = |out: &mut String, name: &str, kind: &str, help: &str, lines: Vec<(String, u64)>| {
        out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} {kind}\n"));
        for (labels, v) in lines {
            out.push_str(&format!("{name}{labels} {v}\n"));
        }
    };
    put(
        &mut out,
        "cairn_records_accepted_total",
        "counter",
        "Records stored and acknowledged, by kind.",
        vec![
            ("{kind=\"event\"}".into(), m.events.load(Relaxed)),
            ("{kind=\"identify\"}".into(), m.identifies.load(Relaxed)),
        ],
    );
    put(
        &mut out,
        "cairn_batches_accepted_total",
        "counter",
        "Batch requests stored and acknowledged.",
        vec![(String::new(), m.batches.load(Relaxed))],
    );
    put(
        &mut out,
        "cairn_requests_rejected_total",
        "counter",
        "Ingestion requests refused, by reason.",
        Reject::ALL
            .iter()
            .map(|&r| {
                (
                    format!("{{reason=\"{}\"}}", r.label()),
                    m.requests.rejected(r),
                )
            })
            .collect(),
    );
    put(
        &mut out,
        "cairn_events_ignored_total",
        "counter",
        "Browser events answered but not stored, by reason.",
        vec![
            ("{reason=\"bot\"}".into(), m.bots.load(Relaxed)),
            ("{reason=\"unsupported\"}".into(), m.ignored.load(Relaxed)),
        ],
    );
    put(
        &mut out,
        "cairn_connections_open",
        "gauge",
        "Open client connections.",
        vec![(String::new(), m.conns_open.load(Relaxed))],
    );
    put(
        &mut out,
        "cairn_connections_refused_total",
        "counter",
        "Connections closed at once: over connections.max or connections.max_per_ip.",
        vec![(String::new(), m.conns_refused.load(Relaxed))],
    );
    put(
        &mut out,
        "cairn_writes_in_flight",
        "gauge",
        "Write requests waiting for their records to be durable.",
        vec![(String::new(), m.in_flight.load(Relaxed))],
    );
    let cache = st.store.cache_stats();
    put(
        &mut out,
        "cairn_chunk_cache_bytes",
        "gauge",
        "Bytes of segment chunks kept in memory for queries (at most --cache-mib).",
        vec![(String::new(), cache.bytes)],
    );
    put(
        &mut out,
        "cairn_chunk_cache_reads_total",
        "counter",
        "Segment chunk reads of queries, by where they were served from.",
        vec![
            ("{from=\"memory\"}".into(), cache.hits),
            ("{from=\"file\"}".into(), cache.misses),
        ],
    );
    out.push_str(&format!(
        "# HELP cairn_query_seconds Time to run a query of /api/v1/query.\n\
         # TYPE cairn_query_seconds summary\n\
         cairn_query_seconds_sum {}\ncairn_query_seconds_count {}\n",
        m.query_micros.load(Relaxed) as f64 / 1e6,
        m.queries.load(Relaxed)
    ));
    out.push_str(&format!(
        "# HELP cairn_durable_write_seconds Time from a batch's write to its fsynced acknowledgement.\n\
         # TYPE cairn_durable_write_seconds summary\n\
         cairn_durable_write_seconds_sum {}\ncairn_durable_write_seconds_count {}\n",
        m.write_micros.load(Relaxed) as f64 / 1e6,
        m.writes.load(Relaxed)
    ));
    let routes = m.requests.routes();
    put(
        &mut out,
        "cairn_http_requests_total",
        "counter",
        "Requests answered, by route and status class.",
        routes
            .iter()
            .flat_map(|(route, r)| {
                ["2xx", "4xx", "5xx"]
                    .iter()
                    .zip(&r.answers)
                    .map(move |(class, n)| {
                        (
                            format!("{{route=\"{route}\",status=\"{class}\"}}"),
                            n.load(Relaxed),
                        )
                    })
            })
            .collect(),
    );
    out.push_str(
        "# HELP cairn_http_request_seconds Time to answer a request, by route.\n\
         # TYPE cairn_http_request_seconds summary\n",
    );
    for (route, r) in &routes {
        let count: u64 = r.answers.iter().map(|n| n.load(Relaxed)).sum();
        out.push_str(&format!(
            "cairn_http_request_seconds_sum{{route=\"{route}\"}} {}\n\
             cairn_http_request_seconds_count{{route=\"{route}\"}} {count}\n",
            r.micros.load(Relaxed) as f64 / 1e6
        ));
    }
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out).into_response())
}
