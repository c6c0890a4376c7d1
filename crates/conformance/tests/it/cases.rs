//! Hand-worked cases: one per funnel rule and goal type, with the expected numbers
//! worked out from the documents.

use cairn_engine::RunOptions;
use cairn_model::query::result::{FunnelResult, GoalsResult, QueryResult};
use cairn_model::query::*;
use cairn_model::{Dim, PropValue, Record};

use crate::world::*;

fn query(analysis: Analysis, goals: Vec<Goal>) -> Query {
    query_of(goals, -DAY, 30 * DAY, analysis)
}

fn run_funnel(w: &World, f: FunnelSpec, goals: Vec<Goal>) -> FunnelResult {
    let q = query(Analysis::Funnel(f), goals);
    match w
        .run(
            &q,
            &RunOptions {
                threads: 2,
                ..RunOptions::default()
            },
        )
        .unwrap()
    {
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
fn a_leads_value_is_its_earliest_conversions() {
    // Ann buys on her phone (visitor 2, 20 EUR, day 1) and again on her laptop (visitor
    // 1, 50 EUR, day 2): one conversion for the lead, of the first purchase's value,
    // though the scan meets the laptop first.
    let records = vec![
        Record::Event(revenue(ev(2, 0, "purchase"), 20)),
        Record::Event(revenue(ev(1, DAY, "purchase"), 50)),
        identify(2, 10, "ann@x"),
        identify(1, DAY + 10, "ann@x"),
    ];
    let w = World::new(records, 0, 0);
    let mut buy = Goal::event("Buy", "purchase");
    buy.value = Some(GoalValue::FromEvent("revenue".into()));
    for threads in [1, 2] {
        let g = run_goals_with(&w, vec![Unit::Lead], vec![buy.clone()], threads);
        assert_eq!(g.goals[0].rates[0].rate.num, 1);
        assert_eq!(g.goals[0].value[0].total, 20.0, "{threads} threads");
    }
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
    run_goals_with(w, units, goals, RunOptions::default().threads)
}

fn run_goals_with(w: &World, units: Vec<Unit>, goals: Vec<Goal>, threads: usize) -> GoalsResult {
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
    let opts = RunOptions {
        threads,
        ..RunOptions::default()
    };
    match w.run(&q, &opts).unwrap() {
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

fn run_any(w: &World, q: &Query) -> QueryResult {
    let got = w
        .run(
            q,
            &RunOptions {
                threads: 2,
                ..RunOptions::default()
            },
        )
        .unwrap();
    assert_eq!(
        got,
        crate::reference::run(q, &w.data),
        "engine and reference differ"
    );
    got
}

#[test]
fn alternatives_and_goal_steps() {
    // Step 2 is "signup or demo request"; step 3 is the session goal "3 pages", reached
    // at the third pageview of a session.
    let w = World::of(vec![
        pv(1, 0, "/"),
        ev(1, MIN, "demo_request"),
        pv(1, 2 * MIN, "/a"),
        pv(1, 3 * MIN, "/b"),
        pv(2, 0, "/"),
        ev(2, MIN, "signup"),
        pv(2, 2 * MIN, "/a"),
    ]);
    let mut pages = Goal::of_type("3 pages", GoalType::Pages);
    pages.pages = Some(3);
    let f = FunnelSpec::new(vec![
        Step::path("/"),
        Step {
            any_of: vec![Step::event("signup"), Step::event("demo_request")],
            ..Step::default()
        },
        Step {
            goal: Some("3 pages".into()),
            ..Step::default()
        },
    ]);
    let r = run_funnel(&w, f, vec![pages]);
    assert_eq!(counts(&r), vec![2, 2, 1]);
    assert_eq!(r.steps[1].label, "signup or demo_request");
    // Visitor 1 reached "3 pages" at the pageview of /b, 2 minutes after the demo request.
    assert_eq!(
        r.steps[2].time_from_previous.as_ref().unwrap().median_ms,
        2 * MIN
    );
}

#[test]
fn funnel_trend_by_first_step_day() {
    let w = World::of(vec![
        ev(1, HOUR, "a"),
        ev(1, 2 * HOUR, "b"),
        ev(2, 3 * HOUR, "a"),
        ev(3, DAY + HOUR, "a"),
        ev(3, DAY + 2 * HOUR, "b"),
    ]);
    let mut f = steps(&["a", "b"]);
    f.trend = Some(Interval::Day);
    let q = Query {
        from: TimeSpec::Ms(T0),
        to: TimeSpec::Ms(T0 + 2 * DAY - 1),
        ..query(Analysis::Funnel(f), vec![])
    };
    let QueryResult::Funnel(r) = run_any(&w, &q) else {
        panic!()
    };
    let t: Vec<(String, Vec<u64>)> = r
        .trend
        .iter()
        .map(|p| (p.label.clone(), p.counts.clone()))
        .collect();
    assert_eq!(
        t,
        vec![
            ("2026-03-02".into(), vec![2, 1]),
            ("2026-03-03".into(), vec![1, 1])
        ]
    );
    assert_eq!(r.trend[0].conversion.rate, 0.5);
}

fn goals_query(units: Vec<Unit>, goals: Vec<Goal>, f: impl FnOnce(&mut GoalsSpec)) -> Query {
    let mut spec = GoalsSpec {
        units,
        goals: Vec::new(),
        interval: None,
        compare: false,
        breakdown: None,
    };
    f(&mut spec);
    Query {
        from: TimeSpec::Ms(T0),
        to: TimeSpec::Ms(T0 + 2 * DAY - 1),
        ..query(Analysis::Goals(spec), goals)
    }
}

#[test]
fn counting_values_scroll_and_series() {
    // Visitor 1: two sessions on day 1, each with an "a" (2.5 EUR each, counted every
    // time) and one deep scroll on a blog page. Visitor 2: day 2, a shallow scroll.
    let w = World::of(vec![
        ev(1, 0, "a"),
        ev(1, MIN, "a"),
        with_prop(
            with_dim(ev(1, 2 * MIN, "scroll"), Dim::Path, "/blog/x"),
            "depth",
            PropValue::Num(90.0),
        ),
        ev(1, 2 * HOUR, "a"),
        with_prop(
            with_dim(ev(2, DAY, "scroll"), Dim::Path, "/blog/y"),
            "depth",
            PropValue::Num(40.0),
        ),
    ]);
    let mut a = Goal::event("A", "a");
    a.count = Counting::Every;
    a.value = Some(GoalValue::Fixed {
        fixed: 2.5,
        currency: "EUR".into(),
    });
    let mut a_sessions = Goal::event("A per session", "a");
    a_sessions.count = Counting::Session;
    let mut deep = Goal::of_type("Read 75%", GoalType::Scroll);
    deep.depth = Some(75.0);
    deep.path = Some("/blog/*".into());
    deep.path_match = Some(PathMatch::Wildcard);
    let q = goals_query(
        vec![Unit::Visitor, Unit::Session],
        vec![a, a_sessions, deep],
        |s| {
            s.interval = Some(Interval::Day);
        },
    );
    let QueryResult::Goals(g) = run_any(&w, &q) else {
        panic!()
    };
    assert_eq!(
        (
            g.goals[0].conversions,
            g.goals[1].conversions,
            g.goals[2].conversions
        ),
        (3, 2, 1)
    );
    assert_eq!(g.goals[0].value[0].total, 7.5);
    assert_eq!(g.goals[0].value[0].per_conversion, 2.5);
    // Per visitor: A 1/2, per session: A 2/3 (visitor 1's two sessions of three).
    assert_eq!(
        (g.goals[0].rates[0].rate.num, g.goals[0].rates[0].rate.den),
        (1, 2)
    );
    assert_eq!(
        (g.goals[0].rates[1].rate.num, g.goals[0].rates[1].rate.den),
        (2, 3)
    );
    // Day 1: one visitor, converted; day 2: one visitor, not converted.
    assert_eq!(g.series.len(), 2);
    assert_eq!((g.series[0].totals[0], g.series[0].rates[0][0].num), (1, 1));
    assert_eq!((g.series[1].totals[0], g.series[1].rates[0][0].num), (1, 0));
}

#[test]
fn comparison_with_the_previous_period() {
    // This period (day 2): 2 of 2 visitors buy. The previous period (day 1): 1 of 4.
    let mut evs = vec![ev(1, DAY, "purchase"), ev(2, DAY + HOUR, "purchase")];
    for v in 3..=6 {
        evs.push(ev(v, HOUR, "pageview"));
    }
    evs.push(ev(3, 2 * HOUR, "purchase"));
    let w = World::of(evs);
    let q = Query {
        from: TimeSpec::Ms(T0 + DAY),
        to: TimeSpec::Ms(T0 + 2 * DAY - 1),
        ..goals_query(
            vec![Unit::Visitor],
            vec![Goal::event("Buy", "purchase")],
            |s| s.compare = true,
        )
    };
    let QueryResult::Goals(g) = run_any(&w, &q) else {
        panic!()
    };
    let r = &g.goals[0].rates[0];
    assert_eq!((r.rate.num, r.rate.den), (2, 2));
    let p = r.previous.unwrap();
    assert_eq!((p.num, p.den), (1, 4));
    let c = r.change.unwrap();
    assert_eq!(c.diff, 0.75);
    // Wilson: 2/2 -> [0.3424, 1]; 1/4 -> [0.0456, 0.6994]. Newcombe:
    // low = 0.75 - sqrt((1 - 0.3424)^2 + (0.6994 - 0.25)^2) = -0.0465,
    // high = 0.75 + sqrt(0^2 + (0.25 - 0.0456)^2) = 0.9544: too few visitors to be sure.
    assert!(
        (c.low + 0.0465).abs() < 1e-3 && (c.high - 0.9544).abs() < 1e-3,
        "{c:?}"
    );
    assert_eq!(g.previous_period, Some([T0, T0 + DAY - 1]));
}

#[test]
fn breakdowns_and_segments() {
    let w = World::of(vec![
        with_dim(pv(1, 0, "/landing-a"), Dim::Device, "mobile"),
        with_dim(ev(1, MIN, "purchase"), Dim::Device, "mobile"),
        with_dim(pv(2, 0, "/landing-a"), Dim::Device, "desktop"),
        with_dim(pv(3, 0, "/landing-b"), Dim::Device, "desktop"),
        with_dim(ev(3, MIN, "purchase"), Dim::Device, "desktop"),
        with_dim(pv(4, 0, "/landing-b"), Dim::Device, "tablet"),
    ]);
    let buy = || vec![Goal::event("Buy", "purchase")];
    let q = goals_query(vec![Unit::Session], buy(), |s| {
        s.breakdown = Some(Breakdown {
            by: Field::LandingPage,
            limit: 1,
            attribution: Attribution::First,
            step: None,
        });
    });
    let QueryResult::Goals(g) = run_any(&w, &q) else {
        panic!()
    };
    // Two landing pages with 2 sessions each: the limit of 1 keeps /landing-a (same
    // count, first by name) and sums the rest into (other).
    let rows: Vec<(String, u64, u64)> = g
        .breakdown
        .iter()
        .map(|b| (b.value.clone(), b.totals[0], b.rates[0][0].num))
        .collect();
    assert_eq!(
        rows,
        vec![("/landing-a".into(), 2, 1), ("(other)".into(), 2, 1)]
    );
    // Segments: desktop events only; and visitors who did not buy.
    let mut q = goals_query(vec![Unit::Visitor], buy(), |_| {});
    q.filters = vec![Filter::condition(Condition::eq_str(
        Field::Dim(Dim::Device),
        "desktop",
    ))];
    let QueryResult::Goals(g) = run_any(&w, &q) else {
        panic!()
    };
    assert_eq!(
        (g.goals[0].rates[0].rate.num, g.goals[0].rates[0].rate.den),
        (1, 2)
    );
    q.filters = vec![Filter {
        did_not: Some("Buy".into()),
        ..Filter::default()
    }];
    let q2 = Query {
        analysis: Analysis::Overview(OverviewSpec {
            interval: None,
            breakdown: None,
            breakdowns: vec![],
        }),
        ..q
    };
    let QueryResult::Overview(o) = run_any(&w, &q2) else {
        panic!()
    };
    assert_eq!(o.figures.visitors, 2);
}

#[test]
fn overview_and_pages() {
    // Visitor 1: / then /pricing (2 pageviews, 3 minutes). Visitor 2: / only, with a
    // scroll (still a bounce). Visitor 3: /pricing and a signup (not a bounce).
    let w = World::of(vec![
        pv(1, 0, "/"),
        pv(1, 3 * MIN, "/pricing"),
        pv(2, 0, "/"),
        ev(2, MIN, "scroll"),
        pv(3, 0, "/pricing"),
        ev(3, 30_000, "signup"),
    ]);
    let q = Query {
        analysis: Analysis::Overview(OverviewSpec {
            interval: None,
            breakdown: None,
            breakdowns: vec![],
        }),
        ..query(
            Analysis::Pages(PagesSpec {
                limit: 10,
                grouped: false,
            }),
            vec![],
        )
    };
    let QueryResult::Overview(o) = run_any(&w, &q) else {
        panic!()
    };
    let f = &o.figures;
    assert_eq!(
        (f.visitors, f.sessions, f.pageviews, f.events),
        (3, 3, 4, 6)
    );
    assert_eq!((f.bounce_rate.num, f.bounce_rate.den), (1, 3));
    assert_eq!(f.median_duration_ms, MIN);
    assert_eq!(f.mean_duration_ms, (3 * MIN + MIN + 30_000) as f64 / 3.0);
    let q = query(
        Analysis::Pages(PagesSpec {
            limit: 10,
            grouped: false,
        }),
        vec![],
    );
    let QueryResult::Pages(p) = run_any(&w, &q) else {
        panic!()
    };
    let rows: Vec<(&str, u64, u64, u64, u64)> = p
        .pages
        .iter()
        .map(|r| {
            (
                r.path.as_str(),
                r.pageviews,
                r.entries,
                r.exits,
                r.bounce_rate.num,
            )
        })
        .collect();
    // "/" : 2 views, 2 entries, 1 exit (visitor 2), 1 bounce; "/pricing": 2 views, 1
    // entry (visitor 3, not a bounce), 2 exits.
    assert_eq!(rows, vec![("/", 2, 2, 1, 1), ("/pricing", 2, 1, 2, 0)]);
    assert_eq!(p.pages[1].exit_rate.rate, 1.0);
}

/// Several breakdowns in one overview answer each as the breakdown alone does, in the
/// spec's order, whatever the single `breakdown` beside them.
#[test]
fn overview_breakdowns_in_one_pass() {
    let w = World::of(vec![
        pv(1, 0, "/"),
        pv(1, 3 * MIN, "/pricing"),
        pv(2, 0, "/pricing"),
        ev(2, MIN, "signup"),
        pv(3, 0, "/"),
    ]);
    let by = |by: Field, limit| Breakdown {
        by,
        limit,
        attribution: Attribution::First,
        step: None,
    };
    let overview = |breakdown, breakdowns| {
        query(
            Analysis::Overview(OverviewSpec {
                interval: None,
                breakdown,
                breakdowns,
            }),
            vec![],
        )
    };
    let QueryResult::Overview(all) = run_any(
        &w,
        &overview(
            Some(by(Field::LandingPage, 10)),
            vec![by(Field::Dim(Dim::Path), 1), by(Field::ExitPage, 10)],
        ),
    ) else {
        panic!()
    };
    let alone = |b| {
        let QueryResult::Overview(o) = run_any(&w, &overview(Some(b), vec![])) else {
            panic!()
        };
        o.breakdown
    };
    assert_eq!(all.breakdown, alone(by(Field::LandingPage, 10)));
    let got: Vec<(&str, Vec<(&str, u64)>)> = all
        .breakdowns
        .iter()
        .map(|b| {
            let rows = b
                .rows
                .iter()
                .map(|r| (r.value.as_str(), r.figures.sessions));
            (b.by.as_str(), rows.collect())
        })
        .collect();
    // Path: each session under its first path, "/" (2 sessions) then the rest; exit
    // pages: "/" (visitor 3), "/pricing" (visitors 1 and 2).
    assert_eq!(
        got,
        vec![
            ("path", vec![("/", 2), ("(other)", 1)]),
            ("exit_page", vec![("/pricing", 2), ("/", 1)]),
        ]
    );
    assert_eq!(all.breakdowns[0].rows, alone(by(Field::Dim(Dim::Path), 1)));
    assert_eq!(all.breakdowns[1].rows, alone(by(Field::ExitPage, 10)));
}

/// An experiment's exposure is sent by the page, not done by the visitor: a session with
/// one pageview and an exposure still bounces.
#[test]
fn an_experiment_exposure_does_not_stop_a_bounce() {
    let exposure = |v, t| {
        let mut e = ev(v, t, "experiment_exposure");
        e.props
            .push(("experiment".into(), PropValue::Str("sticky_cart".into())));
        e
    };
    let w = World::of(vec![
        pv(1, 0, "/"),
        exposure(1, 200),
        pv(2, 0, "/"),
        exposure(2, 200),
        ev(2, MIN, "signup"),
    ]);
    let q = query(
        Analysis::Overview(OverviewSpec {
            interval: None,
            breakdown: None,
            breakdowns: vec![],
        }),
        vec![],
    );
    let QueryResult::Overview(o) = run_any(&w, &q) else {
        panic!()
    };
    assert_eq!(
        (o.figures.bounce_rate.num, o.figures.bounce_rate.den),
        (1, 2)
    );
}

#[test]
fn cart_abandonment_and_recovery() {
    let w = World::of(vec![
        // Bought in the session.
        ev(1, 0, "add_to_cart"),
        ev(1, MIN, "purchase"),
        // Abandoned, bought two days later: recovered.
        ev(2, 0, "add_to_cart"),
        ev(2, 2 * DAY, "purchase"),
        // Abandoned for good.
        ev(3, 0, "add_to_cart"),
        ev(3, MIN, "pageview"),
    ]);
    let q = query(
        Analysis::CartAbandonment(CartSpec {
            cart_event: "add_to_cart".into(),
            purchase_event: "purchase".into(),
            recovery: Duration::from_ms(7 * DAY),
        }),
        vec![],
    );
    let QueryResult::CartAbandonment(c) = run_any(&w, &q) else {
        panic!()
    };
    assert_eq!(
        (c.carts, c.purchased, c.abandoned, c.recovered),
        (3, 1, 2, 1)
    );
    assert_eq!(c.time_to_recover.unwrap().median_ms, 2 * DAY);
}

#[test]
fn form_starts_submissions_and_the_last_field() {
    let form = |e, f: &str| with_prop(e, "form_id", PropValue::Str(f.into()));
    let field = |e, f: &str| with_prop(e, "field", PropValue::Str(f.into()));
    let w = World::of(vec![
        form(ev(1, 0, "form_start"), "signup"),
        field(form(ev(1, 1000, "form_field"), "signup"), "email"),
        field(form(ev(1, 5000, "form_field"), "signup"), "password"),
        form(ev(1, 9000, "form_submit"), "signup"),
        form(ev(2, 0, "form_start"), "signup"),
        field(form(ev(2, 1000, "form_field"), "signup"), "email"),
    ]);
    let QueryResult::Forms(r) =
        run_any(&w, &query(Analysis::Forms(FormsSpec { limit: 10 }), vec![]))
    else {
        panic!()
    };
    let f = &r.forms[0];
    assert_eq!((f.form.as_str(), f.starts, f.submissions), ("signup", 2, 1));
    assert_eq!(f.abandonment.rate, 0.5);
    assert_eq!(f.time_to_submit.as_ref().unwrap().median_ms, 9000);
    let fields: Vec<(&str, u64, u64)> = f
        .fields
        .iter()
        .map(|x| (x.field.as_str(), x.touched, x.last_before_abandon))
        .collect();
    assert_eq!(fields, vec![("email", 2, 1), ("password", 1, 0)]);
    // Time in "email" for visitor 1: 4 s until the next field.
    assert_eq!(f.fields[0].time.as_ref().unwrap().median_ms, 4000);
}

#[test]
fn checkout_steps_come_from_the_step_numbers_seen() {
    let step = |e, n: f64| with_prop(e, "step", PropValue::Num(n));
    let w = World::of(vec![
        ev(1, 0, "begin_checkout"),
        step(ev(1, MIN, "checkout_step"), 1.0),
        step(ev(1, 2 * MIN, "checkout_step"), 2.0),
        ev(1, 3 * MIN, "purchase"),
        ev(2, 0, "begin_checkout"),
        step(ev(2, MIN, "checkout_step"), 1.0),
    ]);
    let q = query(
        Analysis::Checkout(CheckoutSpec {
            start_event: "begin_checkout".into(),
            step_event: "checkout_step".into(),
            step_prop: "step".into(),
            end_event: "purchase".into(),
        }),
        vec![],
    );
    let QueryResult::Checkout(r) = run_any(&w, &q) else {
        panic!()
    };
    let labels: Vec<&str> = r.steps.iter().map(|s| s.label.as_str()).collect();
    assert_eq!(
        labels,
        vec![
            "begin_checkout",
            "checkout_step 1",
            "checkout_step 2",
            "purchase"
        ]
    );
    assert_eq!(counts(&r), vec![2, 2, 1, 1]);
}

#[test]
fn events_explorer_names_properties_and_series() {
    // Visitor 1: a pageview and a download of a.pdf, then a second session (an hour
    // later, the next day) with a pageview and a search. Visitor 2: two pageviews (one
    // with a boolean property), a download of a.pdf and a scroll. Visitor 3: one
    // download of b.pdf with a number property.
    let w = World::of(vec![
        pv(1, 0, "/"),
        with_prop(
            ev(1, MIN, "download"),
            "file",
            PropValue::Str("a.pdf".into()),
        ),
        pv(1, DAY + HOUR, "/"),
        with_prop(
            ev(1, DAY + HOUR + MIN, "search"),
            "q",
            PropValue::Str("shoes".into()),
        ),
        with_prop(pv(2, 0, "/"), "logged_in", PropValue::Bool(true)),
        pv(2, MIN, "/p"),
        with_prop(
            ev(2, 2 * MIN, "download"),
            "file",
            PropValue::Str("a.pdf".into()),
        ),
        with_prop(ev(2, 3 * MIN, "scroll"), "depth", PropValue::Num(50.0)),
        with_prop(
            with_prop(ev(3, 0, "download"), "file", PropValue::Str("b.pdf".into())),
            "size",
            PropValue::Num(3.0),
        ),
    ]);
    let spec = |f: fn(&mut EventsSpec)| {
        let mut s = EventsSpec::default();
        f(&mut s);
        query(Analysis::Events(s), vec![])
    };
    let QueryResult::Events(r) = run_any(&w, &spec(|s| s.interval = Some(Interval::Day))) else {
        panic!()
    };
    let names: Vec<(&str, u64, u64, u64)> = r
        .names
        .iter()
        .map(|n| (n.name.as_str(), n.events, n.sessions, n.visitors))
        .collect();
    // Pageviews: visitor 1's two sessions and visitor 2's; ties by name.
    assert_eq!(
        names,
        vec![
            ("pageview", 4, 3, 2),
            ("download", 3, 3, 3),
            ("scroll", 1, 1, 1),
            ("search", 1, 1, 1)
        ]
    );
    assert_eq!((r.distinct_names, r.events, r.other.names), (4, 9, 0));
    assert!(r.properties.is_none());
    // Days from T0 − 1 day: the pageviews of day 2 (T0) and day 3 (T0 + 1 day).
    assert_eq!(r.buckets[1].start, T0);
    assert_eq!(r.names[0].series.as_ref().unwrap()[1..3], [3, 1]);

    // The top two names, the rest in `other`; the properties with one value each.
    let QueryResult::Events(r) = run_any(
        &w,
        &spec(|s| {
            s.limit = 2;
            s.properties = true;
            s.values = 1;
        }),
    ) else {
        panic!()
    };
    assert_eq!(r.names.len(), 2);
    assert_eq!((r.other.names, r.other.events), (2, 2));
    let props = r.properties.unwrap();
    let keys: Vec<(&str, u64, u64, u64, u64)> = props
        .iter()
        .map(|p| {
            (
                p.key.as_str(),
                p.events,
                p.visitors,
                p.distinct,
                p.other_events,
            )
        })
        .collect();
    assert_eq!(
        keys,
        vec![
            ("file", 3, 3, 2, 1),
            ("depth", 1, 1, 1, 0),
            ("logged_in", 1, 1, 1, 0),
            ("q", 1, 1, 1, 0),
            ("size", 1, 1, 1, 0)
        ]
    );
    assert_eq!(props[0].values[0].value, Scalar::Str("a.pdf".into()));
    assert_eq!(
        (props[0].values[0].events, props[0].values[0].visitors),
        (2, 2)
    );
    assert_eq!(props[1].values[0].value, Scalar::Num(50.0));
    assert_eq!(props[2].values[0].value, Scalar::Bool(true));

    // Properties of downloads only; names are all listed still.
    let QueryResult::Events(r) = run_any(
        &w,
        &spec(|s| {
            s.properties = true;
            s.event = Some("download".into());
        }),
    ) else {
        panic!()
    };
    assert_eq!(r.names.len(), 4);
    assert_eq!(r.event.as_deref(), Some("download"));
    let props = r.properties.unwrap();
    let keys: Vec<&str> = props.iter().map(|p| p.key.as_str()).collect();
    assert_eq!(keys, ["file", "size"]);
    let vals: Vec<(Scalar, u64)> = props[0]
        .values
        .iter()
        .map(|v| (v.value.clone(), v.events))
        .collect();
    assert_eq!(
        vals,
        [
            (Scalar::Str("a.pdf".into()), 2),
            (Scalar::Str("b.pdf".into()), 1)
        ]
    );

    // An event filter keeps only what it keeps; a name no event has lists no properties.
    let mut q = spec(|s| {
        s.properties = true;
        s.event = Some("signup".into());
    });
    q.filters.push(Filter::condition(Condition::eq_str(
        Field::Dim(Dim::Path),
        "/",
    )));
    let QueryResult::Events(r) = run_any(&w, &q) else {
        panic!()
    };
    assert_eq!(r.events, 3);
    assert_eq!(r.properties, Some(vec![]));

    // Bounds.
    for (f, msg) in [
        (
            (|s: &mut EventsSpec| s.limit = 0) as fn(&mut EventsSpec),
            "analysis.limit",
        ),
        (|s| s.values = 1001, "analysis.values"),
        (|s| s.event = Some(String::new()), "analysis.event"),
    ] {
        let e = spec(f).plan().unwrap_err();
        assert_eq!(e.path, msg);
    }
}
