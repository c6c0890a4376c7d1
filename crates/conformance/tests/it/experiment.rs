//! Experiments: the hand-worked example of `docs/experiments.md` (who counts, in which
//! variant, and which conversions), and the engine against the reference on random
//! experiments.

use cairn_model::query::result::{ExperimentResult, QueryResult, Verdict};
use cairn_model::query::*;
use cairn_model::{Event, PropValue, Record};
use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::world::*;

fn query(spec: ExperimentSpec) -> Query {
    Query {
        site: SITE.into(),
        from: TimeSpec::Ms(T0 - DAY),
        to: TimeSpec::Ms(T0 + 20 * DAY),
        timezone: "UTC".into(),
        filters: Vec::new(),
        goals: vec![
            event_goal("Signup", "signup", Conversion::Micro),
            event_goal("Purchase", "purchase", Conversion::Macro),
        ],
        funnels: Default::default(),
        experiments: Default::default(),
        page_groups: Vec::new(),
        spend: Vec::new(),
        session_gap: Duration::from_ms(30 * MIN),
        analysis: Analysis::Experiment(spec),
    }
}

fn run(w: &World, q: &Query, threads: usize) -> ExperimentResult {
    match w.checked(q, threads) {
        QueryResult::Experiment(r) => r,
        other => panic!("{other:?}"),
    }
}

fn exposure(v: u64, at: i64, key: &str, variant: &str) -> Event {
    let mut e = ev(v, at, EXPOSURE_EVENT);
    e.props
        .push(("experiment".into(), PropValue::Str(key.into())));
    e.props
        .push(("variant".into(), PropValue::Str(variant.into())));
    e
}

fn spec(json: serde_json::Value) -> ExperimentSpec {
    serde_json::from_value(json).unwrap()
}

/// v1 (A) signs up after exposure · v2 (A) signed up before its exposure only · v3 (B)
/// buys and signs up · v4 (B) buys · v5 seen in A then B: mixed · v6 exposed to another
/// experiment · v7 (B) exposed twice, buys between.
fn small() -> World {
    World::of(vec![
        exposure(1, 0, "cta", "A"),
        ev(1, MIN, "signup"),
        ev(2, 0, "signup"),
        exposure(2, MIN, "cta", "A"),
        exposure(3, 0, "cta", "B"),
        ev(3, MIN, "purchase"),
        ev(3, 2 * MIN, "signup"),
        exposure(4, 0, "cta", "B"),
        ev(4, DAY, "purchase"),
        exposure(5, 0, "cta", "A"),
        exposure(5, DAY, "cta", "B"),
        exposure(6, 0, "other", "B"),
        ev(6, MIN, "purchase"),
        exposure(7, 0, "cta", "B"),
        ev(7, MIN, "purchase"),
        exposure(7, 2 * MIN, "cta", "B"),
    ])
}

#[test]
fn who_counts_in_which_variant_by_hand() {
    let r = run(&small(), &query(spec(serde_json::json!({"key": "cta"}))), 2);
    assert_eq!(r.control, "A", "no `control` variant: the first by name");
    let units: Vec<(&str, u64)> = r
        .variants
        .iter()
        .map(|v| (v.name.as_str(), v.units))
        .collect();
    assert_eq!(units, vec![("A", 2), ("B", 3)]);
    assert_eq!(r.mixed, 1, "v5 saw both");
    // Metrics: the macro goal first.
    assert_eq!(r.metrics[0].goal, "Purchase");
    assert!(r.metrics[0].primary);
    let rates = |m: usize| -> Vec<(u64, u64)> {
        r.metrics[m]
            .variants
            .iter()
            .map(|v| (v.rate.num, v.rate.den))
            .collect()
    };
    assert_eq!(
        rates(0),
        vec![(0, 2), (3, 3)],
        "purchases: none in A, all of B"
    );
    // Signups after exposure: v1 (v2's came before); v3.
    assert_eq!(rates(1), vec![(1, 2), (1, 3)]);
    let b = r.metrics[0].variants[1].vs_control.as_ref().unwrap();
    assert_eq!(
        b.verdict,
        Verdict::TooEarly,
        "100 units each before a verdict"
    );
    assert!(r.metrics[0].variants[0].vs_control.is_none());
    assert!(r.metrics[0].variants[1].prob_best > 0.9);
    // The split 2:3 is no mismatch: χ² = 0.2, p = 0.6547 (scipy.stats.chisquare).
    assert!((r.sample_ratio.chi_square.unwrap() - 0.2).abs() < 1e-12);
    assert!((r.sample_ratio.p_value - 0.6547208460185769).abs() < 1e-9);

    // A named control, weights naming a variant nobody saw.
    let r = run(
        &small(),
        &query(spec(serde_json::json!({
            "key": "cta", "control": "B", "weights": {"A": 1, "B": 1, "C": 2}, "metrics": ["Signup"]
        }))),
        1,
    );
    let names: Vec<&str> = r.variants.iter().map(|v| v.name.as_str()).collect();
    assert_eq!(names, vec!["B", "A", "C"]);
    assert!((r.variants[2].expected_share - 0.5).abs() < 1e-12);
    assert_eq!(r.metrics.len(), 1);
    // B 3, A 2, C 0 against 1.25, 1.25, 2.5: χ² 5.4, p 0.0672 (scipy.stats.chisquare).
    assert!((r.sample_ratio.chi_square.unwrap() - 5.4).abs() < 1e-12);
    assert!((r.sample_ratio.p_value - 0.06720551273974976).abs() < 1e-9);
    // Units in a variant the weights give nothing: a mismatch outright.
    let r = run(
        &small(),
        &query(spec(serde_json::json!({"key": "cta", "weights": {"A": 1}}))),
        1,
    );
    assert!(r.sample_ratio.mismatch && r.sample_ratio.chi_square.is_none());
}

#[test]
fn a_plan_by_hand() {
    let mut q = query(spec(serde_json::json!({"key": "cta"})));
    q.to = TimeSpec::Ms(T0 + 20 * DAY - 1);
    q.analysis = Analysis::ExperimentPlan(
        serde_json::from_value(serde_json::json!({"mde": 1.0, "variants": 2})).unwrap(),
    );
    let w = small();
    let QueryResult::ExperimentPlan(p) = w.checked(&q, 2) else {
        panic!("not a plan")
    };
    // Seven visitors; their events span a day (the range is 21 days): traffic is
    // measured over the days with data. Purchase (the macro goal, first): v3,
    // v4, v6, v7.
    assert_eq!(p.units, 7);
    assert!(
        (p.days - (DAY + 1) as f64 / DAY as f64).abs() < 1e-12,
        "{}",
        p.days
    );
    let buy = &p.metrics[0];
    assert_eq!((buy.goal.as_str(), buy.is_macro), ("Purchase", true));
    assert_eq!((buy.baseline.num, buy.baseline.den), (4, 7));
    assert!(buy.units_fixed.is_none(), "4/7 doubled is above 1");
    // Signup: v1, v2, v3 (3 of 7) doubled: statsmodels' samplesize_proportions_2indep_
    // onetail(3/7, 3/7, 0.8) = 18.40 → 19 per variant: 38 units at 7 a day.
    let signup = &p.metrics[1];
    assert_eq!((signup.baseline.num, signup.units_fixed), (3, Some(19)));
    assert!((signup.days_fixed.unwrap() - 38.0 * p.days / 7.0).abs() < 1e-9);
    assert!(signup.units_sequential.unwrap() > 19 && !signup.proxy);
}

#[test]
fn a_definition_fills_in_what_the_query_leaves_out() {
    let mut q = query(spec(serde_json::json!({"key": "cta"})));
    q.experiments.insert(
        "cta".into(),
        serde_json::from_value(serde_json::json!({
            "hypothesis": "B's wording sells more",
            "variants": ["B", "A", "D"], "metrics": ["Signup"], "guardrails": ["Purchase"],
            "funnels": ["buy"], "mde": 0.3, "start": "2026-03-01"
        }))
        .unwrap(),
    );
    q.funnels.insert(
        "buy".into(),
        serde_json::from_value(serde_json::json!({"steps": [{"event": EXPOSURE_EVENT}, {"event": "purchase"}], "window": "7d"})).unwrap(),
    );
    let r = run(&small(), &q, 2);
    assert_eq!(r.control, "B", "the first variant");
    let names: Vec<(&str, f64)> = r
        .variants
        .iter()
        .map(|v| (v.name.as_str(), v.expected_share))
        .collect();
    assert_eq!(names[2].0, "D", "declared, never seen: an empty arm");
    assert!((names[2].1 - 1.0 / 3.0).abs() < 1e-12);
    assert_eq!(r.mde, 0.3);
    let metrics: Vec<(&str, bool, bool)> = r
        .metrics
        .iter()
        .map(|m| (m.goal.as_str(), m.primary, m.guardrail))
        .collect();
    assert_eq!(
        metrics,
        vec![
            ("Signup", true, false),
            ("Purchase", false, true),
            ("buy", false, false)
        ]
    );
    // v3 and v7 (B) and v4 (B, a day later) buy after their exposure: the funnel's
    // completion in B, as the Purchase goal's.
    let buy = &r.metrics[2];
    assert!(buy.funnel);
    assert_eq!(buy.variants[0].rate.num, r.metrics[1].variants[0].rate.num);
    // What the query gives wins.
    let mut q2 = q.clone();
    if let Analysis::Experiment(x) = &mut q2.analysis {
        x.control = Some("A".into());
        x.mde = Some(0.05);
    }
    let r = run(&small(), &q2, 1);
    assert_eq!((r.control.as_str(), r.mde), ("A", 0.05));
    // Its targeting narrows the query: those who never signed up (v4, v7 in B).
    let mut q3 = q.clone();
    q3.experiments.get_mut("cta").unwrap().targeting =
        vec![serde_json::from_value(serde_json::json!({"did_not": "Signup"})).unwrap()];
    let r = run(&small(), &q3, 2);
    let units: Vec<(&str, u64)> = r
        .variants
        .iter()
        .map(|v| (v.name.as_str(), v.units))
        .collect();
    assert_eq!(units, vec![("B", 2), ("A", 0), ("D", 0)]);
    // A definition is checked where it is given.
    let bad = Definitions::from_toml(
        "[[goals]]\nname = \"Buy\"\ntype = \"event\"\nevent = \"purchase\"\n[experiments.x]\nvariants = [\"a\"]\n",
    )
    .unwrap_err();
    assert_eq!(bad.path, "experiments.x.variants", "{bad}");
    let bad = Definitions::from_toml(
        "[experiments.x]\nvariants = [\"a\", \"b\"]\nmetrics = [\"Nope\"]\n",
    )
    .unwrap_err();
    assert_eq!(bad.path, "experiments.x.metrics[0]", "{bad}");
    let bad = Definitions::from_toml(
        "[experiments.x]\nvariants = [\"a\", \"b\"]\ntargeting = [{ did = \"Nope\" }]\n",
    )
    .unwrap_err();
    assert_eq!(bad.path, "experiments.x.targeting[0]", "{bad}");
}

#[test]
fn the_spec_is_checked() {
    let bad = |json: serde_json::Value, path: &str| {
        let mut v = serde_json::json!({"type": "experiment", "key": "cta"});
        for (k, x) in json.as_object().unwrap() {
            v[k] = x.clone();
        }
        let mut q = query(spec(serde_json::json!({"key": "x"})));
        q.funnels.insert(
            "open".into(),
            serde_json::from_value(serde_json::json!({"steps": [{"event": "signup"}, {"event": "purchase"}], "open": true})).unwrap(),
        );
        q.analysis = serde_json::from_value(v).unwrap();
        let e = q.plan().map(|_| ()).unwrap_err();
        assert_eq!(e.path, path, "{e}");
    };
    bad(serde_json::json!({"key": " "}), "analysis.key");
    bad(serde_json::json!({"unit": "session"}), "analysis.unit");
    bad(
        serde_json::json!({"metrics": ["Nope"]}),
        "analysis.metrics[0]",
    );
    bad(
        serde_json::json!({"weights": {"A": 0}}),
        "analysis.weights.A",
    );
    bad(serde_json::json!({"mde": 0}), "analysis.mde");
    bad(serde_json::json!({"min_units": 0}), "analysis.min_units");
    bad(serde_json::json!({"trend": "month"}), "analysis.trend");
    bad(
        serde_json::json!({"guardrails": ["Nope"]}),
        "analysis.guardrails[0]",
    );
    bad(
        serde_json::json!({"funnels": ["Nope"]}),
        "analysis.funnels[0]",
    );
    bad(
        serde_json::json!({"funnels": ["open"]}),
        "analysis.funnels[0]",
    );
}

/// Visitors exposed to one of two or three variants (a few to two, some to another
/// experiment, some never), converting at rates that differ by variant; some linked to
/// users across visitors.
fn records(rng: &mut ChaCha8Rng) -> Vec<Record> {
    let variants = ["control", "B", "C"];
    let k = rng.gen_range(2..=3);
    let mut out = Vec::new();
    for v in 1..=rng.gen_range(50..=300u64) {
        let mut t = T0 + rng.gen_range(0..14 * DAY);
        let var = variants[rng.gen_range(0..k)];
        let p: f64 = match var {
            "control" => 0.2,
            "B" => 0.35,
            _ => 0.1,
        };
        if rng.gen_bool(0.3) {
            out.push(Record::Event(ev(v, t - T0, "signup")));
            t += MIN;
        }
        // A history before the exposure, for CUPED: units that bought before tend to buy
        // again.
        let bought = rng.gen_bool(0.15);
        if bought {
            out.push(Record::Event(ev(v, t - T0, "purchase")));
            t += MIN;
        }
        let p = if bought { (p * 2.5).min(0.9) } else { p };
        if rng.gen_bool(0.9) {
            let key = if rng.gen_bool(0.9) { "cta" } else { "other" };
            out.push(Record::Event(exposure(v, t - T0, key, var)));
            if rng.gen_bool(0.05) {
                out.push(Record::Event(exposure(
                    v,
                    t - T0 + HOUR,
                    "cta",
                    variants[0],
                )));
            }
        }
        for _ in 0..rng.gen_range(1..=3) {
            t += rng.gen_range(1..(2 * DAY));
            if rng.gen_bool(p) {
                // Most purchases carry revenue, a few in a second currency.
                let mut e = ev(v, t - T0, "purchase");
                if rng.gen_bool(0.8) {
                    e.revenue = Some(cairn_model::Revenue {
                        micros: rng.gen_range(1..200) * 250_000,
                        currency: if rng.gen_bool(0.9) { "EUR" } else { "USD" }.into(),
                    });
                }
                out.push(Record::Event(e));
            }
            if rng.gen_bool(p) {
                out.push(Record::Event(ev(v, t - T0, "signup")));
            }
        }
        if rng.gen_bool(0.2) {
            out.push(identify(v, t - T0, &format!("u{}", v % 17)));
        }
    }
    out
}

fn check(seed: u64) -> Result<(), TestCaseError> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let recs = records(&mut rng);
    let n = recs.len();
    let w = World::new(recs, rng.gen_range(0..=n), rng.gen_range(0..=n));
    for _ in 0..3 {
        let mut s = spec(serde_json::json!({"key": "cta"}));
        s.unit = if rng.gen_bool(0.3) {
            Unit::Lead
        } else {
            Unit::Visitor
        };
        if rng.gen_bool(0.3) {
            s.control = Some("B".into());
        }
        if rng.gen_bool(0.3) {
            s.weights = [("control", 1.0), ("B", 1.0), ("C", 0.5)]
                .into_iter()
                .take(rng.gen_range(1..=3))
                .map(|(k, w)| (k.to_string(), w))
                .collect();
        }
        if rng.gen_bool(0.3) {
            s.metrics = vec!["Signup".into()];
        }
        s.mde = [None, Some(0.05), Some(0.5)][rng.gen_range(0..3)];
        s.trend = [None, Some(Interval::Day), Some(Interval::Week)][rng.gen_range(0..3)];
        s.min_units = rng.gen_range(1..=60);
        s.cuped = rng.gen_bool(0.5);
        // Funnels' completions as metrics: exposure → signup → purchase in various modes
        // and windows, one with an exclusion, one with an optional step.
        let mode = ["ordered", "strict", "unordered"][rng.gen_range(0..3)];
        let window = ["1h", "1d", "7d"][rng.gen_range(0..3)];
        let funnels: Vec<(&str, serde_json::Value)> = vec![
            (
                "buy",
                serde_json::json!({"steps": [{"event": "signup"}, {"goal": "Purchase"}], "mode": mode, "window": window}),
            ),
            (
                "clean",
                serde_json::json!({"steps": [{"event": EXPOSURE_EVENT}, {"event": "purchase"}], "window": window,
                "exclusions": [{"step": {"event": "signup"}, "between": [1, 2]}]}),
            ),
            (
                "maybe",
                serde_json::json!({"steps": [{"event": "signup"}, {"event": "signup", "optional": true}, {"event": "purchase"}], "window": "7d"}),
            ),
        ];
        let mut q = query(s);
        for (name, f) in funnels {
            q.funnels
                .insert(name.into(), serde_json::from_value(f).unwrap());
        }
        if let Analysis::Experiment(x) = &mut q.analysis
            && rng.gen_bool(0.6)
        {
            x.funnels = ["buy", "clean", "maybe"]
                .into_iter()
                .filter(|_| rng.gen_bool(0.6))
                .map(String::from)
                .collect();
        }
        if rng.gen_bool(0.3) {
            q.from = TimeSpec::Ms(T0 + rng.gen_range(0..7) * DAY);
            q.to = TimeSpec::Ms(T0 + rng.gen_range(7..20) * DAY);
        }
        let r = run(&w, &q, rng.gen_range(1..=3));
        // The trend ends where the totals are.
        for m in &r.metrics {
            if let Some(last) = m.trend.last() {
                let units: Vec<u64> = r.variants.iter().map(|v| v.units).collect();
                prop_assert_eq!(&last.units, &units);
                let conv: Vec<u64> = m.variants.iter().map(|v| v.rate.num).collect();
                prop_assert_eq!(&last.converted, &conv);
            }
        }
    }
    // The plan over the same data.
    let mut q = query(spec(serde_json::json!({"key": "cta"})));
    let mde = [0.1, 0.3, 1.0][rng.gen_range(0..3)];
    let share = [1.0, 0.5][rng.gen_range(0..2)];
    let unit = if rng.gen_bool(0.3) { "lead" } else { "visitor" };
    q.analysis = Analysis::ExperimentPlan(
        serde_json::from_value(serde_json::json!({
            "mde": mde, "variants": rng.gen_range(2..=3), "share": share, "unit": unit,
        }))
        .unwrap(),
    );
    w.checked(&q, 2);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("CAIRN_ENGINE_CASES").ok().and_then(|s| s.parse::<u32>().ok()).map_or(30, |c| c / 10),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn engine_matches_reference_on_experiments(seed in any::<u64>()) {
        check(seed)?;
    }
}
