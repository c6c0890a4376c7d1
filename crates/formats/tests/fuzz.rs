//! Arbitrary bytes never make a reader panic, and whatever record it yields validates.

mod common;

use cairn_formats::{CsvMapping, CsvReader, NdjsonReader};
use common::NOW;
use proptest::prelude::*;

/// Bytes that look a bit like the formats, and plain noise.
fn input() -> impl Strategy<Value = Vec<u8>> {
    let token = prop_oneof![
        Just(&b"{"[..]),
        Just(&b"}"[..]),
        Just(&b"\""[..]),
        Just(&b","[..]),
        Just(&b":"[..]),
        Just(&b"\n"[..]),
        Just(&b"\r\n"[..]),
        Just(&b"\"site\":\"a.example\","[..]),
        Just(&b"\"ts\":1700000000000,"[..]),
        Just(&b"\"visitor\":\"v\","[..]),
        Just(&b"\"name\":\"n\""[..]),
        Just(&b"\"props\":{\"k\":1}"[..]),
        Just(&b"a.example,1700000000000,v,pv"[..]),
        Just(&b"site,ts,visitor,name\n"[..]),
        Just(&b"null"[..]),
        Just(&b"\xff\xfe"[..]),
    ];
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..400),
        prop::collection::vec(token, 0..40).prop_map(|ts| ts.concat()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn ndjson_reader_never_panics(bytes in input(), threads in 1usize..3) {
        for item in NdjsonReader::new(&bytes[..], NOW).with_threads(threads).with_chunk_lines(3) {
            if let Ok(Ok(rec)) = item {
                prop_assert!(rec.validate(NOW).is_ok());
            }
        }
    }

    #[test]
    fn csv_reader_never_panics(bytes in input(), ignore in any::<bool>()) {
        let mut with_header = b"site,ts,visitor,name,props.x,url\n".to_vec();
        with_header.extend_from_slice(&bytes);
        let mapping = CsvMapping::new().ignore_unknown(ignore);
        for input in [&bytes[..], &with_header[..]] {
            if let Ok(reader) = CsvReader::new(input, &mapping, NOW) {
                for item in reader {
                    if let Ok(Ok(rec)) = item {
                        prop_assert!(rec.validate(NOW).is_ok());
                    }
                }
            }
        }
    }
}
