//! Figures about the store: `cairn stats` and the bytes per column.

use std::collections::{BTreeMap, HashSet};
use std::fs;
use std::os::unix::fs::MetadataExt;

use cairn_model::Dim;
use rustc_hash::{FxHashMap, FxHashSet};

use super::{Inner, PARTITION_DAYS, partition_of, week_of_day};
use crate::error::{IoContext, Result};
use crate::wal;

/// Figures for `cairn stats`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Events in the store.
    pub events: u64,
    /// Events still in the in-memory buffer (and the log).
    pub buffered: u64,
    /// Distinct visitors (per site, summed).
    pub visitors: u64,
    /// Distinct time partitions (UTC weeks, Monday to Sunday; sealed ones four weeks).
    pub partitions: u64,
    /// Segment files.
    pub segments: u64,
    /// Bytes of segment files.
    pub segment_bytes: u64,
    /// Bytes of log files.
    pub wal_bytes: u64,
    /// Bytes of the other files: manifest, user links, lock.
    pub other_bytes: u64,
    /// Earliest and latest event times.
    pub time_range: Option<(i64, i64)>,
    /// Events per site.
    pub sites: BTreeMap<String, u64>,
}

impl Stats {
    /// Bytes of every file of the store.
    pub fn bytes_on_disk(&self) -> u64 {
        self.segment_bytes + self.wal_bytes + self.other_bytes
    }

    /// Bytes on disk per event, when there are events.
    pub fn bytes_per_event(&self) -> Option<f64> {
        (self.events > 0).then(|| self.bytes_on_disk() as f64 / self.events as f64)
    }
}

/// Sites numbered as first met, with their events.
#[derive(Default)]
struct Sites {
    ids: FxHashMap<String, u32>,
    /// Events per site, by number.
    events: Vec<u64>,
}

impl Sites {
    fn id(&mut self, name: &str) -> u32 {
        if let Some(&id) = self.ids.get(name) {
            return id;
        }
        let id = self.events.len() as u32;
        self.ids.insert(name.to_string(), id);
        self.events.push(0);
        id
    }
}

impl Inner {
    /// [`Store::stats`](super::Store::stats).
    pub(super) fn stats(&self) -> Result<Stats> {
        let (segs, mem) = self.snapshot_view();
        let mut st = Stats::default();
        // Visitors as (site, visitor) with sites by number: a 10M store has millions of
        // visitor runs, and a string per run made `cairn stats` take most of a second.
        let mut sites = Sites::default();
        let mut visitors: FxHashSet<(u32, u64)> = FxHashSet::default();
        let mut parts = HashSet::new();
        let mut range: Option<(i64, i64)> = None;
        let mut widen = |lo: i64, hi: i64| {
            range = Some(range.map_or((lo, hi), |(a, b)| (a.min(lo), b.max(hi))));
        };
        for s in &segs {
            st.segments += 1;
            st.segment_bytes += fs::metadata(&s.path).map(|m| m.len()).unwrap_or(0);
            st.events += s.footer.rows;
            // Days of an older version count as their week.
            parts.insert(match s.footer.days {
                d if d < PARTITION_DAYS => week_of_day(s.footer.partition),
                _ => s.footer.partition,
            });
            widen(s.footer.min_ts, s.footer.max_ts);
            let ids: Vec<u32> = s.footer.sites.iter().map(|x| sites.id(x)).collect();
            for (site, v, n) in s.visitor_runs()? {
                let id = ids[site as usize];
                visitors.insert((id, v));
                sites.events[id as usize] += n;
            }
        }
        for e in mem.iter() {
            st.events += 1;
            st.buffered += 1;
            parts.insert(partition_of(e.ts));
            widen(e.ts, e.ts);
            let id = sites.id(&e.site);
            visitors.insert((id, e.visitor));
            sites.events[id as usize] += 1;
        }
        for (name, id) in sites.ids {
            let n = sites.events[id as usize];
            if n > 0 {
                st.sites.insert(name, n);
            }
        }
        let waldir = self.dir.join("wal");
        for n in wal::list(&waldir)? {
            // Log files are sparse: count the space they take, not their length.
            st.wal_bytes += fs::metadata(wal::wal_path(&waldir, n))
                .map(|m| (m.blocks() * 512).min(m.len()))
                .unwrap_or(0);
        }
        for ent in fs::read_dir(&self.dir).at(&self.dir)?.flatten() {
            if let Ok(m) = ent.metadata()
                && m.is_file()
            {
                st.other_bytes += m.len();
            }
        }
        st.visitors = visitors.len() as u64;
        st.partitions = parts.len() as u64;
        st.time_range = range;
        Ok(st)
    }

    /// [`Store::column_bytes`](super::Store::column_bytes).
    pub(super) fn column_bytes(&self) -> Vec<(String, u64)> {
        use crate::segment::format::{COL_DIM0, COL_PROPS, COL_REVENUE, COL_RUNS, COL_TS};
        let segs: Vec<_> = self.read().segments.values().cloned().collect();
        let mut names: Vec<String> = vec![String::new(); COL_REVENUE + 1];
        names[COL_RUNS] = "runs".into();
        names[COL_TS] = "ts".into();
        for d in Dim::ALL {
            names[COL_DIM0 + d.index()] = d.as_str().into();
        }
        names[COL_PROPS] = "props".into();
        names[COL_REVENUE] = "revenue".into();
        let mut bytes = vec![0u64; names.len()];
        let (mut dicts, mut footers) = (0u64, 0u64);
        for s in &segs {
            let mut data = 0u64;
            for b in &s.footer.blocks {
                for (i, c) in b.cols.iter().enumerate() {
                    bytes[i] += u64::from(c.len);
                    data += u64::from(c.len);
                }
            }
            let d: u64 = s.footer.dicts.iter().map(|(c, _)| u64::from(c.len)).sum();
            dicts += d;
            let size = fs::metadata(&s.path).map(|m| m.len()).unwrap_or(0);
            footers += size.saturating_sub(data + d);
        }
        let mut out: Vec<(String, u64)> = names.into_iter().zip(bytes).collect();
        out.push(("dictionaries".into(), dicts));
        out.push(("footers".into(), footers));
        out.sort_by_key(|x| std::cmp::Reverse(x.1));
        out
    }
}
