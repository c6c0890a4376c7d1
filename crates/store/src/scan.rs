//! Visitor-timeline scans: each visitor's events in time order over a time range,
//! merged across segments and the in-memory buffer, with column projection, predicates
//! decided once per segment as dictionary ids, and disjoint visitor ranges for workers.
//!
//! Strings come back as ids into query-wide dictionaries ([`QueryDict`]), built once when
//! the scan is created from the segments' own dictionaries; a segment's ids are mapped
//! through a small table, so rows are never compared as strings.

use std::sync::{Arc, Mutex};

use cairn_model::{Dim, Event, PropValue};
use cairn_timeline::{
    PropEntry, PropVal, QueryDict, ScanDicts, ScanRequest, SourceError, Summarized, SummaryRequest,
    Timeline, TimelineScan, TimelineSource, VisitorRange,
};
use rustc_hash::FxHashMap;

use crate::chunk_cache::ChunkCache;
use crate::error::{Result, corrupted};
use crate::segment::format::{BlockMeta, DICT_CURRENCIES, DICT_PROP_KEYS, DICT_PROP_VALUES, DIMS};
use crate::segment::packed::{BadTimes, Meets, Packed};
use crate::segment::reader::{
    Block, ChunkBuf, Projection, RevenueRange, Revenues, Run, SegmentReader,
};
use crate::store::Store;

mod summary;

/// About the bytes a worker's cursor over `s` holds at most: its loaded block (the
/// timestamps' and projected dimensions' decompressed bytes; runs, properties and revenue
/// decoded, from their raw sizes) and the read buffers of the largest chunk. The buffer's
/// block is shared by every worker: not counted.
fn cursor_bytes(s: &Source, proj: &Projection) -> u64 {
    use crate::segment::format::{COL_DIM0, COL_PROPS, COL_REVENUE, COL_RUNS, COL_TS};
    let SourceKind::Segment { reader, blocks, .. } = &s.kind else {
        return 0;
    };
    blocks
        .iter()
        .map(|&b| {
            let m = &reader.footer.blocks[b];
            let rows = u64::from(m.rows);
            // A run (24 bytes) per visitor, about 8 raw bytes each.
            let mut bytes =
                u64::from(m.cols[COL_TS].raw_len) + u64::from(m.cols[COL_RUNS].raw_len) * 3;
            for (d, &on) in proj.dims.iter().enumerate() {
                if on {
                    bytes += u64::from(m.cols[COL_DIM0 + d].raw_len);
                }
            }
            if proj.props {
                // An offset per row; an entry (16 bytes) per property, about 8 raw
                // bytes each (a key, a tag, a value id or number).
                bytes += rows * 4 + u64::from(m.cols[COL_PROPS].raw_len) * 2;
            }
            if proj.revenue {
                bytes += rows * 16 + u64::from(m.cols[COL_REVENUE].raw_len);
            }
            let chunk = m
                .cols
                .iter()
                .map(|c| u64::from(c.len) + u64::from(c.raw_len))
                .max()
                .unwrap_or(0);
            bytes + chunk
        })
        .max()
        .unwrap_or(0)
}

/// Decode buffers kept between scans: cursors take them when a scan starts and give them
/// back when it ends, so a query decodes into memory earlier queries already faulted in
/// instead of fresh pages the kernel must zero (a tenth of a funnel's time before).
/// At most [`ScanBufs::KEEP`] of each are kept: a few blocks' worth of memory. The chunk
/// buffers it hands out read through the store's [`ChunkCache`].
pub(crate) struct ScanBufs {
    blocks: Mutex<Vec<Packed>>,
    chunks: Mutex<Vec<ChunkBuf>>,
    cache: Arc<ChunkCache>,
}

/// A kept buffer, or a new one.
fn kept<T: Default>(pool: &Mutex<Vec<T>>) -> T {
    pool.lock()
        .ok()
        .and_then(|mut p| p.pop())
        .unwrap_or_default()
}

impl ScanBufs {
    pub(crate) fn new(cache: Arc<ChunkCache>) -> ScanBufs {
        ScanBufs {
            blocks: Mutex::default(),
            chunks: Mutex::default(),
            cache,
        }
    }

    pub(crate) fn cache(&self) -> &ChunkCache {
        &self.cache
    }

    /// Blocks (and chunk buffers) kept: one per cursor of a scan over 16 sources on two
    /// workers.
    const KEEP: usize = 32;

    fn packed(&self) -> Packed {
        kept(&self.blocks)
    }

    fn chunk(&self) -> ChunkBuf {
        let mut c: ChunkBuf = kept(&self.chunks);
        c.cache = Some(Arc::clone(&self.cache));
        c
    }

    fn give(&self, block: Packed, chunk: ChunkBuf) {
        if let Ok(mut kept) = self.blocks.lock()
            && kept.len() < Self::KEEP
        {
            kept.push(block);
        }
        if let Ok(mut kept) = self.chunks.lock()
            && kept.len() < Self::KEEP
        {
            kept.push(chunk);
        }
    }
}

/// A share of a scan's rows, for splitting the scan into ranges of equal work: `rows`
/// spread evenly over the visitor ids `lo..=hi` (ids are hashes: uniform).
#[derive(Clone, Copy, Debug, PartialEq)]
struct Weight {
    lo: u64,
    hi: u64,
    rows: u64,
}

impl Weight {
    /// Its rows at visitor ids up to `c`.
    fn rows_to(&self, c: u64) -> f64 {
        if c < self.lo {
            0.0
        } else if c >= self.hi {
            self.rows as f64
        } else {
            self.rows as f64 * ((c - self.lo) as f64 + 1.0) / ((self.hi - self.lo) as f64 + 1.0)
        }
    }
}

/// The rows of `site` in `blocks` (of a segment's `metas`): a [`Weight`] per block, over
/// the visitor ids of the site it holds. A block that holds other sites' rows too (where
/// the segment passes from one site to the next) counts only the site's share, estimated
/// from the ids it spans and the rows per id of the segment's blocks of the site alone.
fn site_weights(metas: &[BlockMeta], blocks: &[usize], site: u32, out: &mut Vec<Weight>) {
    // The site's visitor ids in a block (inclusive) and how many, as f64 (up to 2^64).
    let ids = |m: &BlockMeta| {
        let lo = if m.first.0 == site { m.first.1 } else { 0 };
        let hi = if m.last.0 == site { m.last.1 } else { u64::MAX };
        (lo, hi, (hi - lo) as f64 + 1.0)
    };
    let own = |m: &BlockMeta| m.first.0 == site && m.last.0 == site;
    let (rows, span) = blocks
        .iter()
        .map(|&b| &metas[b])
        .filter(|m| own(m))
        .fold((0.0, 0.0), |(r, n), m| {
            (r + f64::from(m.rows), n + ids(m).2)
        });
    for &b in blocks {
        let m = &metas[b];
        let (lo, hi, n) = ids(m);
        let rows = if own(m) {
            u64::from(m.rows)
        } else if span > 0.0 {
            // The share the site's rows per id give it (at least one row).
            ((rows / span * n).round() as u64).clamp(1, u64::from(m.rows))
        } else {
            // No block of the site alone to tell its density: half.
            u64::from(m.rows).div_ceil(2)
        };
        out.push(Weight { lo, hi, rows });
    }
}

/// Up to `n` ranges of the visitor space with about equal rows of `weights` each: each
/// cut the least id up to which the rows reach their share, by bisection, so a cut may
/// fall inside a block. (Cut at block starts, the two workers of a query at 1M events
/// got a quarter and three quarters of the work: a site has a few blocks per segment
/// there, and every segment's start at the same ids.)
fn split_weights(weights: &[Weight], n: usize) -> Vec<VisitorRange> {
    let total: f64 = weights.iter().map(|w| w.rows as f64).sum();
    if n <= 1 || total == 0.0 {
        return vec![VisitorRange::ALL];
    }
    let rows_to = |c: u64| weights.iter().map(|w| w.rows_to(c)).sum::<f64>();
    let mut out = Vec::with_capacity(n);
    let mut lo = 0u64;
    for k in 1..n {
        let share = total * k as f64 / n as f64;
        let (mut a, mut b) = (lo, u64::MAX);
        while a < b {
            let m = a + (b - a) / 2;
            if rows_to(m) >= share {
                b = m;
            } else {
                a = m + 1;
            }
        }
        if a == u64::MAX {
            break;
        }
        out.push(VisitorRange { lo, hi: a });
        lo = a + 1;
    }
    out.push(VisitorRange { lo, hi: u64::MAX });
    out
}

/// Per-source tables from local ids to query ids.
struct Remap {
    dims: Vec<Option<Vec<u32>>>,
    allowed: Vec<(usize, Vec<bool>)>,
    prop_keys: Option<Vec<u32>>,
    /// Per segment-local key id: whether the request wants it (`None`: all).
    prop_wanted: Option<Vec<bool>>,
    /// String property values come back as id 0 (see [`ScanRequest::prop_strings`]).
    erase_strings: bool,
    /// The in-memory buffer: per query key id, whether to emit it (segments filter
    /// when they decode).
    emit_keys: Option<Vec<bool>>,
    prop_values: Option<Vec<u32>>,
    currencies: Option<Vec<u32>>,
}

enum SourceKind {
    Segment {
        reader: Arc<SegmentReader>,
        site: u32,
        blocks: Vec<usize>,
    },
    Memory(Arc<Block>),
}

struct Source {
    kind: SourceKind,
    remap: Remap,
}

/// A prepared scan over a consistent view of the store.
pub struct Scan {
    req: ScanRequest,
    proj: Projection,
    /// In partition order (events at the same millisecond come in this order).
    sources: Vec<Source>,
    /// The sources as chains of disjoint visitors (see [`chains`]), one cursor each.
    chains: Vec<Vec<usize>>,
    dicts: ScanDicts,
    /// The site's visitor → user links, shared with the store.
    links: Arc<crate::user_links::SiteUserLinks>,
    weights: Vec<Weight>,
    bufs: Arc<ScanBufs>,
}

impl Store {
    /// Prepares a scan. The view is fixed now: later appends are not seen.
    pub fn scan(&self, req: ScanRequest) -> Result<Scan> {
        let (segs, mem) = self.inner.snapshot_view();
        let ids = self.user_links(&req.site);
        Scan::new(
            req,
            segs,
            mem.iter(),
            ids,
            Arc::clone(&self.inner.scan_bufs),
        )
    }
}

/// The sources as chains, each of sources whose visitors follow the one before's (the
/// segments of one merge, or of merges of disjoint visitors): a cursor walks a chain
/// source after source, so a visitor's events are merged from one cursor per chain, not
/// one per segment (a sealed partition of 100M events is some 25 segments). Greedy by
/// first visitor, which makes as few chains as sources overlap at most.
fn chains(sources: &[Source]) -> Vec<Vec<usize>> {
    // (first visitor, last visitor) of the rows a source may hold for the site.
    let span = |s: &Source| match &s.kind {
        SourceKind::Segment {
            reader,
            site,
            blocks,
        } => {
            let f = &reader.footer;
            let (Some(&first), Some(&last)) = (blocks.first(), blocks.last()) else {
                return (0, u64::MAX);
            };
            let (first, last) = (f.blocks[first].first, f.blocks[last].last);
            let lo = if first.0 == *site { first.1 } else { 0 };
            let hi = if last.0 == *site { last.1 } else { u64::MAX };
            (lo, hi)
        }
        SourceKind::Memory(_) => (0, u64::MAX),
    };
    let mut order: Vec<(u64, u64, usize)> = sources
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let (lo, hi) = span(s);
            (lo, hi, i)
        })
        .collect();
    order.sort_unstable();
    let mut chains: Vec<(u64, Vec<usize>)> = Vec::new();
    for (lo, hi, i) in order {
        match chains.iter_mut().find(|c| c.0 < lo) {
            Some(c) => {
                c.0 = hi;
                c.1.push(i);
            }
            None => chains.push((hi, vec![i])),
        }
    }
    // In the order of their first sources: a visitor's runs then mostly come in source
    // order already (`members_of`).
    let mut chains: Vec<Vec<usize>> = chains.into_iter().map(|c| c.1).collect();
    chains.sort_unstable_by_key(|c| c[0]);
    chains
}

/// Segment dictionary `i`'s strings interned into `q`: the query id of each local id,
/// read straight from the segment.
fn remap_dict(reader: &SegmentReader, i: usize, q: &mut QueryDict) -> Result<Vec<u32>> {
    // Room for at least this segment's strings, so that the first one's fill does not
    // rehash as it grows (room for every segment's strings up front was slower:
    // bench/RESULTS.md, third round of 6 December).
    q.reserve((reader.footer.dicts[i].1 as usize).saturating_sub(q.len()));
    reader.dict_with(i, |s| q.intern(s))
}

impl Scan {
    fn new<'e>(
        req: ScanRequest,
        segs: Vec<Arc<SegmentReader>>,
        mem: impl Iterator<Item = &'e Event>,
        ids: Arc<crate::user_links::SiteUserLinks>,
        bufs: Arc<ScanBufs>,
    ) -> Result<Scan> {
        let mut proj = Projection::none();
        for &d in &req.dims {
            proj.dims[d.index()] = true;
        }
        for (d, _) in &req.filters {
            proj.dims[d.index()] = true;
        }
        proj.props = req.props;
        proj.revenue = req.revenue;
        let mut dicts = vec![QueryDict::default(); DIMS];
        let mut prop_keys = QueryDict::default();
        let mut prop_values = QueryDict::default();
        let mut currencies = QueryDict::default();
        let mut sources = Vec::new();
        let mut weights = Vec::new();
        let mut segs = segs;
        segs.sort_by_key(|s| s.footer.partition);
        'seg: for reader in segs {
            let f = &reader.footer;
            if f.max_ts < req.from || f.min_ts > req.to {
                continue;
            }
            let Some(site) = f.sites.iter().position(|s| *s == req.site) else {
                continue;
            };
            let site = site as u32;
            let blocks: Vec<usize> = f
                .blocks
                .iter()
                .enumerate()
                .filter(|(_, b)| {
                    b.first.0 <= site
                        && b.last.0 >= site
                        && b.max_ts >= req.from
                        && b.min_ts <= req.to
                })
                .map(|(i, _)| i)
                .collect();
            if blocks.is_empty() {
                continue;
            }
            // Predicates: decided once per segment; a segment without any wanted value is skipped.
            let mut allowed = Vec::new();
            for (d, values) in &req.filters {
                let ok = reader.dict_with(d.index(), |s| values.iter().any(|v| v == s))?;
                if !ok.iter().any(|&x| x) {
                    continue 'seg;
                }
                allowed.push((d.index(), ok));
            }
            let mut dims_remap = vec![None; DIMS];
            for &d in &req.dims {
                dims_remap[d.index()] =
                    Some(remap_dict(&reader, d.index(), &mut dicts[d.index()])?);
            }
            let key_dict = if req.props {
                Some(reader.dict(DICT_PROP_KEYS)?)
            } else {
                None
            };
            let remap = Remap {
                dims: dims_remap,
                allowed,
                erase_strings: !req.prop_strings,
                emit_keys: None,
                prop_wanted: match (&key_dict, &req.prop_keys) {
                    (Some(d), Some(want)) => Some(d.iter().map(|k| want.contains(k)).collect()),
                    _ => None,
                },
                prop_keys: key_dict
                    .as_ref()
                    .map(|d| d.iter().map(|k| prop_keys.intern(k)).collect()),
                prop_values: if req.props && req.prop_strings {
                    Some(remap_dict(&reader, DICT_PROP_VALUES, &mut prop_values)?)
                } else {
                    None
                },
                currencies: if req.revenue {
                    Some(remap_dict(&reader, DICT_CURRENCIES, &mut currencies)?)
                } else {
                    None
                },
            };
            site_weights(&f.blocks, &blocks, site, &mut weights);
            sources.push(Source {
                kind: SourceKind::Segment {
                    reader: Arc::clone(&reader),
                    site,
                    blocks,
                },
                remap,
            });
        }
        // The in-memory buffer becomes one block whose ids are already query ids.
        let mut evs: Vec<&Event> = mem
            .filter(|e| e.site == req.site && e.ts >= req.from && e.ts <= req.to)
            .collect();
        evs.retain(|e| {
            req.filters
                .iter()
                .all(|(d, vals)| vals.iter().any(|v| v == e.dim(*d)))
        });
        if !evs.is_empty() {
            evs.sort_by_key(|e| (e.visitor, e.ts));
            let mut b = Block {
                dims: vec![None; DIMS],
                ..Block::default()
            };
            for &d in &req.dims {
                b.dims[d.index()] = Some(Vec::with_capacity(evs.len()));
            }
            if req.props {
                b.prop_offsets.push(0);
            }
            if req.revenue {
                b.revenue = Some(Revenues::default());
            }
            for (i, e) in evs.iter().enumerate() {
                match b.runs.last_mut() {
                    Some(r) if r.visitor == e.visitor => r.len += 1,
                    _ => b.runs.push(Run {
                        site: 0,
                        visitor: e.visitor,
                        start: i as u32,
                        len: 1,
                    }),
                }
                b.ts.push(e.ts);
                for &d in &req.dims {
                    let id = dicts[d.index()].intern(e.dim(d));
                    if let Some(v) = b.dims[d.index()].as_mut() {
                        v.push(id);
                    }
                }
                if req.props {
                    for (k, v) in &e.props {
                        let val = match v {
                            PropValue::Str(s) => PropVal::Str(prop_values.intern(s)),
                            PropValue::Num(n) => PropVal::Num(*n),
                            PropValue::Bool(x) => PropVal::Bool(*x),
                        };
                        b.prop_entries.push(PropEntry {
                            key: prop_keys.intern(k),
                            val,
                        });
                    }
                    b.prop_offsets.push(b.prop_entries.len() as u32);
                }
                if let (Some(r), Some(x)) = (b.revenue.as_mut(), &e.revenue) {
                    r.push(i as u32, (x.micros, currencies.intern(&x.currency)));
                }
            }
            let (lo, hi) = evs.iter().fold((u64::MAX, 0), |(l, h), e| {
                (l.min(e.visitor), h.max(e.visitor))
            });
            weights.push(Weight {
                lo,
                hi,
                rows: evs.len() as u64,
            });
            let remap = Remap {
                dims: vec![None; DIMS],
                allowed: Vec::new(),
                prop_keys: None,
                prop_wanted: None,
                erase_strings: !req.prop_strings,
                emit_keys: None,
                prop_values: None,
                currencies: None,
            };
            sources.push(Source {
                kind: SourceKind::Memory(Arc::new(b)),
                remap,
            });
        }
        // The buffer's rows carry query-wide key ids: filter them when emitted.
        if let Some(want) = &req.prop_keys {
            let by_id: Vec<bool> = (0..prop_keys.len() as u32)
                .map(|id| want.iter().any(|k| k == prop_keys.get(id)))
                .collect();
            for s in &mut sources {
                if matches!(s.kind, SourceKind::Memory(_)) {
                    s.remap.emit_keys = Some(by_id.clone());
                }
            }
        }
        let chains = chains(&sources);
        Ok(Scan {
            req,
            proj,
            sources,
            chains,
            dicts: ScanDicts {
                dims: dicts,
                prop_keys,
                prop_values,
                currencies,
            },
            links: ids,
            weights,
            bufs,
        })
    }

    /// A cursor per chain over the visitors of `range` (and the scan's time range); with
    /// `classes` (a summary's, per source and local event-name id) each keeps its current
    /// run's classes.
    fn cursors<'a>(
        &'a self,
        range: VisitorRange,
        classes: &'a [Vec<u64>],
    ) -> Result<Vec<Cursor<'a>>> {
        let mut cursors = Vec::with_capacity(self.chains.len());
        for chain in &self.chains {
            cursors.push(Cursor::new(
                &self.sources,
                chain,
                range,
                (self.req.from, self.req.to),
                self.proj,
                &self.bufs,
                classes,
            )?);
        }
        Ok(cursors)
    }

    /// Calls `f` for each visitor in `range` with events in the scan, in visitor order.
    /// Visitors that belong to a multi-visitor lead (when stitching) are not passed to
    /// `f` but returned, to be merged by [`Scan::finish_stitched`] once all ranges are done.
    pub fn scan_range(
        &self,
        range: VisitorRange,
        mut f: impl FnMut(&Timeline),
    ) -> Result<Vec<Timeline>> {
        let mut cursors = self.cursors(range, &[])?;
        let mut tl = Timeline::empty();
        let mut deferred = Vec::new();
        let mut members: Vec<usize> = Vec::new();
        // Leads only: the linked visitors of the range, walked beside the cursors.
        let linked = self.req.linked_only.then(|| {
            let all = self.links.visitors();
            &all[all.partition_point(|&x| x < range.lo)..]
        });
        let mut next_linked = 0;
        // The next visitor is the least among the cursors'; with a chain per partition
        // or so, a pass over them beats a heap.
        while let Some(v) = cursors.iter().filter_map(|c| c.cur).min() {
            members_of(&cursors, v, &mut members);
            if let Some(linked) = linked {
                while linked.get(next_linked).is_some_and(|&x| x < v) {
                    next_linked += 1;
                }
                if linked.get(next_linked) != Some(&v) {
                    // Not a lead's: its runs are passed over, not copied.
                    for &m in &members {
                        cursors[m].advance()?;
                    }
                    continue;
                }
            }
            tl.clear(v);
            for &m in &members {
                cursors[m].emit(&self.req, &mut tl)?;
                cursors[m].advance()?;
            }
            if tl.is_empty() {
                continue;
            }
            // One run is already in time order (segments check it when they decode).
            if members.len() > 1 {
                tl.sort_by_time();
            }
            if self.lead_of(v).is_some() {
                deferred.push(tl.clone());
            } else {
                f(&tl);
            }
        }
        Ok(deferred)
    }

    /// When stitching, the lead visitor `v`'s timeline joins: the least visitor of its
    /// user's, where the user has more than one.
    fn lead_of(&self, v: u64) -> Option<u64> {
        if !self.req.stitch {
            return None;
        }
        self.links.leads().get(&v).copied()
    }

    /// Merges the deferred timelines of multi-visitor leads and passes each lead's
    /// timeline to `f`.
    pub fn finish_stitched(&self, deferred: Vec<Timeline>, mut f: impl FnMut(&Timeline)) {
        let mut groups: FxHashMap<u64, Vec<Timeline>> = FxHashMap::default();
        for t in deferred {
            let c = self.lead_of(t.visitor).unwrap_or(t.visitor);
            groups.entry(c).or_default().push(t);
        }
        let mut keys: Vec<u64> = groups.keys().copied().collect();
        keys.sort_unstable();
        for k in keys {
            let mut parts = groups.remove(&k).unwrap_or_default();
            parts.sort_by_key(|t| t.visitor);
            let mut tl = Timeline::empty();
            tl.clear(k);
            for p in &parts {
                tl.append(p, self.req.props);
            }
            tl.sort_by_time();
            f(&tl);
        }
    }

    /// Every timeline, single-threaded, stitched ones last.
    pub fn for_each(&self, mut f: impl FnMut(&Timeline)) -> Result<()> {
        let deferred = self.scan_range(VisitorRange::ALL, &mut f)?;
        self.finish_stitched(deferred, f);
        Ok(())
    }
}

impl TimelineSource for Store {
    fn scan(
        &self,
        req: ScanRequest,
    ) -> std::result::Result<Box<dyn TimelineScan + '_>, SourceError> {
        Ok(Box::new(Store::scan(self, req)?))
    }
}

impl TimelineScan for Scan {
    fn request(&self) -> &ScanRequest {
        &self.req
    }

    fn dicts(&self) -> &ScanDicts {
        &self.dicts
    }

    fn user_of(&self, visitor: u64) -> Option<&str> {
        self.links.user_of(visitor)
    }

    fn split(&self, n: usize) -> Vec<VisitorRange> {
        split_weights(&self.weights, n)
    }

    fn worker_bytes(&self) -> u64 {
        let chain = |c: &Vec<usize>| {
            c.iter()
                .map(|&s| cursor_bytes(&self.sources[s], &self.proj))
                .max()
                .unwrap_or(0)
        };
        self.chains.iter().map(chain).sum()
    }

    fn scan_range(
        &self,
        range: VisitorRange,
        f: &mut dyn FnMut(&Timeline),
    ) -> std::result::Result<Vec<Timeline>, SourceError> {
        Ok(Scan::scan_range(self, range, f)?)
    }

    fn finish_stitched(&self, deferred: Vec<Timeline>, f: &mut dyn FnMut(&Timeline)) {
        Scan::finish_stitched(self, deferred, f)
    }

    fn summarize_range(
        &self,
        range: VisitorRange,
        req: &SummaryRequest,
        f: &mut dyn FnMut(Summarized<'_>),
    ) -> std::result::Result<(), SourceError> {
        Ok(Scan::summarize_range(self, range, req, f)?)
    }
}

/// The cursors standing on visitor `v`, in their sources' order.
#[inline]
fn members_of(cursors: &[Cursor<'_>], v: u64, members: &mut Vec<usize>) {
    // Without a branch per cursor: which cursors stand on a visitor is random, and the
    // mispredicted filter was a tenth of a summary scan.
    members.clear();
    members.extend(0..cursors.len());
    let mut k = 0;
    for (m, c) in cursors.iter().enumerate() {
        members[k] = m;
        k += usize::from(c.cur == Some(v));
    }
    members.truncate(k);
    if members.len() > 1 && !members.is_sorted_by_key(|&m| cursors[m].source()) {
        members.sort_unstable_by_key(|&m| cursors[m].source());
    }
}

/// Walks the runs of a chain of sources within a visitor range, source after source.
struct Cursor<'s> {
    sources: &'s [Source],
    chain: &'s [usize],
    /// The chain's source it is in, at `chain[at]`.
    at: usize,
    /// `chain[at]`, kept: the walk over the cursors asks for it for every visitor.
    source: usize,
    src: &'s Source,
    range: VisitorRange,
    proj: Projection,
    next_block: usize,
    /// The in-memory buffer's block (its ids are already query ids).
    mem: Option<Arc<Block>>,
    /// A segment's block, decoded a run at a time; `loaded` while it holds one.
    packed: Packed,
    loaded: bool,
    run: usize,
    /// The current run's visitor; `None` once the cursor is done.
    cur: Option<u64>,
    buf: ChunkBuf,
    /// Where its buffers come from and go back to.
    bufs: &'s ScanBufs,
    /// A run that is not copied whole (some rows out of range or filtered out): its
    /// times and segment-local ids, per dimension.
    scratch_ts: Vec<i64>,
    scratch_dims: Vec<Vec<u32>>,
    /// A summary's classes per source, per local event-name id (the buffer's: per
    /// query id); empty outside a summary.
    classes: &'s [Vec<u64>],
    /// With `classes`: the classes of each run of the block it holds (of its events in
    /// range or not), found when the block is loaded.
    run_unions: Vec<u64>,
    /// Scratch of `Packed::unions_into`.
    run_starts: Vec<u8>,
    /// The current run's entry of `run_unions` (0 without `classes`), kept beside
    /// `cur`: the walk over the cursors reads it for every visitor.
    pub(crate) cur_classes: u64,
    /// The scan's time range.
    times: (i64, i64),
    /// Per run of the segment block it holds, when the time range cuts the block: how
    /// the run meets the range (runs without a row in it are passed over, as runs of
    /// other visitors are). Empty: the block lies in the range.
    meets: Vec<Meets>,
}

impl Drop for Cursor<'_> {
    fn drop(&mut self) {
        // The buffer's block is shared and its cursor had no chunk buffer of its own.
        if matches!(self.src.kind, SourceKind::Memory(_)) {
            return;
        }
        self.bufs.give(
            std::mem::take(&mut self.packed),
            std::mem::take(&mut self.buf),
        );
    }
}

/// A visitor run's rows, column by column, sliced to the run. Ids are segment-local
/// (the in-memory buffer's are query ids: its source has no remap tables).
struct Rows<'a> {
    ts: &'a [i64],
    /// Per dimension; `None` when not loaded.
    dims: [Option<&'a [u32]>; DIMS],
    /// Row i's properties are `prop_entries[prop_offsets[i]..prop_offsets[i + 1]]`
    /// (rows + 1 offsets, or none when properties are not projected).
    prop_offsets: &'a [u32],
    prop_entries: &'a [PropEntry],
    revenue: Option<RevenueRange<'a>>,
}

impl<'s> Cursor<'s> {
    fn new(
        sources: &'s [Source],
        chain: &'s [usize],
        range: VisitorRange,
        times: (i64, i64),
        proj: Projection,
        bufs: &'s ScanBufs,
        classes: &'s [Vec<u64>],
    ) -> Result<Cursor<'s>> {
        let src = &sources[chain[0]];
        let segment = matches!(src.kind, SourceKind::Segment { .. });
        let mut c = Cursor {
            sources,
            chain,
            at: 0,
            source: chain[0],
            src,
            range,
            proj,
            next_block: 0,
            mem: None,
            packed: if segment {
                bufs.packed()
            } else {
                Packed::default()
            },
            loaded: false,
            run: 0,
            cur: None,
            buf: if segment {
                bufs.chunk()
            } else {
                ChunkBuf::default()
            },
            bufs,
            scratch_ts: Vec::new(),
            scratch_dims: vec![Vec::new(); DIMS],
            classes,
            run_unions: Vec::new(),
            run_starts: Vec::new(),
            cur_classes: 0,
            times,
            meets: Vec::new(),
        };
        c.settle()?;
        Ok(c)
    }

    /// The index of the source it is in.
    fn source(&self) -> usize {
        self.source
    }

    /// The runs of the block it holds.
    fn runs(&self) -> &[Run] {
        match &self.mem {
            Some(b) => &b.runs,
            None if self.loaded => &self.packed.runs,
            None => &[],
        }
    }

    /// Whether run `i` of the block it holds, `r`, is one to stand on.
    fn run_ok(&self, i: usize, r: &Run) -> bool {
        let site_ok = match &self.src.kind {
            SourceKind::Segment { site, .. } => r.site == *site,
            SourceKind::Memory(_) => true,
        };
        site_ok
            && r.visitor >= self.range.lo
            && r.visitor <= self.range.hi
            && self.meets.get(i) != Some(&Meets::None)
    }

    /// Moves to the first valid run at or after the current position.
    fn settle(&mut self) -> Result<()> {
        // Mostly the run it stands on, of the segment block it holds.
        if self.loaded
            && let Some(r) = self.packed.runs.get(self.run)
            && self.run_ok(self.run, r)
        {
            self.cur = Some(r.visitor);
            self.cur_classes = self.run_unions.get(self.run).copied().unwrap_or(0);
            return Ok(());
        }
        self.settle_block()?;
        self.cur = self.runs().get(self.run).map(|r| r.visitor);
        self.cur_classes = self.run_unions.get(self.run).copied().unwrap_or(0);
        Ok(())
    }

    fn settle_block(&mut self) -> Result<()> {
        loop {
            let memory = matches!(self.src.kind, SourceKind::Memory(_));
            while let Some(&r) = self.runs().get(self.run) {
                if self.run_ok(self.run, &r) {
                    return Ok(());
                }
                if r.visitor > self.range.hi && memory {
                    break;
                }
                self.run += 1;
            }
            self.mem = None;
            self.loaded = false;
            self.meets.clear();
            let src = self.src;
            match &src.kind {
                SourceKind::Memory(b) => {
                    if self.next_block > 0 {
                        return Ok(());
                    }
                    self.next_block = 1;
                    self.mem = Some(Arc::clone(b));
                    self.run = 0;
                    self.run_unions.clear();
                    if let Some(table) = self.classes.get(self.source) {
                        let look = |id: &u32| table.get(*id as usize).copied().unwrap_or(0);
                        let names = b.dims[Dim::Name.index()].as_deref().unwrap_or_default();
                        self.run_unions.extend(b.runs.iter().map(|r| {
                            let (lo, hi) = (r.start as usize, (r.start + r.len) as usize);
                            names
                                .get(lo..hi)
                                .unwrap_or_default()
                                .iter()
                                .map(look)
                                .fold(0, |a, c| a | c)
                        }));
                    }
                }
                SourceKind::Segment {
                    reader,
                    site,
                    blocks,
                } => loop {
                    let Some(&bi) = blocks.get(self.next_block) else {
                        // On to the chain's next source (a chain of segments only).
                        let Some(&next) = self.chain.get(self.at + 1) else {
                            return Ok(());
                        };
                        self.at += 1;
                        self.source = next;
                        self.src = &self.sources[next];
                        self.next_block = 0;
                        break;
                    };
                    self.next_block += 1;
                    let m = &reader.footer.blocks[bi];
                    if (*site, self.range.hi) < m.first || (*site, self.range.lo) > m.last {
                        continue;
                    }
                    reader.packed_into(
                        bi,
                        &self.proj,
                        src.remap.prop_wanted.as_deref(),
                        &mut self.packed,
                        &mut self.buf,
                    )?;
                    self.loaded = true;
                    self.run = 0;
                    let (from, to) = self.times;
                    let (lo, hi) = self.packed.bounds();
                    if lo < from || hi > to {
                        // Cut by the range: its runs without a row in it are passed over
                        // here, not walked by the scan (a range of the last 30 days cuts
                        // a week, and most of its visitors have no event in the range).
                        self.packed
                            .runs_meeting_into(from, to, &mut self.meets)
                            .map_err(|e| corrupted(&reader.path, e.0))?;
                    }
                    self.run_unions.clear();
                    if let Some(table) = self.classes.get(self.source) {
                        self.packed.unions_into(
                            Dim::Name.index(),
                            table,
                            &mut self.run_unions,
                            &mut self.run_starts,
                        );
                    }
                    break;
                },
            }
        }
    }

    fn advance(&mut self) -> Result<()> {
        self.run += 1;
        self.settle()
    }

    /// Appends the current run's rows that pass the time range and filters.
    fn emit(&mut self, req: &ScanRequest, tl: &mut Timeline) -> Result<()> {
        if req.props && tl.prop_offsets.is_empty() {
            tl.prop_offsets.push(0);
        }
        if let Some(b) = &self.mem {
            let r = b.runs[self.run];
            let (lo, hi) = (r.start as usize, (r.start + r.len) as usize);
            let mut dims = [None; DIMS];
            for (d, ids) in dims.iter_mut().zip(&b.dims) {
                *d = ids.as_ref().map(|v| &v[lo..hi]);
            }
            let rows = Rows {
                ts: &b.ts[lo..hi],
                dims,
                prop_offsets: if req.props {
                    &b.prop_offsets[lo..=hi]
                } else {
                    &[]
                },
                prop_entries: &b.prop_entries,
                revenue: b.revenue.as_ref().map(|v| v.range(lo, hi)),
            };
            self.src.remap.emit_rows(req, &rows, tl);
            return Ok(());
        }
        if !self.loaded {
            return Ok(());
        }
        let SourceKind::Segment { reader, .. } = &self.src.kind else {
            return Ok(());
        };
        let rm = &self.src.remap;
        let p = &mut self.packed;
        let r = p.runs[self.run];
        let (lo, hi) = (r.start as usize, (r.start + r.len) as usize);
        let bad = |e: BadTimes| corrupted(&reader.path, e.0);
        // The run's property offsets (none when properties are not projected).
        let props = if req.props { lo..hi + 1 } else { 0..0 };
        self.scratch_ts.clear();
        if rm.allowed.is_empty() {
            // The common case: every row of the run is in range (no filter applies);
            // decode each column straight into the timeline.
            let n0 = tl.ts.len();
            p.ts_into(self.run, &mut tl.ts).map_err(bad)?;
            if tl.ts[n0] >= req.from && tl.ts[tl.ts.len() - 1] <= req.to {
                for d in &req.dims {
                    let di = d.index();
                    p.ids_into(di, self.run, rm.dims[di].as_deref(), &mut tl.dims[di]);
                }
                rm.copy_extras(
                    &p.prop_offsets[props],
                    &p.prop_entries,
                    p.revenue.as_ref().map(|v| v.range(lo, hi)),
                    tl,
                );
                return Ok(());
            }
            self.scratch_ts.extend_from_slice(&tl.ts[n0..]);
            tl.ts.truncate(n0);
        } else {
            p.ts_into(self.run, &mut self.scratch_ts).map_err(bad)?;
        }
        for (di, out) in self.scratch_dims.iter_mut().enumerate() {
            out.clear();
            if p.has_dim(di) {
                p.ids_into(di, self.run, None, out);
            }
        }
        let mut dims = [None; DIMS];
        for (di, d) in dims.iter_mut().enumerate() {
            if p.has_dim(di) {
                *d = Some(&self.scratch_dims[di][..]);
            }
        }
        let rows = Rows {
            ts: &self.scratch_ts,
            dims,
            prop_offsets: &p.prop_offsets[props],
            prop_entries: &p.prop_entries,
            revenue: p.revenue.as_ref().map(|v| v.range(lo, hi)),
        };
        rm.emit_rows(req, &rows, tl);
        Ok(())
    }
}

impl Remap {
    /// Appends `rows` that pass the time range and filters, in query ids.
    fn emit_rows(&self, req: &ScanRequest, rows: &Rows<'_>, tl: &mut Timeline) {
        let n = rows.ts.len();
        // The common case: every row is in range and no filter applies; copy column by
        // column.
        if self.allowed.is_empty() && rows.ts[0] >= req.from && rows.ts[n - 1] <= req.to {
            tl.ts.extend_from_slice(rows.ts);
            for d in &req.dims {
                let di = d.index();
                let Some(ids) = rows.dims[di] else { continue };
                match &self.dims[di] {
                    Some(map) => tl.dims[di].extend(ids.iter().map(|&id| map[id as usize])),
                    None => tl.dims[di].extend_from_slice(ids),
                }
            }
            self.copy_extras(rows.prop_offsets, rows.prop_entries, rows.revenue, tl);
            return;
        }
        let mut revenue = rows.revenue.map(|r| r.iter().peekable());
        for i in 0..n {
            // The row's revenue, taken whether or not the row is kept.
            let rev = revenue
                .as_mut()
                .map(|r| r.next_if(|&(at, _)| at == i).map(|(_, v)| v));
            let t = rows.ts[i];
            if t < req.from || t > req.to {
                continue;
            }
            if !self.allowed.iter().all(|(d, ok)| {
                rows.dims[*d].is_none_or(|ids| ok.get(ids[i] as usize).copied().unwrap_or(false))
            }) {
                continue;
            }
            tl.ts.push(t);
            for d in &req.dims {
                let di = d.index();
                let Some(ids) = rows.dims[di] else { continue };
                let id = ids[i];
                let q = match &self.dims[di] {
                    Some(map) => map[id as usize],
                    None => id,
                };
                tl.dims[di].push(q);
            }
            if !rows.prop_offsets.is_empty() {
                self.emit_props(rows.prop_offsets, rows.prop_entries, i, tl);
            }
            if let Some(rev) = rev {
                tl.revenue.push(self.remap_revenue(rev));
            }
        }
    }

    /// Appends a whole run's properties (`offsets`: its rows + 1, or empty when not
    /// projected) and revenue.
    fn copy_extras(
        &self,
        offsets: &[u32],
        entries: &[PropEntry],
        revenue: Option<RevenueRange<'_>>,
        tl: &mut Timeline,
    ) {
        if let (Some(&plo), Some(&phi)) = (offsets.first(), offsets.last()) {
            if self.emit_keys.is_none() {
                // Offsets shifted in one pass, entries remapped in another.
                let shift = tl.prop_entries.len() as u32;
                tl.prop_entries.extend(
                    entries[plo as usize..phi as usize]
                        .iter()
                        .map(|&p| self.remap_entry(p)),
                );
                tl.prop_offsets
                    .extend(offsets[1..].iter().map(|&o| o - plo + shift));
            } else {
                for i in 0..offsets.len() - 1 {
                    self.emit_props(offsets, entries, i, tl);
                }
            }
        }
        if let Some(rev) = revenue {
            let start = tl.revenue.len();
            tl.revenue.resize(start + rev.len(), None);
            for (at, x) in rev.iter() {
                tl.revenue[start + at] = self.remap_revenue(Some(x));
            }
        }
    }

    /// A segment's property entry in query ids.
    #[inline]
    fn remap_entry(&self, p: PropEntry) -> PropEntry {
        let key = self.prop_keys.as_ref().map_or(p.key, |m| m[p.key as usize]);
        let val = match (p.val, &self.prop_values) {
            (PropVal::Str(_), _) if self.erase_strings => PropVal::Str(0),
            (PropVal::Str(s), Some(m)) => PropVal::Str(m[s as usize]),
            (v, _) => v,
        };
        PropEntry { key, val }
    }

    /// A segment's revenue with its currency in query ids.
    #[inline]
    fn remap_revenue(&self, x: Option<(i64, u32)>) -> Option<(i64, u32)> {
        let cur = self.currencies.as_deref();
        x.map(|(m, c)| (m, cur.map_or(c, |t| t[c as usize])))
    }

    /// Row i's properties, `entries[offsets[i]..offsets[i + 1]]` (the wanted keys only,
    /// for the in-memory buffer).
    fn emit_props(&self, offsets: &[u32], entries: &[PropEntry], i: usize, tl: &mut Timeline) {
        let (lo, hi) = (offsets[i] as usize, offsets[i + 1] as usize);
        for &p in &entries[lo..hi] {
            let p = self.remap_entry(p);
            if self
                .emit_keys
                .as_ref()
                .is_some_and(|k| !k.get(p.key as usize).copied().unwrap_or(false))
            {
                continue;
            }
            tl.prop_entries.push(p);
        }
        tl.prop_offsets.push(tl.prop_entries.len() as u32);
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn meta(first: (u32, u64), last: (u32, u64), rows: u32) -> BlockMeta {
        BlockMeta {
            rows,
            min_ts: 0,
            max_ts: 0,
            first,
            last,
            cols: Vec::new(),
        }
    }

    /// Checks `split_weights` by its definition: contiguous ranges over the whole space,
    /// each cut the least id at which the rows reach their share.
    fn check_split(weights: &[Weight], n: usize) {
        let ranges = split_weights(weights, n);
        let total: f64 = weights.iter().map(|w| w.rows as f64).sum();
        let rows_to = |c: u64| weights.iter().map(|w| w.rows_to(c)).sum::<f64>();
        assert!(!ranges.is_empty() && ranges.len() <= n.max(1));
        assert_eq!(ranges[0].lo, 0);
        assert_eq!(ranges[ranges.len() - 1].hi, u64::MAX);
        for (k, pair) in ranges.windows(2).enumerate() {
            assert_eq!(pair[1].lo, pair[0].hi + 1, "contiguous");
            let cut = pair[0].hi;
            let share = total * (k + 1) as f64 / n as f64;
            assert!(rows_to(cut) >= share, "a cut reaches its share");
            assert!(
                cut == pair[0].lo || rows_to(cut - 1) < share,
                "a cut is the least id that does"
            );
        }
    }

    #[test]
    fn blocks_where_the_site_starts_count_its_share_only() {
        // Site 1 starts inside block 0 (after site 0's rows) and fills the next two.
        let q = u64::MAX / 4;
        let metas = [
            meta((0, 5), (1, q), 65_536),
            meta((1, q + 1), (1, 2 * q), 10_000),
            meta((1, 2 * q + 1), (1, 3 * q), 10_000),
        ];
        let mut w = Vec::new();
        site_weights(&metas, &[0, 1, 2], 1, &mut w);
        // A quarter of the ids at the site's density (10,000 rows a quarter).
        assert_eq!(
            w[0],
            Weight {
                lo: 0,
                hi: q,
                rows: 10_000
            }
        );
        assert_eq!(w[1].rows, 10_000);
        // Without a block of the site alone: half of it.
        let mut w = Vec::new();
        site_weights(&metas[..1], &[0], 1, &mut w);
        assert_eq!(w[0].rows, 32_768);
    }

    #[test]
    fn two_workers_get_half_the_rows_each() {
        // Seven segments, each of one block where the site starts and one of it alone.
        let h = u64::MAX / 2;
        let mut w = Vec::new();
        for s in 0..7u64 {
            let metas = [
                meta((0, s), (1, h - s), 65_536),
                meta((1, h - s + 1), (1, u64::MAX - s), 30_000),
            ];
            site_weights(&metas, &[0, 1], 1, &mut w);
        }
        let ranges = split_weights(&w, 2);
        let cut = ranges[0].hi;
        assert!(
            cut.abs_diff(h) < u64::MAX / 1000,
            "cut {cut:x} against {h:x}"
        );
        check_split(&w, 2);
    }

    proptest! {
        #[test]
        fn splits_meet_their_definition(
            blocks in prop::collection::vec((any::<u64>(), any::<u64>(), 0u64..100_000), 0..40),
            n in 1usize..6,
        ) {
            let weights: Vec<Weight> = blocks
                .iter()
                .map(|&(a, b, rows)| Weight { lo: a.min(b), hi: a.max(b), rows })
                .collect();
            check_split(&weights, n);
        }
    }
}
