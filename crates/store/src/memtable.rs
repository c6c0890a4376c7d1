//! Acknowledged events not yet in segments. Appends add immutable chunks, so a reader
//! takes a consistent view by cloning a list of `Arc`s.

use std::sync::Arc;

use cairn_model::Event;

#[derive(Debug, Clone, Default)]
pub(crate) struct Memtable {
    pub chunks: Vec<Arc<Vec<Event>>>,
    pub rows: usize,
}

impl Memtable {
    pub(crate) fn push(&mut self, events: Vec<Event>) {
        if events.is_empty() {
            return;
        }
        self.rows += events.len();
        self.chunks.push(Arc::new(events));
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &Event> {
        self.chunks.iter().flat_map(|c| c.iter())
    }

    /// Keeps only the events for which `keep` holds.
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(&Event) -> bool) {
        if !self.iter().any(|e| !keep(e)) {
            return;
        }
        let kept: Vec<Event> = self.iter().filter(|e| keep(e)).cloned().collect();
        self.chunks.clear();
        self.rows = 0;
        self.push(kept);
    }

    /// Events sorted by (site, visitor, ts), arrival order breaking ties.
    pub(crate) fn sorted(&self) -> Vec<&Event> {
        let mut v: Vec<&Event> = self.iter().collect();
        v.sort_by(|a, b| (&a.site, a.visitor, a.ts).cmp(&(&b.site, b.visitor, b.ts)));
        v
    }
}
