//! The background thread: flushes the buffer when it is full or old enough, compacts,
//! and while writes are refused tries every 5 s to resume them.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::{Inner, Store, lock};
use crate::error::{IoContext, Result};

impl Inner {
    /// Starts the background thread when the options ask for one.
    pub(super) fn spawn_background(self: &Arc<Self>) -> Result<Option<JoinHandle<()>>> {
        if !self.opts.background {
            return Ok(None);
        }
        let i2 = Arc::clone(self);
        let h = std::thread::Builder::new()
            .name("cairn-store".into())
            .spawn(move || i2.background())
            .at("thread")?;
        Ok(Some(h))
    }

    fn background(self: Arc<Self>) {
        let mut last_flush = Instant::now();
        let mut last_resume = Instant::now();
        loop {
            {
                let stop = lock(&self.stop);
                if *stop {
                    return;
                }
                let (stop, _) = self
                    .wake
                    .wait_timeout(stop, Duration::from_millis(500))
                    .unwrap_or_else(|p| p.into_inner());
                if *stop {
                    return;
                }
            }
            if self.poisoned.load(Ordering::Acquire) {
                if last_resume.elapsed() >= Duration::from_secs(5) {
                    last_resume = Instant::now();
                    if let Err(e) = self.resume_writes() {
                        tracing::warn!(error = %e, "writes still refused; retrying in 5 s");
                    }
                }
                continue;
            }
            let (rows, stuck) = {
                let st = self.read();
                (st.active.rows, !st.frozen.is_empty())
            };
            let due = rows >= self.opts.flush_rows
                || ((rows > 0 || stuck) && last_flush.elapsed() >= self.opts.flush_interval);
            if due {
                if let Err(e) = self.flush() {
                    tracing::error!(error = %e, "background flush failed; the log still holds the events");
                }
                last_flush = Instant::now();
            }
            if let Err(e) = self.compact(&self.opts.compaction) {
                tracing::error!(error = %e, "background compaction failed");
            }
        }
    }
}

impl Store {
    pub(super) fn stop_background(&self) {
        *lock(&self.inner.stop) = true;
        self.inner.wake.notify_all();
        if let Some(h) = lock(&self.bg).take() {
            let _ = h.join();
        }
    }
}
