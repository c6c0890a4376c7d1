//! Injected failures, for tests of what the store does when the disk fails: the next N
//! log writes or segment writes fail as a full disk would. Production code never sets
//! any; the checks cost an atomic load.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::error::StoreError;

#[derive(Debug, Default)]
struct Counters {
    log_writes: AtomicU32,
    segment_writes: AtomicU32,
}

/// Failures to inject (shared by clones).
#[derive(Debug, Clone, Default)]
pub struct Faults(Arc<Counters>);

impl Faults {
    /// The next `n` log writes (group commits) fail before writing anything.
    pub fn fail_log_writes(&self, n: u32) {
        self.0.log_writes.store(n, Ordering::SeqCst);
    }

    /// The next `n` segment files fail to be written.
    pub fn fail_segment_writes(&self, n: u32) {
        self.0.segment_writes.store(n, Ordering::SeqCst);
    }

    pub(crate) fn log_write(&self, path: &std::path::Path) -> Result<(), StoreError> {
        take(&self.0.log_writes, path)
    }

    pub(crate) fn segment_write(&self, path: &std::path::Path) -> Result<(), StoreError> {
        take(&self.0.segment_writes, path)
    }
}

fn take(c: &AtomicU32, path: &std::path::Path) -> Result<(), StoreError> {
    let hit = c
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    if hit {
        return Err(StoreError::Io {
            path: path.to_path_buf(),
            source: std::io::Error::new(
                std::io::ErrorKind::StorageFull,
                "injected: no space left on device",
            ),
        });
    }
    Ok(())
}
