//! The demo shop's planted effects (crates/gen/src/shop.rs) come out of the `influence`
//! analysis as planted, on the data `cairn demo` makes (its default seed and size):
//!
//! * "Watched video" (a real effect: watching raises the propensity to buy) ranks first
//!   and is significant after adjusting for device and channel;
//! * "Newsletter" (more sign-ups on desktop and from email and referral traffic, which
//!   buy more anyway, but no effect) looks associated until adjusted for device and
//!   channel;
//! * "Shared" (the same chance for everyone, no effect) is not significant;
//! * "Wrote review" (mostly after the purchase) is not credited with precedence, and
//!   looks strongly associated without it.

use std::collections::HashMap;

use cairn_engine::RunOptions;
use cairn_gen::{GenConfig, generate};
use cairn_model::Record;
use cairn_model::query::result::{InfluenceResult, InfluenceRow, QueryResult, Ratio};
use cairn_model::query::*;
use cairn_timeline::memory::MemorySource;

const SHOP: &str = "shop.example";
const CANDIDATES: [&str; 4] = ["Watched video", "Newsletter", "Shared", "Wrote review"];
/// `cairn demo`'s default number of events (all three sites; the shop has about half).
const DEMO_EVENTS: u64 = 1_000_000;

/// The demo sites' generated events (30 days): the shop's only.
fn shop_data(seed: u64) -> (GenConfig, MemorySource) {
    let cfg = GenConfig {
        seed,
        events: DEMO_EVENTS,
        ..GenConfig::default()
    };
    let events = generate(&cfg)
        .filter_map(|r| match r {
            Record::Event(e) if e.site == SHOP => Some(e),
            _ => None,
        })
        .collect();
    (cfg, MemorySource::new(events, HashMap::new()))
}

/// The influence of the four planted actions on Purchase, per visitor, stratified by
/// the default fields (device and channel), with the demo shop's definitions.
fn influence(cfg: &GenConfig, src: &MemorySource, order: Precedence) -> InfluenceResult {
    let mut spec: InfluenceSpec = serde_json::from_value(serde_json::json!({
        "goal": "Purchase",
        "candidates": CANDIDATES,
    }))
    .unwrap();
    assert_eq!(spec.unit, Unit::Visitor);
    spec.order = order;
    let mut q = Query {
        site: SHOP.into(),
        from: TimeSpec::Ms(cfg.start_ms),
        to: TimeSpec::Ms(cfg.end_ms() - 1),
        timezone: "UTC".into(),
        filters: Vec::new(),
        goals: Vec::new(),
        funnels: Default::default(),
        experiments: Default::default(),
        page_groups: Vec::new(),
        spend: Vec::new(),
        session_gap: Duration::from_ms(30 * 60_000),
        analysis: Analysis::Influence(spec),
    };
    let defs = Definitions::from_toml(include_str!("../../../../docs/examples/shop.toml"))
        .expect("the demo shop's definitions");
    q.merge_definitions(defs).unwrap();
    let plan = q.plan().unwrap();
    let opts = RunOptions {
        threads: 2,
        ..RunOptions::default()
    };
    match cairn_engine::run(src, &plan, &opts).unwrap() {
        QueryResult::Influence(r) => {
            assert_eq!(r.stratified_by, ["device", "channel"]);
            r
        }
        other => panic!("{other:?}"),
    }
}

fn row<'a>(r: &'a InfluenceResult, name: &str) -> &'a InfluenceRow {
    r.candidates
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no candidate `{name}`"))
}

fn lift(c: &InfluenceRow) -> Ratio {
    c.lift.unwrap_or_else(|| panic!("`{}` has no lift", c.name))
}

fn adjusted(c: &InfluenceRow) -> Ratio {
    c.stratified
        .as_ref()
        .and_then(|s| s.lift)
        .unwrap_or_else(|| panic!("`{}` has no adjusted lift", c.name))
}

fn q_value(c: &InfluenceRow) -> f64 {
    c.q_value
        .unwrap_or_else(|| panic!("`{}` has no q-value", c.name))
}

fn ratio(l: Option<Ratio>) -> String {
    l.map_or("–".into(), |l| {
        format!("×{:.2} [{:.2}, {:.2}]", l.ratio, l.low, l.high)
    })
}

/// The report as a table, for failure messages (and `--nocapture`).
fn show(r: &InfluenceResult) -> String {
    let mut s = format!(
        "order {:?}: {} of {} visitors converted\n",
        r.order, r.converted.num, r.converted.den
    );
    for c in &r.candidates {
        s += &format!(
            "  {:<14} support {:>5}  with {:>4}/{:<5} without {:>4}/{:<5} lift {:<24} adjusted {:<24} q {:<10.3e} significant {:<5} after only {}\n",
            c.name,
            c.support,
            c.with.num,
            c.with.den,
            c.without.num,
            c.without.den,
            ratio(c.lift),
            ratio(c.stratified.as_ref().and_then(|s| s.lift)),
            c.q_value.unwrap_or(f64::NAN),
            c.significant,
            c.after_only
        );
    }
    s
}

/// Checks the planted story on the demo data of `seed`.
fn check_story(seed: u64) {
    let (cfg, src) = shop_data(seed);
    let before = influence(&cfg, &src, Precedence::Before);
    let any = influence(&cfg, &src, Precedence::Any);
    let table = format!("seed {seed}\n{}{}", show(&before), show(&any));
    println!("{table}");
    assert_eq!(before.tested, 4, "{table}");
    assert_eq!(any.tested, 4, "{table}");
    assert!(before.candidates.iter().all(|c| c.ranked), "{table}");

    // The real effect: first, significant, and still well above 1 once device and
    // channel are held fixed.
    let video = row(&before, "Watched video");
    assert_eq!(before.candidates[0].name, "Watched video", "{table}");
    assert!(video.significant, "{table}");
    assert!(adjusted(video).low > 1.0, "{table}");

    // The confounder: associated in the raw comparison, not within a device and channel.
    let news = row(&before, "Newsletter");
    assert!(lift(news).low > 1.0, "{table}");
    let adj = adjusted(news);
    assert!(adj.low < 1.0 && 1.0 < adj.high, "{table}");
    assert!(adj.ratio < lift(news).ratio, "{table}");
    assert!(!news.significant, "{table}");

    // The null: not significant.
    let shared = row(&before, "Shared");
    assert!(q_value(shared) >= 0.05, "{table}");
    assert!(!shared.significant, "{table}");
    assert!(shared.support >= 500, "{table}");

    // Mostly after the purchase: not credited. Most reviewers wrote only after buying.
    let review = row(&before, "Wrote review");
    assert!(!review.significant, "{table}");
    assert!(adjusted(review).low < 1.0, "{table}");
    assert!(
        review.after_only >= 300 && review.after_only > review.support,
        "{table}"
    );

    // Without precedence the review looks like the strongest driver of all, because
    // buyers write them; the other three keep their verdicts.
    let review_any = row(&any, "Wrote review");
    assert_eq!(any.candidates[0].name, "Wrote review", "{table}");
    assert!(review_any.significant, "{table}");
    assert!(adjusted(review_any).low > 5.0, "{table}");
    assert_eq!(review_any.after_only, 0, "{table}");
    assert_eq!(
        review_any.support,
        review.support + review.after_only,
        "{table}"
    );
    assert!(row(&any, "Watched video").significant, "{table}");
    assert!(adjusted(row(&any, "Watched video")).low > 1.0, "{table}");
    let news_any = row(&any, "Newsletter");
    assert!(
        !news_any.significant && adjusted(news_any).low < 1.0,
        "{table}"
    );
    assert!(!row(&any, "Shared").significant, "{table}");
}

/// The demo's own seed and size.
#[test]
fn the_demo_shop_tells_its_planted_story() {
    check_story(1);
}

/// The story does not hang on one seed; run with
/// `cargo test -p cairn-conformance --test it planted -- --ignored --nocapture`.
/// (The null "Shared" can be significant by chance on about one seed in twenty.)
#[test]
#[ignore = "slow: several generated demos"]
fn the_planted_story_holds_on_other_seeds() {
    for seed in 2..=8 {
        check_story(seed);
    }
}
