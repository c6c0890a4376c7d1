//! Funnels the engine folds from visitor summaries: by visitor, closed, ordered or
//! strict, steps of event names, broken down (or not) by a dimension's first value. Most
//! visitors have no step-2 event and are read as summaries (level 1 when they have step
//! 1); the others as timelines. Random visitors over weeks (imported, flushed and
//! buffered; many events at the same millisecond), against the reference.

use cairn_model::query::*;
use cairn_model::{Dim, Record};
use proptest::prelude::*;

use crate::world::*;

const NAMES: [&str; 5] = [
    "pageview",
    "add_to_cart",
    "begin_checkout",
    "purchase",
    "search",
];

fn query(from: i64, to: i64, spec: FunnelSpec) -> Query {
    Query {
        site: SITE.into(),
        from: TimeSpec::Ms(T0 + from),
        to: TimeSpec::Ms(T0 + to),
        timezone: "UTC".into(),
        filters: Vec::new(),
        goals: Vec::new(),
        funnels: Default::default(),
        experiments: Default::default(),
        page_groups: Vec::new(),
        spend: Vec::new(),
        session_gap: Duration::from_ms(30 * MIN),
        analysis: Analysis::Funnel(spec),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(40))]

    #[test]
    fn summarised_funnels_match_the_reference(
        evs in prop::collection::vec(
            (1u64..30, 0i64..20, 0i64..3, 0usize..5, 0usize..3, 0usize..3), 1..300),
        imported in 0usize..300,
        flushed in 0usize..300,
        steps in prop::collection::vec((0usize..5, prop::option::of(0usize..5)), 2..5),
        strict in any::<bool>(),
        window in 0usize..3,
        within in any::<bool>(),
        breakdown in 0usize..5,
    ) {
        let records: Vec<Record> = evs
            .iter()
            .map(|&(v, day, t, n, d, c)| {
                let mut e = ev(v, day * DAY + t * 1000, NAMES[n]);
                e.set(Dim::Device, ["", "mobile", "desktop"][d]);
                e.set(Dim::Channel, ["", "Direct", "Search"][c]);
                Record::Event(e)
            })
            .collect();
        let w = World::build(records, imported, flushed, false);
        let steps: Vec<Step> = steps
            .iter()
            .map(|&(a, b)| match b {
                None => Step::event(NAMES[a]),
                Some(b) => Step {
                    any_of: vec![Step::event(NAMES[a]), Step::event(NAMES[b])],
                    ..Step::default()
                },
            })
            .collect();
        let mut spec = FunnelSpec::new(steps);
        if strict {
            spec.mode = FunnelMode::Strict;
        }
        spec.window = Duration::from_ms([1, 1000, 7 * DAY][window]);
        if within {
            spec.steps[1].within = Some(Duration::from_ms(2000));
        }
        spec.breakdown = match breakdown {
            0 => None,
            k => Some(Breakdown {
                by: Field::Dim(if k % 2 == 0 { Dim::Device } else { Dim::Channel }),
                limit: 5,
                attribution: if k <= 2 { Attribution::First } else { Attribution::Unit },
                step: None,
            }),
        };
        let q = query(2 * DAY, 15 * DAY, spec);
        for threads in [1, 2] {
            w.checked(&q, threads);
        }
    }
}
