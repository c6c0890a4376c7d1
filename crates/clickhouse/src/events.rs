//! Whole events read back from ClickHouse (`cairn export --clickhouse-url`).

use cairn_model::{Dim, Event, PropValue, Revenue};

use crate::rowbinary::{Reader, Short};
use crate::schema::column;
use crate::{ClickHouse, Error};

/// Why a row could not be read.
enum RowError {
    /// It is not whole yet.
    Short,
    /// It is not what the schema makes ClickHouse send.
    Bad(Error),
}

fn text(b: &[u8]) -> Result<String, RowError> {
    String::from_utf8(b.to_vec())
        .map_err(|_| RowError::Bad(Error::Protocol("a string is not UTF-8".into())))
}

fn short(_: Short) -> RowError {
    RowError::Short
}

/// Reads one whole event row.
fn read_event(r: &mut Reader) -> Result<Event, RowError> {
    let site = text(r.bytes().map_err(short)?)?;
    let visitor = r.u64().map_err(short)?;
    let ts = r.i64().map_err(short)?;
    let mut e = Event::new(site, ts, visitor, "");
    for d in Dim::ALL {
        e.set(d, text(r.bytes().map_err(short)?)?);
    }
    for ty in 0..3u8 {
        for _ in 0..r.varint().map_err(short)? {
            let k = text(r.bytes().map_err(short)?)?;
            let v = match ty {
                0 => PropValue::Str(text(r.bytes().map_err(short)?)?),
                1 => PropValue::Num(r.f64().map_err(short)?),
                _ => PropValue::Bool(r.u8().map_err(short)? != 0),
            };
            e.props.push((k, v));
        }
    }
    let micros = if r.u8().map_err(short)? == 0 {
        Some(r.i64().map_err(short)?)
    } else {
        None
    };
    let currency = text(r.bytes().map_err(short)?)?;
    e.revenue = micros.map(|micros| Revenue { micros, currency });
    Ok(e)
}

impl ClickHouse {
    /// Calls `f` with every event of `sites` (all: empty) in `[from, to)` (ms), site by
    /// site, visitor by visitor, in time order (ties in arrival order). Properties come
    /// back grouped by type (strings, numbers, booleans), each group in its order.
    pub fn for_each_event(
        &self,
        sites: &[String],
        from: i64,
        to: i64,
        mut f: impl FnMut(Event) -> Result<(), Error>,
    ) -> Result<u64, Error> {
        let dims: Vec<String> = Dim::ALL
            .iter()
            .map(|d| format!("`{}`", column(*d)))
            .collect();
        let sql = format!(
            "SELECT site, visitor, toUnixTimestamp64Milli(ts), {}, props_str, props_num, \
             props_bool, revenue_micros, currency FROM events \
             WHERE (empty({{sites:Array(String)}}) OR has({{sites:Array(String)}}, site)) \
             AND toUnixTimestamp64Milli(ts) >= {{from:Int64}} AND toUnixTimestamp64Milli(ts) < {{to:Int64}} \
             ORDER BY site, visitor, ts, seq",
            dims.join(", ")
        );
        let q = self
            .client()
            .query(&sql)
            .param("sites", sites)
            .param("from", from)
            .param("to", to);
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<bytes::Bytes, Error>>(8);
        self.runtime().spawn(async move {
            let mut cur = match q.fetch_bytes("RowBinary") {
                Ok(c) => c,
                Err(e) => {
                    let _ = tx.send(Err(e.into())).await;
                    return;
                }
            };
            loop {
                let next = cur.next().await;
                let done = !matches!(next, Ok(Some(_)));
                let item = match next {
                    Ok(Some(b)) => Ok(b),
                    Ok(None) => return,
                    Err(e) => Err(e.into()),
                };
                if tx.send(item).await.is_err() || done {
                    return;
                }
            }
        });
        let mut pending: Vec<u8> = Vec::new();
        let mut n = 0u64;
        while let Some(chunk) = rx.blocking_recv() {
            pending.extend_from_slice(&chunk?);
            let mut used = 0;
            loop {
                let mut r = Reader::new(&pending[used..]);
                match read_event(&mut r) {
                    Ok(e) => {
                        used += r.pos();
                        f(e)?;
                        n += 1;
                    }
                    // Not whole yet: wait for the next chunk.
                    Err(RowError::Short) => break,
                    Err(RowError::Bad(e)) => return Err(e),
                }
            }
            pending.drain(..used);
        }
        if !pending.is_empty() {
            return Err(Error::Protocol("the answer ended inside a row".into()));
        }
        Ok(n)
    }

    /// Every visitor → user link of a site (the latest by time, then arrival).
    pub fn user_links(&self, site: &str) -> Result<Vec<(u64, String, i64)>, Error> {
        let c = self.client().clone();
        let site = site.to_string();
        self.block(async move {
            c.query(
                "SELECT visitor, argMax(u, (t, s)), toUnixTimestamp64Milli(max(t)) FROM (\
                   SELECT visitor, `user` AS u, ts AS t, seq AS s FROM events \
                   WHERE site = {site:String} AND `user` != '' \
                   UNION ALL SELECT visitor, `user`, ts, seq FROM identities \
                   WHERE site = {site:String}) GROUP BY visitor ORDER BY visitor",
            )
            .param("site", site)
            .fetch_all::<(u64, String, i64)>()
            .await
        })
    }
}
