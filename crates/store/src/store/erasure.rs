//! Erasure: the erasure is logged (durable, and applied to the buffer and the identity
//! links like any log entry), then every segment holding one of the visitors is rewritten
//! without them, and a forced flush retires the erasure frame.

use std::sync::Arc;

use super::change::ManifestChange;
use super::compaction::{KeyRange, keep_run};
use super::{Inner, lock};
use crate::error::Result;
use crate::manifest::SegmentMeta;
use crate::segment::reader::SegmentReader;
use crate::segment::writer::Compression;
use crate::wal::{self, Entry, Erasure};

impl Inner {
    /// [`Store::erase`](super::Store::erase).
    pub(super) fn erase(&self, site: &str, visitors: &[u64], users: &[String]) -> Result<Vec<u64>> {
        self.check()?;
        let _m = lock(&self.maint);
        // Resolve users to visitors, log the erasure, then purge memory and segments.
        let ids = {
            let st = self.read();
            let mut v: Vec<u64> = visitors.to_vec();
            if let Some(s) = st.user_links.sites.get(site) {
                for (vis, (u, _)) in &s.by_visitor {
                    if users.contains(u) {
                        v.push(*vis);
                    }
                }
            }
            v.sort_unstable();
            v.dedup();
            v
        };
        let er = Erasure {
            site: site.to_string(),
            visitors: ids.clone(),
            users: users.to_vec(),
        };
        let mut frame = Vec::new();
        wal::frame_erase(&mut frame, &er);
        let ticket = self.enqueue(&frame, Entry::Erase(er));
        self.sync_to(ticket)?;
        self.erase_in_segments(site, &ids)?;
        // Retire the erasure frame at once: replayed later, it would also hit events
        // imported after it.
        self.flush_locked(true)?;
        Ok(ids)
    }

    /// Rewrites the segments that hold events of these visitors without them.
    pub(super) fn erase_in_segments(&self, site: &str, visitors: &[u64]) -> Result<()> {
        if visitors.is_empty() {
            return Ok(());
        }
        let candidates: Vec<(SegmentMeta, Arc<SegmentReader>)> = {
            let st = self.read();
            st.manifest
                .segments
                .iter()
                .filter(|s| s.sites.iter().any(|x| x == site))
                .filter_map(|s| st.segments.get(&s.id).map(|r| (s.clone(), Arc::clone(r))))
                .collect()
        };
        for (meta, reader) in candidates {
            if !reader.contains_any(site, visitors)? {
                continue;
            }
            let keep = |s: &str, v: u64, _| !(s == site && visitors.binary_search(&v).is_ok());
            let mut new = self.merge_into(
                (meta.partition, meta.days),
                &[reader],
                &KeyRange::ALL,
                keep,
                (u64::MAX, Compression::Lasting),
            )?;
            keep_run(&mut new, &meta);
            self.commit(ManifestChange {
                add: new,
                remove: vec![meta.id],
                ..ManifestChange::default()
            })?;
        }
        Ok(())
    }
}
