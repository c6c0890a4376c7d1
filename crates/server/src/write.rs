//! The durable write every ingestion endpoint ends with: a request's records are handed
//! to the store ([`cairn_store::Store::append_then`]) and the request is answered once
//! they are in the fsynced log. The store's group commit makes the appends of every
//! request waiting at that moment one write and one fsync: there is one group commit,
//! the store's, and no thread per request. At most `max_inflight_writes` requests wait
//! at once; more are answered `503` with `Retry-After`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Instant;

use cairn_model::{Checked, Record};
use serde_json::{Value, json};

use crate::AppState;
use crate::error::ApiError;
use crate::ingest::invalid;

/// One write in flight, for `cairn_writes_in_flight`; decremented when dropped.
struct Gauge(Arc<AtomicU64>);

impl Gauge {
    fn new(g: &Arc<AtomicU64>) -> Gauge {
        g.fetch_add(1, Relaxed);
        Gauge(Arc::clone(g))
    }
}

impl Drop for Gauge {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Relaxed);
    }
}

/// Stores records and waits until they are durable; returns how many. Refused: records
/// before the retention cut (`422`), too many writes in flight (`503` with
/// `Retry-After`); failed: the store cannot take them (`503`, the cause logged). The
/// append runs to its end even when the client goes away meanwhile.
pub(crate) async fn write_durably(st: &Arc<AppState>, records: Checked) -> Result<usize, ApiError> {
    // An event older than the retention cut would be acknowledged and then not kept:
    // refuse it instead.
    if let Some(cut) = st.store.retention_cut() {
        let old: Vec<Value> = records
            .records()
            .iter()
            .enumerate()
            .filter(|(_, r)| matches!(r, Record::Event(e) if e.ts < cut))
            .map(|(i, r)| {
                json!({"record": i, "field": "ts", "reason": format!(
                    "{} is before the retention cut {}: it would not be kept",
                    cairn_model::format_rfc3339_ms(r.ts()),
                    cairn_model::format_rfc3339_ms(cut)
                )})
            })
            .collect();
        if !old.is_empty() {
            return Err(invalid(old));
        }
    }
    if let Some(ch) = &st.settings.clickhouse {
        let waiting: u64 = st.store.segments().iter().map(|s| s.bytes).sum();
        if waiting > ch.backlog_bytes {
            let why = ch
                .status
                .failing()
                .map(|(e, t)| format!(" (failing for {} s: {e})", t.as_secs()))
                .unwrap_or_default();
            return Err(ApiError::unavailable(
                "ClickHouse is not taking events and the local backlog is full: retry later",
                format!(
                    "{waiting} bytes wait for ClickHouse, over the budget of {}{why}",
                    ch.backlog_bytes
                ),
            ));
        }
    }
    let Ok(permit) = Arc::clone(&st.writes).try_acquire_owned() else {
        return Err(ApiError::overloaded(
            "too many writes in flight: retry shortly",
        ));
    };
    let n = records.len();
    let events = records
        .records()
        .iter()
        .filter(|r| matches!(r, Record::Event(_)))
        .count() as u64;
    let m = &st.metrics;
    let gauge = Gauge::new(&m.in_flight);
    let t0 = Instant::now();
    let (tx, rx) = tokio::sync::oneshot::channel();
    st.store.append_then(records, move |res| {
        // Let go before the answer, so a client that sends its next request on the
        // answer never finds its own old write still counted. Called even when the
        // client went away meanwhile.
        drop((permit, gauge));
        let _ = tx.send(res);
    });
    let res = rx.await;
    match res {
        Ok(Ok(())) => {
            m.write_micros
                .fetch_add(t0.elapsed().as_micros() as u64, Relaxed);
            m.writes.fetch_add(1, Relaxed);
            m.events.fetch_add(events, Relaxed);
            m.identifies.fetch_add(n as u64 - events, Relaxed);
            Ok(n)
        }
        Ok(Err(e)) => Err(ApiError::unavailable(
            "the store cannot take the records",
            e,
        )),
        Err(_) => Err(ApiError::unavailable(
            "the store cannot take the records",
            "the store closed before answering",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Requests written at once share the store's group commit and are each answered
    /// for themselves, once durable; nothing stays counted in flight.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn requests_written_at_once_are_each_stored_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = cairn_store::Store::open(
            dir.path(),
            cairn_store::Options {
                background: false,
                ..cairn_store::Options::default()
            },
        )
        .unwrap();
        let store = Arc::new(store);
        let meta = cairn_meta::Meta::open(dir.path()).unwrap();
        let st = AppState::new(Arc::clone(&store), meta, crate::Limits::default());
        let now = 1_700_000_000_000;
        let checked = |names: &[&str]| {
            let mut c = Checked::default();
            for n in names {
                let ev = cairn_model::Event::new("shop.example", now, 7, *n);
                c.push(Record::Event(ev), now).unwrap();
            }
            c
        };
        let (a, b, c) = tokio::join!(
            write_durably(&st, checked(&["a", "b"])),
            write_durably(&st, checked(&["c"])),
            write_durably(&st, checked(&["d"])),
        );
        assert_eq!((a.unwrap(), b.unwrap(), c.unwrap()), (2, 1, 1));
        assert_eq!(st.metrics.in_flight.load(Relaxed), 0, "none left in flight");
        let mut names = Vec::new();
        store
            .for_each_event(|e| {
                names.push(e.name().to_string());
                Ok(())
            })
            .unwrap();
        names.sort();
        assert_eq!(names, ["a", "b", "c", "d"], "each request once");
    }
}
