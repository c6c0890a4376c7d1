//! The NDJSON fast path gives exactly the model's answer: whenever it accepts a line, the
//! reference parser (`Record::from_json`) accepts it too and builds the same record, and
//! `parse_line` as a whole (fast path plus fallback) equals the reference on every line.

mod common;

use cairn_formats::{parse_line, parse_line_fast, parse_line_reference};
use common::{NOW, records};
use proptest::prelude::*;

fn check(line: &str) {
    let reference = parse_line_reference(line, NOW);
    if let Some(fast) = parse_line_fast(line, NOW) {
        assert_eq!(Ok(&fast), reference.as_ref(), "fast path differs on {line}");
    }
    let full = parse_line(line.as_bytes(), 7, NOW);
    assert_eq!(
        full.map_err(|e| e.error),
        reference,
        "parse_line differs on {line}"
    );
}

#[test]
fn generated_records_take_the_fast_path() {
    for r in records(3000, 11) {
        let line = r.to_json().to_string();
        assert_eq!(parse_line_fast(&line, NOW).as_ref(), Some(&r), "{line}");
        check(&line);
    }
}

#[test]
fn hand_picked_edges() {
    for line in [
        r#"{"site":"a","ts":1700000000000,"visitor":"x","name":"n","url":"https://h.example/p?utm_source=a&utm_medium=b","utm_source":"explicit"}"#,
        r#"{"site":"a","ts":1700000000000,"visitor":"x","name":"n","url":"https://h.example/p?q","path":"","host":"H"}"#,
        r#"{"site":"a","ts":1700000000000,"visitor":"x","name":"n","url":"ftp://nope"}"#,
        r#"{"site":"a","ts":1700000000000,"visitor":"x","name":"n","url":""}"#,
        r#"{"site":"a","ts":1700000000000,"visitor":"x","name":"n","url":null,"path":null}"#,
        r#"{"site":"a","ts":1700000000000,"visitor":"x","name":"n","name":"m"}"#,
        r#"{"site":"a","ts":1700000000000,"visitor":"x","name":"n","props":{"b":1,"a":2,"b":3}}"#,
        r#"{"site":"a","ts":1700000000000,"visitor":"x","name":"n","props":{"b":null}}"#,
        r#"{"site":"a","ts":1700000000000,"visitor":"x","name":"n","props":null,"revenue":null}"#,
        r#"{"site":"a","ts":1700000000000,"visitor":"x","name":"n","revenue":{"amount":"1e3","currency":"eur"}}"#,
        r#"{"site":"a","ts":1700000000000,"visitor":"x","name":"n","revenue":{"amount":" 12.5 ","currency":null}}"#,
        r#"{"site":"a","ts":1700000000000,"visitor":"x","name":"n","revenue":{"amount":1,"currency":"EUR","x":1}}"#,
        r#"{"site":"a","ts":1700000000000.0,"visitor":18446744073709551615,"name":"n"}"#,
        r#"{"site":"a","ts":1.7e12,"visitor":-1,"name":"n"}"#,
        r#"{"site":"a","ts":"2026-03-01T10:00:00+02:00","visitor":"","name":"n"}"#,
        r#"{"type":"identify","site":"a","ts":1700000000000,"visitor":"x","user":"u"}"#,
        r#"{"type":"identify","site":"a","ts":1700000000000,"visitor":"x","user":null}"#,
        r#"{"type":"identify","site":"a","ts":1700000000000,"visitor":"x","user":"u","name":null}"#,
        r#"{"type":"event","site":"a","ts":1700000000000,"visitor":"x","user":"u","name":"n"}"#,
        r#"{"type":null,"site":"a","ts":1700000000000,"visitor":"x","name":"n"}"#,
        r#"{"type":"other","site":"a","ts":1700000000000,"visitor":"x","name":"n"}"#,
        r#"{"site":"a","ts":1700000000000,"visitor":"x","n\u0061me":"esc\u00e9"}"#,
        r#"  {"site":"a","ts":1700000000000,"visitor":"x","name":"n"}  "#,
        r#"{"site":"a","ts":1700000000000,"visitor":"x","name":"n"} x"#,
        r#"{"site":"a","ts":1700000000000,"visitor":"x","name":"n","props":{"":1}}"#,
    ] {
        check(line);
    }
}

fn json_str(s: &str) -> String {
    serde_json::to_string(s).unwrap()
}

fn one_of(xs: &'static [&'static str]) -> BoxedStrategy<String> {
    prop::sample::select(xs).prop_map(str::to_string).boxed()
}

/// A dimension's value: mostly fine, sometimes not.
fn dim_value() -> BoxedStrategy<String> {
    prop_oneof![
        6 => one_of(&[r#""x""#, r#""ünï code""#, r#""/p/a""#, r#""DE""#]),
        1 => one_of(&[r#""""#, "null", "5", r#""\u0001""#, "[]"]),
        1 => "[a-z]{60,300}".prop_map(|s| json_str(&s)),
    ]
    .boxed()
}

fn prop_value() -> BoxedStrategy<String> {
    prop_oneof![
        one_of(&[
            r#""pro""#,
            r#""""#,
            "3",
            "-1.5",
            "1e-7",
            "true",
            "false",
            "12345678901234567890"
        ]),
        one_of(&["null", "[1]", "{}", r#""\u0007""#]),
    ]
    .boxed()
}

fn props() -> BoxedStrategy<String> {
    prop_oneof![
        8 => prop::collection::vec((one_of(&["a", "b", "plan", "ß", "k1", "k2", "k3", ""]), prop_value()), 0..8)
            .prop_map(|kv| {
                let body: Vec<String> = kv.iter().map(|(k, v)| format!("{}:{v}", json_str(k))).collect();
                format!("{{{}}}", body.join(","))
            }),
        1 => one_of(&["null", "5", r#""x""#]),
    ]
    .boxed()
}

fn revenue() -> BoxedStrategy<String> {
    let amount = one_of(&[
        "12.5",
        r#""12.50""#,
        r#"" 3 ""#,
        "0",
        "-7",
        "1e13",
        r#""x""#,
        "null",
        "999999999999.999",
    ]);
    let currency = one_of(&[r#""eur""#, r#""USD""#, r#""EURO""#, "null", r#""""#]);
    prop_oneof![
        6 => (prop::option::weighted(0.9, amount), prop::option::weighted(0.9, currency), prop::option::weighted(0.05, Just(()))).prop_map(|(a, c, x)| {
            let mut parts = Vec::new();
            if let Some(a) = a { parts.push(format!(r#""amount":{a}"#)); }
            if let Some(c) = c { parts.push(format!(r#""currency":{c}"#)); }
            if x.is_some() { parts.push(r#""other":1"#.to_string()); }
            format!("{{{}}}", parts.join(","))
        }),
        1 => one_of(&["null", "[]"]),
    ]
    .boxed()
}

fn field(key: &'static str) -> BoxedStrategy<String> {
    match key {
        "type" => one_of(&[r#""event""#, r#""identify""#, r#""identify""#, r#""identify""#, "null", r#""other""#, "1"]),
        "site" => prop_oneof![8 => one_of(&[r#""a.example""#, r#""ünï.example""#]), 1 => one_of(&[r#""""#, "null", r#""a b""#, "5"])].boxed(),
        "ts" => prop_oneof![
            8 => one_of(&["1700000000000", "1.7e12", r#""2026-03-01T10:00:00Z""#, r#""2026-03-01T11:00:00.250+01:00""#]),
            1 => one_of(&["-5", r#""bad""#, "null", "1e300", "1899999999999", "18446744073709551615", "1700000000000.5"]),
        ].boxed(),
        "visitor" => prop_oneof![
            8 => one_of(&[r#""v""#, r#""00000000000000ff""#, "255", r#""0000000000000FFx""#]),
            1 => one_of(&["-1", r#""""#, "1.5", "null"]),
        ].boxed(),
        "name" => prop_oneof![8 => one_of(&[r#""pageview""#, r#""käufe 🛒""#]), 1 => dim_value()].boxed(),
        "user" => prop_oneof![4 => one_of(&[r#""u1""#]), 1 => dim_value()].boxed(),
        "url" => prop_oneof![
            6 => one_of(&[r#""https://X.example/p/ä?utm_source=s%20t&utm_campaign=c#f""#, r#""/p?q=1&utm_term=t""#, r#""http://u@h.example""#]),
            1 => one_of(&[r#""""#, "null", r#""ftp://x""#, r#""https://""#, "3"]),
        ].boxed(),
        "props" => props(),
        "revenue" => revenue(),
        "bogus" => one_of(&["1", "null"]),
        _ => dim_value(),
    }
}

const TOP: &[(&str, f64)] = &[
    ("type", 0.3),
    ("site", 0.97),
    ("ts", 0.97),
    ("visitor", 0.97),
    ("name", 0.9),
    ("user", 0.3),
    ("url", 0.4),
    ("host", 0.2),
    ("path", 0.2),
    ("query", 0.2),
    ("utm_source", 0.2),
    ("utm_campaign", 0.1),
    ("referrer", 0.2),
    ("country", 0.2),
    ("props", 0.5),
    ("revenue", 0.3),
    ("bogus", 0.03),
];

const IDENTIFY: &[(&str, f64)] = &[
    ("type", 0.99),
    ("site", 0.97),
    ("ts", 0.97),
    ("visitor", 0.97),
    ("user", 0.95),
    ("name", 0.03),
    ("host", 0.03),
    ("url", 0.03),
    ("props", 0.03),
    ("revenue", 0.03),
    ("bogus", 0.02),
];

fn line() -> impl Strategy<Value = String> {
    prop_oneof![3 => line_of(TOP), 1 => line_of(IDENTIFY)]
}

fn line_of(keys: &'static [(&'static str, f64)]) -> impl Strategy<Value = String> {
    let fields: Vec<BoxedStrategy<Option<(String, String)>>> = keys
        .iter()
        .map(|(k, p)| {
            prop::option::weighted(*p, field(k))
                .prop_map(move |v| v.map(|v| (k.to_string(), v)))
                .boxed()
        })
        .collect();
    (
        fields,
        prop::option::weighted(0.03, (prop::sample::select(keys), any::<u8>())),
    )
        .prop_flat_map(|(fs, dup)| {
            let mut kv: Vec<(String, String)> = fs.into_iter().flatten().collect();
            if let (Some(((k, _), _)), false) = (dup, kv.is_empty()) {
                kv.push((k.to_string(), r#""dup""#.to_string()));
            }
            Just(kv).prop_shuffle()
        })
        .prop_map(|kv| {
            let body: Vec<String> = kv
                .iter()
                .map(|(k, v)| format!("{}:{v}", json_str(k)))
                .collect();
            format!("{{{}}}", body.join(","))
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]

    #[test]
    fn fast_path_agrees_with_the_model(line in line()) {
        check(&line);
    }
}
