//! The ClickHouse backend against a server named by `CAIRN_CLICKHOUSE_URL`
//! (`scripts/test` starts `scripts/chfront`, chDB behind ClickHouse's HTTP interface; a
//! real server works too). Without it these tests say so and pass, unless
//! `CAIRN_CLICKHOUSE_REQUIRED` is set (as in `scripts/test`). Every analysis on
//! ClickHouse is checked by the conformance suite (`crates/conformance`); these tests
//! check what is ClickHouse's own: migrations, idempotent inserts, hostile strings.

use std::collections::HashMap;

use cairn_clickhouse::{ClickHouse, Config};
use cairn_engine::RunOptions;
use cairn_model::query::Query;
use cairn_model::{Dim, Event, PropValue, Record, Revenue};
use cairn_timeline::memory::MemorySource;
use cairn_timeline::{ScanRequest, TimelineSource};

const T0: i64 = 1_772_409_600_000;

/// A fresh database, dropped by the caller.
fn connect(name: &str) -> Option<ClickHouse> {
    let Ok(url) = std::env::var("CAIRN_CLICKHOUSE_URL") else {
        assert!(
            std::env::var_os("CAIRN_CLICKHOUSE_REQUIRED").is_none(),
            "CAIRN_CLICKHOUSE_REQUIRED is set but CAIRN_CLICKHOUSE_URL is not"
        );
        eprintln!("skipped: CAIRN_CLICKHOUSE_URL is not set");
        return None;
    };
    let config = Config {
        url,
        database: format!("cairn_it_{name}_{}", std::process::id()),
        ..Config::default()
    };
    Some(ClickHouse::connect(config).unwrap())
}

fn ev(site: &str, visitor: u64, offset: i64, name: &str) -> Event {
    Event::new(site, T0 + offset, visitor, name)
}

#[test]
fn migrations_are_recorded_once() {
    let Some(ch) = connect("migrations") else {
        return;
    };
    assert_eq!(ch.schema_version().unwrap(), 1);
    assert_eq!(ch.migrate().unwrap(), 0, "nothing left to apply");
    // A second connection finds the schema in place.
    let again = ClickHouse::connect(ch.config().clone()).unwrap();
    assert_eq!(again.migrate().unwrap(), 0);
    again.drop_database().unwrap();
}

#[test]
fn a_batch_sent_again_with_its_token_is_stored_once() {
    let Some(ch) = connect("dedup") else { return };
    let batch: Vec<Record> = (0..50)
        .map(|i| Record::Event(ev("a.example", i % 7, i as i64 * 1000, "pageview")))
        .collect();
    ch.insert(&batch, 1, "batch-1").unwrap();
    ch.insert(&batch, 1, "batch-1").unwrap();
    assert_eq!(ch.count_events(Some("a.example")).unwrap(), 50);
    ch.insert(&batch, 51, "batch-2").unwrap();
    assert_eq!(
        ch.count_events(None).unwrap(),
        100,
        "another token is another batch"
    );
    assert_eq!(ch.max_seq().unwrap(), 100);
    ch.drop_database().unwrap();
}

/// Strings that break SQL text, escapes, formats and parsers.
const HOSTILE: &[&str] = &[
    "'); DROP TABLE events; --",
    "\\' OR 1=1 --",
    "{site:String}",
    "a\tb\nc\rd",
    "\\N",
    "\u{0}nul",
    "`backtick`",
    "\"quoted\"",
    "ünï©ødé 🚀",
    "?",
    "$1",
];

#[test]
fn hostile_strings_in_events_and_queries_are_data_not_sql() {
    let Some(ch) = connect("hostile") else { return };
    let site = "shop.example";
    let mut events = Vec::new();
    for (i, h) in HOSTILE.iter().enumerate() {
        let v = i as u64 + 1;
        let mut e = ev(site, v, 0, h);
        for d in Dim::ALL.into_iter().filter(|d| *d != Dim::Name) {
            e.set(d, *h);
        }
        e.props.push((h.to_string(), PropValue::Str(h.to_string())));
        e.props
            .push((format!("n{h}"), PropValue::Num(i as f64 + 0.5)));
        e.props.push((format!("b{h}"), PropValue::Bool(i % 2 == 0)));
        e.revenue = Some(Revenue {
            micros: 1_000_000 * v as i64,
            currency: "EUR".into(),
        });
        events.push(e);
        let mut p = ev(site, v, 60_000, "pageview");
        p.set(Dim::Path, *h);
        events.push(p);
    }
    // Another site whose name is hostile: never mixed in.
    events.push(ev(HOSTILE[0], 99, 0, "pageview"));
    let records: Vec<Record> = events.iter().cloned().map(Record::Event).collect();
    ch.insert(&records, 1, "hostile").unwrap();
    let memory = MemorySource::new(events, HashMap::new());

    // Scans with hostile filters and property keys.
    for h in HOSTILE {
        let mut req = ScanRequest::new(site).dims(&[Dim::Name, Dim::Path, Dim::Device]);
        req.props = true;
        req.revenue = true;
        req.filters = vec![(Dim::Path, vec![h.to_string(), "/x".into()])];
        req.prop_keys = Some(vec![h.to_string(), format!("n{h}")]);
        assert_eq!(dump(&ch, &req), dump(&memory, &req), "filter {h:?}");
    }
    let req = ScanRequest::new(HOSTILE[0]).dims(&[Dim::Name]);
    assert_eq!(dump(&ch, &req), dump(&memory, &req));
    assert_eq!(dump(&ch, &req).len(), 1, "the hostile site's one event");

    // Query specs whose goals, filters and breakdowns carry hostile strings.
    for h in HOSTILE {
        let spec = serde_json::json!({
            "site": site, "from": T0 - 86_400_000, "to": T0 + 86_400_000,
            "filters": [{"field": "device", "value": h}],
            "goals": [
                {"name": "Hostile", "type": "event", "event": h, "conversion": "macro", "value": "revenue"},
                {"name": "Visited", "type": "destination", "path": h}
            ],
            "analysis": {"type": "goals", "units": ["visitor"], "breakdown": {"by": "path", "limit": 20}}
        });
        let q = Query::from_json(&spec.to_string()).unwrap();
        let plan = q.plan().unwrap();
        let opts = RunOptions::default();
        let want = cairn_engine::run(&memory, &plan, &opts).unwrap();
        let got = cairn_engine::run(&ch, &plan, &opts).unwrap();
        assert_eq!(got, want, "goals with {h:?}");
        let spec = serde_json::json!({
            "site": site, "from": T0 - 86_400_000, "to": T0 + 86_400_000,
            "analysis": {"type": "funnel", "steps": [{"event": h}, {"event": "pageview"}],
                         "breakdown": {"by": "utm_campaign"}}
        });
        let plan = Query::from_json(&spec.to_string()).unwrap().plan().unwrap();
        let want = cairn_engine::run(&memory, &plan, &opts).unwrap();
        let got = cairn_engine::run(&ch, &plan, &opts).unwrap();
        assert_eq!(got, want, "funnel with {h:?}");
    }
    ch.drop_database().unwrap();
}

/// Every visitor's events as text, in scan order.
fn dump(src: &dyn TimelineSource, req: &ScanRequest) -> Vec<String> {
    let scan = src.scan(req.clone()).unwrap();
    let mut out = Vec::new();
    scan.for_each(|t| {
        for i in 0..t.len() {
            let mut s = format!("v{} {}", t.visitor, t.ts[i]);
            for d in &req.dims {
                s.push_str(&format!(" {:?}", scan.dict(*d).get(t.dim(*d)[i])));
            }
            if req.props {
                let mut props: Vec<String> = t
                    .props(i)
                    .iter()
                    .map(|p| {
                        let v = match p.val {
                            cairn_timeline::PropVal::Str(id) => {
                                format!("{:?}", scan.prop_values().get(id))
                            }
                            other => format!("{other:?}"),
                        };
                        format!("{:?}={v}", scan.prop_keys().get(p.key))
                    })
                    .collect();
                props.sort();
                s.push_str(&format!(" {props:?}"));
            }
            if req.revenue {
                let r = t.revenue[i].map(|(m, c)| (m, scan.currencies().get(c).to_string()));
                s.push_str(&format!(" {r:?}"));
            }
            out.push(s);
        }
    })
    .unwrap();
    out
}
