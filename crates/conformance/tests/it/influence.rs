//! The hand-worked influence example of `docs/influence.md`, number for number:
//! precedence (a video watched after the purchase is not credited) and counting.

use cairn_engine::RunOptions;
use cairn_model::Dim;
use cairn_model::query::result::{InfluenceResult, QueryResult};
use cairn_model::query::*;

use crate::world::*;

/// Seven visitors, one session each (minutes from T0):
/// v1 video 0, purchase 1 · v2 video 0 · v3 purchase 0, video 1 · v4 page ·
/// v5 video 0, purchase 3 · v6 purchase 0 · v7 page. Visitors 1–4 on desktop.
fn shop() -> World {
    let mut evs = vec![
        ev(1, 0, "video_play"),
        ev(1, MIN, "purchase"),
        ev(2, 0, "video_play"),
        ev(3, 0, "purchase"),
        ev(3, MIN, "video_play"),
        pv(4, 0, "/"),
        ev(5, 0, "video_play"),
        ev(5, 3 * MIN, "purchase"),
        ev(6, 0, "purchase"),
        pv(7, 0, "/"),
    ];
    for e in &mut evs {
        let d = if e.visitor <= 4 { "desktop" } else { "mobile" };
        e.set(Dim::Device, d);
    }
    World::of(evs)
}

/// An influence query over `[from, to]` (ms after T0) with these goals.
fn query(goals: Vec<Goal>, from: i64, to: i64, spec: InfluenceSpec) -> Query {
    query_of(goals, from, to, Analysis::Influence(spec))
}

fn run(spec: InfluenceSpec) -> InfluenceResult {
    let goals = vec![
        event_goal("Purchase", "purchase", Conversion::Macro),
        event_goal("Watched video", "video_play", Conversion::Micro),
    ];
    let q = query(goals, -DAY, DAY, spec);
    let w = shop();
    let got = w
        .run(
            &q,
            &RunOptions {
                threads: 2,
                ..RunOptions::default()
            },
        )
        .unwrap();
    assert_eq!(
        got,
        crate::reference::run(&q, &w.data),
        "engine and reference differ"
    );
    match got {
        QueryResult::Influence(r) => r,
        other => panic!("{other:?}"),
    }
}

fn spec(order: Precedence, min_support: u64) -> InfluenceSpec {
    serde_json::from_value::<InfluenceSpec>(serde_json::json!({
        "stratify": [], "min_support": min_support
    }))
    .map(|mut s| {
        s.order = order;
        s
    })
    .unwrap()
}

#[test]
fn a_video_watched_after_the_purchase_is_not_credited() {
    let r = run(spec(Precedence::Before, 1));
    assert_eq!(r.goal, "Purchase", "the first macro goal by default");
    assert_eq!((r.converted.num, r.converted.den), (4, 7));
    let c = &r.candidates[0];
    assert_eq!(c.name, "Watched video", "every micro goal by default");
    // Before: v1, v2, v5 did it first (2 bought); the others v3 (after only), v4, v6,
    // v7 (2 bought).
    assert_eq!((c.with.num, c.with.den), (2, 3));
    assert_eq!((c.without.num, c.without.den), (2, 4));
    assert_eq!(c.after_only, 1);
    assert!((c.lift.unwrap().ratio - (2.0 / 3.0) / 0.5).abs() < 1e-12);
    assert!((c.diff.diff - (2.0 / 3.0 - 0.5)).abs() < 1e-12);
    // Two of the four buyers watched first; the median time to buy is 1 minute (of 1
    // and 3, by nearest rank).
    assert_eq!((c.converters_share.num, c.converters_share.den), (2, 4));
    assert_eq!(c.median_to_goal_ms, Some(MIN));
    assert!(c.ranked && c.q_value.is_some());
    assert!(!c.significant, "seven visitors prove nothing");
    assert!(r.precedence.contains("before its first Purchase"));
}

#[test]
fn counted_at_any_time_the_same_video_looks_stronger() {
    let r = run(spec(Precedence::Any, 1));
    let c = &r.candidates[0];
    // v3's video after its purchase now counts: 3 of 4 with, 1 of 3 without.
    assert_eq!((c.with.num, c.with.den), (3, 4));
    assert_eq!((c.without.num, c.without.den), (1, 3));
    assert_eq!(c.after_only, 0);
    assert!((c.lift.unwrap().ratio - 2.25).abs() < 1e-12);
    assert!(r.precedence.contains("either direction"));
}

#[test]
fn candidates_below_the_minimum_support_are_listed_but_not_tested() {
    let r = run(spec(Precedence::Before, 30));
    let c = &r.candidates[0];
    assert!(!c.ranked && c.q_value.is_none() && !c.significant);
    assert_eq!(r.tested, 0);
    assert_eq!(c.support, 3, "the numbers are still shown");
}

#[test]
fn event_names_are_candidates_and_strata_are_counted() {
    let mut s = spec(Precedence::Before, 1);
    s.events = true;
    s.candidates = vec!["Watched video".into()];
    s.stratify = vec![Field::Dim(Dim::Device)];
    let r = run(s);
    assert_eq!(r.strata, 2);
    assert_eq!(r.stratified_by, vec!["device".to_string()]);
    let names: Vec<(&str, _)> = r
        .candidates
        .iter()
        .map(|c| (c.name.as_str(), c.kind))
        .collect();
    assert!(names.contains(&("video_play", result::CandidateKind::Event)));
    // `purchase` is never done before the first purchase: no support, not listed.
    assert!(!names.iter().any(|(n, _)| *n == "purchase"), "{names:?}");
    let video = r
        .candidates
        .iter()
        .find(|c| c.name == "video_play")
        .unwrap();
    let goal = r
        .candidates
        .iter()
        .find(|c| c.name == "Watched video")
        .unwrap();
    assert_eq!((video.with, video.without), (goal.with, goal.without));
    // Desktop: v1, v2 with (1 bought), v3, v4 without (1 bought); mobile: v5 with (bought),
    // v6, v7 without (1 bought). Mantel–Haenszel: R = 1·2/4 + 1·2/3, S = 1·2/4 + 1·1/3.
    let st = goal.stratified.as_ref().unwrap();
    let want = (0.5 + 2.0 / 3.0) / (0.5 + 1.0 / 3.0);
    assert!((st.lift.unwrap().ratio - want).abs() < 1e-12, "{st:?}");
    assert_eq!(st.informative_strata, 2);
}

#[test]
fn bad_specs_are_refused_with_the_field() {
    let q = |analysis: serde_json::Value, goals: serde_json::Value| {
        let q = Query::from_json(
            &serde_json::json!({
                "site": SITE, "from": "2026-03-01", "to": "2026-03-02",
                "goals": goals, "analysis": analysis,
            })
            .to_string(),
        )
        .unwrap();
        q.resolve().unwrap_err().to_string()
    };
    let micro = serde_json::json!([{"name": "Video", "type": "event", "event": "video_play"}]);
    let both = serde_json::json!([
        {"name": "Video", "type": "event", "event": "video_play"},
        {"name": "Purchase", "type": "event", "event": "purchase", "conversion": "macro"}
    ]);
    let e = q(serde_json::json!({"type": "influence"}), micro);
    assert!(e.starts_with("analysis.goal:"), "{e}");
    let e = q(
        serde_json::json!({"type": "influence", "candidates": ["Purchase"]}),
        both.clone(),
    );
    assert!(e.contains("the macro goal itself"), "{e}");
    let e = q(
        serde_json::json!({"type": "influence", "candidates": ["Nope"]}),
        both.clone(),
    );
    assert!(e.starts_with("analysis.candidates[0]: unknown goal"), "{e}");
    let e = q(
        serde_json::json!({"type": "influence", "unit": "attempt"}),
        both.clone(),
    );
    assert!(e.starts_with("analysis.unit:"), "{e}");
    let e = q(
        serde_json::json!({"type": "influence", "stratify": ["device", "device"]}),
        both,
    );
    assert!(e.starts_with("analysis.stratify[1]:"), "{e}");
}

/// Random visitors over weeks (imported, flushed and buffered; many events at the same
/// millisecond, so precedence turns on arrival order), by visitor with goals of one event
/// name each, with or without event names as candidates: the engine reads visitor
/// summaries, computed by the store from its runs and by the memory source from
/// timelines, and must give the reference's answer for either order and with or without
/// strata.
mod random {
    use super::*;
    use proptest::prelude::*;

    const NAMES: [&str; 6] = [
        "pageview",
        "purchase",
        "video_play",
        "search",
        "share",
        "scroll",
    ];

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(40))]

        #[test]
        fn influence_by_visitor_matches_the_reference(
            evs in arb_visits(NAMES.len()),
            imported in 0usize..300,
            flushed in 0usize..300,
            any in any::<bool>(),
            strata in 0usize..3,
            events in any::<bool>(),
        ) {
            let w = World::build(visits(&evs, &NAMES), imported, flushed, false);
            let mut spec = spec(if any { Precedence::Any } else { Precedence::Before }, 1);
            // Event names as candidates too (not pageviews, not the passive scroll).
            spec.events = events;
            spec.stratify = [vec![], vec![Field::Dim(Dim::Device)],
                vec![Field::Dim(Dim::Device), Field::Dim(Dim::Channel)]][strata].clone();
            let goals = vec![
                event_goal("Purchase", "purchase", Conversion::Macro),
                event_goal("Watched video", "video_play", Conversion::Micro),
                event_goal("Searched", "search", Conversion::Micro),
                event_goal("Shared", "share", Conversion::Micro),
            ];
            let q = query(goals, 2 * DAY, 15 * DAY, spec);
            for threads in [1, 2] {
                w.checked(&q, threads);
            }
        }
    }
}
