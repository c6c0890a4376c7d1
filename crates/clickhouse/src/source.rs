//! The analyses' timeline source over ClickHouse.
//!
//! A scan is three kinds of query, all over one fixed view: every row whose arrival
//! sequence is at most the highest stored when the scan began (`seq <= cap`), so events
//! inserted meanwhile are not seen, as the seam requires.
//!
//! 1. **Dictionaries**: the distinct values of each projected dimension, property key,
//!    string property value and currency in the range after the filters, and cut
//!    points of the visitor space (approximate quantiles) for the workers' ranges.
//! 2. **Links**: every visitor → user link of the site (the latest by time, then by
//!    arrival, from `identify` records and from events carrying a user), as the embedded
//!    store keeps them.
//! 3. **Timelines**, one query per worker's visitor range, `ORDER BY visitor, ts, seq`
//!    (the table's sorting key): rows stream in `RowBinary` and are cut into timelines
//!    as they arrive.

use std::collections::{BTreeMap, HashMap};

use cairn_model::Dim;
use cairn_timeline::{
    PropEntry, PropVal, QueryDict, ScanDicts, ScanRequest, SourceError, Timeline, TimelineScan,
    TimelineSource, VisitorRange,
};
use clickhouse::query::Query;
use rustc_hash::FxHashMap;

use crate::rowbinary::{Reader, Short};
use crate::schema::column;
use crate::{ClickHouse, Error};

/// The range of `DateTime64(3)` in milliseconds (1900-01-01 … 2299-12-31): a scan's
/// open ends are clamped to it.
const TS_MIN: i64 = -2_208_988_800_000;
const TS_MAX: i64 = 10_413_791_999_999;

/// Cut points computed for the workers' ranges.
const CUTS: usize = 64;

fn failed(e: impl std::fmt::Display) -> SourceError {
    SourceError::Failed(e.to_string().into())
}

impl From<Error> for SourceError {
    fn from(e: Error) -> SourceError {
        match e {
            Error::Client(
                clickhouse::error::Error::Network(_) | clickhouse::error::Error::TimedOut,
            ) => SourceError::Unreachable(e.to_string().into()),
            e => failed(e),
        }
    }
}

impl From<Short> for SourceError {
    fn from(_: Short) -> SourceError {
        failed("clickhouse: a row ended early")
    }
}

/// The `WHERE` clause of a request, with its parameters bound by [`bind`]; `cap` is
/// the expression of the highest sequence number seen.
fn where_clause(req: &ScanRequest, cap: &str) -> String {
    let mut w = format!(
        "site = {{site:String}} AND ts BETWEEN fromUnixTimestamp64Milli({{from:Int64}}, 'UTC') \
         AND fromUnixTimestamp64Milli({{to:Int64}}, 'UTC') AND seq <= {cap}"
    );
    for (i, (d, _)) in req.filters.iter().enumerate() {
        w.push_str(&format!(
            " AND has({{f{i}:Array(String)}}, `{}`)",
            column(*d)
        ));
    }
    w
}

fn bind(mut q: Query, req: &ScanRequest) -> Query {
    q = q
        .param("site", req.site.as_str())
        .param("from", req.from.clamp(TS_MIN, TS_MAX))
        .param("to", req.to.clamp(TS_MIN, TS_MAX));
    for (i, (_, vals)) in req.filters.iter().enumerate() {
        q = q.param(&format!("f{i}"), vals);
    }
    if let Some(keys) = &req.prop_keys {
        q = q.param("keys", keys);
    }
    q
}

/// A property map, restricted to the wanted keys.
fn prop_map(req: &ScanRequest, map: &str) -> String {
    match &req.prop_keys {
        Some(_) => format!("mapFilter((k, v) -> has({{keys:Array(String)}}, k), {map})"),
        None => map.to_string(),
    }
}

fn utf8(b: &[u8]) -> Result<&str, SourceError> {
    std::str::from_utf8(b).map_err(|_| failed("clickhouse: a string is not UTF-8"))
}

fn read_dict(r: &mut Reader, d: &mut QueryDict) -> Result<(), SourceError> {
    let n = r.varint()?;
    for _ in 0..n {
        d.intern(utf8(r.bytes()?)?);
    }
    Ok(())
}

impl ClickHouse {
    /// Runs a query and returns its whole `RowBinary` answer.
    fn fetch_all_bytes(&self, q: Query) -> Result<Vec<u8>, Error> {
        self.block(async move {
            let mut cur = q.fetch_bytes("RowBinary")?;
            let mut out = Vec::new();
            while let Some(chunk) = cur.next().await? {
                out.extend_from_slice(&chunk);
            }
            Ok(out)
        })
    }
}

struct ChScan<'a> {
    ch: &'a ClickHouse,
    req: ScanRequest,
    cap: u64,
    dicts: ScanDicts,
    cuts: Vec<u64>,
    links: HashMap<u64, String>,
    /// Visitor → the smallest visitor of its lead, for visitors stitched together.
    canonical: FxHashMap<u64, u64>,
}

impl TimelineSource for ClickHouse {
    fn scan(&self, req: ScanRequest) -> Result<Box<dyn TimelineScan + '_>, SourceError> {
        // One query: the cap (the fixed view), cut points, dictionaries and links.
        let mut cols = vec![
            "cap".to_string(),
            format!(
                "arrayMap(x -> toUInt64(least(greatest(x, 0), 1.8e19)), quantiles({})(visitor))",
                (1..CUTS)
                    .map(|i| format!("{}", i as f64 / CUTS as f64))
                    .collect::<Vec<_>>()
                    .join(",")
            ),
        ];
        for d in &req.dims {
            cols.push(format!("groupUniqArray(`{}`)", column(*d)));
        }
        if req.props {
            for m in ["props_str", "props_num", "props_bool"] {
                cols.push(format!(
                    "groupUniqArrayArray(mapKeys({}))",
                    prop_map(&req, m)
                ));
            }
            if req.prop_strings {
                cols.push(format!(
                    "groupUniqArrayArray(mapValues({}))",
                    prop_map(&req, "props_str")
                ));
            }
        }
        if req.revenue {
            cols.push("groupUniqArray(currency)".into());
        }
        // Every link of the site, the latest by time then arrival, as the embedded store
        // keeps them.
        cols.push(
            "(SELECT groupArray((visitor, lu)) FROM (SELECT visitor, argMax(u, (t, s)) AS lu FROM (\
               SELECT visitor, `user` AS u, ts AS t, seq AS s FROM events \
               WHERE site = {site:String} AND `user` != '' AND seq <= cap \
               UNION ALL SELECT visitor, `user`, ts, seq FROM identities \
               WHERE site = {site:String} AND seq <= cap) GROUP BY visitor))"
                .into(),
        );
        let sql = format!(
            "WITH toUInt64(ifNull((SELECT greatest(ifNull((SELECT max(seq) FROM events), 0), \
             ifNull((SELECT max(seq) FROM identities), 0))), 0)) AS cap \
             SELECT {} FROM events WHERE {}",
            cols.join(", "),
            where_clause(&req, "cap")
        );
        let bytes = self.fetch_all_bytes(bind(self.client().query(&sql), &req))?;
        let mut r = Reader::new(&bytes);
        let cap = r.u64()?;
        let n = r.varint()?;
        let mut cuts = Vec::with_capacity(n as usize);
        for _ in 0..n {
            cuts.push(r.u64()?);
        }
        cuts.sort_unstable();
        cuts.dedup();
        cuts.retain(|&c| c > 0);
        let mut dicts = ScanDicts::default();
        for d in &req.dims {
            read_dict(&mut r, &mut dicts.dims[d.index()])?;
        }
        if req.props {
            for _ in 0..3 {
                read_dict(&mut r, &mut dicts.prop_keys)?;
            }
            if req.prop_strings {
                read_dict(&mut r, &mut dicts.prop_values)?;
            }
        }
        if req.revenue {
            read_dict(&mut r, &mut dicts.currencies)?;
        }
        let mut links = HashMap::new();
        for _ in 0..r.varint()? {
            let v = r.u64()?;
            links.insert(v, utf8(r.bytes()?)?.to_string());
        }
        let mut canonical = FxHashMap::default();
        if req.stitch {
            let mut by_user: HashMap<&str, Vec<u64>> = HashMap::new();
            for (v, u) in &links {
                by_user.entry(u).or_default().push(*v);
            }
            for vs in by_user.values_mut().filter(|vs| vs.len() > 1) {
                vs.sort_unstable();
                for &v in vs.iter() {
                    canonical.insert(v, vs[0]);
                }
            }
        }
        Ok(Box::new(ChScan {
            ch: self,
            req,
            cap,
            dicts,
            cuts,
            links,
            canonical,
        }))
    }
}

/// Where a dimension's column is read into.
struct Cols {
    dims: Vec<Dim>,
    props: bool,
    revenue: bool,
}

impl ChScan<'_> {
    fn range_sql(&self) -> String {
        let req = &self.req;
        let mut cols = vec!["visitor".to_string(), "toUnixTimestamp64Milli(ts)".into()];
        for d in &req.dims {
            cols.push(format!("`{}`", column(*d)));
        }
        if req.props {
            for m in ["props_str", "props_num", "props_bool"] {
                cols.push(prop_map(req, m));
            }
        }
        if req.revenue {
            cols.push("revenue_micros".into());
            cols.push("currency".into());
        }
        format!(
            "SELECT {} FROM events WHERE {} AND visitor BETWEEN {{lo:UInt64}} AND {{hi:UInt64}} \
             ORDER BY visitor, ts, seq",
            cols.join(", "),
            where_clause(req, "{cap:UInt64}")
        )
    }
}

/// Skips one row; `Short` when it is not whole yet (a row cut by a chunk boundary is
/// read again from its start once the rest has come).
fn skip_row(r: &mut Reader, cols: &Cols) -> Result<(), Short> {
    r.u64()?;
    r.i64()?;
    for _ in &cols.dims {
        r.bytes()?;
    }
    if cols.props {
        for ty in 0..3u8 {
            for _ in 0..r.varint()? {
                r.bytes()?;
                match ty {
                    0 => {
                        r.bytes()?;
                    }
                    1 => {
                        r.f64()?;
                    }
                    _ => {
                        r.u8()?;
                    }
                }
            }
        }
    }
    if cols.revenue {
        if r.u8()? == 0 {
            r.i64()?;
        }
        r.bytes()?;
    }
    Ok(())
}

/// Appends the whole row at the start of `r` to `tl`.
fn append_row(
    r: &mut Reader,
    cols: &Cols,
    dicts: &ScanDicts,
    prop_strings: bool,
    tl: &mut Timeline,
) -> Result<(), SourceError> {
    let missing =
        || failed("clickhouse: a value outside the scan's dictionary (the data changed?)");
    r.u64()?;
    tl.ts.push(r.i64()?);
    for d in &cols.dims {
        let s = utf8(r.bytes()?)?;
        let id = dicts.dims[d.index()].id(s).ok_or_else(missing)?;
        tl.dims[d.index()].push(id);
    }
    if cols.props {
        if tl.prop_offsets.is_empty() {
            tl.prop_offsets.push(0);
        }
        for ty in 0..3u8 {
            let n = r.varint()?;
            for _ in 0..n {
                let key = dicts.prop_keys.id(utf8(r.bytes()?)?).ok_or_else(missing)?;
                let val = match ty {
                    0 => {
                        let s = utf8(r.bytes()?)?;
                        if prop_strings {
                            PropVal::Str(dicts.prop_values.id(s).ok_or_else(missing)?)
                        } else {
                            PropVal::Str(0)
                        }
                    }
                    1 => PropVal::Num(r.f64()?),
                    _ => PropVal::Bool(r.u8()? != 0),
                };
                tl.prop_entries.push(PropEntry { key, val });
            }
        }
        tl.prop_offsets.push(tl.prop_entries.len() as u32);
    }
    if cols.revenue {
        let micros = if r.u8()? == 0 { Some(r.i64()?) } else { None };
        let cur = utf8(r.bytes()?)?;
        tl.revenue.push(match micros {
            Some(m) => Some((m, dicts.currencies.id(cur).ok_or_else(missing)?)),
            None => None,
        });
    }
    Ok(())
}

impl TimelineScan for ChScan<'_> {
    fn request(&self) -> &ScanRequest {
        &self.req
    }

    fn dicts(&self) -> &ScanDicts {
        &self.dicts
    }

    fn user_of(&self, visitor: u64) -> Option<&str> {
        self.links.get(&visitor).map(String::as_str)
    }

    fn split(&self, n: usize) -> Vec<VisitorRange> {
        let n = n.max(1);
        let mut out = Vec::with_capacity(n);
        let mut lo = 0u64;
        for i in 1..n {
            let Some(&cut) = self.cuts.get(i * self.cuts.len() / n) else {
                break;
            };
            if cut > lo {
                out.push(VisitorRange { lo, hi: cut - 1 });
                lo = cut;
            }
        }
        out.push(VisitorRange { lo, hi: u64::MAX });
        out
    }

    fn scan_range(
        &self,
        range: VisitorRange,
        f: &mut dyn FnMut(&Timeline),
    ) -> Result<Vec<Timeline>, SourceError> {
        let q = bind(self.ch.client().query(&self.range_sql()), &self.req)
            .param("cap", self.cap)
            .param("lo", range.lo)
            .param("hi", range.hi);
        // The rows stream from the client's runtime through a bounded channel.
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<bytes::Bytes, Error>>(8);
        self.ch.runtime().spawn(async move {
            let mut cur = match q.fetch_bytes("RowBinary") {
                Ok(c) => c,
                Err(e) => {
                    let _ = tx.send(Err(e.into())).await;
                    return;
                }
            };
            loop {
                match cur.next().await {
                    Ok(Some(b)) => {
                        if tx.send(Ok(b)).await.is_err() {
                            return;
                        }
                    }
                    Ok(None) => return,
                    Err(e) => {
                        let _ = tx.send(Err(e.into())).await;
                        return;
                    }
                }
            }
        });
        let cols = Cols {
            dims: self.req.dims.clone(),
            props: self.req.props,
            revenue: self.req.revenue,
        };
        let mut deferred = Vec::new();
        let mut tl = Timeline::empty();
        let mut have = false;
        let mut pending: Vec<u8> = Vec::new();
        let mut emit = |tl: &Timeline, deferred: &mut Vec<Timeline>| {
            if self.canonical.contains_key(&tl.visitor) {
                deferred.push(tl.clone());
            } else {
                f(tl);
            }
        };
        while let Some(chunk) = rx.blocking_recv() {
            pending.extend_from_slice(&chunk?);
            let mut used = 0;
            loop {
                let mut check = Reader::new(&pending[used..]);
                if skip_row(&mut check, &cols).is_err() {
                    break;
                }
                let len = check.pos();
                let visitor = Reader::new(&pending[used..]).u64()?;
                if !have || visitor != tl.visitor {
                    if have {
                        emit(&tl, &mut deferred);
                    }
                    tl.clear(visitor);
                    have = true;
                }
                let mut r = Reader::new(&pending[used..used + len]);
                append_row(&mut r, &cols, &self.dicts, self.req.prop_strings, &mut tl)?;
                used += len;
            }
            pending.drain(..used);
        }
        if !pending.is_empty() {
            return Err(failed("clickhouse: the answer ended inside a row"));
        }
        if have {
            emit(&tl, &mut deferred);
        }
        Ok(deferred)
    }

    fn finish_stitched(&self, mut deferred: Vec<Timeline>, f: &mut dyn FnMut(&Timeline)) {
        deferred.sort_by_key(|t| t.visitor);
        let mut leads: BTreeMap<u64, Timeline> = BTreeMap::new();
        for tl in &deferred {
            let c = self
                .canonical
                .get(&tl.visitor)
                .copied()
                .unwrap_or(tl.visitor);
            let lead = leads.entry(c).or_insert_with(|| {
                let mut t = Timeline::empty();
                t.visitor = c;
                t
            });
            lead.append(tl, self.req.props);
        }
        for tl in leads.values_mut() {
            tl.sort_by_time();
            f(tl);
        }
    }
}
