//! The query spec: examples from the docs parse and resolve; mistakes get errors that
//! name the field.

use cairn_model::query::*;

fn err(json: &str) -> String {
    match Query::from_json(json).and_then(|q| q.resolve().map(|_| q)) {
        Ok(_) => panic!("accepted: {json}"),
        Err(e) => e.to_string(),
    }
}

const HEAD: &str = r#""site": "s.example", "from": "2026-10-01", "to": "2026-10-31""#;

fn spec(rest: &str) -> String {
    format!("{{{HEAD}, {rest}}}")
}

#[test]
fn documented_examples_parse_and_resolve() {
    let defs = Definitions::from_toml(include_str!("../../../docs/examples/shop.toml")).unwrap();
    assert_eq!(defs.goals.len(), 14);
    assert_eq!(defs.funnels.len(), 2);
    assert_eq!(
        defs.experiments["sticky_cart"].variants,
        ["control", "sticky"]
    );
    for (name, text) in [
        ("goals", include_str!("../../../docs/examples/goals.json")),
        ("funnel", include_str!("../../../docs/examples/funnel.json")),
        (
            "saved_funnel",
            include_str!("../../../docs/examples/saved_funnel.json"),
        ),
        (
            "influence",
            include_str!("../../../docs/examples/influence.json"),
        ),
        (
            "campaigns",
            include_str!("../../../docs/examples/campaigns.json"),
        ),
        (
            "leading",
            include_str!("../../../docs/examples/leading.json"),
        ),
    ] {
        let mut q = Query::from_json(text).unwrap_or_else(|e| panic!("{name}: {e}"));
        q.merge_definitions(defs.clone()).unwrap();
        q.resolve().unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    let q = Query::from_json(include_str!("../../../docs/examples/saved_funnel.json")).unwrap();
    assert!(
        q.resolve()
            .unwrap_err()
            .to_string()
            .contains("no funnel named `same_cart`")
    );
}

#[test]
fn dates_resolve_in_the_time_zone() {
    let q = Query::from_json(&format!(
        r#"{{{HEAD}, "timezone": "Europe/Berlin", "analysis": {{"type": "overview"}}}}"#
    ))
    .unwrap();
    let r = q.resolve().unwrap();
    // 2026-10-01 00:00 in Berlin is 2026-09-30T22:00Z (summer time); 2026-10-31 ends at
    // 2026-10-31T23:00Z (winter time), inclusive of its last millisecond.
    assert_eq!(
        r.from,
        cairn_model::parse_timestamp("2026-09-30T22:00:00Z").unwrap()
    );
    assert_eq!(
        r.to,
        cairn_model::parse_timestamp("2026-10-31T23:00:00Z").unwrap() - 1
    );
}

#[test]
fn relative_times_resolve_from_now() {
    let now = cairn_model::parse_timestamp("2026-11-23T10:30:00Z").unwrap();
    let q = |from: &str, to: &str| {
        Query::from_json(&format!(
            r#"{{"site": "s", "from": "{from}", "to": "{to}", "timezone": "Europe/Berlin", "analysis": {{"type": "overview"}}}}"#
        ))
        .unwrap()
        .resolve_at(now)
    };
    let r = q("-30d", "now").unwrap();
    assert_eq!((r.from, r.to), (now - 30 * 86_400_000, now));
    // Today in Berlin began at 2026-11-22T23:00Z; yesterday ended 1 ms before.
    let r = q("yesterday", "yesterday").unwrap();
    let midnight = cairn_model::parse_timestamp("2026-11-22T23:00:00Z").unwrap();
    assert_eq!((r.from, r.to), (midnight - 86_400_000, midnight - 1));
    let r = q("today", "today").unwrap();
    assert_eq!((r.from, r.to), (midnight, midnight + 86_400_000 - 1));
    assert!(
        q("-soon", "now")
            .unwrap_err()
            .to_string()
            .contains("not a duration")
    );
    assert!(
        q("tomorrow", "now")
            .unwrap_err()
            .to_string()
            .contains("`-30d`")
    );
}

#[test]
fn durations() {
    assert_eq!(Duration::parse("1h30m").unwrap().ms, 5_400_000);
    assert_eq!(Duration::parse("7d").unwrap().ms, 604_800_000);
    assert_eq!(Duration::parse("250ms").unwrap().ms, 250);
    assert!(Duration::parse("7 days").is_err());
    assert!(Duration::parse("").is_err());
    assert!(Duration::parse("99999999999999999999d").is_err());
    assert_eq!(Duration::from_ms(90_000).to_string(), "90s");
    assert_eq!(Duration::from_ms(7 * 86_400_000).to_string(), "1w");
}

#[test]
fn mistakes_name_the_field() {
    let cases = [
        (
            spec(
                r#""analysis": {"type": "funnel", "steps": [{"event": "a", "within": "1h"}, {"event": "b"}]}"#,
            ),
            "analysis.steps[0].within: the first step has no previous step to be within",
        ),
        (
            spec(r#""goals": [{"name": "P", "type": "pages"}], "analysis": {"type": "goals"}"#),
            "goals[0].pages: a pages goal needs `pages`",
        ),
        (
            spec(
                r#""goals": [{"name": "P", "type": "pages", "pages": 3, "seconds": 4}], "analysis": {"type": "goals"}"#,
            ),
            "goals[0].seconds: `seconds` does not apply to a pages goal",
        ),
        (
            spec(r#""filters": [{"did": "Purchse"}], "analysis": {"type": "overview"}"#),
            "filters[0]: unknown goal `Purchse`: define it in `goals`",
        ),
        (
            spec(r#""analysis": {"type": "funnel", "windw": "1d", "steps": []}"#),
            "analysis.windw: unknown field `windw`",
        ),
        (
            spec(r#""analysis": {"type": "funnel", "window": "1 day", "steps": [{}, {}]}"#),
            "analysis.window: `1 day` is not a duration",
        ),
        (
            spec(r#""analysis": {"type": "funnel", "steps": [{"event": "a"}]}"#),
            "analysis.steps: a funnel needs at least two steps",
        ),
        (
            spec(
                r#""filters": [{"field": "props.price", "op": "gt", "value": "x"}], "analysis": {"type": "overview"}"#,
            ),
            "filters[0]: `gt` takes a number",
        ),
        (
            spec(
                r#""filters": [{"field": "path", "op": "regex", "value": "(["}], "analysis": {"type": "overview"}"#,
            ),
            "filters[0]: invalid regular expression",
        ),
        (
            spec(
                r#""filters": [{"field": "colour", "value": "red"}], "analysis": {"type": "overview"}"#,
            ),
            "filters[0].field: unknown field `colour`",
        ),
        (
            spec(r#""timezone": "Mars/Olympus", "analysis": {"type": "overview"}"#),
            "timezone: unknown time zone `Mars/Olympus`",
        ),
        (
            r#"{"site": "s", "from": "2026-10-05", "to": "2026-10-01", "analysis": {"type": "overview"}}"#.to_string(),
            "to: is before `from`",
        ),
        (
            spec(
                r#""goals": [{"name": "A", "type": "composite", "any_of": ["B"]}, {"name": "B", "type": "composite", "any_of": ["A"]}], "analysis": {"type": "goals"}"#,
            ),
            "composite goals refer to each other: A -> B -> A",
        ),
        (
            spec(
                r#""analysis": {"type": "funnel", "unit": "attempt", "mode": "unordered", "steps": [{}, {}]}"#,
            ),
            "analysis.unit: attempts are counted on ordered or strict closed funnels",
        ),
        (
            spec(
                r#""analysis": {"type": "funnel", "steps": [{"event": "a"}, {"event": "b"}], "exclusions": [{"step": {"event": "x"}, "between": [2, 1]}]}"#,
            ),
            "analysis.exclusions[0].between: needs two steps i < j between 1 and 2",
        ),
        (
            spec(
                r#""analysis": {"type": "goals", "units": ["attempt"]}, "goals": [{"name": "A", "type": "event", "event": "a"}]"#,
            ),
            "analysis.units: `attempt` is a funnel unit",
        ),
        (
            spec(r#""analysis": {"type": "funnel", "window": "9223372036854775807ms", "steps": [{}, {}]}"#),
            "analysis.window: must be positive and at most 3650 days",
        ),
        (
            spec(r#""analysis": {"type": "funnel", "steps": [{"event": "a"}, {"event": "b"}], "exclusions": [{"step": {"goal": "Purchse"}, "between": [1, 2]}]}"#),
            "analysis.exclusions[0].step: unknown goal `Purchse`",
        ),
        (
            spec(r#""analysis": {"type": "funnel", "mode": "unordered", "steps": [{}, {}], "breakdown": {"by": "device", "attribution": "step", "step": 1}}"#),
            "analysis.breakdown.attribution: `attribution: step` needs a closed ordered or strict funnel",
        ),
        (
            spec(r#""analysis": {"type": "funnel", "steps": [{}, {"optional": true}, {}], "breakdown": {"by": "device", "attribution": "step", "step": 2}}"#),
            "analysis.breakdown.step: `attribution: step` needs `step`: a required step",
        ),
    ];
    for (json, want) in cases {
        let got = err(&json);
        assert!(got.contains(want), "for {json}\n got: {got}\nwant: {want}");
    }
}

#[test]
fn toml_definitions_report_the_field() {
    let e = Definitions::from_toml("[[goals]]\nname = \"A\"\ntype = \"event\"\nevnt = \"a\"\n")
        .unwrap_err();
    assert!(e.to_string().contains("unknown field `evnt`"), "{e}");
    let e = Definitions::from_toml("[[goals]]\nname = \"A\"\ntype = \"duration\"\n").unwrap_err();
    assert_eq!(
        e.to_string(),
        "goals[0].seconds: a duration goal needs `seconds`"
    );
    let e =
        Definitions::from_toml("[funnels.f]\nsteps = [{ goal = \"Nope\" }, { event = \"b\" }]\n")
            .unwrap_err();
    assert_eq!(e.to_string(), "funnels.f.steps[0]: unknown goal `Nope`");
    let e = Definitions::from_toml(
        "[funnels.f]\nsteps = [{ event = \"a\" }, { event = \"b\" }]\nexclusions = [{ step = { goal = \"X\" }, between = [1, 2] }]\n",
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "funnels.f.exclusions[0].step: unknown goal `X`"
    );
    let e = Definitions::from_toml("[[goals]]\nname = ").unwrap_err();
    assert!(e.to_string().contains("line 2"), "{e}");
}

#[test]
fn specs_round_trip_through_json() {
    let text = include_str!("../../../docs/examples/funnel.json");
    let q = Query::from_json(text).unwrap();
    assert_eq!(Query::from_json(&q.to_json()).unwrap(), q);
}

/// Hardening item 13: goal and funnel names follow one rule, as event names do: not
/// blank, no control characters (tab and NUL included), at most 200 bytes.
#[test]
fn item13_names_refuse_control_characters() {
    for (name, why) in [
        ("a\tb", "control characters"),
        ("a\u{0}b", "control characters"),
        ("  ", "blank"),
    ] {
        let goal = serde_json::json!({"name": name, "type": "event", "event": "x"});
        let s = spec(&format!(
            r#""goals": [{goal}], "analysis": {{"type": "goals"}}"#
        ));
        let e = err(&s);
        assert!(e.starts_with("goals[0].name: ") && e.contains(why), "{e}");
        let funnel = serde_json::json!({ name: {"steps": [{"event": "a"}, {"event": "b"}]} });
        let s = spec(&format!(
            r#""funnels": {funnel}, "analysis": {{"type": "goals"}}"#
        ));
        assert!(err(&s).contains(why), "{}", err(&s));
    }
    let long = "n".repeat(MAX_NAME + 1);
    let goal = serde_json::json!({"name": long, "type": "event", "event": "x"});
    let s = spec(&format!(
        r#""goals": [{goal}], "analysis": {{"type": "goals"}}"#
    ));
    assert!(err(&s).contains("at most 200 bytes"));
}
