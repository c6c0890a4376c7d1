//! The durable write every ingestion endpoint ends with: the writer thread that appends
//! the records of every waiting request together (one write, one fsync) and answers each
//! once its records are durable.

use std::sync::Arc;
use std::time::Instant;

use cairn_model::Record;
use cairn_store::Store;
use serde_json::{Value, json};

use crate::AppState;
use crate::error::ApiError;
use crate::ingest::invalid;

/// One request's records, waiting for the writer.
struct Job {
    records: Vec<Record>,
    now: i64,
    reply: tokio::sync::oneshot::Sender<Result<(), String>>,
    /// The request's place among the writes in flight, held until it is answered (even
    /// when its client went away meanwhile).
    _permit: Option<tokio::sync::OwnedSemaphorePermit>,
    /// Counts the job in `cairn_writes_in_flight` until it is answered.
    _gauge: Gauge,
}

impl Job {
    /// Answers the request. Its permit and gauge are let go first, so a client that
    /// sends its next request on the answer never finds its own old write still counted.
    fn answer(self, res: Result<(), String>) {
        let Job {
            reply,
            _permit,
            _gauge,
            ..
        } = self;
        drop(_permit);
        drop(_gauge);
        let _ = reply.send(res);
    }
}

/// One write in flight, for the gauge; decremented when dropped.
struct Gauge(Arc<std::sync::atomic::AtomicU64>);

impl Gauge {
    fn new(g: &Arc<std::sync::atomic::AtomicU64>) -> Gauge {
        g.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Gauge(Arc::clone(g))
    }
}

impl Drop for Gauge {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// The durable writer: one thread that takes every request waiting, appends their
/// records to the store together (one write, one fsync) and then answers each. Under
/// load a round carries many requests, so a single-event request costs a share of an
/// fsync and no thread of its own.
pub(crate) struct Writer {
    tx: std::sync::mpsc::SyncSender<Job>,
    in_flight: Arc<std::sync::atomic::AtomicU64>,
}

/// Most records one writer round appends.
const ROUND_MAX: usize = 100_000;

impl Writer {
    /// Starts the writer thread; it stops when the writer is dropped.
    pub(crate) fn start(
        store: &Arc<Store>,
        queue: usize,
        in_flight: Arc<std::sync::atomic::AtomicU64>,
    ) -> std::io::Result<Writer> {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Job>(queue.max(1));
        let store = Arc::downgrade(store);
        std::thread::Builder::new()
            .name("cairn-writer".into())
            .spawn(move || {
                let mut next: Option<Job> = None;
                loop {
                    let first = match next.take() {
                        Some(j) => j,
                        None => match rx.recv() {
                            Ok(j) => j,
                            Err(_) => return,
                        },
                    };
                    let mut n = first.records.len();
                    let mut jobs = vec![first];
                    // Take every request already waiting, up to a round's worth.
                    while n < ROUND_MAX {
                        match rx.try_recv() {
                            Ok(j) if n + j.records.len() <= ROUND_MAX => {
                                n += j.records.len();
                                jobs.push(j);
                            }
                            Ok(j) => {
                                next = Some(j);
                                break;
                            }
                            Err(_) => break,
                        }
                    }
                    match store.upgrade() {
                        Some(store) => round(&store, jobs, n),
                        None => {
                            for j in jobs {
                                j.answer(Err("the store is closed".to_string()));
                            }
                        }
                    }
                }
            })?;
        Ok(Writer { tx, in_flight })
    }
}

/// One writer round: the jobs' records appended together (one write, one fsync), each
/// job answered. Requests are all or nothing each, not together: if the joint append
/// fails, each job is tried alone and answered for itself.
fn round(store: &Store, mut jobs: Vec<Job>, n: usize) {
    if jobs.len() == 1 {
        let j = jobs.remove(0);
        let res = store.append(&j.records, j.now).map_err(|e| e.to_string());
        j.answer(res);
        return;
    }
    let now = jobs.iter().map(|j| j.now).max().unwrap_or(0);
    let lens: Vec<usize> = jobs.iter().map(|j| j.records.len()).collect();
    let mut all = Vec::with_capacity(n);
    for j in &mut jobs {
        all.append(&mut j.records);
    }
    if store.append(&all, now).is_ok() {
        for j in jobs {
            j.answer(Ok(()));
        }
        return;
    }
    let mut rest = all.into_iter();
    for (j, len) in jobs.into_iter().zip(lens) {
        let mine: Vec<Record> = rest.by_ref().take(len).collect();
        let res = store.append(&mine, j.now).map_err(|e| e.to_string());
        j.answer(res);
    }
}

/// Stores records and waits until they are durable. `Err` is the answer to send:
/// 503 with `Retry-After` when too many writes are in flight, or when the store fails.
pub(crate) async fn write_durably(
    st: &Arc<AppState>,
    records: Vec<Record>,
    now: i64,
) -> Result<usize, ApiError> {
    use std::sync::atomic::Ordering::Relaxed;
    let overloaded = || ApiError::overloaded("too many writes in flight: retry shortly");
    // An event older than the retention cut would be acknowledged and then not kept:
    // refuse it instead.
    if let Some(cut) = st.store.retention_cut() {
        let old: Vec<Value> = records
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
    let Ok(permit) = Arc::clone(&st.writes).try_acquire_owned() else {
        return Err(overloaded());
    };
    let n = records.len();
    let events = records
        .iter()
        .filter(|r| matches!(r, Record::Event(_)))
        .count() as u64;
    let m = &st.metrics;
    let t0 = Instant::now();
    let (reply, answer) = tokio::sync::oneshot::channel();
    let job = Job {
        records,
        now,
        reply,
        _permit: Some(permit),
        _gauge: Gauge::new(&st.writer.in_flight),
    };
    let res = match st.writer.tx.try_send(job) {
        Ok(()) => answer
            .await
            .unwrap_or_else(|_| Err("the writer stopped".to_string())),
        Err(std::sync::mpsc::TrySendError::Full(_)) => return Err(overloaded()),
        Err(std::sync::mpsc::TrySendError::Disconnected(_)) => {
            Err("the writer is not running".to_string())
        }
    };
    match res {
        Ok(()) => {
            m.write_micros
                .fetch_add(t0.elapsed().as_micros() as u64, Relaxed);
            m.writes.fetch_add(1, Relaxed);
            m.events.fetch_add(events, Relaxed);
            m.identifies.fetch_add(n as u64 - events, Relaxed);
            Ok(n)
        }
        Err(e) => Err(ApiError::unavailable(
            "the store cannot take the records",
            e,
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_request_in_a_round_fails_alone() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(
            dir.path(),
            cairn_store::Options {
                background: false,
                ..cairn_store::Options::default()
            },
        )
        .unwrap();
        let ev = |name: &str| {
            Record::Event(cairn_model::Event::new(
                "shop.example",
                1_700_000_000_000,
                7,
                name,
            ))
        };
        let gauge = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let mut answers = Vec::new();
        let mut jobs = Vec::new();
        for records in [vec![ev("a"), ev("b")], vec![ev("")], vec![ev("c")]] {
            let (reply, rx) = tokio::sync::oneshot::channel();
            jobs.push(Job {
                records,
                now: 1_700_000_000_000,
                reply,
                _permit: None,
                _gauge: Gauge::new(&gauge),
            });
            answers.push(rx);
        }
        assert_eq!(gauge.load(std::sync::atomic::Ordering::Relaxed), 3);
        round(&store, jobs, 4);
        assert_eq!(
            gauge.load(std::sync::atomic::Ordering::Relaxed),
            0,
            "answered: out of the gauge"
        );
        let got: Vec<bool> = answers
            .into_iter()
            .map(|mut rx| rx.try_recv().unwrap().is_ok())
            .collect();
        assert_eq!(got, [true, false, true]);
        let mut names = Vec::new();
        store
            .for_each_event(|e| {
                names.push(e.name().to_string());
                Ok(())
            })
            .unwrap();
        names.sort();
        assert_eq!(
            names,
            ["a", "b", "c"],
            "each good request once, nothing of the bad"
        );
    }
}
