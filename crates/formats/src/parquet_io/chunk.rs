//! A decoded batch as an [`EventChunk`]: each string column's distinct values checked
//! and copied once, each row as ids. A row the chunk cannot hold for certain (an
//! identify record, a `url` cell, a value that fails a check, properties the fast path
//! does not parse) goes through [`Batch::row`], the row iterator's path, and lands in the
//! chunk as a record or among the bad rows; so the pieces mean what the rows do.

use arrow::array::Array;
use cairn_model::{ChunkRow, Dim, EventChunk};

use super::{AmountCol, Batch, Chunk, Strs, TsCol, VisitorCol, fast_micros, fast_props};

/// A value the chunk cannot hold: its row takes the record path.
const SLOW: u32 = u32::MAX;
/// A null cell.
const NULL: u32 = u32::MAX - 1;
/// A dictionary value not met yet in this batch.
const UNSEEN: u32 = u32::MAX - 2;

/// Each row's chunk id for a dictionary column: `add` is asked once per distinct value
/// used (`None` makes it [`SLOW`]); a null is [`NULL`]. `None` for a plain column.
fn column_ids(
    col: &Strs,
    len: usize,
    mut add: impl FnMut(&str) -> Option<u32>,
) -> Option<Vec<u32>> {
    let Strs::Dict { keys, values } = col else {
        return None;
    };
    let mut seen = vec![UNSEEN; values.len()];
    let ids = (0..len)
        .map(|i| {
            if keys.is_null(i) {
                return NULL;
            }
            let Some(slot) = usize::try_from(keys.value(i))
                .ok()
                .and_then(|k| seen.get_mut(k))
            else {
                return SLOW;
            };
            if *slot == UNSEEN {
                let k = keys.value(i) as usize;
                *slot = match values.is_valid(k) {
                    true => add(values.value(k)).unwrap_or(SLOW),
                    false => NULL,
                };
            }
            *slot
        })
        .collect();
    Some(ids)
}

/// The columns of a batch as chunk ids; `None` for an absent column (all null).
struct Ids {
    site: Vec<u32>,
    kind: Option<Vec<u32>>,
    dims: Vec<Option<Vec<u32>>>,
    props: Option<Vec<u32>>,
    currency: Option<Vec<u32>>,
}

fn at(ids: &Option<Vec<u32>>, i: usize) -> u32 {
    ids.as_ref().map_or(NULL, |v| v[i])
}

impl Batch {
    /// The batch as a chunk: `None` unless every string column is dictionary-encoded
    /// and times, visitor ids and amounts are numbers (a batch of another shape is read
    /// as rows).
    pub(super) fn chunk(&self, first: u64, now_ms: i64) -> Option<Chunk> {
        let is_dict = |c: &Option<Strs>| c.as_ref().is_none_or(|s| matches!(s, Strs::Dict { .. }));
        let columns_fit = is_dict(&self.kind)
            && is_dict(&self.url)
            && self.dims.iter().all(is_dict)
            && is_dict(&self.props)
            && is_dict(&self.currency)
            && matches!(self.ts, TsCol::Int(..))
            && matches!(self.visitor, VisitorCol::U64(_) | VisitorCol::I64(_))
            && !matches!(self.amount, AmountCol::Str(_));
        if !columns_fit {
            return None;
        }
        let n = self.len;
        let mut c = EventChunk::with_capacity(n);
        let site = column_ids(self.site.as_ref()?, n, |v| c.add_site(v))?;
        let mut dims = Vec::with_capacity(Dim::ALL.len());
        for (&d, col) in Dim::ALL.iter().zip(&self.dims) {
            dims.push(match col {
                Some(s) => Some(column_ids(s, n, |v| c.add_value(d, v))?),
                None => None,
            });
        }
        let mut ids_of =
            |col: &Option<Strs>, add: &mut dyn FnMut(&mut EventChunk, &str) -> Option<u32>| {
                match col {
                    Some(s) => column_ids(s, n, |v| add(&mut c, v)).map(Some),
                    None => Some(None),
                }
            };
        let props = ids_of(&self.props, &mut |c, v| c.add_props(&fast_props(v)?))?;
        let currency = ids_of(&self.currency, &mut |c, v| c.add_currency(v))?;
        // Only events are rows; an identify record (or any other type) is a record.
        let kind = ids_of(&self.kind, &mut |_, v| (v == "event").then_some(0))?;
        let ids = Ids {
            site,
            kind,
            dims,
            props,
            currency,
        };
        let mut bad = Vec::new();
        for i in 0..n {
            if let Some(row) = self.chunk_row(i, &ids)
                && c.push(row, now_ms)
            {
                continue;
            }
            match self.row(i, first + i as u64, now_ms) {
                Ok(rec) => c.push_record(rec),
                Err(e) => bad.push(e),
            }
        }
        Some(Chunk { events: c, bad })
    }

    /// Row i as a chunk row, or `None` if it must take the record path. What
    /// [`Batch::fast_row`] builds, in ids.
    fn chunk_row(&self, i: usize, ids: &Ids) -> Option<ChunkRow> {
        let site = ids.site[i];
        if site >= NULL || !matches!(at(&ids.kind, i), NULL | 0) {
            return None;
        }
        if self.url.as_ref().is_some_and(|u| u.get(i).is_some()) {
            return None;
        }
        let ts = self.ts_ms(i)?;
        let visitor = match &self.visitor {
            VisitorCol::U64(a) if !a.is_null(i) => a.value(i),
            VisitorCol::I64(a) if !a.is_null(i) => u64::try_from(a.value(i)).ok()?,
            _ => return None,
        };
        let mut dims = [0u32; Dim::ALL.len()];
        for (out, col) in dims.iter_mut().zip(&ids.dims) {
            *out = match at(col, i) {
                NULL => 0,
                SLOW => return None,
                id => id,
            };
        }
        let props = match at(&ids.props, i) {
            NULL => 0,
            SLOW => return None,
            id => id,
        };
        let amount = match &self.amount {
            AmountCol::F64(a) if !a.is_null(i) => Some(a.value(i)),
            _ => None,
        };
        let revenue = match (amount, at(&ids.currency, i)) {
            (None, NULL) => None,
            (Some(f), cur) if cur < NULL => Some((fast_micros(f)?, cur)),
            _ => return None,
        };
        Some(ChunkRow {
            site,
            ts,
            visitor,
            dims,
            props,
            revenue,
        })
    }
}
