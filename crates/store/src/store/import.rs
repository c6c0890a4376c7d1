//! Bulk import: batches sorted in memory and written straight to segments (no log), one
//! manifest change per batch; the batch's user links come with the change.

use cairn_model::{Dim, Event, Record};
use rustc_hash::{FxHashMap, FxHashSet};

use super::change::ManifestChange;
use super::{Inner, lock};
use crate::error::Result;
use crate::user_links::Link;

impl Inner {
    /// [`Store::import`](super::Store::import).
    pub(super) fn import(&self, records: impl IntoIterator<Item = Record>) -> Result<u64> {
        self.check()?;
        let batch = self.opts.import_batch.max(1);
        let mut buf = Vec::with_capacity(batch.min(4 << 20));
        let mut n = 0u64;
        let mut links = Vec::new();
        for r in records {
            match r {
                Record::Event(e) => {
                    if !e.dim(Dim::User).is_empty() {
                        links.push((
                            e.site.clone(),
                            e.visitor,
                            e.dim(Dim::User).to_string(),
                            e.ts,
                        ));
                    }
                    buf.push(e);
                }
                Record::Identify(i) => links.push((i.site, i.visitor, i.user, i.ts)),
            }
            if buf.len() >= batch {
                // The buffer keeps its capacity: no fresh pages to fault in per batch.
                n += self.write_batch(&mut buf, std::mem::take(&mut links))?;
            }
        }
        if !buf.is_empty() || !links.is_empty() {
            n += self.write_batch(&mut buf, links)?;
        }
        Ok(n)
    }

    /// Sorts and writes a batch of events (emptying `events`, keeping its capacity).
    /// Returns the number written: events before the retention cut are dropped.
    fn write_batch(&self, events: &mut Vec<Event>, links: Vec<Link>) -> Result<u64> {
        let _m = lock(&self.maint);
        let drop_before = self.read().manifest.drop_before;
        events.retain(|e| e.ts >= drop_before);
        // Sort small keys, not the (large) events: site rank, visitor, time, and the
        // arrival index last, so ties keep arrival order.
        let mut sites: Vec<&str> = Vec::new();
        let mut seen: FxHashSet<&str> = FxHashSet::default();
        for e in events.iter() {
            if seen.insert(e.site.as_str()) {
                sites.push(&e.site);
            }
        }
        sites.sort_unstable();
        let rank: FxHashMap<&str, u32> = sites
            .iter()
            .enumerate()
            .map(|(i, s)| (*s, i as u32))
            .collect();
        let mut keys: Vec<(u32, u64, i64, u32)> = events
            .iter()
            .enumerate()
            .map(|(i, e)| (rank[e.site.as_str()], e.visitor, e.ts, i as u32))
            .collect();
        drop((sites, seen, rank));
        keys.sort_unstable();
        let refs: Vec<&Event> = keys.iter().map(|k| &events[k.3 as usize]).collect();
        let add = self.write_segments(&refs)?;
        drop(refs);
        let written = events.len() as u64;
        events.clear();
        self.commit(ManifestChange {
            add,
            links,
            ..ManifestChange::default()
        })?;
        Ok(written)
    }
}
