//! Records written and read back through every format come back equal.

mod common;

use cairn_formats::{
    CsvMapping, CsvReader, CsvWriter, NdjsonChunk, NdjsonReader, NdjsonWriter, ParquetOptions,
    ParquetReader, ParquetWriter,
};
use cairn_model::Record;
use common::{NOW, collect, parquet_of, records};

#[test]
fn ndjson_round_trip() {
    let recs = records(5000, 1);
    let mut w = NdjsonWriter::new(Vec::new());
    w.write_all(&recs).unwrap();
    assert_eq!(w.written(), 5000);
    let bytes = w.finish().unwrap();
    for threads in [1, 2, 4] {
        let r = NdjsonReader::new(&bytes[..], NOW)
            .with_threads(threads)
            .with_chunk_lines(1000);
        let (good, bad) = collect(r);
        assert!(bad.is_empty(), "{bad:?}");
        assert_eq!(good.len(), recs.len());
        for (a, b) in good.iter().zip(&recs) {
            assert_eq!(a, b);
        }
    }
}

#[test]
fn parallel_chunk_parse_keeps_order_and_line_numbers() {
    let recs = records(3000, 2);
    let mut lines: Vec<String> = recs.iter().map(|r| r.to_json().to_string()).collect();
    lines[10] = "{broken".into();
    lines[2500] = String::new(); // blank: numbered, no row
    lines[2999] = r#"{"site":"a","ts":1,"visitor":"v","name":"n"}"#.into();
    let chunk = NdjsonChunk::from_lines(&lines, 1);
    assert_eq!(chunk.len(), 2999);
    let seq = chunk.parse(NOW, 1);
    let par = chunk.parse(NOW, 3);
    assert_eq!(seq, par);
    let bad: Vec<u64> = par
        .iter()
        .filter_map(|r| r.as_ref().err())
        .map(|e| e.line)
        .collect();
    assert_eq!(bad, vec![11, 3000]);
    let good: Vec<_> = par.into_iter().filter_map(Result::ok).collect();
    let expected: Vec<_> = recs
        .iter()
        .enumerate()
        .filter(|(i, _)| ![10, 2500, 2999].contains(i))
        .map(|(_, r)| r.clone())
        .collect();
    assert_eq!(good, expected);
}

#[test]
fn csv_round_trip() {
    let recs = records(5000, 3);
    let mut w = CsvWriter::new(Vec::new()).unwrap();
    w.write_all(&recs).unwrap();
    let bytes = w.finish().unwrap();
    let r = CsvReader::new(&bytes[..], &CsvMapping::new(), NOW).unwrap();
    let (good, bad) = collect(r);
    assert!(bad.is_empty(), "{bad:?}");
    assert_eq!(good.len(), recs.len());
    for (a, b) in good.iter().zip(&recs) {
        assert_eq!(a, b);
    }
}

#[test]
fn parquet_round_trip() {
    let recs = records(5000, 4);
    let mut w = ParquetWriter::with_options(
        Vec::new(),
        ParquetOptions {
            row_group_rows: 1500,
            ..ParquetOptions::default()
        },
    )
    .unwrap();
    w.write(&recs[..100]).unwrap();
    w.write(&recs[100..]).unwrap();
    let bytes = w.finish().unwrap();
    let r = ParquetReader::from_vec(bytes, NOW).unwrap();
    assert_eq!(r.num_rows(), 5000);
    let (good, bad) = collect(r);
    assert!(bad.is_empty(), "{bad:?}");
    assert_eq!(good.len(), recs.len());
    for (a, b) in good.iter().zip(&recs) {
        assert_eq!(a, b);
    }
}

#[test]
fn parquet_file_round_trip_and_default_options() {
    let recs = records(2000, 5);
    let dir = std::env::temp_dir().join(format!("cairn-formats-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("events.parquet");
    let f = std::fs::File::create(&path).unwrap();
    let mut w = ParquetWriter::new(f).unwrap();
    w.write(&recs).unwrap();
    w.finish().unwrap();
    let r = ParquetReader::new(std::fs::File::open(&path).unwrap(), NOW).unwrap();
    let (good, bad) = collect(r);
    std::fs::remove_dir_all(&dir).ok();
    assert!(bad.is_empty());
    assert_eq!(good, recs);
}

#[test]
fn empty_inputs() {
    let (good, bad) = collect(NdjsonReader::new(&b""[..], NOW));
    assert!(good.is_empty() && bad.is_empty());
    let (good, bad) = collect(NdjsonReader::new(&b"\n \n\r\n"[..], NOW));
    assert!(good.is_empty() && bad.is_empty());
    let (good, _) = collect(CsvReader::new(&b""[..], &CsvMapping::new(), NOW).unwrap());
    assert!(good.is_empty());
    let w = ParquetWriter::new(Vec::new()).unwrap();
    let bytes = w.finish().unwrap();
    let (good, _) = collect(ParquetReader::from_vec(bytes, NOW).unwrap());
    assert!(good.is_empty());
}

#[test]
fn ndjson_writer_bytes_equal_the_models_to_json() {
    let mut recs = records(3000, 6);
    // Unsorted and repeated properties, as code (not a parser) may build them.
    if let cairn_model::Record::Event(e) = &mut recs[0] {
        use cairn_model::PropValue;
        e.props = vec![
            ("z".into(), PropValue::Num(1.0)),
            ("a".into(), PropValue::Str("x".into())),
            ("z".into(), PropValue::Bool(true)),
            ("n".into(), PropValue::Num(f64::NAN)),
        ];
    }
    for r in &recs {
        let model = serde_json::to_string(&r.to_json()).unwrap();
        let ours = String::from_utf8(cairn_formats::record_json_bytes(r)).unwrap();
        assert_eq!(ours, model);
    }
}

/// Hardening item 11: text cells that a spreadsheet would run as a formula are written
/// with one leading `'` (OWASP), and read back exactly, quotes and all.
#[test]
fn item11_csv_cells_never_start_a_formula_and_round_trip() {
    use cairn_model::{Dim, Event, Record};
    let hostile = [
        "=HYPERLINK(\"https://evil.example\",\"click\")",
        "+1",
        "-2+3",
        "@SUM(A1)", // (tab and CR cannot start a stored value: events refuse control characters)
        "'=already quoted",
        "''+two quotes",
        "'plain quote",
        "plain",
    ];
    let recs: Vec<Record> = hostile
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let mut e = Event::new("s.example", 1_700_000_000_000 + i as i64, 7, "pageview");
            e.set(Dim::UtmCampaign, *v);
            Record::Event(e)
        })
        .collect();
    let mut w = CsvWriter::new(Vec::new()).unwrap();
    w.write_all(&recs).unwrap();
    let bytes = w.finish().unwrap();
    let mut rd = csv::Reader::from_reader(&bytes[..]);
    let col = rd
        .headers()
        .unwrap()
        .iter()
        .position(|h| h == "utm_campaign")
        .unwrap();
    for row in rd.records() {
        let cell = row.unwrap()[col].to_string();
        assert!(
            !cell.starts_with(['=', '+', '-', '@', '\t', '\r']),
            "a formula cell: {cell:?}"
        );
    }
    let (good, bad) = collect(CsvReader::new(&bytes[..], &CsvMapping::new(), NOW).unwrap());
    assert!(bad.is_empty(), "{bad:?}");
    assert_eq!(good, recs);
}

/// Batches of 8,192 rows are converted two at a time (one on a second thread): across
/// many batches and row groups every row comes back in file order, each bad one with
/// its own row number.
#[test]
fn parquet_rows_keep_file_order_and_row_numbers_across_batches() {
    let mut recs = records(40_000, 6);
    let bad_at = [0usize, 8191, 8192, 16_384, 20_000, 39_999];
    let future = NOW + 30 * 86_400_000;
    for &i in &bad_at {
        match &mut recs[i] {
            Record::Event(e) => e.ts = future,
            Record::Identify(r) => r.ts = future,
        }
    }
    let bytes = parquet_of(&recs, 7_000);
    for _ in 0..3 {
        let (good, bad) = collect(ParquetReader::from_vec(bytes.clone(), NOW).unwrap());
        let rows: Vec<u64> = bad.iter().map(|e| e.line).collect();
        let expected: Vec<u64> = bad_at.iter().map(|&i| i as u64 + 1).collect();
        assert_eq!(rows, expected);
        let kept: Vec<&Record> = recs
            .iter()
            .enumerate()
            .filter(|(i, _)| !bad_at.contains(i))
            .map(|(_, r)| r)
            .collect();
        assert_eq!(good.len(), kept.len());
        assert!(good.iter().zip(kept).all(|(a, b)| a == b));
    }
    // Dropped part way (a consumer that stops early): the second thread ends too.
    let mut r = ParquetReader::from_vec(bytes, NOW).unwrap();
    assert_eq!(r.by_ref().take(10_000).count(), 10_000);
    drop(r);
}
