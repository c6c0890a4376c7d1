//! Shipping events from the embedded store to ClickHouse.
//!
//! With the ClickHouse backend the embedded store stays the write-ahead log: an event is
//! acknowledged once it is durable there, exactly as without ClickHouse. Its segments
//! (compaction is off in this mode, so each holds events once) are then shipped in
//! segment order, in batches, and a segment leaves the store only after every batch of
//! it is in ClickHouse. Batch `k` of a segment always carries the same rows, the same
//! arrival sequence numbers and the same insert deduplication token, so a batch sent
//! again after a crash or a timeout whose outcome is unknown is stored once: nothing
//! acknowledged is lost (it stays on disk until ClickHouse has it) or doubled.
//!
//! The shipper's own state is one small file, `clickhouse-ship.json`, in the data
//! directory, replaced atomically: the next free sequence number, the segment being
//! shipped with the sequence numbers reserved for it, and (after `cairn migrate --to
//! clickhouse`, which copies without removing) the segments already copied.
//!
//! Identity links live beside the segments (the store keeps the latest per visitor):
//! after the segments, every link changed since the last round is sent as an `identify`
//! row with fresh sequence numbers, so the latest still wins in ClickHouse.

use std::collections::{BTreeSet, HashMap};
use std::io::Write;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cairn_clickhouse::ClickHouse;
use cairn_model::{Identify, Record};
use cairn_store::Store;

/// The state file's name in the data directory.
pub const STATE_FILE: &str = "clickhouse-ship.json";

/// What the shipper keeps on disk.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ShipState {
    /// The next arrival sequence number to hand out.
    pub next_seq: u64,
    /// The segment being shipped and the first sequence number reserved for it.
    pub current: Option<(u64, u64)>,
    /// Segments copied but kept (by `cairn migrate --to clickhouse`): never sent again.
    pub copied: BTreeSet<u64>,
}

/// Why shipping stopped.
#[derive(Debug, thiserror::Error)]
pub enum ShipError {
    /// ClickHouse failed or could not be reached; retrying may help.
    #[error("{0}")]
    ClickHouse(#[from] cairn_clickhouse::Error),
    /// The embedded store or the state file failed.
    #[error("{0}")]
    Local(String),
}

fn local(e: impl std::fmt::Display) -> ShipError {
    ShipError::Local(e.to_string())
}

/// Ships segments and links from a store to ClickHouse.
pub struct Shipper {
    store: Arc<Store>,
    ch: Arc<ClickHouse>,
    path: PathBuf,
    state: ShipState,
    /// Rows per insert.
    batch_rows: usize,
    /// Links sent so far (site, visitor) → (user, time); empty after a start, so the
    /// first round sends every link once more (harmless: the latest still wins).
    sent_links: HashMap<(String, u64), (String, i64)>,
    /// Tests: stop as if the process died after a segment's inserts, before its removal.
    crash_after_insert: bool,
}

/// What one round did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Shipped {
    /// Segments now in ClickHouse.
    pub segments: usize,
    /// Events sent.
    pub events: u64,
    /// Links sent.
    pub links: usize,
}

impl Shipper {
    /// A shipper for the store in `data`, reading its state file (a new one starts
    /// after everything ClickHouse already holds).
    pub fn new(
        data: &Path,
        store: Arc<Store>,
        ch: Arc<ClickHouse>,
        batch_rows: usize,
    ) -> Result<Shipper, ShipError> {
        let path = data.join(STATE_FILE);
        let state = match std::fs::read(&path) {
            Ok(b) => serde_json::from_slice(&b).map_err(|e| {
                local(format!(
                    "{} is damaged ({e}): restore it, or remove it only if ClickHouse holds none of this store's events",
                    path.display()
                ))
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => ShipState {
                next_seq: ch.max_seq()? + 1,
                ..ShipState::default()
            },
            Err(e) => return Err(local(format!("{}: {e}", path.display()))),
        };
        Ok(Shipper {
            store,
            ch,
            path,
            state,
            batch_rows: batch_rows.max(1),
            sent_links: HashMap::new(),
            crash_after_insert: false,
        })
    }

    /// Tests: the next segment's inserts are made, then the round stops as if the
    /// process had died before the segment left the store.
    #[doc(hidden)]
    pub fn crash_after_next_insert(&mut self) {
        self.crash_after_insert = true;
    }

    /// The state (for tests and `cairn migrate`).
    pub fn state(&self) -> &ShipState {
        &self.state
    }

    fn save(&self) -> Result<(), ShipError> {
        let bytes = serde_json::to_vec(&self.state).map_err(local)?;
        let tmp = self.path.with_extension("json.tmp");
        let write = || -> std::io::Result<()> {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(&bytes)?;
            f.sync_all()?;
            std::fs::rename(&tmp, &self.path)?;
            if let Some(dir) = self.path.parent() {
                std::fs::File::open(dir)?.sync_all()?;
            }
            Ok(())
        };
        write().map_err(|e| local(format!("{}: {e}", self.path.display())))
    }

    /// Ships every segment not yet in ClickHouse, oldest first, then the changed links.
    /// With `remove`, each segment leaves the store once shipped (the backend's normal
    /// running); without, it stays and is remembered as copied (`cairn migrate`).
    pub fn round(&mut self, remove: bool) -> Result<Shipped, ShipError> {
        let mut out = Shipped::default();
        let mut segs = self.store.segments();
        segs.sort_by_key(|s| s.id);
        for seg in segs {
            if self.state.copied.contains(&seg.id) {
                if remove {
                    self.store.remove_segments(&[seg.id]).map_err(local)?;
                    self.state.copied.remove(&seg.id);
                    self.save()?;
                }
                continue;
            }
            out.events += self.ship_segment(seg.id, seg.rows)?;
            if remove {
                self.store.remove_segments(&[seg.id]).map_err(local)?;
            } else {
                self.state.copied.insert(seg.id);
            }
            self.state.current = None;
            self.save()?;
            out.segments += 1;
        }
        out.links = self.ship_links()?;
        Ok(out)
    }

    /// Sends one segment in batches; returns its events.
    fn ship_segment(&mut self, id: u64, rows: u64) -> Result<u64, ShipError> {
        let seq0 = match self.state.current {
            Some((s, seq0)) if s == id => seq0,
            _ => {
                // Reserve the numbers before sending, so a resend after a crash uses
                // the same ones (and the same tokens).
                let seq0 = self.state.next_seq;
                self.state.next_seq += rows;
                self.state.current = Some((id, seq0));
                self.save()?;
                seq0
            }
        };
        let mut batch: Vec<Record> = Vec::with_capacity(self.batch_rows.min(rows as usize));
        let mut sent = 0u64;
        let mut chunk = 0u64;
        let mut failed: Option<ShipError> = None;
        let ch = &self.ch;
        let send = |batch: &mut Vec<Record>, sent: &mut u64, chunk: &mut u64| {
            let token = format!("cairn-seg-{id}-{seq0}-{chunk}");
            let r = ch.insert(batch, seq0 + *sent, &token);
            *sent += batch.len() as u64;
            *chunk += 1;
            batch.clear();
            r
        };
        let found = self
            .store
            .segment_events(id, |e| {
                batch.push(Record::Event(e));
                if batch.len() >= self.batch_rows
                    && let Err(e) = send(&mut batch, &mut sent, &mut chunk)
                {
                    failed = Some(e.into());
                    return ControlFlow::Break(());
                }
                ControlFlow::Continue(())
            })
            .map_err(local)?;
        if let Some(e) = failed {
            return Err(e);
        }
        if !batch.is_empty() {
            send(&mut batch, &mut sent, &mut chunk)?;
        }
        if std::mem::take(&mut self.crash_after_insert) {
            return Err(local(
                "stopped after the inserts (a test's simulated crash)",
            ));
        }
        if !found {
            return Ok(0);
        }
        if sent != rows {
            return Err(local(format!(
                "segment {id} gave {sent} events where its metadata says {rows}: run `cairn verify`"
            )));
        }
        Ok(sent)
    }

    /// Sends the links changed since the last round; returns how many.
    fn ship_links(&mut self) -> Result<usize, ShipError> {
        let mut changed = Vec::new();
        for (site, links) in self.store.all_user_links() {
            for (&v, (u, ts)) in &links.by_visitor {
                let key = (site.clone(), v);
                if self
                    .sent_links
                    .get(&key)
                    .is_none_or(|(su, st)| su != u || st != ts)
                {
                    changed.push((key, (u.clone(), *ts)));
                }
            }
        }
        if changed.is_empty() {
            return Ok(0);
        }
        changed.sort();
        let seq0 = self.state.next_seq;
        self.state.next_seq += changed.len() as u64;
        self.save()?;
        let records: Vec<Record> = changed
            .iter()
            .map(|((site, v), (u, ts))| {
                Record::Identify(Identify {
                    site: site.clone(),
                    ts: *ts,
                    visitor: *v,
                    user: u.clone(),
                })
            })
            .collect();
        for (i, part) in records.chunks(self.batch_rows).enumerate() {
            let first = seq0 + (i * self.batch_rows) as u64;
            self.ch
                .insert(part, first, &format!("cairn-links-{seq0}-{i}"))?;
        }
        let n = changed.len();
        self.sent_links.extend(changed);
        Ok(n)
    }
}

/// What `/healthz` and the write path know of the shipper.
#[derive(Debug, Default)]
pub struct ShipStatus {
    inner: Mutex<StatusInner>,
    /// Set to stop the shipper's thread.
    stop: AtomicBool,
    /// Set by the thread as it ends.
    finished: AtomicBool,
}

#[derive(Debug, Default, Clone)]
struct StatusInner {
    last_error: Option<String>,
    failing_since: Option<Instant>,
    shipped_events: u64,
}

impl ShipStatus {
    /// The last error while ClickHouse is failing, and for how long it has been.
    pub fn failing(&self) -> Option<(String, Duration)> {
        let s = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        Some((s.last_error.clone()?, s.failing_since?.elapsed()))
    }

    /// Events shipped since the server started.
    pub fn shipped_events(&self) -> u64 {
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .shipped_events
    }

    /// Asks the shipper's thread to stop after its current batch, and waits for it at
    /// most `wait`; returns whether it ended. (Stopping in the middle loses nothing:
    /// what is not shipped stays in the store for the next start.)
    pub fn stop(&self, wait: Duration) -> bool {
        self.stop.store(true, Ordering::Relaxed);
        let until = Instant::now() + wait;
        while !self.finished.load(Ordering::Relaxed) && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(20));
        }
        self.finished.load(Ordering::Relaxed)
    }
}

/// Runs rounds on a thread of its own until [`ShipStatus::stop`]: every `interval`
/// while ClickHouse answers, backing off up to a minute while it does not.
pub fn spawn(mut shipper: Shipper, interval: Duration) -> Arc<ShipStatus> {
    let status = Arc::new(ShipStatus::default());
    let st = Arc::clone(&status);
    std::thread::Builder::new()
        .name("cairn-ship".into())
        .spawn(move || {
            let mut backoff = Duration::from_millis(500);
            while !st.stop.load(Ordering::Relaxed) {
                let wait = match shipper.round(true) {
                    Ok(done) => {
                        let mut s = st.inner.lock().unwrap_or_else(|p| p.into_inner());
                        if s.last_error.take().is_some() {
                            tracing::info!(target: "cairn::ship", "clickhouse reachable again: shipping resumed");
                        }
                        s.failing_since = None;
                        s.shipped_events += done.events;
                        backoff = Duration::from_millis(500);
                        interval
                    }
                    Err(e) => {
                        let mut s = st.inner.lock().unwrap_or_else(|p| p.into_inner());
                        if s.last_error.is_none() {
                            tracing::warn!(target: "cairn::ship", error = %e, "cannot ship to clickhouse: events wait on disk and are sent once it answers");
                            s.failing_since = Some(Instant::now());
                        }
                        s.last_error = Some(e.to_string());
                        backoff = (backoff * 2).min(Duration::from_secs(60));
                        backoff
                    }
                };
                // Sleep in short steps, so a stop is noticed soon.
                let until = Instant::now() + wait;
                while Instant::now() < until && !st.stop.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(100).min(wait));
                }
            }
            drop(shipper);
            st.finished.store(true, Ordering::Relaxed);
        })
        .expect("spawn the shipper's thread");
    status
}
