//! Funnels the engine folds from visitor summaries: by visitor, closed, ordered or
//! strict, steps of event names, broken down (or not) by a dimension's first value. Most
//! visitors have no step-2 event and are read as summaries (level 1 when they have step
//! 1); the others as timelines. Random visitors over weeks (imported, flushed and
//! buffered; many events at the same millisecond), against the reference.

use cairn_model::Dim;
use cairn_model::query::*;
use proptest::prelude::*;

use crate::world::*;

const NAMES: [&str; 5] = [
    "pageview",
    "add_to_cart",
    "begin_checkout",
    "purchase",
    "search",
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(40))]

    #[test]
    fn summarised_funnels_match_the_reference(
        evs in arb_visits(NAMES.len()),
        imported in 0usize..300,
        flushed in 0usize..300,
        steps in prop::collection::vec((0usize..5, prop::option::of(0usize..5)), 2..5),
        strict in any::<bool>(),
        window in 0usize..3,
        within in any::<bool>(),
        breakdown in 0usize..5,
    ) {
        let w = World::build(visits(&evs, &NAMES), imported, flushed, false);
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
        let q = query_of(Vec::new(), 2 * DAY, 15 * DAY, Analysis::Funnel(spec));
        for threads in [1, 2] {
            w.checked(&q, threads);
        }
    }
}
