//! A Parquet file read as pieces (chunks of events in columns, and rows) means exactly
//! what it means read row by row: the same good records in the same order, and the same
//! bad rows with the same errors. The row iterator is the reference.

mod common;

use std::sync::Arc;

use arrow::array::{
    ArrayRef, Float64Array, Int64Array, StringArray, TimestampMillisecondArray, UInt64Array,
};
use cairn_formats::{ParquetReader, Piece, RowError};
use cairn_model::Record;
use common::{NOW, collect, foreign_parquet, parquet_of, records};
use parquet::file::properties::WriterProperties;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The pieces of a file, flattened: good records, bad rows, and how many rows were
/// chunk rows (not records or bad rows).
fn flatten(bytes: Vec<u8>) -> (Vec<Record>, Vec<RowError>, usize) {
    let (mut good, mut bad, mut chunked) = (Vec::new(), Vec::new(), 0);
    for p in ParquetReader::from_vec(bytes, NOW).unwrap().pieces() {
        match p.expect("no fatal error") {
            Piece::Row(Ok(r)) => good.push(r),
            Piece::Row(Err(e)) => bad.push(e),
            Piece::Chunk(c) => {
                chunked += c.events.rows().len();
                assert_eq!(c.rows() as usize, c.events.len() + c.bad.len());
                good.extend(c.events.records());
                bad.extend(c.bad);
            }
        }
    }
    (good, bad, chunked)
}

fn same_as_rows(bytes: Vec<u8>) -> usize {
    let (good, bad) = collect(ParquetReader::from_vec(bytes.clone(), NOW).unwrap());
    let (pgood, pbad, chunked) = flatten(bytes);
    assert_eq!(pbad, bad);
    assert_eq!(pgood.len(), good.len());
    for (i, (a, b)) in pgood.iter().zip(&good).enumerate() {
        assert_eq!(a, b, "record {i}");
    }
    chunked
}

/// Cairn's own export, with bad rows of every kind the chunk checks, in row groups that
/// do and do not divide the read batch.
#[test]
fn cairn_files_read_as_chunks_mean_what_their_rows_mean() {
    for (seed, group) in [(1u64, 8192usize), (2, 3000), (3, 20_000)] {
        let mut recs = records(30_000, seed);
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        for _ in 0..300 {
            let i = rng.gen_range(0..recs.len());
            let Record::Event(e) = &mut recs[i] else {
                continue;
            };
            match rng.gen_range(0..7) {
                0 => e.ts = NOW + 3 * 86_400_000,
                1 => {
                    e.set(cairn_model::Dim::Name, "");
                }
                2 => {
                    e.set(cairn_model::Dim::Path, "/a\u{1}b");
                }
                3 => {
                    e.set(cairn_model::Dim::Device, "x".repeat(200));
                }
                4 => e.site = "a b".into(),
                5 => {
                    e.revenue = Some(cairn_model::Revenue {
                        micros: 1,
                        currency: "EURO".into(),
                    })
                }
                _ => e
                    .props
                    .push(("k\u{2}".into(), cairn_model::PropValue::Bool(true))),
            }
        }
        let bytes = parquet_of(&recs, group);
        let chunked = same_as_rows(bytes);
        assert!(
            chunked > recs.len() / 2,
            "{chunked} of {} rows chunked",
            recs.len()
        );
    }
}

/// Files from elsewhere: plain strings (no dictionary pages) or dictionaries, a url
/// column, odd types, malformed properties, negative visitor ids, nulls anywhere.
#[test]
fn foreign_files_read_as_chunks_mean_what_their_rows_mean() {
    for seed in 0..12u64 {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let n = rng.gen_range(1..20_000);
        let mut pick = |xs: &[Option<&str>]| -> Vec<Option<String>> {
            // Some columns are as often right as not; rows take either path.
            (0..n)
                .map(|_| xs[rng.gen_range(0..xs.len())].map(str::to_string))
                .collect()
        };
        let sites = pick(&[
            Some("a.example"),
            Some("a.example"),
            Some("a.example"),
            Some("b.example"),
            Some(""),
            None,
        ]);
        let kinds = pick(&[
            None,
            None,
            Some("event"),
            Some("event"),
            Some("identify"),
            Some("other"),
        ]);
        let names = pick(&[
            Some("pageview"),
            Some("pageview"),
            Some("signup"),
            Some("signup"),
            Some(""),
            None,
            Some("x\u{7f}"),
        ]);
        let users = pick(&[None, None, Some("u1"), Some("")]);
        let paths = pick(&[None, Some("/"), Some("/a"), Some("/b?c")]);
        let props = pick(&[
            None,
            None,
            None,
            Some("{}"),
            Some(r#"{"plan":"pro","n":3}"#),
            Some(r#"{"a":[1]}"#),
            Some("not json"),
            Some(r#"{"":1}"#),
            Some(r#"{"b":true,"a":"x"}"#),
        ]);
        let currencies = pick(&[
            None,
            None,
            None,
            None,
            Some("eur"),
            Some("USD"),
            Some("euro"),
        ]);
        let mut rng = ChaCha8Rng::seed_from_u64(seed + 100);
        let ts: Vec<Option<i64>> = (0..n)
            .map(|_| match rng.gen_range(0..20) {
                0 => None,
                1 => Some(NOW + 5 * 86_400_000),
                2 => Some(5),
                _ => Some(NOW - rng.gen_range(0..1_000_000_000)),
            })
            .collect();
        let amounts: Vec<Option<f64>> = (0..n)
            .map(|_| match rng.gen_range(0..20) {
                0 | 1 => Some(12.5),
                2 => Some(f64::NAN),
                3 => Some(1e13),
                _ => None,
            })
            .collect();
        let with_url = seed % 3 == 0;
        let mut cols: Vec<(&str, ArrayRef)> = vec![
            ("site", Arc::new(StringArray::from(sites))),
            ("type", Arc::new(StringArray::from(kinds))),
            ("name", Arc::new(StringArray::from(names))),
            ("user", Arc::new(StringArray::from(users))),
            ("path", Arc::new(StringArray::from(paths))),
            ("props", Arc::new(StringArray::from(props))),
            ("revenue_amount", Arc::new(Float64Array::from(amounts))),
            ("revenue_currency", Arc::new(StringArray::from(currencies))),
        ];
        if seed % 2 == 0 {
            cols.push(("ts", Arc::new(TimestampMillisecondArray::from(ts))));
            let v: Vec<Option<u64>> = (0..n).map(|_| Some(rng.gen_range(0..50))).collect();
            cols.push(("visitor", Arc::new(UInt64Array::from(v))));
        } else {
            cols.push(("ts", Arc::new(Int64Array::from(ts))));
            let v: Vec<Option<i64>> = (0..n)
                .map(|_| (!rng.gen_bool(0.02)).then(|| rng.gen_range(-5..50)))
                .collect();
            cols.push(("visitor", Arc::new(Int64Array::from(v))));
        }
        if with_url {
            cols.push(("url", Arc::new(StringArray::from(pick_urls(&mut rng, n)))));
        }
        let dictionary = seed % 4 < 2;
        let chunked = same_as_rows(foreign(cols, dictionary, rng.gen_range(500..12_000)));
        assert!(chunked > 0 || n < 100, "seed {seed}: no row chunked");
    }
}

fn pick_urls(rng: &mut ChaCha8Rng, n: usize) -> Vec<Option<String>> {
    (0..n)
        .map(|_| {
            rng.gen_bool(0.3)
                .then(|| "https://a.example/x?utm_source=n".into())
        })
        .collect()
}

/// A batch written by arrow's own writer, with or without dictionary pages.
fn foreign(cols: Vec<(&str, ArrayRef)>, dictionary: bool, group: usize) -> Vec<u8> {
    let props = WriterProperties::builder()
        .set_dictionary_enabled(dictionary)
        .set_max_row_group_row_count(Some(group))
        .build();
    foreign_parquet(cols, Some(props))
}
