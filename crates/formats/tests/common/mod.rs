//! Varied records for the format tests.
#![allow(dead_code)]

use cairn_model::{Dim, Event, Identify, PropValue, Record, Revenue};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The receiver's clock in the tests.
pub const NOW: i64 = 1_900_000_000_000;

const SITES: [&str; 4] = [
    "shop.example",
    "blog.example",
    "ünïcode.example",
    "a.b.c.example",
];
const NAMES: [&str; 7] = [
    "pageview",
    "signup",
    "purchase",
    "add_to_cart",
    "käufe 🛒",
    "video \"play\"",
    "comma,name",
];
const KEYS: [&str; 8] = [
    "plan",
    "seats",
    "trial",
    "größe",
    "emoji🙂",
    "a.b",
    "x y",
    "k",
];
const STRS: [&str; 8] = [
    "pro",
    "",
    "ünïcødé",
    "with, comma",
    "quote \" inside",
    "42",
    "true",
    "日本語テキスト",
];

fn pick<'a>(rng: &mut ChaCha8Rng, xs: &[&'a str]) -> &'a str {
    xs[rng.gen_range(0..xs.len())]
}

/// `n` varied records: events with every dimension now and then, properties of the three
/// types, revenue, identify records, unicode, quotes and commas.
pub fn records(n: usize, seed: u64) -> Vec<Record> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n).map(|_| record(&mut rng)).collect()
}

fn record(rng: &mut ChaCha8Rng) -> Record {
    let site = pick(rng, &SITES).to_string();
    let ts = rng.gen_range(1_600_000_000_000i64..1_800_000_000_000);
    let visitor: u64 = rng.r#gen();
    if rng.gen_bool(0.1) {
        let user = if rng.gen_bool(0.5) {
            format!("lead-{}", rng.gen_range(0..1000))
        } else {
            "Jürgen@例え.jp".to_string()
        };
        return Record::Identify(Identify {
            site,
            ts,
            visitor,
            user,
        });
    }
    let mut ev = Event::new(site, ts, visitor, pick(rng, &NAMES));
    for d in Dim::ALL {
        if d == Dim::Name || !rng.gen_bool(0.4) {
            continue;
        }
        let v = match d {
            Dim::Host => "shop.example".to_string(),
            Dim::Path => format!("/p/ñ/{}", rng.gen_range(0..100)),
            Dim::Query => "a=1&utm_source=x%20y".to_string(),
            Dim::Referrer => "https://www.google.com/search?q=café".to_string(),
            Dim::Country => "DE".to_string(),
            Dim::Language => "de-DE".to_string(),
            Dim::Device => "mobile".to_string(),
            Dim::User => format!("u{}", rng.gen_range(0..50)),
            _ => pick(rng, &STRS).to_string(),
        };
        ev.set(d, v);
    }
    let nprops = rng.gen_range(0..5);
    let mut keys: Vec<&str> = KEYS.to_vec();
    for i in 0..nprops {
        let j = rng.gen_range(i..keys.len());
        keys.swap(i, j);
    }
    let mut props: Vec<(String, PropValue)> = keys[..nprops]
        .iter()
        .map(|k| {
            let v = match rng.gen_range(0..3) {
                0 => PropValue::Str(pick(rng, &STRS).to_string()),
                1 => PropValue::Num(match rng.gen_range(0..4) {
                    0 => rng.gen_range(-1000..1000) as f64,
                    1 => rng.gen_range(-1e6..1e6),
                    2 => 1e-7,
                    _ => 12_345_678.9,
                }),
                _ => PropValue::Bool(rng.gen_bool(0.5)),
            };
            (k.to_string(), v)
        })
        .collect();
    // The model keeps properties in key order.
    props.sort_by(|a, b| a.0.cmp(&b.0));
    ev.props = props;
    if rng.gen_bool(0.2) {
        ev.revenue = Some(Revenue {
            micros: match rng.gen_range(0..3) {
                0 => rng.gen_range(0..100_000) * 10_000,
                1 => rng.gen_range(-100_000_000_000_000i64..100_000_000_000_000),
                _ => 12_500_000,
            },
            currency: ["EUR", "USD", "JPY"][rng.gen_range(0..3)].to_string(),
        });
    }
    Record::Event(ev)
}

/// Unwraps a reader's items, failing on fatal errors; returns the good records and the
/// bad rows.
pub fn collect<I, E>(it: I) -> (Vec<Record>, Vec<cairn_formats::RowError>)
where
    I: IntoIterator<Item = Result<cairn_formats::Row, E>>,
    E: std::fmt::Display,
{
    let mut good = Vec::new();
    let mut bad = Vec::new();
    for item in it {
        match item {
            Ok(Ok(r)) => good.push(r),
            Ok(Err(e)) => bad.push(e),
            Err(e) => panic!("fatal: {e}"),
        }
    }
    (good, bad)
}

/// `recs` as Parquet, in row groups of `row_group_rows`.
pub fn parquet_of(recs: &[Record], row_group_rows: usize) -> Vec<u8> {
    let mut w = cairn_formats::ParquetWriter::with_options(
        Vec::new(),
        cairn_formats::ParquetOptions {
            row_group_rows,
            ..cairn_formats::ParquetOptions::default()
        },
    )
    .unwrap();
    w.write(recs).unwrap();
    w.finish().unwrap()
}

/// `bytes` with `flips` bytes flipped at places drawn from the xorshift state `x`.
pub fn damaged(bytes: &[u8], flips: usize, x: &mut u64) -> Vec<u8> {
    let mut b = bytes.to_vec();
    for _ in 0..flips {
        *x ^= *x << 13;
        *x ^= *x >> 7;
        *x ^= *x << 17;
        let i = (*x as usize) % b.len();
        b[i] ^= (*x >> 32) as u8 | 1;
    }
    b
}

/// A batch written as Parquet by arrow's own writer (a file from elsewhere), with the
/// writer's default properties or `props`.
pub fn foreign_parquet(
    cols: Vec<(&str, arrow::array::ArrayRef)>,
    props: Option<parquet::file::properties::WriterProperties>,
) -> Vec<u8> {
    use arrow::datatypes::{Field, Schema};
    let schema = std::sync::Arc::new(Schema::new(
        cols.iter()
            .map(|(n, a)| Field::new(*n, a.data_type().clone(), true))
            .collect::<Vec<_>>(),
    ));
    let batch = arrow::array::RecordBatch::try_new(
        schema.clone(),
        cols.into_iter().map(|(_, a)| a).collect(),
    )
    .unwrap();
    let mut out = Vec::new();
    let mut w = parquet::arrow::ArrowWriter::try_new(&mut out, schema, props).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
    out
}
