//! The read view: the live segments, the buffers of acknowledged events not yet in
//! segments, and the user links. It changes in two ways only: a durable log entry is
//! applied ([`State::apply`], after its fsync; replay on open does the same), and a
//! durable manifest change swaps segments for buffers (`change.rs`).

use std::collections::BTreeMap;
use std::sync::Arc;

use cairn_model::{Dim, Event, Record};

use super::Inner;
use super::compaction::merge_sorted;
use crate::error::Result;
use crate::manifest::Manifest;
use crate::memtable::Memtable;
use crate::segment::reader::SegmentReader;
use crate::user_links::UserLinks;
use crate::wal::Entry;

pub(crate) struct State {
    pub manifest: Manifest,
    pub segments: BTreeMap<u64, Arc<SegmentReader>>,
    /// Events appended since the last rotation.
    pub active: Memtable,
    /// Buffers being written to segments (or whose flush failed: written by the next).
    pub frozen: Vec<Memtable>,
    pub user_links: UserLinks,
}

impl State {
    /// Makes a durable log entry visible: records to the buffer and the user links,
    /// an erasure to both. Replay on open does exactly the same.
    pub(super) fn apply(&mut self, entry: Entry) {
        match entry {
            Entry::Records(recs) => {
                let evs = absorb(&mut self.user_links, recs, self.manifest.drop_before);
                self.active.push(evs);
            }
            Entry::Erase(e) => {
                // The visitors were resolved when the erasure was logged; links made
                // later come in later entries.
                self.user_links.erase(&e.site, &e.visitors, &e.users);
                let hit =
                    |ev: &Event| ev.site == e.site && e.visitors.binary_search(&ev.visitor).is_ok();
                self.active.retain(|ev| !hit(ev));
                for f in self.frozen.iter_mut() {
                    f.retain(|ev| !hit(ev));
                }
            }
        }
    }
}

/// Updates user links from records and returns the events, minus those before `drop_before`.
fn absorb(ids: &mut UserLinks, recs: Vec<Record>, drop_before: i64) -> Vec<Event> {
    let mut evs = Vec::with_capacity(recs.len());
    for r in recs {
        match r {
            Record::Event(e) => {
                if !e.dim(Dim::User).is_empty() {
                    ids.link(&e.site, e.visitor, e.dim(Dim::User), e.ts);
                }
                if e.ts >= drop_before {
                    evs.push(e);
                }
            }
            Record::Identify(i) => ids.link(&i.site, i.visitor, &i.user, i.ts),
        }
    }
    evs
}

impl Inner {
    /// Segments and buffered events as of now.
    pub(crate) fn snapshot_view(&self) -> (Vec<Arc<SegmentReader>>, Memtable) {
        let st = self.read();
        let segs = st.segments.values().cloned().collect();
        let mut mem = Memtable::default();
        for m in st.frozen.iter().chain(std::iter::once(&st.active)) {
            for c in &m.chunks {
                mem.rows += c.len();
                mem.chunks.push(Arc::clone(c));
            }
        }
        (segs, mem)
    }

    /// [`Store::for_each_event`](super::Store::for_each_event).
    pub(super) fn for_each_event(&self, mut f: impl FnMut(&Event) -> Result<()>) -> Result<()> {
        let (segs, mem) = self.snapshot_view();
        let mut iters = Vec::new();
        for s in &segs {
            iters.push(s.events()?);
        }
        let mut sources: Vec<Box<dyn Iterator<Item = Result<Event>> + '_>> = iters
            .into_iter()
            .map(|i| Box::new(i) as Box<dyn Iterator<Item = Result<Event>>>)
            .collect();
        let memv: Vec<Event> = mem.sorted().into_iter().cloned().collect();
        sources.push(Box::new(memv.into_iter().map(Ok)));
        merge_sorted(sources, |e| f(&e))
    }
}
