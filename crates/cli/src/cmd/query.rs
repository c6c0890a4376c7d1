//! `cairn query --spec FILE|- [--defs FILE.toml] [--json|--csv]`: runs one query spec. The
//! site's goals and funnels stored in the registry (through the dashboard or the API) can
//! be named in it, as over HTTP; the spec's own and those of `--defs` win.

use std::fmt::Write as _;
use std::io::Read;
use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use cairn_engine::{Backend, Engine, RunOptions};
use cairn_model::query::result::{
    AttributionResult, CartResult, ExperimentResult, FormsResult, FunnelFlow, FunnelResult,
    GoalsResult, InfluenceResult, LeadingResult, NodeUnits, OverviewFigures, OverviewResult,
    PagesResult, PathNode, PathNodeKind, PathsResult, PlanResult, QueryResult, Rate, Ratio,
    TimeStats, TransitionsResult,
};
use cairn_model::query::{Definitions, Query};

use crate::cli::QueryArgs;
use crate::human;
use crate::store;

pub fn run(data: &Path, args: QueryArgs) -> Result<ExitCode> {
    let text = if args.spec.as_os_str() == "-" {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .context("reading the query spec from standard input")?;
        s
    } else {
        std::fs::read_to_string(&args.spec)
            .with_context(|| format!("reading the query spec {}", args.spec.display()))?
    };
    let mut q = match Query::from_json(&text) {
        Ok(q) => q,
        Err(e) => bail!(
            "{}: {e}\n(see docs/queries.md for the spec's fields)",
            args.spec.display()
        ),
    };
    if let Some(defs) = &args.defs {
        let t =
            std::fs::read_to_string(defs).with_context(|| format!("reading {}", defs.display()))?;
        let d =
            Definitions::from_toml(&t).map_err(|e| anyhow::anyhow!("{}: {e}", defs.display()))?;
        q.merge_definitions(d)
            .map_err(|e| anyhow::anyhow!("{}: {e}", defs.display()))?;
    }
    // The site's stored goals and funnels (the registry, as the API uses them), where
    // neither the spec nor --defs defines its own.
    if cairn_meta::Meta::exists(data) {
        let meta = cairn_meta::Meta::open(data).context("opening the site registry")?;
        if let Some(j) = meta.definitions(&q.site)? {
            let mut stored: Definitions = serde_json::from_str(&j)
                .with_context(|| format!("the stored goals and funnels of {}", q.site))?;
            stored
                .goals
                .retain(|g| !q.goals.iter().any(|x| x.name == g.name));
            stored.funnels.retain(|n, _| !q.funnels.contains_key(n));
            q.merge_definitions(stored)
                .map_err(|e| anyhow::anyhow!("the site's stored definitions: {e}"))?;
        }
    }
    // The site's stored spend, for a breakdown that can join it (docs/campaigns.md).
    if q.spend.is_empty()
        && matches!(&q.analysis, cairn_model::query::Analysis::Goals(g) if g.breakdown.is_some())
        && cairn_meta::Meta::exists(data)
    {
        let meta = cairn_meta::Meta::open(data).context("opening the site registry")?;
        q.spend = meta.spend(&q.site, None)?;
    }
    let plan = match q.plan() {
        Ok(p) => p,
        Err(e) => bail!("{}: {e}", args.spec.display()),
    };
    let mut opts = RunOptions::default();
    if let Some(t) = args.threads {
        opts.threads = t.max(1);
    }
    let (store, ch);
    let source: &dyn cairn_timeline::TimelineSource = match &args.clickhouse_url {
        Some(url) => {
            let config = cairn_clickhouse::Config {
                url: url.clone(),
                database: args.clickhouse_database.clone(),
                ..cairn_clickhouse::Config::default()
            };
            ch = cairn_clickhouse::ClickHouse::connect(config)
                .with_context(|| format!("connecting to ClickHouse at {url}"))?;
            &ch
        }
        None => {
            store = store::open_read(data)?;
            &*store
        }
    };
    let engine = Engine { source, opts };
    let mut times = Vec::new();
    let mut res = None;
    for _ in 0..args.repeat.max(1) {
        let t0 = Instant::now();
        res = Some(engine.query(&plan).context("running the query")?);
        times.push(t0.elapsed());
    }
    let res = res.expect("ran at least once");
    if args.json {
        println!("{}", serde_json::to_string_pretty(&res)?);
    } else if args.csv {
        print!("{}", csv(&res)?);
    } else {
        print!("{}", render(&res));
    }
    if args.time {
        // Seconds to the tenth of a millisecond: benchmarks compare short queries.
        let secs = |t: &std::time::Duration| format!("{:.4} s", t.as_secs_f64());
        let each: Vec<String> = times.iter().map(secs).collect();
        let mut sorted = times.clone();
        sorted.sort();
        if times.len() == 1 {
            eprintln!("query took {}", each[0]);
        } else {
            eprintln!(
                "query took {} (median of {} runs: {})",
                secs(&sorted[sorted.len() / 2]),
                times.len(),
                each.join(", ")
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn pct(x: f64) -> String {
    format!("{:.2}%", x * 100.0)
}

fn rate(r: &Rate) -> String {
    if r.den == 0 {
        return "–".into();
    }
    format!("{} [{} – {}]", pct(r.rate), pct(r.low), pct(r.high))
}

fn ms(v: f64) -> String {
    let s = v / 1000.0;
    if s < 60.0 {
        format!("{s:.1}s")
    } else if s < 3600.0 {
        format!("{:.1}m", s / 60.0)
    } else if s < 86_400.0 {
        format!("{:.1}h", s / 3600.0)
    } else {
        format!("{:.1}d", s / 86_400.0)
    }
}

fn times(t: &Option<TimeStats>) -> String {
    match t {
        Some(t) => format!(
            "{} (p25 {}, p75 {}, p90 {})",
            ms(t.median_ms as f64),
            ms(t.p25_ms as f64),
            ms(t.p75_ms as f64),
            ms(t.p90_ms as f64)
        ),
        None => "–".into(),
    }
}

/// A plain text table: columns padded to their widest cell.
fn table(head: &[&str], rows: &[Vec<String>]) -> String {
    let mut w: Vec<usize> = head.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            w[i] = w[i].max(c.chars().count());
        }
    }
    let mut out = String::new();
    let line = |cells: Vec<&str>, out: &mut String| {
        let parts: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c}{}", " ".repeat(w[i] - c.chars().count())))
            .collect();
        out.push_str(parts.join("  ").trim_end());
        out.push('\n');
    };
    line(head.to_vec(), &mut out);
    line(
        w.iter()
            .map(|&n| "-".repeat(n))
            .collect::<Vec<_>>()
            .iter()
            .map(String::as_str)
            .collect(),
        &mut out,
    );
    for r in rows {
        line(r.iter().map(String::as_str).collect(), &mut out);
    }
    out
}

fn render(r: &QueryResult) -> String {
    match r {
        QueryResult::Goals(g) => goals(g),
        QueryResult::Funnel(f) | QueryResult::Checkout(f) => funnel(f),
        QueryResult::CartAbandonment(c) => cart(c),
        QueryResult::Forms(f) => forms(f),
        QueryResult::Pages(p) => pages(p),
        QueryResult::Overview(o) => overview(o),
        QueryResult::Paths(p) => paths(p),
        QueryResult::Transitions(t) => transitions(t),
        QueryResult::Influence(i) => influence(i),
        QueryResult::Attribution(a) => attribution(a),
        QueryResult::LeadingIndicators(l) => leading(l),
        QueryResult::Experiment(x) => experiment(x),
        QueryResult::ExperimentPlan(p) => plan(p),
        QueryResult::Events(e) => events(e),
    }
}

fn plan(r: &PlanResult) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Planning a test of {} variants on {} of the traffic, to detect a {} relative change with {} power: {} {}s a day ({} over {:.0} days).",
        r.variants,
        pct(r.share),
        pct(r.mde),
        pct(r.power),
        human::count(r.units_per_day.round() as u64),
        r.unit.as_str(),
        human::count(r.units),
        r.days
    );
    let _ = writeln!(
        out,
        "Sequential: read it every day; fixed: look once, at the planned size. Proxy (*): a micro goal that goes with {} (influence, adjusted) and decides sooner.",
        r.goal.as_deref().unwrap_or("the macro goal")
    );
    out.push('\n');
    let days = |d: Option<f64>| d.map_or_else(|| "–".into(), |d| format!("{:.0}", d.ceil()));
    let units = |u: Option<u64>| u.map_or_else(|| "–".into(), human::count);
    let rows: Vec<Vec<String>> = r
        .metrics
        .iter()
        .map(|m| {
            vec![
                format!(
                    "{}{}{}",
                    if m.proxy { "* " } else { "  " },
                    m.goal,
                    if m.is_macro { " (macro)" } else { "" }
                ),
                rate(&m.baseline),
                units(m.units_sequential),
                days(m.days_sequential),
                units(m.units_fixed),
                days(m.days_fixed),
                match (&m.macro_lift, m.is_macro) {
                    (None, false) if m.proxy => "every converter reached it".into(),
                    (l, _) => ratio(l),
                },
            ]
        })
        .collect();
    out.push_str(&table(
        &[
            "goal",
            "baseline",
            "per variant (sequential)",
            "days",
            "per variant (fixed)",
            "days",
            "macro lift when reached",
        ],
        &rows,
    ));
    out
}

fn experiment(r: &ExperimentResult) -> String {
    let mut out = String::new();
    let split: Vec<String> = r
        .variants
        .iter()
        .map(|v| {
            format!(
                "{} {} ({}; planned {})",
                v.name,
                human::count(v.units),
                pct(v.share),
                pct(v.expected_share)
            )
        })
        .collect();
    let _ = writeln!(
        out,
        "Experiment {}: {}s {}; the others are compared with {}.",
        r.key,
        r.unit.as_str(),
        split.join(", "),
        r.control
    );
    if r.mixed > 0 {
        let _ = writeln!(
            out,
            "{} {}s saw more than one variant and are left out.",
            human::count(r.mixed),
            r.unit.as_str()
        );
    }
    let _ = writeln!(
        out,
        "Sample ratio: χ² {}, p {}{}",
        r.sample_ratio
            .chi_square
            .map_or_else(|| "–".into(), |c| format!("{c:.2}")),
        p_value(Some(r.sample_ratio.p_value)),
        if r.sample_ratio.mismatch {
            " — MISMATCH: the split is not what was planned; fix assignment or tracking before reading the results."
        } else {
            " (no mismatch)"
        }
    );
    let _ = writeln!(
        out,
        "Sequential 95% intervals, valid however often you look (tuned to a {} change); p adjusted (Holm) across metrics and variants; a verdict needs {} units per variant.",
        pct(r.mde),
        human::count(r.min_units)
    );
    for m in &r.metrics {
        out.push('\n');
        let _ = writeln!(
            out,
            "{}{}{}",
            m.goal,
            if m.funnel { " (funnel completed)" } else { "" },
            if m.primary { " (primary)" } else { "" }
        );
        let rows: Vec<Vec<String>> = m
            .variants
            .iter()
            .map(|v| {
                let c = v.vs_control.as_ref();
                vec![
                    v.variant.clone(),
                    rate(&v.rate),
                    c.map_or_else(
                        || "control".into(),
                        |c| {
                            format!(
                                "{:+.2} pp [{:+.2} – {:+.2}]",
                                c.diff.diff * 100.0,
                                c.sequential.low * 100.0,
                                c.sequential.high * 100.0
                            )
                        },
                    ),
                    c.map_or_else(|| "–".into(), |c| p_value(Some(c.sequential.adjusted_p))),
                    c.map_or_else(
                        || "–".into(),
                        |c| format!("{} ({})", ratio(&c.lift), p_value(c.p_value)),
                    ),
                    pct(v.prob_best),
                    format!("{:.3} pp", v.expected_loss * 100.0),
                    c.map_or_else(|| "–".into(), |c| verdict(c.verdict).into()),
                ]
            })
            .collect();
        if !m.trend.is_empty() {
            let _ = writeln!(out, "Over time (cumulative to each period's end):");
            for t in &m.trend {
                let bands: Vec<String> = r
                    .variants
                    .iter()
                    .zip(&t.vs_control)
                    .filter_map(|(v, b)| {
                        b.as_ref().map(|b| {
                            format!(
                                "{} {:+.2} pp [{:+.2} – {:+.2}]",
                                v.name,
                                b.diff * 100.0,
                                b.low * 100.0,
                                b.high * 100.0
                            )
                        })
                    })
                    .collect();
                let _ = writeln!(
                    out,
                    "  {}  {} units  {}",
                    t.period,
                    human::count(t.units.iter().sum()),
                    if bands.is_empty() {
                        "–".into()
                    } else {
                        bands.join(", ")
                    }
                );
            }
        }
        out.push_str(&table(
            &[
                "variant",
                "rate (95% CI)",
                "difference [sequential 95%]",
                "adjusted p",
                "lift (fixed-size p)",
                "P(best)",
                "expected loss",
                "verdict",
            ],
            &rows,
        ));
        if let Some(f) = &m.cuped {
            let units: u64 = r.variants.iter().map(|v| v.units).sum();
            let _ = writeln!(
                out,
                "CUPED: {} of {} {}s reached {} before their exposure (θ {:.3}); the adjustment removes {} of the variance{}. The verdicts above are the adjusted comparison's:",
                human::count(f.with_history),
                human::count(units),
                r.unit.as_str(),
                m.goal,
                f.theta,
                pct(f.variance_reduction),
                if f.variance_reduction >= 0.05 {
                    ""
                } else if (f.with_history as f64) < 0.05 * units as f64 {
                    " — it helps little: few units did anything before their exposure (new visitors have no history; start the range before the experiment to include returning ones')"
                } else {
                    " — it helps little: what units did before does not predict this metric"
                }
            );
            let rows: Vec<Vec<String>> = m
                .variants
                .iter()
                .filter_map(|v| {
                    let c = v.vs_control.as_ref()?.cuped.as_ref()?;
                    Some(vec![
                        v.variant.clone(),
                        format!(
                            "{:+.2} pp [{:+.2} – {:+.2}]",
                            c.diff * 100.0,
                            c.low * 100.0,
                            c.high * 100.0
                        ),
                        c.sequential.as_ref().map_or_else(
                            || "–".into(),
                            |s| format!("[{:+.2} – {:+.2}]", s.low * 100.0, s.high * 100.0),
                        ),
                        p_value(c.sequential.as_ref().map(|s| s.adjusted_p)),
                    ])
                })
                .collect();
            out.push_str(&table(
                &[
                    "variant",
                    "adjusted difference [fixed-size 95%]",
                    "sequential 95%",
                    "adjusted p",
                ],
                &rows,
            ));
        }
    }
    for m in &r.revenue {
        out.push('\n');
        let _ = writeln!(
            out,
            "Revenue per {} after exposure ({}); Welch's interval and p at a fixed size, the verdict from the sequential test",
            r.unit.as_str(),
            m.currency
        );
        let rows: Vec<Vec<String>> = m
            .variants
            .iter()
            .map(|v| {
                let c = v.vs_control.as_ref();
                vec![
                    v.variant.clone(),
                    format!("{:.2}", v.mean),
                    format!("{:.2}", v.sd),
                    format!("{:.2}", v.total),
                    c.map_or_else(
                        || "control".into(),
                        |c| format!("{:+.2} [{:+.2} – {:+.2}]", c.diff, c.low, c.high),
                    ),
                    c.map_or_else(|| "–".into(), |c| p_value(Some(c.p_value))),
                    c.map_or_else(
                        || "–".into(),
                        |c| {
                            c.sequential.as_ref().map_or_else(
                                || "–".into(),
                                |s| format!("[{:+.2} – {:+.2}]", s.low, s.high),
                            )
                        },
                    ),
                    c.map_or_else(
                        || "–".into(),
                        |c| p_value(c.sequential.as_ref().map(|s| s.adjusted_p)),
                    ),
                    c.map_or_else(|| "–".into(), |c| verdict(c.verdict).into()),
                ]
            })
            .collect();
        out.push_str(&table(
            &[
                "variant",
                "per unit",
                "sd",
                "total",
                "difference [Welch 95%]",
                "Welch p",
                "sequential 95%",
                "adjusted p",
                "verdict",
            ],
            &rows,
        ));
    }
    out
}

fn verdict(v: cairn_model::query::result::Verdict) -> &'static str {
    use cairn_model::query::result::Verdict;
    match v {
        Verdict::TooEarly => "too early",
        Verdict::CheckAssignment => "check assignment",
        Verdict::Better => "better",
        Verdict::Worse => "worse",
        Verdict::NoDifferenceYet => "no difference yet",
    }
}

fn leading(r: &LeadingResult) -> String {
    use cairn_model::query::result::CohortStatus;
    let mut out = String::new();
    let period = match r.period {
        cairn_model::query::Interval::Day => "day",
        _ => "week",
    };
    let _ = writeln!(
        out,
        "Leading indicators of {}: {} new visitors in cohorts of {} × {period} of first visit ({} left out beyond the listed values).",
        r.goal,
        human::count(r.visitors),
        r.by,
        human::count(r.other_visitors)
    );
    let _ = writeln!(
        out,
        "Early rate: reached within {} days of the first visit; macro rate: {} within {} days. {} cohorts fitted (complete, at least {} visitors).",
        r.early_days,
        r.goal,
        r.horizon_days,
        r.fitted,
        human::count(r.min_visitors)
    );
    let _ = writeln!(
        out,
        "r: Pearson's correlation across cohorts with its 95% interval; * = significant after Benjamini–Hochberg (q < 0.05). Associated with, not caused by."
    );
    out.push('\n');
    let num = |x: Option<f64>, d: usize| x.map_or_else(|| "–".to_string(), |x| format!("{x:.d$}"));
    let rows: Vec<Vec<String>> = r
        .indicators
        .iter()
        .map(|i| {
            vec![
                format!(
                    "{}{}{}",
                    if i.significant { "* " } else { "  " },
                    i.goal,
                    if i.baseline { " (early, baseline)" } else { "" }
                ),
                match (i.r, i.low, i.high) {
                    (Some(r), Some(lo), Some(hi)) => format!("{r:.2} [{lo:.2} – {hi:.2}]"),
                    (r, ..) => num(r, 2),
                },
                p_value(i.p_value),
                num(i.q_value, 4),
                match (i.intercept, i.slope) {
                    (Some(a), Some(b)) => format!("{} + {b:.3} × early", pct(a)),
                    _ => "–".into(),
                },
            ]
        })
        .collect();
    out.push_str(&table(
        &["indicator", "r [95% CI]", "p", "q", "macro rate ≈"],
        &rows,
    ));
    out.push('\n');
    // Cohorts with the best indicator's early rate.
    let best = r.indicators.first().map(|i| i.goal.as_str());
    let rows: Vec<Vec<String>> = r
        .cohorts
        .iter()
        .map(|c| {
            vec![
                c.value.clone(),
                c.period.clone(),
                human::count(c.visitors),
                match c.status {
                    CohortStatus::Complete if c.fitted => "complete (fitted)".into(),
                    CohortStatus::Complete => "complete".into(),
                    CohortStatus::Early => "early window over".into(),
                    CohortStatus::TooRecent => "too recent".into(),
                },
                best.and_then(|b| c.early.get(b))
                    .map_or_else(|| "–".into(), rate),
                rate(&c.converted),
                c.predicted.as_ref().map_or_else(
                    || "–".into(),
                    |p| format!("{} [{} – {}]", pct(p.rate), pct(p.low), pct(p.high)),
                ),
            ]
        })
        .collect();
    let early = format!("early {}", best.unwrap_or("–"));
    let converted = format!("{} (so far unless complete)", r.goal);
    out.push_str(&table(
        &[
            r.by.as_str(),
            period,
            "visitors",
            "status",
            early.as_str(),
            converted.as_str(),
            "predicted",
        ],
        &rows,
    ));
    out
}

fn attribution(r: &AttributionResult) -> String {
    let mut out = String::new();
    let value: Vec<String> = r.value.iter().map(|(c, v)| format!("{v:.2} {c}")).collect();
    let _ = writeln!(
        out,
        "{} {}s converted to {} ({} followed{}); touches: {}",
        human::count(r.conversions),
        r.unit.as_str(),
        r.goal,
        human::count(r.units),
        if value.is_empty() {
            String::new()
        } else {
            format!(", value {}", value.join(", "))
        },
        r.by
    );
    let _ = writeln!(
        out,
        "Conversions credited to each touch; Markov: removal effect share with its 95% bootstrap interval ({} resamples).",
        r.bootstrap
    );
    out.push('\n');
    let conv =
        |c: &cairn_model::query::result::Credit| format!("{:.1} ({})", c.conversions, pct(c.share));
    let rows: Vec<Vec<String>> = r
        .touches
        .iter()
        .map(|t| {
            vec![
                t.touch.clone(),
                human::count(t.paths),
                conv(&t.first_touch),
                conv(&t.last_touch),
                conv(&t.linear),
                conv(&t.position),
                match (t.markov.low, t.markov.high) {
                    (Some(lo), Some(hi)) => format!(
                        "{:.1} ({} [{} – {}])",
                        t.markov.credit.conversions,
                        pct(t.markov.credit.share),
                        pct(lo),
                        pct(hi)
                    ),
                    _ => conv(&t.markov.credit),
                },
            ]
        })
        .collect();
    out.push_str(&table(
        &[
            "touch",
            "converting paths",
            "first touch",
            "last touch",
            "linear",
            "position",
            "markov",
        ],
        &rows,
    ));
    out
}

fn ratio(r: &Option<Ratio>) -> String {
    match r {
        Some(r) => format!("×{:.2} [{:.2} – {:.2}]", r.ratio, r.low, r.high),
        None => "–".into(),
    }
}

fn p_value(p: Option<f64>) -> String {
    match p {
        Some(p) if p < 0.0001 => "<0.0001".into(),
        Some(p) => format!("{p:.4}"),
        None => "–".into(),
    }
}

fn influence(r: &InfluenceResult) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{}: {} of {} {}s converted ({})",
        r.goal,
        human::count(r.converted.num),
        human::count(r.converted.den),
        r.unit.as_str(),
        rate(&r.converted)
    );
    let _ = writeln!(out, "{}", r.precedence);
    if r.stratified_by.is_empty() {
        out.push_str("Not stratified.\n");
    } else {
        let _ = writeln!(
            out,
            "Stratified by {} ({} strata): the adjusted lift compares units alike in those.",
            r.stratified_by.join(" and "),
            r.strata
        );
    }
    let _ = writeln!(
        out,
        "{} candidates tested; * = significant after Benjamini–Hochberg (q < 0.05). Associated with, not caused by.",
        r.tested
    );
    out.push('\n');
    let rows: Vec<Vec<String>> = r
        .candidates
        .iter()
        .map(|c| {
            vec![
                format!(
                    "{}{}{}",
                    if c.significant { "* " } else { "  " },
                    if c.kind == cairn_model::query::result::CandidateKind::Event {
                        "event "
                    } else {
                        ""
                    },
                    c.name
                ),
                human::count(c.support),
                rate(&c.with),
                rate(&c.without),
                ratio(&c.lift),
                c.stratified
                    .as_ref()
                    .map_or_else(|| "–".into(), |s| ratio(&s.lift)),
                p_value(c.q_value),
                pct(c.converters_share.rate),
                human::count(c.after_only),
                c.median_to_goal_ms
                    .map_or_else(|| "–".into(), |m| ms(m as f64)),
                if c.ranked {
                    String::new()
                } else {
                    format!("below {} units", r.min_support)
                },
            ]
        })
        .collect();
    out.push_str(&table(
        &[
            "candidate",
            "units",
            "rate with",
            "rate without",
            "lift",
            "adjusted lift",
            "q",
            "of converters",
            "after only",
            "median to goal",
            "",
        ],
        &rows,
    ));
    out
}

fn node(n: &PathNode) -> String {
    match n.kind {
        PathNodeKind::Page => n.name.clone(),
        PathNodeKind::Event => format!("event {}", n.name),
        PathNodeKind::Goal => format!("goal {}", n.name),
        PathNodeKind::Entrance if n.name == "(direct)" => "(entrance, direct)".into(),
        PathNodeKind::Entrance if n.name != "(entrance)" => format!("(entrance from {})", n.name),
        _ => n.name.clone(),
    }
}

fn share(part: u64, whole: u64) -> String {
    if whole == 0 {
        "–".into()
    } else {
        pct(part as f64 / whole as f64)
    }
}

fn paths(p: &PathsResult) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "paths {} per {}: {} {}s, {} followed",
        if p.direction == "backward" {
            "backward to the end"
        } else {
            "forward"
        },
        p.unit.as_str(),
        human::count(p.units),
        p.unit.as_str(),
        human::count(p.followed),
    );
    let end = if p.direction == "backward" {
        "(entrance)"
    } else {
        "(exit)"
    };
    let mut rows: Vec<Vec<String>> = Vec::new();
    let mut prev = p.followed;
    for s in &p.steps {
        for (i, n) in s.nodes.iter().enumerate() {
            let name = match n.nodes {
                Some(k) => format!("{} ({} nodes)", node(&n.node), human::count(k)),
                None => node(&n.node),
            };
            rows.push(vec![
                if i == 0 {
                    s.step.to_string()
                } else {
                    String::new()
                },
                name,
                human::count(n.count),
                share(n.count, prev),
            ]);
        }
        if s.step > 1 && s.ended > 0 {
            rows.push(vec![
                if s.nodes.is_empty() {
                    s.step.to_string()
                } else {
                    String::new()
                },
                end.into(),
                human::count(s.ended),
                share(s.ended, prev),
            ]);
        }
        prev = s.units;
    }
    out.push_str(&table(
        &["step", "node", "units", "of previous step"],
        &rows,
    ));
    let _ = writeln!(
        out,
        "{} {}s went {} the last step",
        human::count(p.beyond),
        p.unit.as_str(),
        if p.direction == "backward" {
            "back beyond"
        } else {
            "on beyond"
        }
    );
    if !p.sequences.is_empty() {
        out.push_str(
            "
most frequent sequences:
",
        );
        let rows: Vec<Vec<String>> = p
            .sequences
            .iter()
            .map(|s| {
                let mut names: Vec<String> = s.nodes.iter().map(node).collect();
                if !s.complete {
                    if p.direction == "backward" {
                        names.insert(0, "…".into());
                    } else {
                        names.push("…".into());
                    }
                }
                vec![
                    names.join(" → "),
                    human::count(s.units),
                    pct(s.share),
                    ms(s.median_ms as f64),
                ]
            })
            .collect();
        out.push_str(&table(
            &["sequence", "units", "share", "median time"],
            &rows,
        ));
    }
    out
}

fn transitions(t: &TransitionsResult) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} occurrences in {} {}s",
        human::count(t.occurrences),
        human::count(t.units),
        t.unit.as_str()
    );
    let list = |title: &str, l: &[NodeUnits], out: &mut String| {
        let rows: Vec<Vec<String>> = l
            .iter()
            .map(|n| {
                vec![
                    node(&n.node),
                    human::count(n.count),
                    share(n.count, t.occurrences),
                ]
            })
            .collect();
        out.push('\n');
        out.push_str(&table(&[title, "times", "share"], &rows));
    };
    if !t.previous.is_empty() || !t.next.is_empty() {
        list("came from", &t.previous, &mut out);
        list("went to", &t.next, &mut out);
    }
    if !t.pairs.is_empty() {
        let rows: Vec<Vec<String>> = t
            .pairs
            .iter()
            .map(|p| {
                vec![
                    node(&p.from),
                    node(&p.to),
                    human::count(p.count),
                    share(p.count, t.occurrences),
                ]
            })
            .collect();
        out.push('\n');
        out.push_str(&table(&["from", "to", "times", "share"], &rows));
    }
    out
}

/// The rows of a result as CSV, for the results that are lists: pages, paths and
/// transitions.
fn csv(r: &QueryResult) -> Result<String> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let kind = |n: &PathNode| format!("{:?}", n.kind).to_lowercase();
    match r {
        QueryResult::Pages(p) => {
            w.write_record(["path", "group", "pageviews", "visitors", "entries", "exits"])?;
            for r in &p.pages {
                w.write_record([
                    r.path.clone(),
                    r.group.clone().unwrap_or_default(),
                    r.pageviews.to_string(),
                    r.visitors.to_string(),
                    r.entries.to_string(),
                    r.exits.to_string(),
                ])?;
            }
        }
        QueryResult::Paths(p) => {
            w.write_record(["step", "kind", "node", "units"])?;
            for s in &p.steps {
                if s.step > 1 {
                    let end = if p.direction == "backward" {
                        "entrance"
                    } else {
                        "exit"
                    };
                    w.write_record([
                        s.step.to_string(),
                        end.into(),
                        format!("({end})"),
                        s.ended.to_string(),
                    ])?;
                }
                for n in &s.nodes {
                    w.write_record([
                        s.step.to_string(),
                        kind(&n.node),
                        n.node.name.clone(),
                        n.count.to_string(),
                    ])?;
                }
            }
        }
        QueryResult::Transitions(t) => {
            w.write_record(["list", "from_kind", "from", "to_kind", "to", "count"])?;
            for n in &t.previous {
                w.write_record([
                    "previous".into(),
                    kind(&n.node),
                    n.node.name.clone(),
                    String::new(),
                    String::new(),
                    n.count.to_string(),
                ])?;
            }
            for n in &t.next {
                w.write_record([
                    "next".into(),
                    String::new(),
                    String::new(),
                    kind(&n.node),
                    n.node.name.clone(),
                    n.count.to_string(),
                ])?;
            }
            for p in &t.pairs {
                w.write_record([
                    "pair".into(),
                    kind(&p.from),
                    p.from.name.clone(),
                    kind(&p.to),
                    p.to.name.clone(),
                    p.count.to_string(),
                ])?;
            }
        }
        QueryResult::Influence(r) => {
            w.write_record([
                "candidate",
                "kind",
                "units",
                "rate_with",
                "rate_without",
                "diff",
                "diff_low",
                "diff_high",
                "lift",
                "lift_low",
                "lift_high",
                "p_value",
                "adjusted_lift",
                "adjusted_low",
                "adjusted_high",
                "adjusted_p_value",
                "q_value",
                "significant",
                "converters_share",
                "after_only",
                "median_to_goal_ms",
            ])?;
            let num = |x: Option<f64>| x.map_or_else(String::new, |x| x.to_string());
            for c in &r.candidates {
                let adj = c.stratified.as_ref().and_then(|s| s.lift);
                w.write_record([
                    c.name.clone(),
                    format!("{:?}", c.kind).to_lowercase(),
                    c.support.to_string(),
                    c.with.rate.to_string(),
                    c.without.rate.to_string(),
                    c.diff.diff.to_string(),
                    c.diff.low.to_string(),
                    c.diff.high.to_string(),
                    num(c.lift.map(|l| l.ratio)),
                    num(c.lift.map(|l| l.low)),
                    num(c.lift.map(|l| l.high)),
                    num(c.p_value),
                    num(adj.map(|l| l.ratio)),
                    num(adj.map(|l| l.low)),
                    num(adj.map(|l| l.high)),
                    num(c.stratified.as_ref().map(|s| s.p_value)),
                    num(c.q_value),
                    c.significant.to_string(),
                    c.converters_share.rate.to_string(),
                    c.after_only.to_string(),
                    c.median_to_goal_ms
                        .map_or_else(String::new, |m| m.to_string()),
                ])?;
            }
        }
        QueryResult::Attribution(r) => {
            w.write_record([
                "touch",
                "converting_paths",
                "first_touch",
                "last_touch",
                "linear",
                "position",
                "markov",
                "markov_share",
                "markov_low",
                "markov_high",
                "removal_effect",
            ])?;
            let num = |x: Option<f64>| x.map_or_else(String::new, |x| x.to_string());
            for t in &r.touches {
                w.write_record([
                    t.touch.clone(),
                    t.paths.to_string(),
                    t.first_touch.conversions.to_string(),
                    t.last_touch.conversions.to_string(),
                    t.linear.conversions.to_string(),
                    t.position.conversions.to_string(),
                    t.markov.credit.conversions.to_string(),
                    t.markov.credit.share.to_string(),
                    num(t.markov.low),
                    num(t.markov.high),
                    t.markov.removal_effect.to_string(),
                ])?;
            }
        }
        QueryResult::LeadingIndicators(r) => {
            // One row per cohort; the indicators' statistics are in the table and JSON.
            let goals: Vec<&String> = r
                .cohorts
                .first()
                .map(|c| c.early.keys().collect())
                .unwrap_or_default();
            let mut head: Vec<String> = ["value", "period", "visitors", "status", "fitted"]
                .map(String::from)
                .to_vec();
            head.extend(goals.iter().map(|g| format!("early {g}")));
            head.extend(
                ["converted", "predicted", "predicted_low", "predicted_high"].map(String::from),
            );
            w.write_record(&head)?;
            for c in &r.cohorts {
                let mut row = vec![
                    c.value.clone(),
                    c.period.clone(),
                    c.visitors.to_string(),
                    serde_json::to_value(c.status)?
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                    c.fitted.to_string(),
                ];
                row.extend(goals.iter().map(|g| c.early[*g].rate.to_string()));
                row.push(c.converted.rate.to_string());
                let p = c.predicted.as_ref();
                row.push(p.map_or_else(String::new, |p| p.rate.to_string()));
                row.push(p.map_or_else(String::new, |p| p.low.to_string()));
                row.push(p.map_or_else(String::new, |p| p.high.to_string()));
                w.write_record(&row)?;
            }
        }
        _ => bail!(
            "--csv prints pages, paths, transitions, influence, attribution and leading_indicators; use --json for the other analyses"
        ),
    }
    Ok(String::from_utf8(w.into_inner()?)?)
}

fn goals(g: &GoalsResult) -> String {
    let mut out = String::new();
    for t in &g.totals {
        let _ = writeln!(out, "{}s: {}", t.unit.as_str(), human::count(t.total));
    }
    out.push('\n');
    let mut head: Vec<String> = vec!["goal".into(), "kind".into(), "conversions".into()];
    for t in &g.totals {
        head.push(format!("per {} (95% CI)", t.unit.as_str()));
        if g.previous_period.is_some() {
            head.push("change (95% CI)".into());
        }
    }
    head.push("value".into());
    let rows: Vec<Vec<String>> = g
        .goals
        .iter()
        .map(|row| {
            let mut r = vec![
                row.name.clone(),
                format!("{:?} {:?}", row.conversion, row.role).to_lowercase(),
                human::count(row.conversions),
            ];
            for ur in &row.rates {
                r.push(rate(&ur.rate));
                if let Some(c) = &ur.change {
                    r.push(format!(
                        "{:+.2} pp [{:+.2}, {:+.2}]",
                        c.diff * 100.0,
                        c.low * 100.0,
                        c.high * 100.0
                    ));
                }
            }
            r.push(
                row.value
                    .iter()
                    .map(|m| format!("{:.2} {}", m.total, m.currency))
                    .collect::<Vec<_>>()
                    .join(", "),
            );
            r
        })
        .collect();
    out.push_str(&table(
        &head.iter().map(String::as_str).collect::<Vec<_>>(),
        &rows,
    ));
    if !g.series.is_empty() {
        let _ = writeln!(out, "\nper {} over time:", g.totals[0].unit.as_str());
        let mut head = vec![
            "bucket".to_string(),
            format!("{}s", g.totals[0].unit.as_str()),
        ];
        head.extend(g.goals.iter().map(|x| x.name.clone()));
        let rows: Vec<Vec<String>> = g
            .series
            .iter()
            .map(|b| {
                let mut r = vec![b.label.clone(), human::count(b.totals[0])];
                r.extend(b.rates.iter().map(|x| pct(x[0].rate)));
                r
            })
            .collect();
        out.push_str(&table(
            &head.iter().map(String::as_str).collect::<Vec<_>>(),
            &rows,
        ));
    }
    if let Some(by) = &g.breakdown_by {
        let _ = writeln!(out, "\nby {by} (per {}):", g.totals[0].unit.as_str());
        let mut head = vec![by.clone(), format!("{}s", g.totals[0].unit.as_str())];
        head.extend(g.goals.iter().map(|x| x.name.clone()));
        // With spend: the cost, the cost per conversion of each goal, the return on spend.
        if let Some(s) = &g.spend {
            let _ = writeln!(
                out,
                "spend {:.2} {} in the range ({:.2} on no {by})",
                s.total, s.currency, s.unattributed
            );
            head.push(format!("cost ({})", s.currency));
            head.extend(g.goals.iter().map(|x| format!("per {}", x.name)));
            head.push("return on spend".into());
        }
        let money = |x: Option<f64>| x.map_or_else(|| "–".to_string(), |v| format!("{v:.2}"));
        let rows: Vec<Vec<String>> = g
            .breakdown
            .iter()
            .map(|b| {
                let mut r = vec![b.value.clone(), human::count(b.totals[0])];
                r.extend(b.rates.iter().map(|x| rate(&x[0])));
                if g.spend.is_some() {
                    r.push(money(b.cost));
                    r.extend(
                        (0..g.goals.len())
                            .map(|i| money(b.cost_per_conversion.get(i).copied().flatten())),
                    );
                    r.push(
                        b.return_on_spend
                            .map_or_else(|| "–".into(), |x| format!("{x:.2}×")),
                    );
                }
                r
            })
            .collect();
        out.push_str(&table(
            &head.iter().map(String::as_str).collect::<Vec<_>>(),
            &rows,
        ));
    }
    out
}

fn funnel(f: &FunnelResult) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "funnel per {}{}",
        f.unit.as_str(),
        if f.excluded > 0 {
            format!(" ({} excluded)", human::count(f.excluded))
        } else {
            String::new()
        }
    );
    let open = f.steps.iter().any(|s| s.entrances.is_some());
    let mut head = vec!["#", "step", "units"];
    if open {
        head.push("entrances");
    }
    head.extend([
        "from previous (95% CI)",
        "dropped",
        "from start",
        "time from previous: median (p25, p75, p90)",
    ]);
    let rows: Vec<Vec<String>> = f
        .steps
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let mut r = vec![
                format!("{}{}", i + 1, if s.optional { "?" } else { "" }),
                s.label.clone(),
                human::count(s.count),
            ];
            if let Some(e) = s.entrances {
                r.push(human::count(e));
            }
            r.extend([
                rate(&s.from_previous),
                format!("{} ({})", human::count(s.dropped), pct(s.drop_off)),
                pct(s.from_start.rate),
                if i == 0 {
                    String::new()
                } else {
                    times(&s.time_from_previous)
                },
            ]);
            r
        })
        .collect();
    out.push_str(&table(&head, &rows));
    if let Some(by) = &f.breakdown_by {
        let _ = writeln!(out, "\nby {by}:");
        let mut head = vec![by.clone()];
        head.extend((1..=f.steps.len()).map(|i| format!("step {i}")));
        head.push("conversion (95% CI)".into());
        let rows: Vec<Vec<String>> = f
            .breakdown
            .iter()
            .map(|b| {
                let mut r = vec![b.value.clone()];
                r.extend(b.counts.iter().map(|&c| human::count(c)));
                r.push(rate(&b.conversion));
                r
            })
            .collect();
        out.push_str(&table(
            &head.iter().map(String::as_str).collect::<Vec<_>>(),
            &rows,
        ));
    }
    if let Some(flow) = &f.flow {
        out.push_str(&funnel_flow(f, flow));
    }
    if !f.trend.is_empty() {
        out.push_str("\nby date of the first step:\n");
        let rows: Vec<Vec<String>> = f
            .trend
            .iter()
            .map(|t| {
                vec![
                    t.label.clone(),
                    human::count(t.counts[0]),
                    human::count(*t.counts.last().unwrap_or(&0)),
                    rate(&t.conversion),
                ]
            })
            .collect();
        out.push_str(&table(
            &["bucket", "entered", "completed", "conversion (95% CI)"],
            &rows,
        ));
    }
    out
}

fn funnel_flow(f: &FunnelResult, flow: &FunnelFlow) -> String {
    let mut out = String::new();
    let mut rows: Vec<Vec<String>> = Vec::new();
    for (j, l) in flow.dropped_next.iter().enumerate() {
        for (i, n) in l.iter().enumerate() {
            rows.push(vec![
                if i == 0 {
                    format!("{} {}", j + 1, f.steps[j].label)
                } else {
                    String::new()
                },
                node(&n.node),
                human::count(n.count),
                share(n.count, f.steps[j].dropped),
            ]);
        }
    }
    if !rows.is_empty() {
        out.push_str("\nafter dropping off, they went to:\n");
        out.push_str(&table(
            &["dropped before step", "next", "units", "share"],
            &rows,
        ));
    }
    let _ = writeln!(
        out,
        "\nfunnel vs reality: {} {}s did the last step; {} went through the funnel in order ({})",
        human::count(flow.converters),
        f.unit.as_str(),
        human::count(flow.in_order),
        share(flow.in_order, flow.converters)
    );
    let rows: Vec<Vec<String>> = f
        .steps
        .iter()
        .zip(&flow.reached_before)
        .enumerate()
        .map(|(j, (s, &n))| {
            vec![
                format!("{} {}", j + 1, s.label),
                human::count(n),
                human::count(flow.converters - n.min(flow.converters)),
            ]
        })
        .collect();
    out.push_str(&table(
        &["step", "did it before converting", "skipped it"],
        &rows,
    ));
    for g in &flow.between {
        if g.nodes.is_empty() {
            continue;
        }
        let names: Vec<String> = g
            .nodes
            .iter()
            .map(|n| format!("{} ({})", node(&n.node), human::count(n.count)))
            .collect();
        let _ = writeln!(
            out,
            "between steps {} and {}: {}",
            g.from_step,
            g.to_step,
            names.join(", ")
        );
    }
    if !flow.suggested.is_empty() {
        let names: Vec<String> = flow
            .suggested
            .iter()
            .map(|s| format!("{} ({})", node(&s.node), pct(s.share)))
            .collect();
        let _ = writeln!(
            out,
            "suggested funnel: {} → {}",
            names.join(" → "),
            f.steps.last().map_or("", |s| s.label.as_str())
        );
    }
    out
}

fn cart(c: &CartResult) -> String {
    let rows = vec![
        vec!["carts".into(), human::count(c.carts)],
        vec!["purchased in the session".into(), human::count(c.purchased)],
        vec![
            "abandoned".into(),
            format!("{} — {}", human::count(c.abandoned), rate(&c.abandonment)),
        ],
        vec![
            "recovered later".into(),
            format!(
                "{} — {} of abandoned",
                human::count(c.recovered),
                rate(&c.recovery)
            ),
        ],
        vec!["time to recover".into(), times(&c.time_to_recover)],
    ];
    table(&["cart abandonment", ""], &rows)
}

fn forms(f: &FormsResult) -> String {
    let mut out = String::new();
    for form in &f.forms {
        let _ = writeln!(
            out,
            "form {}: {} starts, {} submitted ({}), abandonment {}, time to submit {}",
            form.form,
            human::count(form.starts),
            human::count(form.submissions),
            rate(&form.submission_rate),
            pct(form.abandonment.rate),
            times(&form.time_to_submit)
        );
        let rows: Vec<Vec<String>> = form
            .fields
            .iter()
            .map(|x| {
                vec![
                    x.field.clone(),
                    human::count(x.touched),
                    human::count(x.last_before_abandon),
                    times(&x.time),
                ]
            })
            .collect();
        out.push_str(&table(
            &[
                "field",
                "touched",
                "last before abandoning",
                "time in field",
            ],
            &rows,
        ));
        out.push('\n');
    }
    if f.forms.is_empty() {
        out.push_str("no form starts in the range\n");
    }
    out
}

fn pages(p: &PagesResult) -> String {
    let rows: Vec<Vec<String>> = p
        .pages
        .iter()
        .map(|r| {
            vec![
                match &r.group {
                    Some(g) => format!("{} ({g})", r.path),
                    None => r.path.clone(),
                },
                human::count(r.pageviews),
                human::count(r.visitors),
                human::count(r.entries),
                human::count(r.exits),
                pct(r.exit_rate.rate),
                if r.entries > 0 {
                    pct(r.bounce_rate.rate)
                } else {
                    "–".into()
                },
            ]
        })
        .collect();
    table(
        &[
            "page",
            "pageviews",
            "visitors",
            "entries",
            "exits",
            "exit rate",
            "bounce rate",
        ],
        &rows,
    )
}

fn figures(f: &OverviewFigures) -> Vec<String> {
    vec![
        human::count(f.visitors),
        human::count(f.sessions),
        human::count(f.pageviews),
        rate(&f.bounce_rate),
        format!("{:.2}", f.pages_per_session),
        ms(f.mean_duration_ms),
        ms(f.median_duration_ms as f64),
    ]
}

fn overview(o: &OverviewResult) -> String {
    let head = [
        "",
        "visitors",
        "sessions",
        "pageviews",
        "bounce rate (95% CI)",
        "pages/session",
        "mean duration",
        "median duration",
    ];
    let mut rows = vec![{
        let mut r = vec!["all".to_string()];
        r.extend(figures(&o.figures));
        r
    }];
    for b in &o.series {
        let mut r = vec![b.label.clone()];
        r.extend(figures(&b.figures));
        rows.push(r);
    }
    let mut out = table(&head, &rows);
    // Each breakdown its own table, headed by its field.
    let single = o.breakdown_by.as_deref().map(|by| (by, &o.breakdown));
    let many = o.breakdowns.iter().map(|b| (b.by.as_str(), &b.rows));
    for (by, rows) in single.into_iter().chain(many) {
        let mut head = head;
        head[0] = by;
        let rows: Vec<Vec<String>> = rows
            .iter()
            .map(|x| {
                let mut r = vec![x.value.clone()];
                r.extend(figures(&x.figures));
                r
            })
            .collect();
        out.push('\n');
        out.push_str(&table(&head, &rows));
    }
    out
}

/// The events explorer: the names, then each property key with its top values (per
/// bucket counts only in `--json`).
fn events(r: &cairn_model::query::result::EventsResult) -> String {
    use cairn_model::query::Scalar;
    let mut rows: Vec<Vec<String>> = r
        .names
        .iter()
        .map(|n| {
            vec![
                n.name.clone(),
                human::count(n.events),
                human::count(n.sessions),
                human::count(n.visitors),
            ]
        })
        .collect();
    if r.other.names > 0 {
        rows.push(vec![
            format!("({} more)", human::count(r.other.names)),
            human::count(r.other.events),
            String::new(),
            String::new(),
        ]);
    }
    let mut out = table(&["event", "events", "sessions", "visitors"], &rows);
    let _ = writeln!(
        out,
        "{} events, {} distinct names",
        human::count(r.events),
        human::count(r.distinct_names)
    );
    let Some(props) = &r.properties else {
        return out;
    };
    out.push('\n');
    if let Some(e) = &r.event {
        let _ = writeln!(out, "properties of `{e}` events");
    }
    if props.is_empty() {
        out.push_str("no properties\n");
        return out;
    }
    let mut rows: Vec<Vec<String>> = Vec::new();
    for p in props {
        rows.push(vec![
            p.key.clone(),
            human::count(p.events),
            human::count(p.visitors),
            human::count(p.distinct),
        ]);
        for v in &p.values {
            rows.push(vec![
                format!(
                    "  {}",
                    match &v.value {
                        Scalar::Str(s) => format!("{s:?}"),
                        Scalar::Num(x) => x.to_string(),
                        Scalar::Bool(b) => b.to_string(),
                    }
                ),
                human::count(v.events),
                human::count(v.visitors),
                String::new(),
            ]);
        }
        if p.other_events > 0 {
            rows.push(vec![
                "  (other)".into(),
                human::count(p.other_events),
                String::new(),
                String::new(),
            ]);
        }
    }
    out.push_str(&table(
        &["property / value", "events", "visitors", "distinct"],
        &rows,
    ));
    out
}
