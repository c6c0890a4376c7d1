//! Bad rows are reported with their place and never lose the good rows around them;
//! bad files and mappings give clean errors.

mod common;

use std::sync::Arc;

use arrow::array::{ArrayRef, Float32Array, Int64Array, StringArray, TimestampMicrosecondArray};
use arrow::datatypes::{DataType, TimeUnit};
use cairn_formats::{
    CsvMapping, CsvOptions, CsvReader, CsvWriter, FormatError, MappingError, NdjsonReader,
    ParquetReadOptions, ParquetReader, ParquetWriter, PropKind, RowUnit, Target,
};
use cairn_model::{Dim, PropValue, Reason, Record, limits, visitor_id_from_str};
use common::{NOW, collect, damaged, foreign_parquet, parquet_of, records};

const GOOD: &str = r#"{"site":"a.example","ts":1700000000000,"visitor":"v1","name":"pageview"}"#;

fn event(r: &Record) -> &cairn_model::Event {
    match r {
        Record::Event(e) => e,
        other => panic!("not an event: {other:?}"),
    }
}

#[test]
fn ndjson_bad_lines_are_reported_and_reading_goes_on() {
    let input = format!(
        "{GOOD}\n{{not json\n\n{GOOD}\r\n{}\n{}\n[1,2]\n{GOOD}",
        r#"{"site":"a.example","ts":"yesterday","visitor":"v1","name":"x"}"#,
        r#"{"site":"a.example","ts":1700000000000,"visitor":"v1","name":7}"#,
    );
    let (good, bad) = collect(NdjsonReader::new(input.as_bytes(), NOW).with_threads(2));
    assert_eq!(good.len(), 3);
    let places: Vec<(u64, &str)> = bad
        .iter()
        .map(|e| (e.line, e.error.field.as_str()))
        .collect();
    assert_eq!(
        places,
        vec![(2, "record"), (5, "ts"), (6, "name"), (7, "record")]
    );
    assert!(matches!(bad[0].error.reason, Reason::BadJson(_)));
    assert_eq!(bad[1].error.reason, Reason::BadTimestamp);
    assert!(matches!(bad[2].error.reason, Reason::WrongType { .. }));
    assert_eq!(bad[0].unit, RowUnit::Line);
    assert!(
        bad[1].to_string().starts_with("line 5: field `ts`"),
        "{}",
        bad[1]
    );
}

#[test]
fn ndjson_oversized_line_is_a_row_error_not_a_fatal_one() {
    let huge = format!(
        r#"{{"site":"a.example","ts":1700000000000,"visitor":"v1","name":"{}"}}"#,
        "x".repeat(limits::RECORD_BYTES_MAX * 3)
    );
    let just = "y".repeat(limits::RECORD_BYTES_MAX + 1);
    let input = format!("{GOOD}\n{huge}\n{GOOD}\n{just}\n{GOOD}\n{huge}");
    let (good, bad) = collect(NdjsonReader::new(input.as_bytes(), NOW).with_threads(1));
    assert_eq!(good.len(), 3);
    assert_eq!(
        bad.iter().map(|e| e.line).collect::<Vec<_>>(),
        vec![2, 4, 6]
    );
    for e in &bad {
        assert_eq!(
            e.error.reason,
            Reason::RecordTooLarge {
                max: limits::RECORD_BYTES_MAX
            }
        );
    }
}

#[test]
fn ndjson_invalid_utf8_and_bom() {
    let mut input = b"\xEF\xBB\xBF".to_vec();
    input.extend_from_slice(GOOD.as_bytes());
    input.extend_from_slice(b"\n{\"site\":\"a\xff\"}\n");
    input.extend_from_slice(GOOD.as_bytes());
    let (good, bad) = collect(NdjsonReader::new(&input[..], NOW));
    assert_eq!(good.len(), 2);
    assert_eq!(bad.len(), 1);
    assert_eq!(bad[0].line, 2);
    assert!(bad[0].to_string().contains("UTF-8"), "{}", bad[0]);
}

/// A reader that fails after its data.
struct FailAfter<'a>(&'a [u8]);

impl std::io::Read for FailAfter<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.0.is_empty() {
            return Err(std::io::Error::other("disk on fire"));
        }
        let n = buf.len().min(self.0.len());
        buf[..n].copy_from_slice(&self.0[..n]);
        self.0 = &self.0[n..];
        Ok(n)
    }
}

#[test]
fn ndjson_io_error_comes_after_the_good_rows() {
    let input = format!("{GOOD}\n{GOOD}\n");
    let r = NdjsonReader::new(std::io::BufReader::new(FailAfter(input.as_bytes())), NOW);
    let items: Vec<_> = r.collect();
    assert_eq!(items.len(), 3);
    assert!(matches!(items[0], Ok(Ok(_))));
    assert!(matches!(items[1], Ok(Ok(_))));
    assert!(matches!(items[2], Err(FormatError::Io(_))));
}

#[test]
fn csv_mapping_spec() {
    let csv = "Timestamp,Client,Event,Page URL,Amount,Currency,Plan,Seats,Trial,Notes\n\
               2026-03-01 10:00:00,c1,purchase,https://shop.example/buy?utm_source=mail,12.50,eur,pro,3,TRUE,whatever\n\
               1772359200000,c2,pageview,/home,,,,,,\n";
    let m = CsvMapping::parse(
        "Timestamp=ts, Client=visitor, Event=name, Page URL=url, Amount=revenue_amount, \
         Currency=revenue_currency, Plan=props.plan, Seats=props.seats, Trial=props.trial:bool, \
         Notes=-, @site=shop.example",
    )
    .unwrap();
    let (good, bad) = collect(CsvReader::new(csv.as_bytes(), &m, NOW).unwrap());
    assert!(bad.is_empty(), "{bad:?}");
    assert_eq!(good.len(), 2);
    let e = event(&good[0]);
    assert_eq!(e.site, "shop.example");
    assert_eq!(e.ts, 1_772_359_200_000);
    assert_eq!(e.visitor, visitor_id_from_str("c1"));
    assert_eq!(e.dim(Dim::Path), "/buy");
    assert_eq!(e.dim(Dim::UtmSource), "mail");
    assert_eq!(e.revenue.as_ref().unwrap().micros, 12_500_000);
    assert_eq!(e.revenue.as_ref().unwrap().currency, "EUR");
    assert_eq!(e.prop("plan"), Some(&PropValue::Str("pro".into())));
    assert_eq!(e.prop("seats"), Some(&PropValue::Num(3.0)));
    assert_eq!(e.prop("trial"), Some(&PropValue::Bool(true)));
    let e = event(&good[1]);
    assert_eq!(e.ts, 1_772_359_200_000);
    assert!(e.props.is_empty() && e.revenue.is_none());
}

#[test]
fn csv_field_errors_name_the_column() {
    let csv = "When,Who,What,Amount,Currency,Seats\n\
               2026-03-01T10:00:00Z,c1,pageview,,,\n\
               not a time,c1,pageview,,,\n\
               2026-03-01T10:00:00Z,c1,buy,12,EURO,\n\
               2026-03-01T10:00:00Z,c1,buy,,,many\n\
               2026-03-01T10:00:00Z,c1\n\
               2026-03-01T10:00:00Z,,pageview,,,\n\
               2026-03-01T10:00:00Z,c1,pageview,,,\n";
    let m = CsvMapping::new()
        .map("When", Target::Ts)
        .map("Who", Target::Visitor)
        .map("What", Target::Dim(Dim::Name))
        .map("Amount", Target::RevenueAmount)
        .map("Currency", Target::RevenueCurrency)
        .map(
            "Seats",
            Target::Prop {
                key: "seats".into(),
                kind: PropKind::Number,
            },
        )
        .constant(Target::Site, "shop.example");
    let (good, bad) = collect(CsvReader::new(csv.as_bytes(), &m, NOW).unwrap());
    assert_eq!(good.len(), 2);
    let got: Vec<(u64, Option<&str>, &str)> = bad
        .iter()
        .map(|e| (e.line, e.column.as_deref(), e.error.field.as_str()))
        .collect();
    assert_eq!(
        got,
        vec![
            (3, Some("When"), "ts"),
            (4, Some("Currency"), "revenue.currency"),
            (5, Some("Seats"), "props.seats"),
            (6, None, "record"),
            (7, Some("Who"), "visitor"),
        ]
    );
    assert_eq!(
        bad[0].to_string(),
        "line 3, column `When`: field `ts`: must be milliseconds since the Unix epoch or an RFC 3339 time such as 2026-03-01T10:00:00Z"
    );
}

#[test]
fn csv_unknown_header_is_an_error_unless_ignored() {
    let csv = "site,ts,visitor,name,Colour\na.example,1700000000000,v,pv,red\n";
    let err = CsvReader::new(csv.as_bytes(), &CsvMapping::new(), NOW)
        .err()
        .expect("unknown column");
    assert!(
        matches!(&err, FormatError::Mapping(MappingError::UnknownColumn { column }) if column == "Colour"),
        "{err}"
    );
    assert!(err.to_string().contains("Colour=-"), "{err}");
    for m in ["Colour=-", "*=-", "Colour=props.colour"] {
        let m = CsvMapping::parse(m).unwrap();
        let (good, bad) = collect(CsvReader::new(csv.as_bytes(), &m, NOW).unwrap());
        assert_eq!((good.len(), bad.len()), (1, 0));
    }
}

#[test]
fn csv_mapping_spec_errors() {
    let e = CsvMapping::parse("Timestamp=ts,Client=vistor").unwrap_err();
    assert_eq!(
        e,
        MappingError::BadTarget {
            target: "vistor".into()
        }
    );
    assert!(e.to_string().contains("not a Cairn field"));
    assert!(matches!(
        CsvMapping::parse("Timestamp").unwrap_err(),
        MappingError::BadEntry { .. }
    ));
    assert!(matches!(
        CsvMapping::parse("=ts").unwrap_err(),
        MappingError::BadEntry { .. }
    ));
    assert!(matches!(
        CsvMapping::parse("A=ts,A=name").unwrap_err(),
        MappingError::DuplicateColumn { .. }
    ));
    assert!(matches!(
        CsvMapping::parse("@props.n:number=abc").unwrap_err(),
        MappingError::BadConstant { .. }
    ));
    assert!(matches!(
        CsvMapping::parse("A=props.").unwrap_err(),
        MappingError::BadTarget { .. }
    ));
    // Columns named by the mapping must exist, and two columns cannot feed one field.
    let csv = "site,ts,visitor,name,When\n";
    let m = CsvMapping::parse("Missing=ts").unwrap();
    assert!(matches!(
        CsvReader::new(csv.as_bytes(), &m, NOW).err(),
        Some(FormatError::Mapping(MappingError::MissingColumn { .. }))
    ));
    let m = CsvMapping::parse("When=ts").unwrap();
    assert!(matches!(
        CsvReader::new(csv.as_bytes(), &m, NOW).err(),
        Some(FormatError::Mapping(MappingError::DuplicateTarget { .. }))
    ));
    // Typed targets round-trip through their spelling.
    for t in [
        "props.a:number",
        "props.b",
        "utm_source",
        "-",
        "revenue_amount",
    ] {
        assert_eq!(t.parse::<Target>().unwrap().to_string(), t);
    }
}

#[test]
fn csv_identity_is_case_insensitive_for_fixed_names_and_semicolons_work() {
    let csv = "Site;TS;Visitor;Name;Country;props.plan\na.example;1700000000000;v;pv;DE;pro\n";
    let r = CsvReader::with_options(
        csv.as_bytes(),
        &CsvMapping::new(),
        NOW,
        CsvOptions {
            delimiter: b';',
            ..CsvOptions::default()
        },
    )
    .unwrap();
    let (good, bad) = collect(r);
    assert!(bad.is_empty(), "{bad:?}");
    assert_eq!(event(&good[0]).dim(Dim::Country), "DE");
    assert_eq!(
        event(&good[0]).prop("plan"),
        Some(&PropValue::Str("pro".into()))
    );
}

#[test]
fn csv_auto_typed_props() {
    let csv = "site,ts,visitor,name,props.a,props.b,props.c,props.d,props.e\n\
               a.example,1700000000000,v,pv,42,-1.5e3,false,007,NaN\n";
    let (good, _) = collect(CsvReader::new(csv.as_bytes(), &CsvMapping::new(), NOW).unwrap());
    let e = event(&good[0]);
    assert_eq!(e.prop("a"), Some(&PropValue::Num(42.0)));
    assert_eq!(e.prop("b"), Some(&PropValue::Num(-1500.0)));
    assert_eq!(e.prop("c"), Some(&PropValue::Bool(false)));
    assert_eq!(e.prop("d"), Some(&PropValue::Str("007".into())));
    assert_eq!(e.prop("e"), Some(&PropValue::Str("NaN".into())));
}

#[test]
fn csv_unclosed_quote_is_bounded() {
    let mut csv = String::from("site,ts,visitor,name\na.example,1700000000000,v,pv\n\"");
    csv.push_str(&"z".repeat(3 << 20));
    let items: Vec<_> = CsvReader::new(csv.as_bytes(), &CsvMapping::new(), NOW)
        .unwrap()
        .collect();
    assert_eq!(items.len(), 2);
    assert!(matches!(items[0], Ok(Ok(_))));
    assert!(
        matches!(items[1], Err(FormatError::RowTooLarge { .. })),
        "{:?}",
        items[1]
    );
}

#[test]
fn csv_written_file_has_the_documented_header() {
    let w = CsvWriter::new(Vec::new()).unwrap();
    let out = String::from_utf8(w.finish().unwrap()).unwrap();
    assert!(out.starts_with("type,site,ts,visitor,name,user,host,path,"));
    assert!(
        out.trim_end()
            .ends_with("revenue_amount,revenue_currency,props")
    );
}

fn parquet_bytes(n: usize) -> Vec<u8> {
    let mut w = ParquetWriter::new(Vec::new()).unwrap();
    w.write(&records(n, 9)).unwrap();
    w.finish().unwrap()
}

#[test]
fn truncated_parquet_is_a_clean_error() {
    let bytes = parquet_bytes(3000);
    for cut in [
        0,
        3,
        4,
        100,
        bytes.len() / 2,
        bytes.len() - 9,
        bytes.len() - 1,
    ] {
        let t = bytes[..cut].to_vec();
        match ParquetReader::from_vec(t, NOW) {
            Err(e) => assert!(e.to_string().contains("Parquet"), "{e}"),
            Ok(r) => {
                let errs = r.filter(Result::is_err).count();
                assert!(errs > 0, "cut at {cut} read without error");
            }
        }
    }
    let not = b"PAR1 definitely not parquet PAR1".to_vec();
    assert!(ParquetReader::from_vec(not, NOW).is_err());
}

#[test]
fn corrupted_parquet_never_panics() {
    let bytes = parquet_bytes(2000);
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for round in 0..200 {
        let b = damaged(&bytes, 1 + round % 4, &mut x);
        let res = std::panic::catch_unwind(|| {
            if let Ok(r) = ParquetReader::from_vec(b, NOW) {
                for item in r {
                    if item.is_err() {
                        break;
                    }
                }
            }
        });
        assert!(res.is_ok(), "panic on corruption round {round}");
    }
}

/// Damage in a file of many batches and row groups (converted two at a time): never a
/// panic, and nothing after the first fatal error.
#[test]
fn corrupted_parquet_of_many_batches_ends_at_its_first_error() {
    let bytes = parquet_of(&records(40_000, 10), 6_000);
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut fatal = 0;
    for _ in 0..40 {
        let b = damaged(&bytes, 3, &mut x);
        let res = std::panic::catch_unwind(|| {
            let Ok(r) = ParquetReader::from_vec(b, NOW) else {
                return 0;
            };
            let items: Vec<_> = r.collect();
            let first = items.iter().position(Result::is_err);
            if let Some(p) = first {
                assert_eq!(p, items.len() - 1, "items after a fatal error");
            }
            usize::from(first.is_some())
        });
        fatal += res.expect("no panic on damage");
    }
    assert!(fatal > 0, "no damage was found at all");
}

#[test]
fn parquet_reader_is_tolerant_of_other_schemas() {
    let bytes = foreign_parquet(
        vec![
            ("site", Arc::new(StringArray::from(vec!["a.example"; 4]))),
            (
                "ts",
                Arc::new(
                    TimestampMicrosecondArray::from(vec![
                        1_700_000_000_000_123,
                        1_700_000_000_000_000,
                        5,
                        1_700_000_000_000_000,
                    ])
                    .with_timezone("Europe/Paris"),
                ),
            ),
            (
                "visitor",
                Arc::new(StringArray::from(vec!["v1", "00000000000000ff", "v3", ""])),
            ),
            (
                "name",
                Arc::new(StringArray::from(vec![
                    Some("pageview"),
                    Some("buy"),
                    Some("x"),
                    Some("y"),
                ])),
            ),
            (
                "revenue_amount",
                Arc::new(Float32Array::from(vec![None, Some(2.5), None, None])),
            ),
            (
                "revenue_currency",
                Arc::new(StringArray::from(vec![None, Some("usd"), None, None])),
            ),
        ],
        None,
    );
    let (good, bad) = collect(ParquetReader::from_vec(bytes, NOW).unwrap());
    assert_eq!(good.len(), 2);
    let e = event(&good[0]);
    assert_eq!(e.ts, 1_700_000_000_000);
    assert_eq!(e.visitor, visitor_id_from_str("v1"));
    let e = event(&good[1]);
    assert_eq!(e.visitor, 255);
    assert_eq!(e.revenue.as_ref().unwrap().micros, 2_500_000);
    assert_eq!(e.revenue.as_ref().unwrap().currency, "USD");
    let got: Vec<_> = bad
        .iter()
        .map(|e| (e.line, e.unit, e.column.as_deref(), e.error.field.as_str()))
        .collect();
    assert_eq!(
        got,
        vec![
            (3, RowUnit::Row, Some("ts"), "ts"),
            (4, RowUnit::Row, Some("visitor"), "visitor")
        ]
    );
    assert!(
        bad[0].to_string().starts_with("row 3, column `ts`"),
        "{}",
        bad[0]
    );
}

#[test]
fn parquet_int64_ts_and_signed_visitor_and_bad_props() {
    let bytes = foreign_parquet(
        vec![
            ("site", Arc::new(StringArray::from(vec!["a.example"; 3]))),
            ("ts", Arc::new(Int64Array::from(vec![1_700_000_000_000; 3]))),
            ("visitor", Arc::new(Int64Array::from(vec![7, -1, 9]))),
            ("name", Arc::new(StringArray::from(vec!["pv"; 3]))),
            (
                "props",
                Arc::new(StringArray::from(vec![
                    Some(r#"{"b":1,"a":"x"}"#),
                    None,
                    Some("{oops"),
                ])),
            ),
        ],
        None,
    );
    let (good, bad) = collect(ParquetReader::from_vec(bytes, NOW).unwrap());
    assert_eq!(good.len(), 1);
    let e = event(&good[0]);
    assert_eq!(e.visitor, 7);
    assert_eq!(
        e.props,
        vec![
            ("a".to_string(), PropValue::Str("x".into())),
            ("b".to_string(), PropValue::Num(1.0))
        ]
    );
    let got: Vec<_> = bad
        .iter()
        .map(|e| (e.line, e.error.field.as_str()))
        .collect();
    assert_eq!(got, vec![(2, "visitor"), (3, "props")]);
}

#[test]
fn parquet_schema_errors() {
    let base = || -> Vec<(&'static str, ArrayRef)> {
        vec![
            ("site", Arc::new(StringArray::from(vec!["a.example"]))),
            ("ts", Arc::new(Int64Array::from(vec![1_700_000_000_000]))),
            ("visitor", Arc::new(Int64Array::from(vec![1]))),
            ("name", Arc::new(StringArray::from(vec!["pv"]))),
        ]
    };
    let mut cols = base();
    cols.push(("colour", Arc::new(StringArray::from(vec!["red"]))));
    let bytes = foreign_parquet(cols, None);
    let err = ParquetReader::from_vec(bytes.clone(), NOW).err().unwrap();
    assert!(
        matches!(&err, FormatError::Schema { column, .. } if column == "colour"),
        "{err}"
    );
    let r = ParquetReader::with_options(
        bytes::Bytes::from(bytes),
        NOW,
        ParquetReadOptions {
            ignore_unknown_columns: true,
        },
    )
    .unwrap();
    assert_eq!(collect(r).0.len(), 1);

    let mut cols = base();
    cols[3] = ("name", Arc::new(Int64Array::from(vec![3])));
    let err = ParquetReader::from_vec(foreign_parquet(cols, None), NOW)
        .err()
        .unwrap();
    assert!(
        matches!(&err, FormatError::Schema { column, .. } if column == "name"),
        "{err}"
    );

    let mut cols = base();
    cols.remove(2);
    let err = ParquetReader::from_vec(foreign_parquet(cols, None), NOW)
        .err()
        .unwrap();
    assert!(
        matches!(&err, FormatError::Schema { column, .. } if column == "visitor"),
        "{err}"
    );
}

#[test]
fn parquet_export_schema_is_as_documented() {
    let s = cairn_formats::parquet_schema();
    assert_eq!(
        s.field_with_name("ts").unwrap().data_type(),
        &DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()))
    );
    assert_eq!(
        s.field_with_name("visitor").unwrap().data_type(),
        &DataType::UInt64
    );
    assert_eq!(s.fields().len(), 4 + Dim::ALL.len() + 3);
    // The file carries the same schema.
    let bytes = parquet_bytes(10);
    let b = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
        bytes::Bytes::from(bytes),
    )
    .unwrap();
    assert_eq!(b.schema().fields(), s.fields());
}

#[test]
fn csv_identify_rows_and_unknown_fields_for_identify() {
    let csv = "type,site,ts,visitor,user,name\n\
               identify,a.example,1700000000000,v,lead-1,\n\
               identify,a.example,1700000000000,v,lead-1,oops\n";
    let (good, bad) = collect(CsvReader::new(csv.as_bytes(), &CsvMapping::new(), NOW).unwrap());
    assert!(matches!(&good[0], Record::Identify(i) if i.user == "lead-1"));
    assert_eq!(bad.len(), 1);
    assert_eq!(bad[0].column.as_deref(), Some("name"));
    assert_eq!(bad[0].error.reason, Reason::UnknownField);
}
