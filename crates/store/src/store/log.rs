//! Appends: the write-ahead log and group commit. A caller queues its frame and waits
//! for its ticket; whoever holds the log writes every queued frame, fsyncs once for all
//! of them, and only then makes their entries visible. A caller that cannot wait (the
//! server's request tasks) hands its ticket and a callback to the committer thread
//! instead ([`Inner::append_then`]), which waits for all of them at once: one group
//! commit either way. A failed write or sync poisons the store: writes are refused until
//! [`Inner::resume_writes`] has retired the doubtful log file.

use std::ops::RangeInclusive;
use std::sync::atomic::Ordering;

use cairn_model::Record;

use super::{Inner, lock};
use crate::error::{Result, StoreError};
use crate::memtable::Memtable;
use crate::wal::{self, Entry, LogWriter};

/// What to call once an append is durable, or has failed.
pub(crate) type Done = Box<dyn FnOnce(Result<()>) + Send>;

/// Appends handed to the committer thread: their tickets and callbacks.
#[derive(Default)]
pub(crate) struct Waiters {
    list: Vec<(u64, Done)>,
    /// The store is closing: the committer answers what waits, then ends.
    pub(super) stop: bool,
}

/// Frames waiting for the next group commit, and what they make visible once durable.
#[derive(Default)]
pub(crate) struct Pending {
    buf: Vec<u8>,
    entries: Vec<Entry>,
    /// Counts every queued frame: a caller waits until `synced` reaches its ticket.
    ticket: u64,
    /// The ticket through which frames were taken for writing.
    taken: u64,
    /// Tickets whose frames were never written (a failed write, or dropped when writes
    /// resumed): their callers get an error, whatever `synced` says later.
    dropped: Vec<RangeInclusive<u64>>,
}

impl Inner {
    pub(super) fn check(&self) -> Result<()> {
        if self.poisoned.load(Ordering::Acquire) {
            return Err(StoreError::Poisoned);
        }
        Ok(())
    }

    fn poison<T>(&self, r: Result<T>) -> Result<T> {
        if r.is_err() {
            self.poisoned.store(true, Ordering::Release);
        }
        r
    }

    pub(super) fn append(&self, records: Vec<Record>) -> Result<()> {
        self.check()?;
        let mut frame = Vec::with_capacity(64 * records.len() + 64);
        wal::frame_records(&mut frame, &records);
        let ticket = self.enqueue(&frame, Entry::Records(records));
        self.sync_to(ticket)
    }

    /// Queues records for the next group commit and returns at once; the committer
    /// thread calls `done` once they are durable (or could not be written).
    pub(super) fn append_then(&self, records: Vec<Record>, done: Done) {
        if let Err(e) = self.check() {
            return done(Err(e));
        }
        let mut frame = Vec::with_capacity(64 * records.len() + 64);
        wal::frame_records(&mut frame, &records);
        let ticket = self.enqueue(&frame, Entry::Records(records));
        lock(&self.waiters).list.push((ticket, done));
        self.waiters_cv.notify_one();
    }

    /// The committer thread: takes every append handed to it, makes them durable
    /// together ([`Inner::sync_to`], one write and one fsync for all that wait), and
    /// answers each. Ends when the store closes, once nothing waits.
    pub(super) fn committer(self: std::sync::Arc<Self>) {
        loop {
            let batch = {
                let mut w = lock(&self.waiters);
                while w.list.is_empty() && !w.stop {
                    w = self.waiters_cv.wait(w).unwrap_or_else(|p| p.into_inner());
                }
                if w.list.is_empty() {
                    return;
                }
                std::mem::take(&mut w.list)
            };
            let last = batch.iter().map(|(t, _)| *t).max().unwrap_or(0);
            let mut failed = self.sync_to(last).err();
            for (ticket, done) in batch {
                let dropped = lock(&self.wal).dropped.iter().any(|r| r.contains(&ticket));
                let durable = self.synced.load(Ordering::Acquire) >= ticket && !dropped;
                done(if durable {
                    Ok(())
                } else {
                    // The cause goes to the first caller; the others share its outcome.
                    Err(failed.take().unwrap_or(StoreError::Poisoned))
                });
            }
        }
    }

    /// Queues a frame for the next group commit; returns the ticket to wait for.
    pub(super) fn enqueue(&self, frame: &[u8], entry: Entry) -> u64 {
        let mut w = lock(&self.wal);
        w.buf.extend_from_slice(frame);
        w.entries.push(entry);
        w.ticket += 1;
        w.ticket
    }

    /// Makes every frame up to `ticket` durable; one caller writes and fsyncs for all
    /// waiting ones.
    pub(super) fn sync_to(&self, ticket: u64) -> Result<()> {
        let dropped = || lock(&self.wal).dropped.iter().any(|r| r.contains(&ticket));
        if self.synced.load(Ordering::Acquire) >= ticket {
            return if dropped() {
                Err(StoreError::Poisoned)
            } else {
                Ok(())
            };
        }
        let mut log = lock(&self.log);
        if self.synced.load(Ordering::Acquire) >= ticket || dropped() {
            return if dropped() {
                Err(StoreError::Poisoned)
            } else {
                Ok(())
            };
        }
        self.check()?;
        self.write_pending(&mut log)
    }

    /// Writes and fsyncs every queued frame, then makes what they hold visible: an event
    /// is never seen by a query before it is durable, and one whose write failed never
    /// is. Called with the log lock held.
    fn write_pending(&self, log: &mut LogWriter) -> Result<()> {
        let (mut buf, entries, target, first) = {
            let mut w = lock(&self.wal);
            let first = w.taken + 1;
            w.taken = w.ticket;
            (
                std::mem::take(&mut w.buf),
                std::mem::take(&mut w.entries),
                w.ticket,
                first,
            )
        };
        if let Err(e) = log.write_group(&mut buf) {
            if first <= target {
                lock(&self.wal).dropped.push(first..=target);
            }
            return self.poison(Err(e));
        }
        let rows = {
            let mut st = self.write();
            for e in entries {
                st.apply(e);
            }
            st.active.rows
        };
        self.synced.store(target, Ordering::Release);
        if rows >= self.opts.flush_rows {
            self.wake.notify_all();
        }
        Ok(())
    }

    /// Syncs the current log file and starts a new one; the active buffer becomes frozen.
    /// Returns the frozen buffer and the first log number that is not reflected in it.
    pub(super) fn rotate(&self, force: bool) -> Result<Option<(Memtable, u64)>> {
        let mut log = lock(&self.log);
        self.check()?;
        self.write_pending(&mut log)?;
        if !force {
            let st = self.read();
            if st.active.rows == 0 && !st.user_links.dirty && st.frozen.is_empty() {
                return Ok(None);
            }
        }
        let next = self.poison(log.rotate(0))?;
        Ok(Some((self.freeze(), next)))
    }

    /// Moves the active buffer to the frozen ones; returns every frozen buffer as one:
    /// a buffer whose flush failed earlier is written with the next one, never left out.
    fn freeze(&self) -> Memtable {
        let mut st = self.write();
        let mem = std::mem::take(&mut st.active);
        st.frozen.push(mem);
        let mut all = Memtable::default();
        for m in &st.frozen {
            for c in &m.chunks {
                all.rows += c.len();
                all.chunks.push(std::sync::Arc::clone(c));
            }
        }
        all
    }

    /// After a failed log write the store refuses writes: the log's tail may not be on
    /// disk as written. Once the disk takes writes again this starts a new log file,
    /// writes every acknowledged event held in memory to segments, and commits a manifest
    /// whose log starts at the new file, so the doubtful file is retired, not read again.
    /// Frames queued meanwhile are dropped (their callers got errors).
    pub(super) fn resume_writes(&self) -> Result<()> {
        if !self.poisoned.load(Ordering::Acquire) {
            return Ok(());
        }
        let _m = lock(&self.maint);
        let mut log = lock(&self.log);
        {
            let mut w = lock(&self.wal);
            let (first, last) = (w.taken + 1, w.ticket);
            if first <= last {
                w.dropped.push(first..=last);
            }
            w.taken = w.ticket;
            w.buf.clear();
            w.entries.clear();
        }
        let next = log.restart()?;
        let mem = self.freeze();
        self.write_frozen(&mem, next)?;
        drop(log);
        self.remove_logs_before(next, false)?;
        self.poisoned.store(false, Ordering::Release);
        tracing::warn!(
            log = next,
            "writes resumed on a new log file after a failed write"
        );
        Ok(())
    }

    /// Deletes the log files numbered below `start` (their frames are in segments now).
    /// `strict`: a file that cannot be deleted is an error.
    pub(super) fn remove_logs_before(&self, start: u64, strict: bool) -> Result<()> {
        let waldir = self.dir.join("wal");
        for n in wal::list(&waldir)?.into_iter().filter(|&n| n < start) {
            let p = wal::wal_path(&waldir, n);
            let r = self.fs.remove_file(&p);
            if strict {
                crate::error::IoContext::at(r, &p)?;
            }
        }
        Ok(())
    }
}
