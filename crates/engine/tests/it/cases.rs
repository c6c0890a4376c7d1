//! Hand-worked cases: one per funnel rule and goal type, with the expected numbers
//! worked out from the documents.

use cairn_engine::RunOptions;
use cairn_model::query::result::{FunnelResult, GoalsResult, QueryResult};
use cairn_model::query::*;
use cairn_model::{Dim, PropValue, Record};

use crate::world::*;

fn query(analysis: Analysis, goals: Vec<Goal>) -> Query {
    Query {
        site: SITE.into(),
        from: TimeSpec::Ms(T0 - DAY),
        to: TimeSpec::Ms(T0 + 30 * DAY),
        timezone: "UTC".into(),
        filters: Vec::new(),
        goals,
        funnels: Default::default(),
        session_gap: Duration::from_ms(30 * MIN),
        analysis,
    }
}

fn run_funnel(w: &World, f: FunnelSpec, goals: Vec<Goal>) -> FunnelResult {
    let q = query(Analysis::Funnel(f), goals);
    match cairn_engine::run(&w.store, &q, &RunOptions { threads: 2 }).unwrap() {
        QueryResult::Funnel(r) => {
            assert_eq!(
                QueryResult::Funnel(r.clone()),
                crate::reference::run(&q, &w.data),
                "engine and reference differ"
            );
            r
        }
        other => panic!("{other:?}"),
    }
}

fn counts(r: &FunnelResult) -> Vec<u64> {
    r.steps.iter().map(|s| s.count).collect()
}

fn steps(names: &[&str]) -> FunnelSpec {
    FunnelSpec::new(names.iter().map(|n| Step::event(n)).collect())
}

#[test]
fn equal_timestamps_count_in_any_arrival_order() {
    // B arrives before A, both at the same millisecond: A → B is done.
    let w = World::of(vec![ev(1, 0, "b"), ev(1, 0, "a")]);
    assert_eq!(
        counts(&run_funnel(&w, steps(&["a", "b"]), vec![])),
        vec![1, 1]
    );
}

#[test]
fn one_event_never_fills_two_steps() {
    let w = World::of(vec![
        ev(1, 0, "pageview"),
        ev(2, 0, "pageview"),
        ev(2, MIN, "pageview"),
    ]);
    // Visitor 1 has one pageview (level 1), visitor 2 two (level 2).
    assert_eq!(
        counts(&run_funnel(&w, steps(&["pageview", "pageview"]), vec![])),
        vec![2, 1]
    );
}

#[test]
fn the_window_is_inclusive_and_measured_from_step_one() {
    let w = World::of(vec![
        ev(1, 0, "a"),
        ev(1, HOUR / 2, "b"),
        ev(1, HOUR, "c"), // exactly one hour after a: inside
        ev(2, 0, "a"),
        ev(2, HOUR / 2, "b"),
        ev(2, HOUR + 1, "c"), // one millisecond too late
    ]);
    let mut f = steps(&["a", "b", "c"]);
    f.window = Duration::from_ms(HOUR);
    let r = run_funnel(&w, f, vec![]);
    assert_eq!(counts(&r), vec![2, 2, 1]);
    assert_eq!(r.steps[2].dropped, 1);
    assert_eq!(r.steps[2].drop_off, 0.5);
}

#[test]
fn a_later_attempt_counts_when_it_goes_further() {
    // First a is too early for c; the second a (day 3) completes the funnel.
    let w = World::of(vec![
        ev(1, 0, "a"),
        ev(1, 3 * DAY, "a"),
        ev(1, 3 * DAY + MIN, "b"),
        ev(1, 3 * DAY + 2 * MIN, "c"),
    ]);
    let mut f = steps(&["a", "b", "c"]);
    f.window = Duration::from_ms(DAY);
    let r = run_funnel(&w, f, vec![]);
    assert_eq!(counts(&r), vec![1, 1, 1]);
    // Times come from the latest start: a→b one minute, a→c two.
    assert_eq!(
        r.steps[1].time_from_previous.as_ref().unwrap().median_ms,
        MIN
    );
    assert_eq!(
        r.steps[2].time_from_start.as_ref().unwrap().median_ms,
        2 * MIN
    );
}

#[test]
fn strict_funnels_break_on_other_events_but_allow_later_attempts() {
    // "a b x a b c" reaches 3; "a x b c" reaches 1; "a a b" reaches 2 (repeat tolerated).
    let mk = |v: u64, names: &[&str]| -> Vec<cairn_model::Event> {
        names
            .iter()
            .enumerate()
            .map(|(i, n)| ev(v, i as i64 * MIN, n))
            .collect()
    };
    let mut evs = mk(1, &["a", "b", "x", "a", "b", "c"]);
    evs.extend(mk(2, &["a", "x", "b", "c"]));
    evs.extend(mk(3, &["a", "a", "b"]));
    let w = World::of(evs);
    let mut f = steps(&["a", "b", "c"]);
    f.mode = FunnelMode::Strict;
    assert_eq!(counts(&run_funnel(&w, f.clone(), vec![])), vec![3, 2, 1]);
    // Events sharing a timestamp do not break each other: x at the time of b.
    let w = World::of(vec![ev(4, 0, "a"), ev(4, MIN, "x"), ev(4, MIN, "b")]);
    assert_eq!(counts(&run_funnel(&w, f, vec![])), vec![1, 1, 0]);
}

#[test]
fn unordered_funnels_count_distinct_steps_in_one_window() {
    let w = World::of(vec![
        ev(1, 0, "c"),
        ev(1, MIN, "a"),
        ev(1, 2 * MIN, "b"),
        ev(2, 0, "b"),
        ev(2, 2 * HOUR, "a"), // outside a one-hour window with b
    ]);
    let mut f = steps(&["a", "b", "c"]);
    f.mode = FunnelMode::Unordered;
    f.window = Duration::from_ms(HOUR);
    assert_eq!(counts(&run_funnel(&w, f, vec![])), vec![2, 1, 1]);
}

#[test]
fn per_step_windows_pick_the_chain_that_fits() {
    // c must follow b within 10 minutes: the second b makes it.
    let w = World::of(vec![
        ev(1, 0, "a"),
        ev(1, HOUR, "b"),
        ev(1, HOUR + 25 * MIN, "b"),
        ev(1, HOUR + 30 * MIN, "c"),
        ev(2, 0, "a"),
        ev(2, HOUR, "b"),
        ev(2, HOUR + 30 * MIN, "c"),
    ]);
    let mut f = steps(&["a", "b", "c"]);
    f.steps[2].within = Some(Duration::from_ms(10 * MIN));
    assert_eq!(counts(&run_funnel(&w, f, vec![])), vec![2, 2, 1]);
}

#[test]
fn exclusions_remove_units_whose_every_attempt_is_excluded() {
    let w = World::of(vec![
        // Visitor 1: a x b, the only attempt is excluded: removed from every step.
        ev(1, 0, "a"),
        ev(1, MIN, "x"),
        ev(1, 2 * MIN, "b"),
        // Visitor 2: a x a b, the second attempt is clean: counts at level 2.
        ev(2, 0, "a"),
        ev(2, MIN, "x"),
        ev(2, 2 * MIN, "a"),
        ev(2, 3 * MIN, "b"),
        // Visitor 3: x at the very time of b does not count.
        ev(3, 0, "a"),
        ev(3, MIN, "x"),
        ev(3, MIN, "b"),
        // Visitor 4: reaches only a, then x within the window: excluded too.
        ev(4, 0, "a"),
        ev(4, MIN, "x"),
    ]);
    let mut f = steps(&["a", "b"]);
    f.exclusions.push(Exclusion {
        step: Step::event("x"),
        between: [1, 2],
    });
    let r = run_funnel(&w, f, vec![]);
    assert_eq!(counts(&r), vec![2, 2]);
    assert_eq!(r.excluded, 2);
}

#[test]
fn open_funnels_count_entries_at_any_step() {
    let w = World::of(vec![
        ev(1, 0, "a"),
        ev(1, MIN, "b"),
        ev(2, 0, "b"),
        ev(2, MIN, "c"),
        ev(3, 0, "c"),
    ]);
    let mut f = steps(&["a", "b", "c"]);
    f.open = true;
    let r = run_funnel(&w, f, vec![]);
    assert_eq!(counts(&r), vec![1, 2, 2]);
    let entrances: Vec<u64> = r.steps.iter().map(|s| s.entrances.unwrap()).collect();
    assert_eq!(entrances, vec![1, 1, 1]);
    // Step 3 reached from step 2 by visitor 2 only, of the 2 at step 2.
    assert_eq!(
        (r.steps[2].from_previous.num, r.steps[2].from_previous.den),
        (1, 2)
    );
}

#[test]
fn optional_steps_may_be_skipped_and_count_where_they_happen() {
    let w = World::of(vec![
        ev(1, 0, "a"),
        ev(1, MIN, "b"),
        ev(1, 2 * MIN, "c"),
        ev(2, 0, "a"),
        ev(2, MIN, "c"),
    ]);
    let mut f = steps(&["a", "b", "c"]);
    f.steps[1].optional = true;
    let r = run_funnel(&w, f, vec![]);
    assert_eq!(counts(&r), vec![2, 1, 2]);
    // Step 3's previous required step is step 1: both came through.
    assert_eq!(
        (r.steps[2].from_previous.num, r.steps[2].from_previous.den),
        (2, 2)
    );
}

#[test]
fn attempts_start_again_after_each_completion_or_window() {
    // a b | a | a b  with a one-hour window: three attempts, two complete.
    let w = World::of(vec![
        ev(1, 0, "a"),
        ev(1, MIN, "b"),
        ev(1, 2 * HOUR, "a"),
        ev(1, 5 * HOUR, "a"),
        ev(1, 5 * HOUR + MIN, "b"),
    ]);
    let mut f = steps(&["a", "b"]);
    f.window = Duration::from_ms(HOUR);
    f.unit = Unit::Attempt;
    assert_eq!(counts(&run_funnel(&w, f.clone(), vec![])), vec![3, 2]);
    f.unit = Unit::Visitor;
    assert_eq!(counts(&run_funnel(&w, f, vec![])), vec![1, 1]);
}

#[test]
fn held_properties_must_match_across_steps() {
    let cart = |e, c: &str| with_prop(e, "cart_id", PropValue::Str(c.into()));
    let w = World::of(vec![
        cart(ev(1, 0, "add_to_cart"), "c1"),
        cart(ev(1, MIN, "purchase"), "c2"),
        cart(ev(2, 0, "add_to_cart"), "c1"),
        cart(ev(2, MIN, "purchase"), "c1"),
        ev(3, 0, "add_to_cart"),
        ev(3, MIN, "purchase"),
    ]);
    let mut f = steps(&["add_to_cart", "purchase"]);
    f.hold = vec![Field::Prop("cart_id".into())];
    // Visitor 3 has no cart id: a missing property never equals a value.
    assert_eq!(counts(&run_funnel(&w, f, vec![])), vec![2, 1]);
}

#[test]
fn sessions_split_funnels_at_thirty_minutes_of_inactivity() {
    let w = World::of(vec![
        ev(1, 0, "a"),
        ev(1, 29 * MIN, "b"),
        ev(1, 70 * MIN, "c"),
        ev(1, 71 * MIN, "a"),
    ]);
    let mut f = steps(&["a", "b"]);
    f.unit = Unit::Session;
    // Session 1: a b (29 minutes apart). Session 2: c a (a gap of 41 minutes before it).
    assert_eq!(counts(&run_funnel(&w, f, vec![])), vec![2, 1]);
}

#[test]
fn leads_join_their_visitors_across_devices() {
    // The ad click on the phone (visitor 1), the purchase on the laptop (visitor 2).
    let records = vec![
        Record::Event(ev(1, 0, "a")),
        Record::Event(ev(2, DAY, "purchase")),
        identify(1, 10, "lead@x"),
        identify(2, DAY + 10, "lead@x"),
        Record::Event(ev(3, 0, "a")),
    ];
    let w = World::new(records, 0, 0);
    let mut f = steps(&["a", "purchase"]);
    f.unit = Unit::Lead;
    assert_eq!(counts(&run_funnel(&w, f.clone(), vec![])), vec![1, 1]);
    f.unit = Unit::Visitor;
    assert_eq!(counts(&run_funnel(&w, f, vec![])), vec![2, 0]);
}

#[test]
fn breakdowns_attribute_units_to_their_first_value() {
    let w = World::of(vec![
        with_dim(ev(1, 0, "a"), Dim::UtmCampaign, "spring"),
        with_dim(ev(1, MIN, "b"), Dim::UtmCampaign, "summer"),
        ev(2, 0, "a"),
        with_dim(ev(3, 0, "a"), Dim::UtmCampaign, "summer"),
        ev(3, MIN, "b"),
    ]);
    let mut f = steps(&["a", "b"]);
    f.breakdown = Some(Breakdown {
        by: Field::Dim(Dim::UtmCampaign),
        limit: 10,
        attribution: Attribution::First,
        step: None,
    });
    let r = run_funnel(&w, f, vec![]);
    let rows: Vec<(String, Vec<u64>)> = r
        .breakdown
        .iter()
        .map(|b| (b.value.clone(), b.counts.clone()))
        .collect();
    assert_eq!(
        rows,
        vec![
            ("(none)".into(), vec![1, 0]),
            ("spring".into(), vec![1, 1]),
            ("summer".into(), vec![1, 1])
        ]
    );
}

fn run_goals(w: &World, units: Vec<Unit>, goals: Vec<Goal>) -> GoalsResult {
    let q = query(
        Analysis::Goals(GoalsSpec {
            units,
            goals: Vec::new(),
            interval: None,
            compare: false,
            breakdown: None,
        }),
        goals,
    );
    match cairn_engine::run(&w.store, &q, &RunOptions::default()).unwrap() {
        QueryResult::Goals(g) => {
            assert_eq!(
                QueryResult::Goals(g.clone()),
                crate::reference::run(&q, &w.data)
            );
            g
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn goal_types_and_denominators() {
    // Visitor 1: two sessions; the first has 3 pageviews over 5 minutes and a purchase
    // of 30 EUR; the second one pageview. Visitor 2: one pageview of /thanks.
    let w = World::of(vec![
        pv(1, 0, "/"),
        pv(1, MIN, "/p/1"),
        pv(1, 5 * MIN, "/p/2"),
        revenue(ev(1, 5 * MIN, "purchase"), 30),
        pv(1, 3 * HOUR, "/"),
        pv(2, 0, "/thanks"),
    ]);
    let mut buy = Goal::event("Buy", "purchase");
    buy.value = Some(GoalValue::FromEvent("revenue".into()));
    let mut dest = Goal::of_type("Thanks", GoalType::Destination);
    dest.path = Some("/thanks".into());
    let mut dur = Goal::of_type("4 minutes", GoalType::Duration);
    dur.seconds = Some(240.0);
    let mut pages = Goal::of_type("3 pages", GoalType::Pages);
    pages.pages = Some(3);
    let mut products = Goal::of_type("2 products", GoalType::Count);
    products.event = Some("pageview".into());
    products.conditions = vec![Condition::new(
        Field::Dim(Dim::Path),
        Op::Prefix,
        Some(CondValue::One(Scalar::Str("/p/".into()))),
    )];
    products.min = Some(2);
    let mut both = Goal::of_type("Both", GoalType::Composite);
    both.all_of = vec!["Buy".into(), "3 pages".into()];
    let g = run_goals(
        &w,
        vec![Unit::Session, Unit::Visitor],
        vec![buy, dest, dur, pages, products, both],
    );
    assert_eq!(
        g.totals.iter().map(|t| t.total).collect::<Vec<_>>(),
        vec![3, 2]
    );
    let rate = |i: usize, u: usize| (g.goals[i].rates[u].rate.num, g.goals[i].rates[u].rate.den);
    // Buy: 1 of 3 sessions, 1 of 2 visitors, 30 EUR.
    assert_eq!((rate(0, 0), rate(0, 1)), ((1, 3), (1, 2)));
    assert_eq!(g.goals[0].value[0].total, 30.0);
    // Thanks: visitor 2's session.
    assert_eq!(rate(1, 0), (1, 3));
    // 4 minutes: only visitor 1's first session lasts 5 minutes.
    assert_eq!(rate(2, 0), (1, 3));
    // 3 pages, 2 products, Both: visitor 1's first session.
    assert_eq!(
        (rate(3, 0), rate(4, 0), rate(5, 0)),
        ((1, 3), (1, 3), (1, 3))
    );
    // Wilson interval of 1/3.
    let r = g.goals[0].rates[0].rate;
    assert!(
        (r.low - 0.0615).abs() < 1e-3 && (r.high - 0.7923).abs() < 1e-3,
        "{r:?}"
    );
}
