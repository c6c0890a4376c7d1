//! Property test: random operations on the store, every read compared with the naive model.

use std::path::PathBuf;

use cairn_model::{Dim, Event, Identify, PropValue, Record, Revenue};
use cairn_store::{CompactionPolicy, Options, Store};
use proptest::prelude::*;

use crate::model::{BASE, DAY, Model, NOW, SITES, check};

const NAMES: [&str; 4] = ["pageview", "signup", "add_to_cart", "purchase"];
const PATHS: [&str; 4] = ["/", "/pricing", "/p/1", "/checkout"];
const USERS: [&str; 3] = ["ann@example.com", "bob", "lead-3"];

#[derive(Debug, Clone)]
enum Op {
    Append(Vec<Record>),
    Import(Vec<Record>),
    Flush,
    Compact,
    Reopen {
        clean: bool,
    },
    Erase {
        site: usize,
        visitor: Option<u64>,
        user: Option<usize>,
    },
    Retain {
        days: u32,
    },
    Snapshot,
}

/// Numbers of every stored form: arbitrary, integers, prices with cents, signed zero.
fn number() -> impl Strategy<Value = f64> {
    prop_oneof![
        -1000.0f64..1000.0,
        (-10_000_000i64..10_000_000).prop_map(|c| c as f64 / 100.0),
        (-1_000_000i64..1_000_000).prop_map(|x| x as f64),
        Just(-0.0),
        Just(1e300),
        Just(f64::MIN_POSITIVE),
    ]
}

fn event() -> impl Strategy<Value = Record> {
    (
        0..SITES.len(),
        1u64..14,
        // Coarse times over four days: many ties at equal timestamps.
        0i64..(4 * 24 * 12),
        0..NAMES.len(),
        0..PATHS.len(),
        prop::option::weighted(0.08, 0..USERS.len()),
        prop::option::weighted(0.3, (any::<bool>(), number(), "[a-c]{0,3}")),
        prop::option::weighted(0.1, (1i64..5_000_000_000, prop::bool::ANY)),
        prop::option::weighted(0.2, "[a-z]{1,3}"),
    )
        .prop_map(
            |(site, visitor, t, name, path, user, props, revenue, utm)| {
                let mut e = Event::new(SITES[site], BASE + t * 300_000, visitor, NAMES[name]);
                e.set(Dim::Path, PATHS[path]);
                e.set(Dim::Host, SITES[site]);
                if let Some(u) = user {
                    e.set(Dim::User, USERS[u]);
                }
                if let Some(c) = utm {
                    e.set(Dim::UtmCampaign, c);
                }
                if let Some((b, n, s)) = props {
                    e.props.push(("ok".into(), PropValue::Bool(b)));
                    e.props.push(("n".into(), PropValue::Num(n)));
                    if !s.is_empty() {
                        e.props.push(("s".into(), PropValue::Str(s)));
                    }
                }
                if let Some((micros, eur)) = revenue {
                    e.revenue = Some(Revenue {
                        micros,
                        currency: if eur { "EUR" } else { "USD" }.into(),
                    });
                }
                Record::Event(e)
            },
        )
}

fn record() -> impl Strategy<Value = Record> {
    prop_oneof![
        12 => event(),
        1 => (0..SITES.len(), 1u64..14, 0i64..(4 * 24 * 12), 0..USERS.len()).prop_map(
            |(s, v, t, u)| Record::Identify(Identify {
                site: SITES[s].into(),
                ts: BASE + t * 300_000,
                visitor: v,
                user: USERS[u].into(),
            })
        ),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        10 => prop::collection::vec(record(), 1..12).prop_map(Op::Append),
        3 => prop::collection::vec(record(), 1..40).prop_map(Op::Import),
        3 => Just(Op::Flush),
        2 => Just(Op::Compact),
        2 => any::<bool>().prop_map(|clean| Op::Reopen { clean }),
        1 => (0..SITES.len(), prop::option::of(1u64..14), prop::option::of(0..USERS.len()))
            .prop_map(|(site, visitor, user)| Op::Erase { site, visitor, user }),
        1 => (2u32..7).prop_map(|days| Op::Retain { days }),
        1 => Just(Op::Snapshot),
    ]
}

fn options() -> Options {
    Options {
        background: false,
        flush_rows: usize::MAX,
        // Small import batches: many segments per partition.
        import_batch: 9,
        ..Options::default()
    }
}

fn run(ops: Vec<Op>) {
    let root = tempfile::tempdir().unwrap();
    let mut dir: PathBuf = root.path().join("store0");
    let mut store = Some(Store::open(&dir, options()).unwrap());
    let mut model = Model::new();
    let mut snapshots = 0;
    for (i, op) in ops.into_iter().enumerate() {
        let s = store.as_ref().unwrap();
        match op {
            Op::Append(recs) => {
                s.append(&recs, NOW).unwrap();
                model.add(&recs);
            }
            Op::Import(recs) => {
                s.import(recs.clone()).unwrap();
                model.add(&recs);
            }
            Op::Flush => s.flush().unwrap(),
            Op::Compact => {
                let policy = CompactionPolicy {
                    target_rows: 60,
                    min_segments: 2,
                    ..CompactionPolicy::default()
                };
                s.compact(&policy).unwrap();
            }
            Op::Reopen { clean } => {
                let s = store.take().unwrap();
                if clean {
                    s.close().unwrap();
                } else {
                    drop(s);
                }
                let reopened = Store::open(&dir, options()).unwrap();
                assert_eq!(reopened.recovery().torn_tail, None);
                store = Some(reopened);
            }
            Op::Erase {
                site,
                visitor,
                user,
            } => {
                let vs: Vec<u64> = visitor.into_iter().collect();
                let us: Vec<String> = user.into_iter().map(|u| USERS[u].to_string()).collect();
                s.erase(SITES[site], &vs, &us).unwrap();
                model.erase(SITES[site], &vs, &us);
            }
            Op::Retain { days } => {
                s.retain_days(days, NOW).unwrap();
                let cutoff = (NOW.div_euclid(DAY) - i64::from(days) + 1) * DAY;
                model.retain(cutoff);
            }
            Op::Snapshot => {
                snapshots += 1;
                let dest = root.path().join(format!("store{snapshots}"));
                s.snapshot(&dest).unwrap();
                // Keep writing to the old store a little: the snapshot must not see it.
                let extra = Record::Identify(Identify {
                    site: SITES[0].into(),
                    ts: BASE,
                    visitor: 999,
                    user: "after-snapshot".into(),
                });
                s.append(std::slice::from_ref(&extra), NOW).unwrap();
                store.take().unwrap().close().unwrap();
                dir = dest;
                store = Some(Store::open(&dir, options()).unwrap());
            }
        }
        check(store.as_ref().unwrap(), &model, i as u64);
    }
    let s = store.take().unwrap();
    s.verify().unwrap();
    s.close().unwrap();
    let s = Store::open(&dir, options()).unwrap();
    check(&s, &model, 0);
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 48,
        max_shrink_iters: 2000,
        .. ProptestConfig::default()
    })]

    #[test]
    fn store_matches_naive_model(ops in prop::collection::vec(op(), 1..40)) {
        run(ops);
    }
}
