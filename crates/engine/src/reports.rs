//! Built-in micro-conversion reports: checkout step drop-off, cart abandonment and
//! recovery, form analytics, pages (entries, exits, exit and bounce rates) and the
//! overview (visitors, sessions, bounce rate, pages per session, session duration).

use cairn_model::Dim;
use cairn_model::query::result::{
    CartResult, FormFieldRow, FormRow, FormsResult, FunnelResult, OverviewBreakdownRow,
    OverviewBucket, OverviewFigures, OverviewResult, PageRow, PagesResult,
};
use cairn_model::query::{
    Analysis, CartSpec, CheckoutSpec, CondValue, Condition, Field, FormsSpec, FunnelMode,
    FunnelSpec, Op, OverviewSpec, PagesSpec, Query, Resolved, Scalar, Step, Unit,
};
use cairn_timeline::{PropVal, Timeline, TimelineScan, TimelineSource};
use rustc_hash::{FxHashMap, FxHashSet};

use crate::buckets::Buckets;
use crate::goals::Key;
use crate::matcher::{EventPred, FieldReader, Needs};
use crate::prepare::{Filters, Goals, Prepared};
use crate::stats::{time_stats, wilson};
use crate::{Error, RunOptions, funnel, scan_request};

/// Event names that do not stop a session from bouncing: passive signals the tracker
/// sends on its own.
pub const NON_INTERACTIVE: [&str; 2] = ["scroll", "engagement"];

/// Events of the tracker's form autocapture.
pub const FORM_START: &str = "form_start";
/// A field got focus (property `field`).
pub const FORM_FIELD: &str = "form_field";
/// The form was submitted.
pub const FORM_SUBMIT: &str = "form_submit";

fn name_is(scan: &dyn TimelineScan, name: &str) -> EventPred {
    EventPred::new(
        scan,
        &[vec![Condition::eq_str(Field::Dim(Dim::Name), name)]],
    )
}

fn base_needs(q: &Query, r: &Resolved) -> Needs {
    let mut needs = Needs::default();
    Goals::needs(&q.goals, &Goals::used(q, r, &[]), &mut needs);
    Filters::needs(r, &mut needs);
    needs
}

/// The scan, goals and filters every report starts from (reports use no goal of their
/// own: only those of behavioural filters).
fn open_scan<'s>(
    source: &'s dyn TimelineSource,
    q: &Query,
    r: &Resolved,
    needs: &Needs,
) -> Result<(Box<dyn TimelineScan + 's>, Goals, Filters), Error> {
    let scan = source.scan(scan_request(q, r.from, r.to, needs, false))?;
    let goals = Goals::new(&*scan, &q.goals, &Goals::used(q, r, &[]));
    let filters = Filters::new(&*scan, q, r);
    Ok((scan, goals, filters))
}

/// Events that do not stop a session from bouncing.
fn passive_pred(scan: &dyn TimelineScan) -> EventPred {
    EventPred::new(
        scan,
        &NON_INTERACTIVE.map(|n| vec![Condition::eq_str(Field::Dim(Dim::Name), n)]),
    )
}

/// Checkout drop-off: the distinct step numbers seen on the step event become a
/// per-session funnel `start → step 1 → step 2 → … → end`.
pub(crate) fn checkout(
    source: &dyn TimelineSource,
    q: &Query,
    r: &Resolved,
    spec: &CheckoutSpec,
    opts: &RunOptions,
) -> Result<FunnelResult, Error> {
    let mut needs = base_needs(q, r);
    needs.add_number(&spec.step_prop);
    let scan = source.scan(scan_request(q, r.from, r.to, &needs, false))?;
    let is_step = name_is(&*scan, &spec.step_event);
    let filters = Filters::new(&*scan, q, r);
    let key = scan.prop_keys().id(&spec.step_prop);
    let states = scan.par_fold(opts.threads, FxHashSet::<u64>::default, |set, tl| {
        let Some(k) = key else { return };
        for i in 0..tl.len() {
            if is_step.test(tl, i)
                && filters.keeps_event(tl, i)
                && let Some(e) = tl.props(i).iter().find(|e| e.key == k)
                && let PropVal::Num(x) = e.val
            {
                set.insert(x.to_bits());
            }
        }
    })?;
    let mut nums: Vec<f64> = states.into_iter().flatten().map(f64::from_bits).collect();
    nums.sort_by(f64::total_cmp);
    nums.dedup();
    nums.truncate(30);
    let mut steps = vec![Step::event(&spec.start_event)];
    for x in nums {
        let mut s = Step::event(&spec.step_event);
        s.conditions.push(Condition::new(
            Field::Prop(spec.step_prop.clone()),
            Op::Eq,
            Some(CondValue::One(Scalar::Num(x))),
        ));
        s.label = Some(format!(
            "{} {}",
            spec.step_event,
            cairn_model::query::ValueRef::Num(x).to_text()
        ));
        steps.push(s);
    }
    steps.push(Step::event(&spec.end_event));
    let mut f = FunnelSpec::new(steps);
    f.unit = Unit::Session;
    f.mode = FunnelMode::Ordered;
    f.window = cairn_model::query::Duration::from_ms(7 * 86_400_000);
    let mut q2 = q.clone();
    q2.analysis = Analysis::Funnel(f.clone());
    funnel::run(source, &q2, r, &f, opts)
}

#[derive(Default)]
struct CartAcc {
    carts: u64,
    purchased: u64,
    recovered: u64,
    ttr: Vec<i64>,
}

/// Carts: sessions with a cart event. Purchased: a purchase at or after the session's
/// first cart event, in the same session. Recovered: an abandoned cart whose visitor
/// purchases after the session's last event and within the recovery time.
pub(crate) fn cart(
    source: &dyn TimelineSource,
    q: &Query,
    r: &Resolved,
    spec: &CartSpec,
    opts: &RunOptions,
) -> Result<CartResult, Error> {
    let needs = base_needs(q, r);
    let (scan, goals, filters) = open_scan(source, q, r, &needs)?;
    let is_cart = name_is(&*scan, &spec.cart_event);
    let is_buy = name_is(&*scan, &spec.purchase_event);
    let rec = spec.recovery.ms;
    let states = scan.par_fold(
        opts.threads,
        || (CartAcc::default(), Prepared::default(), Vec::<i64>::new()),
        |(acc, prep, buys), tl| {
            if !prep.fill_kept(tl, &filters, &goals, q.session_gap.ms) {
                return;
            }
            buys.clear();
            buys.extend(
                (0..prep.kept.len())
                    .filter(|&p| is_buy.test(tl, prep.kept[p] as usize))
                    .map(|p| prep.ts[p]),
            );
            for &(a, b) in &prep.sessions {
                let Some(c) = (a..b).find(|&p| is_cart.test(tl, prep.kept[p as usize] as usize))
                else {
                    continue;
                };
                acc.carts += 1;
                let tc = prep.ts[c as usize];
                let end = prep.ts[b as usize - 1];
                let bought = (c..b).any(|p| is_buy.test(tl, prep.kept[p as usize] as usize));
                if bought {
                    acc.purchased += 1;
                    continue;
                }
                let _ = tc;
                let k = buys.partition_point(|&t| t <= end);
                if let Some(&t) = buys.get(k).filter(|&&t| t - end <= rec) {
                    acc.recovered += 1;
                    acc.ttr.push(t - end);
                }
            }
        },
    )?;
    let mut acc = CartAcc::default();
    for (a, _, _) in states {
        acc.carts += a.carts;
        acc.purchased += a.purchased;
        acc.recovered += a.recovered;
        acc.ttr.extend(a.ttr);
    }
    let abandoned = acc.carts - acc.purchased;
    Ok(CartResult {
        carts: acc.carts,
        purchased: acc.purchased,
        abandoned,
        abandonment: wilson(abandoned, acc.carts),
        recovered: acc.recovered,
        recovery: wilson(acc.recovered, abandoned),
        time_to_recover: time_stats(acc.ttr),
    })
}

#[derive(Default)]
struct FieldAcc {
    touched: u64,
    last: u64,
    times: Vec<i64>,
}

#[derive(Default)]
struct FormAcc {
    starts: u64,
    submits: u64,
    to_submit: Vec<i64>,
    fields: FxHashMap<(u8, u64), FieldAcc>,
}

/// Forms, from the tracker's `form_start`, `form_field` (property `field`) and
/// `form_submit` events, each with the property `form_id`. A start is a session's first
/// `form_start` of a form; the session's later events of that form belong to it.
pub(crate) fn forms(
    source: &dyn TimelineSource,
    q: &Query,
    r: &Resolved,
    spec: &FormsSpec,
    opts: &RunOptions,
) -> Result<FormsResult, Error> {
    let mut needs = base_needs(q, r);
    needs.add_field(&Field::Prop("form_id".into()));
    needs.add_field(&Field::Prop("field".into()));
    let (scan, goals, filters) = open_scan(source, q, r, &needs)?;
    let (is_start, is_field, is_submit) = (
        name_is(&*scan, FORM_START),
        name_is(&*scan, FORM_FIELD),
        name_is(&*scan, FORM_SUBMIT),
    );
    let form_rd = FieldReader::new(&*scan, &Field::Prop("form_id".into()));
    let field_rd = FieldReader::new(&*scan, &Field::Prop("field".into()));
    let states = scan.par_fold(
        opts.threads,
        || {
            (
                FxHashMap::<(u8, u64), FormAcc>::default(),
                Prepared::default(),
            )
        },
        |(forms, prep), tl| {
            if !prep.fill_kept(tl, &filters, &goals, q.session_gap.ms) {
                return;
            }
            for &(a, b) in &prep.sessions {
                form_session(
                    tl, prep, a as usize, b as usize, &is_start, &is_field, &is_submit, &form_rd,
                    &field_rd, forms,
                );
            }
        },
    )?;
    let mut all: FxHashMap<(u8, u64), FormAcc> = FxHashMap::default();
    for (m, _) in states {
        for (k, v) in m {
            let e = all.entry(k).or_default();
            e.starts += v.starts;
            e.submits += v.submits;
            e.to_submit.extend(v.to_submit);
            for (fk, fv) in v.fields {
                let f = e.fields.entry(fk).or_default();
                f.touched += fv.touched;
                f.last += fv.last;
                f.times.extend(fv.times);
            }
        }
    }
    let mut rows: Vec<FormRow> = all
        .into_iter()
        .map(|(k, v)| {
            let mut fields: Vec<FormFieldRow> = v
                .fields
                .into_iter()
                .map(|(fk, f)| FormFieldRow {
                    field: field_rd.text(&*scan, fk),
                    touched: f.touched,
                    last_before_abandon: f.last,
                    time: time_stats(f.times),
                })
                .collect();
            fields.sort_by(|a, b| {
                b.touched
                    .cmp(&a.touched)
                    .then_with(|| a.field.cmp(&b.field))
            });
            FormRow {
                form: form_rd.text(&*scan, k),
                starts: v.starts,
                submissions: v.submits,
                submission_rate: wilson(v.submits, v.starts),
                abandonment: wilson(v.starts - v.submits, v.starts),
                time_to_submit: time_stats(v.to_submit),
                fields,
            }
        })
        .collect();
    rows.sort_by(|a, b| b.starts.cmp(&a.starts).then_with(|| a.form.cmp(&b.form)));
    rows.truncate(spec.limit);
    Ok(FormsResult { forms: rows })
}

#[allow(clippy::too_many_arguments)]
fn form_session(
    tl: &Timeline,
    prep: &Prepared,
    a: usize,
    b: usize,
    is_start: &EventPred,
    is_field: &EventPred,
    is_submit: &EventPred,
    form_rd: &FieldReader,
    field_rd: &FieldReader,
    forms: &mut FxHashMap<(u8, u64), FormAcc>,
) {
    // Forms started in this session, with the start position.
    let mut started: Vec<((u8, u64), usize)> = Vec::new();
    for p in a..b {
        let i = prep.kept[p] as usize;
        if is_start.test(tl, i)
            && let Some(f) = form_rd.token(tl, i)
            && !started.iter().any(|(g, _)| *g == f)
        {
            started.push((f, p));
        }
    }
    for (form, s) in started {
        let acc = forms.entry(form).or_default();
        acc.starts += 1;
        let mut touched: Vec<(u8, u64)> = Vec::new();
        let mut open_field: Option<((u8, u64), i64)> = None;
        let mut last_field = None;
        let mut submitted = None;
        for p in s..b {
            let i = prep.kept[p] as usize;
            let field_ev = is_field.test(tl, i);
            let submit_ev = is_submit.test(tl, i);
            if !(field_ev || submit_ev) || form_rd.token(tl, i) != Some(form) {
                continue;
            }
            if let Some((f, t0)) = open_field.take() {
                acc.fields.entry(f).or_default().times.push(prep.ts[p] - t0);
            }
            if submit_ev {
                submitted = Some(prep.ts[p]);
                break;
            }
            if let Some(f) = field_rd.token(tl, i) {
                if !touched.contains(&f) {
                    touched.push(f);
                    acc.fields.entry(f).or_default().touched += 1;
                }
                open_field = Some((f, prep.ts[p]));
                last_field = Some(f);
            }
        }
        match submitted {
            Some(t) => {
                acc.submits += 1;
                acc.to_submit.push(t - prep.ts[s]);
            }
            None => {
                if let Some(f) = last_field {
                    acc.fields.entry(f).or_default().last += 1;
                }
            }
        }
    }
}

/// Whether the session `[a, b)` bounced: exactly one pageview and no other event except
/// the non-interactive ones.
fn bounced(prep: &Prepared, passive: &[bool], a: usize, b: usize) -> bool {
    let mut pv = 0;
    for (&is_pv, &is_passive) in prep.pageview[a..b].iter().zip(&passive[a..b]) {
        if is_pv {
            pv += 1;
        } else if !is_passive {
            return false;
        }
    }
    pv == 1
}

#[derive(Default)]
struct PageAcc {
    pageviews: u64,
    visitors: u64,
    entries: u64,
    exits: u64,
    bounces: u64,
}

/// Per page: pageviews, unique visitors, entries, exits, exit rate and bounce rate.
pub(crate) fn pages(
    source: &dyn TimelineSource,
    q: &Query,
    r: &Resolved,
    spec: &PagesSpec,
    opts: &RunOptions,
) -> Result<PagesResult, Error> {
    let mut needs = base_needs(q, r);
    needs.dims[Dim::Path.index()] = true;
    let (scan, goals, filters) = open_scan(source, q, r, &needs)?;
    let passive = passive_pred(&*scan);
    let states = scan.par_fold(
        opts.threads,
        || {
            (
                FxHashMap::<u32, PageAcc>::default(),
                Prepared::default(),
                Vec::<bool>::new(),
                Vec::<u32>::new(),
            )
        },
        |(m, prep, pas, seen), tl| {
            if !prep.fill_kept(tl, &filters, &goals, q.session_gap.ms) {
                return;
            }
            pas.clear();
            pas.extend(prep.kept.iter().map(|&i| passive.test(tl, i as usize)));
            let path = |p: usize| tl.dims[Dim::Path.index()][prep.kept[p] as usize];
            seen.clear();
            for p in 0..prep.kept.len() {
                if prep.pageview[p] {
                    m.entry(path(p)).or_default().pageviews += 1;
                    seen.push(path(p));
                }
            }
            seen.sort_unstable();
            seen.dedup();
            for &s in seen.iter() {
                m.entry(s).or_default().visitors += 1;
            }
            for &(a, b) in &prep.sessions {
                let (a, b) = (a as usize, b as usize);
                let Some(first) = (a..b).find(|&p| prep.pageview[p]) else {
                    continue;
                };
                let last = (a..b).rev().find(|&p| prep.pageview[p]).unwrap_or(first);
                let e = m.entry(path(first)).or_default();
                e.entries += 1;
                if bounced(prep, pas, a, b) {
                    e.bounces += 1;
                }
                m.entry(path(last)).or_default().exits += 1;
            }
        },
    )?;
    let mut all: FxHashMap<u32, PageAcc> = FxHashMap::default();
    for (m, ..) in states {
        for (k, v) in m {
            let e = all.entry(k).or_default();
            e.pageviews += v.pageviews;
            e.visitors += v.visitors;
            e.entries += v.entries;
            e.exits += v.exits;
            e.bounces += v.bounces;
        }
    }
    let dict = scan.dict(Dim::Path);
    let mut rows: Vec<PageRow> = all
        .into_iter()
        .map(|(k, v)| PageRow {
            path: if k == 0 {
                "(none)".into()
            } else {
                dict.get(k).to_string()
            },
            pageviews: v.pageviews,
            visitors: v.visitors,
            entries: v.entries,
            exits: v.exits,
            exit_rate: wilson(v.exits, v.pageviews),
            bounce_rate: wilson(v.bounces, v.entries),
        })
        .collect();
    rows.sort_by(|a, b| {
        b.pageviews
            .cmp(&a.pageviews)
            .then_with(|| a.path.cmp(&b.path))
    });
    rows.truncate(spec.limit);
    Ok(PagesResult { pages: rows })
}

#[derive(Default, Clone)]
struct Fig {
    visitors: u64,
    sessions: u64,
    pageviews: u64,
    events: u64,
    bounces: u64,
    durations: Vec<i64>,
}

impl Fig {
    fn add(&mut self, o: Fig) {
        self.visitors += o.visitors;
        self.sessions += o.sessions;
        self.pageviews += o.pageviews;
        self.events += o.events;
        self.bounces += o.bounces;
        self.durations.extend(o.durations);
    }

    fn figures(mut self) -> OverviewFigures {
        self.durations.sort_unstable();
        let sum: i128 = self.durations.iter().map(|&d| d as i128).sum();
        OverviewFigures {
            visitors: self.visitors,
            sessions: self.sessions,
            pageviews: self.pageviews,
            events: self.events,
            bounce_rate: wilson(self.bounces, self.sessions),
            pages_per_session: if self.sessions > 0 {
                self.pageviews as f64 / self.sessions as f64
            } else {
                0.0
            },
            mean_duration_ms: if self.sessions > 0 {
                sum as f64 / self.sessions as f64
            } else {
                0.0
            },
            median_duration_ms: crate::stats::nearest_rank(&self.durations, 0.5),
        }
    }
}

/// Visitors, sessions, pageviews, events, bounce rate, pages per session and session
/// duration (last event − first event), for the range and per bucket of session start.
pub(crate) fn overview(
    source: &dyn TimelineSource,
    q: &Query,
    r: &Resolved,
    spec: &OverviewSpec,
    opts: &RunOptions,
) -> Result<OverviewResult, Error> {
    let mut needs = base_needs(q, r);
    if let Some(b) = &spec.breakdown {
        needs.add_field(&b.by);
    }
    let (scan, goals, filters) = open_scan(source, q, r, &needs)?;
    let passive = passive_pred(&*scan);
    let reader = spec
        .breakdown
        .as_ref()
        .map(|b| FieldReader::new(&*scan, &b.by));
    let buckets = spec.interval.map(|iv| Buckets::new(r.from, r.to, iv, r.tz));
    let nb = buckets.as_ref().map_or(0, Buckets::len);
    let states = scan.par_fold(
        opts.threads,
        || {
            (
                Fig::default(),
                vec![Fig::default(); nb],
                FxHashMap::<Key, Fig>::default(),
                Prepared::default(),
                Vec::<bool>::new(),
                (Vec::<usize>::new(), Vec::<Key>::new()),
            )
        },
        |(all, per, bd, prep, pas, (seen, keys)), tl| {
            if !prep.fill_kept(tl, &filters, &goals, q.session_gap.ms) {
                return;
            }
            pas.clear();
            pas.extend(prep.kept.iter().map(|&i| passive.test(tl, i as usize)));
            all.visitors += 1;
            seen.clear();
            keys.clear();
            for &(a, b) in &prep.sessions {
                let key = reader
                    .as_ref()
                    .map(|rd| crate::goals::unit_key(rd, tl, prep, a, b));
                let (a, b) = (a as usize, b as usize);
                let pv = prep.pageview[a..b].iter().filter(|&&x| x).count() as u64;
                let bounce = u64::from(bounced(prep, pas, a, b));
                let dur = prep.ts[b - 1] - prep.ts[a];
                let bucket = buckets.as_ref().map(|bk| {
                    let bi = bk.index(prep.ts[a]);
                    seen.push(bi);
                    &mut per[bi]
                });
                let by_key = key.map(|k| {
                    keys.push(k);
                    bd.entry(k).or_default()
                });
                for f in std::iter::once(&mut *all).chain(bucket).chain(by_key) {
                    f.sessions += 1;
                    f.pageviews += pv;
                    f.events += (b - a) as u64;
                    f.bounces += bounce;
                    f.durations.push(dur);
                }
            }
            seen.sort_unstable();
            seen.dedup();
            for &bi in seen.iter() {
                per[bi].visitors += 1;
            }
            keys.sort_unstable();
            keys.dedup();
            for k in keys.iter() {
                bd.entry(*k).or_default().visitors += 1;
            }
        },
    )?;
    let mut all = Fig::default();
    let mut per = vec![Fig::default(); nb];
    let mut bd: FxHashMap<Key, Fig> = FxHashMap::default();
    for (a, p, m, ..) in states {
        all.add(a);
        for (x, y) in per.iter_mut().zip(p) {
            x.add(y);
        }
        for (k, f) in m {
            bd.entry(k).or_default().add(f);
        }
    }
    let mut breakdown = Vec::new();
    if let (Some(b), Some(rd)) = (&spec.breakdown, &reader) {
        let mut rows: Vec<(String, Fig)> = bd
            .into_iter()
            .map(|(k, f)| {
                let v = k.map_or_else(|| "(none)".to_string(), |t| rd.text(&*scan, t));
                (v, f)
            })
            .collect();
        rows.sort_by(|x, y| y.1.sessions.cmp(&x.1.sessions).then_with(|| x.0.cmp(&y.0)));
        let mut other: Option<Fig> = None;
        for (i, (value, f)) in rows.into_iter().enumerate() {
            if i < b.limit {
                breakdown.push(OverviewBreakdownRow {
                    value,
                    figures: f.figures(),
                });
            } else {
                other.get_or_insert_with(Fig::default).add(f);
            }
        }
        if let Some(o) = other {
            breakdown.push(OverviewBreakdownRow {
                value: "(other)".to_string(),
                figures: o.figures(),
            });
        }
    }
    let series = buckets
        .map(|bk| {
            per.into_iter()
                .enumerate()
                .map(|(bi, f)| OverviewBucket {
                    start: bk.start(bi),
                    label: bk.label(bi).to_string(),
                    figures: f.figures(),
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(OverviewResult {
        figures: all.figures(),
        series,
        breakdown_by: spec.breakdown.as_ref().map(|b| b.by.to_string()),
        breakdown,
    })
}
