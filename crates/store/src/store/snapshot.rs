//! Snapshots: a consistent copy of the store in a new directory, taken after a flush
//! with the maintenance lock held: segments hard-linked (or copied and synced), the
//! identity file copied, an empty log, and a manifest whose log starts at it.
//! (`Store::snapshot_shared`, for a store another process holds, is in `repair.rs`.)

use std::fs::{self, File};
use std::path::Path;

use super::{Inner, lock};
use crate::error::{IoContext, Result, StoreError};
use crate::fs::sync_dir;
use crate::recovery::seg_path;
use crate::wal;

impl Inner {
    /// [`Store::snapshot`](super::Store::snapshot).
    pub(super) fn snapshot(&self, dest: &Path) -> Result<()> {
        self.flush()?;
        let _m = lock(&self.maint);
        if dest.exists() && fs::read_dir(dest).at(dest)?.next().is_some() {
            return Err(StoreError::Io {
                path: dest.to_path_buf(),
                source: std::io::Error::new(
                    std::io::ErrorKind::AlreadyExists,
                    "snapshot target is not empty",
                ),
            });
        }
        for d in [dest.to_path_buf(), dest.join("wal"), dest.join("segments")] {
            fs::create_dir_all(&d).at(&d)?;
        }
        let mut m = self.read().manifest.clone();
        for s in &m.segments {
            let (src, dst) = (seg_path(&self.dir, s.id), seg_path(dest, s.id));
            if fs::hard_link(&src, &dst).is_err() {
                fs::copy(&src, &dst).at(&dst)?;
                File::open(&dst).at(&dst)?.sync_all().at(&dst)?;
            }
        }
        if let Some(f) = &m.identities {
            let dst = dest.join(f);
            fs::copy(self.dir.join(f), &dst).at(&dst)?;
            File::open(&dst).at(&dst)?.sync_all().at(&dst)?;
        }
        m.wal_start = 0;
        m.retired.clear();
        wal::create_empty(&*self.fs, &dest.join("wal"), 0)?;
        sync_dir(&*self.fs, &dest.join("segments"))?;
        m.store(&*self.fs, dest)
    }
}
