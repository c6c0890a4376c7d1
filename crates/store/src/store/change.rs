//! Manifest changes. Every flush, import batch, compaction, retention and erasure ends in
//! one [`ManifestChange`], applied by [`Inner::commit`]: a new manifest is written
//! atomically, and only once it is durable does the read view change, in one step.
//!
//! A change that fails leaves the manifest and the read view as they were. The files
//! written for it (segments, a user-link file) are never listed then; they are recorded
//! as retired in the next manifest, so that recovery can prove them leftovers even after
//! later changes have allocated higher ids.

use std::sync::Arc;

use super::Inner;
use crate::error::Result;
use crate::fs::sync_dir;
use crate::manifest::SegmentMeta;
use crate::recovery::seg_path;
use crate::segment::reader::SegmentReader;
use crate::user_links::Link;

/// What one change does to the manifest and the read view.
#[derive(Debug, Default)]
pub(crate) struct ManifestChange {
    /// Segments written for this change (synced, under their final names).
    pub add: Vec<SegmentMeta>,
    /// Live segments it removes (merged away, erased, or dropped by retention).
    pub remove: Vec<u64>,
    /// The first log file still needed: the frames of earlier files are in `add`.
    pub wal_start: Option<u64>,
    /// A new retention cut (ms): earlier events leave the buffer too.
    pub drop_before: Option<i64>,
    /// The frozen buffers are written to `add`: they leave the read view as it enters.
    pub clear_frozen: bool,
    /// Identity links that come with the change (bulk import): saved with it, and
    /// visible once it is durable.
    pub links: Vec<Link>,
}

/// The name of a segment file, relative to the data directory.
fn seg_rel(id: u64) -> String {
    format!("segments/{id:016}.seg")
}

impl Inner {
    /// Allocates `n` consecutive ids for new files.
    pub(super) fn next_ids(&self, n: usize) -> u64 {
        let mut st = self.write();
        let first = st.manifest.next_id;
        st.manifest.next_id += n as u64;
        first
    }

    /// Applies a change atomically: the new manifest is durable before anything in the
    /// read view changes. On failure nothing visible changes (see the module docs).
    pub(super) fn commit(&self, change: ManifestChange) -> Result<()> {
        let ManifestChange {
            add,
            remove,
            wal_start,
            drop_before,
            clear_frozen,
            links,
        } = change;
        let readers = sync_dir(&*self.fs, &self.dir.join("segments")).and_then(|()| {
            add.iter()
                .map(|s| SegmentReader::open(&seg_path(&self.dir, s.id)).map(Arc::new))
                .collect::<Result<Vec<_>>>()
        });
        let readers = match readers {
            Ok(r) => r,
            Err(e) => {
                self.write()
                    .manifest
                    .retired
                    .extend(add.iter().map(|s| seg_rel(s.id)));
                return Err(e);
            }
        };
        let mut st = self.write();
        let undo = st.user_links.link_all(&links);
        let mut m = st.manifest.clone();
        // What this change removes, recorded so that recovery can prove the files are
        // leftovers if the process dies before they are deleted.
        let mut retired: Vec<String> = m
            .retired
            .iter()
            .filter(|r| self.dir.join(r).exists())
            .cloned()
            .collect();
        retired.extend(remove.iter().map(|id| seg_rel(*id)));
        let mut written: Vec<String> = add.iter().map(|s| seg_rel(s.id)).collect();
        let mut saved = Ok(());
        if st.user_links.dirty {
            let name = format!("identities-{:016}", m.next_id);
            m.next_id += 1;
            written.push(name.clone());
            saved = st.user_links.save(&*self.fs, &self.dir.join(&name));
            if let Some(old) = m.identities.replace(name) {
                retired.push(old);
            }
        }
        m.retired = retired;
        m.segments.retain(|s| !remove.contains(&s.id));
        m.segments.extend(add.iter().cloned());
        m.segments.sort_by_key(|s| (s.partition, s.id));
        if let Some(w) = wal_start {
            m.wal_start = w;
        }
        if let Some(d) = drop_before {
            m.drop_before = m.drop_before.max(d);
        }
        let mut manifest_written = false;
        let stored = saved.and_then(|()| {
            manifest_written = true;
            m.store(&*self.fs, &self.dir)
        });
        if let Err(e) = stored {
            st.user_links.undo(undo);
            st.manifest.next_id = st.manifest.next_id.max(m.next_id);
            st.manifest.retired.extend(written);
            if manifest_written {
                // The new manifest may have been renamed into place before the failure
                // (a failed directory sync): put the current one back, so that a restart
                // does not find the change that failed. Should that fail too, either
                // manifest is sound: nothing the new one names is deleted, and the next
                // change retires its new files.
                if let Err(e2) = st.manifest.store(&*self.fs, &self.dir) {
                    tracing::warn!(error = %e2, "could not put the manifest back after a failed change");
                }
            }
            return Err(e);
        }
        let gone = m.retired.clone();
        st.manifest = m;
        st.user_links.dirty = false;
        if clear_frozen {
            st.frozen.clear();
        }
        if drop_before.is_some() {
            let cut = st.manifest.drop_before;
            st.active.retain(|e| e.ts >= cut);
            for f in st.frozen.iter_mut() {
                f.retain(|e| e.ts >= cut);
            }
        }
        for id in &remove {
            st.segments.remove(id);
        }
        for (s, r) in add.iter().zip(readers) {
            st.segments.insert(s.id, r);
        }
        drop(st);
        // Open readers keep a removed segment readable until they are dropped.
        for rel in gone {
            let _ = self.fs.remove_file(&self.dir.join(rel));
        }
        Ok(())
    }

    /// Gives up segments that were written but will not be committed: they are removed
    /// when the disk allows, and retired by the next manifest either way.
    pub(super) fn discard(&self, ids: &[u64]) {
        for &id in ids {
            let _ = self.fs.remove_file(&seg_path(&self.dir, id));
        }
        let mut st = self.write();
        st.manifest
            .retired
            .extend(ids.iter().map(|&id| seg_rel(id)));
    }
}
