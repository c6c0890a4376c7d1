// Experiments: an A/B test's variants compared on the site's goals (the `experiment`
// analysis). The range's experiments are found with an `overview` broken down by
// `props.experiment` over the `experiment_exposure` events. The chosen one shows its
// verdict in plain words (from the sequential interval, valid however often one looks),
// the split against the plan with the sample ratio check, and per metric each variant's
// rate and its difference from the control as a bar around 0, and a metric's difference
// over time (the trend: its sequential band narrowing); the fixed-size and Bayesian
// figures are secondary. The planner is plan.ts. Every number is the API's. Kept
// experiments without exposures in the range are listed too; setting one up (admins) is
// expsetup.ts.
import { api, query, type ExperimentDef, type ExperimentMetric, type ExperimentResult, type OverviewBreakdownRow, type Site, type TrendPoint, type VariantMetric, type Verdict } from "./api";
import { bandChart } from "./charts";
import { setupTools } from "./expsetup";
import type { Ctx } from "./main";
import { planCard } from "./plan";
import { MDES, filters, format, parse, spec, type State } from "./state";
import { ci, clear, errorBox, h, money, num, pct, svg, table, type Child, type Column } from "./ui";

export const VERDICT: Record<Verdict, string> = {
  too_early: "too early", check_assignment: "check assignment", better: "better", worse: "worse", no_difference_yet: "no difference yet",
};
/** Percentage points, signed: `+0.95`, `−0.16`. */
export const pp = (x: number): string => `${x < 0 ? "−" : "+"}${Math.abs(x * 100).toFixed(2)}`;
/** A variant's difference from the control with its sequential interval: `+0.95 pp [+0.33 – +1.57]`. */
export const diffText = (v: VariantMetric): string => (v.vs_control ? bandText(seqOf(v.vs_control).diff, seqOf(v.vs_control)) : "–");
type Cmp = NonNullable<VariantMetric["vs_control"]>;
/** The comparison the verdict comes from: CUPED's adjusted one when asked for, else the raw. */
export const seqOf = (c: Cmp): { diff: number; low: number; high: number; adjusted_p: number } =>
  c.cuped?.sequential ? { diff: c.cuped.diff, ...c.cuped.sequential } : { diff: c.diff.diff, ...c.sequential };
const bandText = (d: number, b: { low: number; high: number }): string => `${pp(d)} pp [${pp(b.low)} – ${pp(b.high)}]`;
export const pText = (p: number): string => (p < 0.0001 ? "< 0.0001" : p.toPrecision(2));
const times = (x: number): string => `×${x.toFixed(2)}`;
const badge = (t: string, c = ""): HTMLElement => h("span", { class: `badge ${c}` }, t);
/** The control's badge, unless its name says it. */
const ctlBadge = (r: ExperimentResult, v: string): Child => (v === r.control && v !== "control" ? [" ", badge("control")] : null);

export async function renderExperiments(ctx: Ctx, main: HTMLElement): Promise<void> {
  const s = ctx.state;
  const list = h("nav", { class: "card subtabs exp-list", id: "experiments-list", "aria-label": "Experiments in the range" }, h("span", { class: "muted" }, "Looking for experiments…"));
  const out = h("div", { id: "experiment", "aria-busy": "true" });
  const tools = h("span", { class: "inline" });
  const setup = h("div", { id: "exp-setup" });
  clear(main, h("div", { class: "page-head" }, h("h1", {}, "Experiments"), tools), list, setup, out);
  const done = (...c: Child[]): void => {
    clear(out, ...c);
    out.setAttribute("aria-busy", "false");
  };
  const sites = api<Site[]>("GET", "/api/v1/sites", undefined, true).catch((): Site[] => []);
  // Kept experiments: a kept one's metrics, control and MDE are the page's defaults.
  const kept = api<Record<string, ExperimentDef>>("GET", `/api/v1/sites/${encodeURIComponent(s.site)}/experiments`, undefined, true)
    .catch((): Record<string, ExperimentDef> => ({}));
  // Stored funnels (not open ones) can be compared too: their completion after exposure.
  const funnelsP = api<Record<string, { open?: boolean }>>("GET", `/api/v1/sites/${encodeURIComponent(s.site)}/funnels`, undefined, true)
    .then((f) => Object.keys(f).filter((k) => !f[k].open)).catch((): string[] => []);
  // The experiments: the keys of the range's exposures, most visitors first.
  const find = spec(s, { type: "overview", breakdown: { by: "props.experiment", limit: 50 } });
  find.filters = [...filters(s), { field: "name", value: "experiment_exposure" }];
  let found: OverviewBreakdownRow[];
  try {
    found = ((await query(find)).breakdown || []).filter((b) => !["(none)", "(other)"].includes(b.value));
  } catch (e) {
    if (ctx.current()) done(errorBox(e));
    return;
  }
  const goals = await ctx.goals();
  const defs = await kept;
  if (!ctx.current()) return;
  const key = s.exp || found[0]?.value || "";
  // Then the kept experiments (and the URL's) without exposures in the range.
  const link = (k: string, n = 0): HTMLElement => h("a", { href: format({ ...s, exp: k, ctrl: "" }), "aria-current": k === key ? "page" : null, "data-exp": k },
    k, h("small", { class: "muted" }, ` ${defs[k] && !n ? "kept, " : ""}${num(n)} visitors`));
  clear(list, h("span", { class: "muted" }, found.length ? "In this range:" : "No experiment in this range."), found.map((b) => link(b.value, b.figures.visitors)),
    [...new Set([...Object.keys(defs), key])].filter((k) => k && !found.some((b) => b.value === k)).map((k) => link(k)));
  clear(tools, setupTools(ctx, setup, goals, defs, key, await funnelsP));
  // Planning needs no experiment, only goals.
  const plan = (): Child => (goals.length ? planCard(ctx) : null);
  if (!key)
    return done(h("div", { class: "card empty", id: "exp-empty" },
      h("p", {}, "An experiment shows up here once visitors are exposed to it: on the site, the tracker’s ",
        h("code", {}, "cairn('experiment', key, variants, callback)"), " picks each visitor’s variant and sends an ",
        h("code", {}, "experiment_exposure"), " event with the experiment’s key and the variant (docs/tracker.md)."),
      h("p", { class: "muted" }, "Widen the range or loosen the filters to find older ones.")), plan());
  if (!goals.length)
    return done(h("p", { class: "card empty", id: "exp-empty" }, "Variants are compared on the site’s goals: this site has none yet (see Goals)."));

  // The metrics: the URL's (the first is primary), else the kept experiment's (with its
  // guardrails), else every goal, macro goals first.
  const def = defs[key];
  const isMacro = new Set(goals.filter((g) => g.conversion === "macro").map((g) => g.name));
  const ordered = [...goals.filter((g) => isMacro.has(g.name)), ...goals.filter((g) => !isMacro.has(g.name))].map((g) => g.name);
  const fromDef = def ? [...(def.metrics || []), ...(def.guardrails || [])].filter((g, i, l) => ordered.includes(g) && l.indexOf(g) === i) : [];
  const defaults = fromDef.length ? fromDef : ordered.slice(0, 20);
  const chosen = s.metrics.filter((m) => ordered.includes(m));
  const metrics = chosen.length ? chosen : defaults;
  const setMetrics = (first: string, also: (g: string) => boolean): void => {
    const l = [first, ...ordered.filter((g) => g !== first && also(g))];
    ctx.go({ metrics: l.join("\n") === defaults.join("\n") ? [] : l });
  };
  // The MDE: the URL's, else the kept experiment's when the list offers it.
  const keptMde = def?.mde != null ? Math.round(def.mde * 100) : 0;
  const mde = s.mde === 10 && MDES.includes(keptMde) ? keptMde : s.mde;
  const unit = s.unit === "lead" ? "lead" : "visitor";
  const sel = (id: string, opts: string[][], v: string, on: (v: string) => void): HTMLSelectElement => {
    const e: HTMLSelectElement = h("select", { id, onchange: () => on(e.value) }, opts.map(([o, t]) => h("option", { value: o, selected: o === v }, t || o)));
    return e;
  };
  // A kept experiment's funnels are always compared; the others on request.
  const stored = await funnelsP;
  const keptFun = (def?.funnels || []).filter((f) => stored.includes(f));
  const efun = s.efun.filter((f) => stored.includes(f) && !keptFun.includes(f));
  const ctlField = h("div", { class: "field" });
  const form = h("form", { class: "card", id: "exp-form", "aria-label": "Experiment", onsubmit: (e: Event) => e.preventDefault() },
    h("div", { class: "form-grid" },
      h("div", { class: "field" }, h("label", { for: "exp-primary" }, "Primary metric"),
        sel("exp-primary", ordered.map((g) => [g, `${g}${isMacro.has(g) ? " (macro)" : ""}`]), metrics[0], (v) => setMetrics(v, (g) => metrics.includes(g)))),
      ctlField,
      h("div", { class: "field" }, h("label", { for: "exp-mde" }, "Tuned to a change of"),
        sel("exp-mde", MDES.map((m) => [String(m), `${m}% of the control’s rate`]), String(mde), (v) => ctx.go({ mde: Number(v) }))),
      h("div", { class: "field" }, h("label", { for: "exp-unit" }, "Unit"), sel("exp-unit", [["visitor"], ["lead"]], unit, (v) => ctx.go({ unit: v as "visitor" }))),
      h("fieldset", { class: "field" }, h("legend", {}, "Variance"), h("label", { class: "check", title: "CUPED: adjust each metric for whether the unit reached it before its exposure" },
        h("input", { type: "checkbox", id: "exp-cuped", checked: s.cuped, onchange: () => ctx.go({ cuped: !s.cuped }) }), "Adjust for history (CUPED)")),
      h("fieldset", { class: "field wide" }, h("legend", {}, "Also compared"),
        h("div", { class: "inline" }, ordered.filter((g) => g !== metrics[0]).map((g) => {
          const box: HTMLInputElement = h("input", { type: "checkbox", value: g, checked: metrics.includes(g), onchange: () => setMetrics(metrics[0], (x) => (x === g ? box.checked : metrics.includes(x))) });
          return h("label", { class: "check" }, box, g);
        }))),
      stored.length ? h("fieldset", { class: "field wide" }, h("legend", {}, "Funnels completed"),
        h("div", { class: "inline" }, stored.map((f) => h("label", { class: "check" },
          h("input", { type: "checkbox", value: f, "data-funnel": f, checked: efun.includes(f) || keptFun.includes(f), disabled: keptFun.includes(f), title: keptFun.includes(f) ? "kept with the experiment" : null,
            onchange: () => ctx.go({ efun: efun.includes(f) ? efun.filter((x) => x !== f) : [...efun, f] }) }), f)))) : null),
    def?.hypothesis ? h("p", { class: "muted", id: "exp-hypothesis" }, h("strong", {}, "Hypothesis: "), def.hypothesis) : null);
  out.before(form);

  let r: ExperimentResult;
  try {
    r = await query(spec(s, { type: "experiment", key, unit, mde: mde / 100, metrics: chosen.length ? chosen : undefined, control: s.ctrl || undefined, trend: trendBy(s), cuped: s.cuped || undefined, funnels: efun.length ? [...keptFun, ...efun] : undefined }));
  } catch (e) {
    if (ctx.current()) done(errorBox(e));
    return;
  }
  const identity = (await sites).find((x) => x.site === s.site)?.identity;
  if (!ctx.current()) return;
  clear(ctlField, h("label", { for: "exp-control" }, "Control"),
    sel("exp-control", r.variants.map((v) => [v.name]), r.control, (v) => ctx.go({ ctrl: v })));
  const u = r.unit;
  const total = r.variants.reduce((a, v) => a + v.units, 0);
  const note = cookieless(identity);
  if (!total)
    return done(h("p", { class: "card empty", id: "exp-empty" }, `No ${u} was exposed to ${key} in this range${u === "lead" ? " (a lead is an identified visitor: choose the unit visitor)" : ""}.`), plan(), note);
  // The metric charted over time: the URL's, else the primary. Picking another (its name in
  // the table) redraws the chart only, and keeps it in the URL.
  const res = r;
  const trend = h("section", { class: "card", id: "exp-trend" });
  const show = (goal: string, scroll = false): void => {
    const m = res.metrics.find((x) => x.goal === goal) || res.metrics[0];
    trendChart(res, m, trend, trendBy(s));
    metricsEl.querySelectorAll<HTMLButtonElement>("[data-pick]").forEach((b) => b.setAttribute("aria-pressed", String(b.dataset.pick === m.goal)));
    if (scroll) trend.scrollIntoView({ block: "nearest" });
  };
  const metricsEl = metricTable(r, isMacro, (goal) => {
    history.replaceState(null, "", format({ ...parse(location.hash), tmetric: goal === r.metrics[0].goal ? "" : goal }));
    show(goal, true);
  });
  done(banner(r, isMacro, total), trend, split(r), metricsEl, ...revenue(r), legend(r), plan(), note);
  show(s.tmetric);
}

/** The trend's periods: days over a range of up to 45 days, else weeks. */
export function trendBy(s: State): "day" | "week" {
  const d = s.range === "custom" ? (Date.parse(s.to) - Date.parse(s.from)) / 86400000 + 1 : s.range === "90d" ? 90 : 30;
  return d > 45 ? "week" : "day";
}

/** A metric's difference from the control as it stood at the end of each period, with its
 * sequential 95% band, for every other variant: the band narrows as units come in. */
function trendChart(r: ExperimentResult, m: ExperimentMetric, card: HTMLElement, by: "day" | "week"): void {
  const t = m.trend || [];
  // From the first period with a comparison (the range may start before the test).
  const from = t.findIndex((p) => p.vs_control.some(Boolean));
  const pts = from < 0 ? [] : t.slice(from);
  const last = pts[pts.length - 1];
  const title = `${m.goal} over time: the difference from ${r.control}`;
  if (!last) return clear(card, h("h2", {}, title), h("p", { class: "muted" }, `No comparison yet: ${r.control} or the other variants have no ${r.unit}s.`));
  const vs = r.variants.map((v, i) => ({ name: v.name, i, end: last.vs_control[i] })).filter((v) => v.name !== r.control);
  const when = (p: string): string => (by === "week" ? `the week of ${p}` : p);
  const val = (x: number | undefined): number | "-" => (x == null ? "-" : x);
  const bands = vs.map((v) => ({
    name: `${v.name} − ${r.control}`, mid: pts.map((p) => val(p.vs_control[v.i]?.diff)),
    low: pts.map((p) => val(p.vs_control[v.i]?.low)), high: pts.map((p) => val(p.vs_control[v.i]?.high)),
  }));
  // The axis fits the last bands (and 0) with room to spare: the first, much wider, run off it.
  const ends = vs.flatMap((v) => (v.end ? [v.end.low, v.end.high] : []));
  const lo = Math.min(0, ...ends), hi = Math.max(0, ...ends), w = Math.max(hi - lo, 1e-4);
  const step = 10 ** Math.floor(Math.log10(w));
  const clip: [number, number] = [Math.floor((lo - 1.5 * w) / step) * step, Math.ceil((hi + 1.5 * w) / step) * step];
  const clipped = bands.some((b) => [...b.low, ...b.high].some((x) => x !== "-" && (x < clip[0] || x > clip[1])));
  const el = h("div", { class: "chart", id: "exp-trend-chart", role: "img", "aria-label": title });
  clear(card, h("h2", {}, title), el,
    h("p", { id: "exp-trend-last" }, `At the end of ${when(last.period)}: `, vs.map((v, k) => [k ? "; " : "",
      v.end ? h("span", { "data-variant": v.name, "data-diff": v.end.diff, "data-low": v.end.low, "data-high": v.end.high }, `${v.name} ${bandText(v.end.diff, v.end)}`) : `${v.name} –`]), "."),
    h("p", { class: "muted" }, `Each ${by}: the difference so far (variant − ${r.control}, in percentage points) in its sequential 95% band, which narrows as ${r.unit}s come in. The band holds at every look at once, not only the last, so reading it every day is safe: stop when it clears 0. Click another metric’s name below to chart it.`,
      clipped ? " The first intervals, much wider, run off the chart: point at a period for its figures." : ""));
  const c = r.variants.findIndex((x) => x.name === r.control);
  const of = (p: TrendPoint, i: number): string => `${num(p.converted[i])} of ${num(p.units[i])} converted`;
  bandChart(el, pts.map((p) => p.period), bands, (v) => (v ? `${pp(v).replace(/\.?0+$/, "")} pp` : "0"), (k) => {
    const p = pts[k];
    return [`By the end of ${when(p.period)}`, `${r.control}: ${of(p, c)}`,
      ...vs.map((v) => `${v.name}: ${of(p, v.i)}, ${p.vs_control[v.i] ? bandText(p.vs_control[v.i]!.diff, p.vs_control[v.i]!) : "–"}`)].join("\n");
  }, clipped ? clip : undefined);
}

/** The verdict on the primary metric in plain words, what the micro goals say first, and
 * what would make any of it untrustworthy. */
function banner(r: ExperimentResult, isMacro: Set<string>, total: number): HTMLElement {
  const u = r.unit, ctl = r.control;
  const [p, ...rest] = r.metrics;
  const srm = r.sample_ratio;
  const decided = (v?: VariantMetric): boolean => v?.vs_control?.verdict === "better" || v?.vs_control?.verdict === "worse";
  const figures = (v: VariantMetric): Child[] => [
    h("strong", { class: "exp-num" }, diffText(v)), `, adjusted p ${pText(seqOf(v.vs_control!).adjusted_p)}`,
  ];
  const counts = r.variants.map((v) => `${v.name} has ${num(v.units)}`).join(", ");
  const lines: Child[] = [];
  let tone = "";
  if (srm.mismatch) {
    tone = "bad";
    lines.push(h("p", { class: "error", id: "exp-srm" }, h("strong", {}, "Sample ratio mismatch: do not trust any result below. "),
      `The ${u}s were not split as planned (${r.variants.map((v) => `${v.name} ${pct(v.share, 1)}, planned ${pct(v.expected_share, 1)}`).join("; ")}; `,
      srm.chi_square == null ? "units in a variant given no traffic" : `χ² ${srm.chi_square.toFixed(2)}, p ${pText(srm.p_value)}`,
      `): the variants’ ${u}s then differ by more than the variant. Fix the assignment or the tracking, then start again.`));
  }
  for (const v of p.variants) {
    const c = v.vs_control;
    if (!c) {
      if (v.variant !== ctl) lines.push(h("p", {}, `${v.variant}: no comparison with ${ctl}, which has no ${u}s.`));
      continue;
    }
    const said: Child[] =
      decided(v) ? [h("strong", {}, `${v.variant} is ${c.verdict} than ${ctl} on ${p.goal}: `), figures(v), " — safe to read at any time."]
      : c.verdict === "no_difference_yet" ? [h("strong", {}, `No difference yet between ${v.variant} and ${ctl} on ${p.goal}: `), figures(v),
          `. Keep it running: the interval narrows as ${u}s come in, and stays valid however often you look.`]
      : c.verdict === "too_early" ? [h("strong", {}, "Too early: "), `each variant needs ${num(r.min_units)} ${u}s before a verdict on ${p.goal} (${counts}).`]
      : [h("strong", {}, `No verdict on ${p.goal}: `), "the split is not as planned (above)."];
    if (!tone) tone = c.verdict === "better" ? "good" : c.verdict === "worse" || c.verdict === "check_assignment" ? "bad" : "";
    lines.push(h("p", { class: "exp-says", "data-variant": v.variant, "data-verdict": c.verdict }, said));
    // A micro goal decides before the macro one (more units reach it): say which.
    const on = (m: ExperimentMetric): VariantMetric | undefined => m.variants.find((x) => x.variant === v.variant);
    if (isMacro.has(p.goal) && c.verdict === "no_difference_yet") {
      const micro = rest.filter((m) => !m.funnel && !isMacro.has(m.goal) && decided(on(m)));
      if (micro.length)
        lines.push(h("p", { class: "exp-micro" }, h("strong", {}, "The micro goal decides first: "),
          micro.map((m, i) => [i ? "; " : "", `on ${m.goal} ${v.variant} is already ${on(m)!.vs_control!.verdict} (`, figures(on(m)!), ")"]),
          `. More ${u}s reach a micro goal, so it shows a difference sooner; whether it carries through to ${p.goal} is not shown yet.`));
    }
    if (!isMacro.has(p.goal) && decided(v))
      for (const m of rest.filter((m) => isMacro.has(m.goal) && on(m)?.vs_control?.verdict === "no_difference_yet"))
        lines.push(h("p", { class: "exp-micro" }, h("strong", {}, `On ${m.goal}, the macro goal, no difference yet: `), figures(on(m)!),
          `. The micro goal decides first; keep it running to see whether the change carries through to ${m.goal}.`));
  }
  if (r.mixed) {
    const share = r.mixed / (total + r.mixed);
    lines.push(h("p", { id: "exp-mixed" }, `${num(r.mixed)} ${u}s saw more than one variant and are left out (${pct(share, 1)} of those exposed)`,
      share > 0.01 ? ": many — check that the tracker keeps each visitor’s variant (see below)." : "."));
  }
  lines.push(h("p", { class: "muted" }, `Sequential 95% intervals, tuned to a ${pct(r.mde, 0)} change of the control’s rate and valid however often you look; p adjusted (Holm) across the metrics and variants; a verdict needs ${num(r.min_units)} ${u}s per variant.`));
  return h("section", { class: `card exp-verdict ${tone}`, id: "exp-verdict" }, h("h2", {}, `${r.key}: ${p.goal}, the primary metric`), lines);
}

/** The units per variant against the plan, and the sample ratio check. */
function split(r: ExperimentResult): HTMLElement {
  const srm = r.sample_ratio;
  const cols: Column<ExperimentResult["variants"][number]>[] = [
    { label: "Variant", cell: (v) => h("span", { "data-variant": v.name }, v.name, ctlBadge(r, v.name)), csv: (v) => v.name },
    { label: `${r.unit[0].toUpperCase()}${r.unit.slice(1)}s`, cell: (v) => h("span", { "data-units": v.units }, num(v.units)), csv: (v) => v.units, num: true },
    { label: "Share", cell: (v) => h("span", { class: "share-bar", style: `--share: ${(v.share * 100).toFixed(1)}%` }, pct(v.share, 1)), csv: (v) => v.share, num: true },
    { label: "Planned", cell: (v) => pct(v.expected_share, 1), csv: (v) => v.expected_share, num: true },
  ];
  return table("Split", cols, r.variants, {
    id: "exp-split", file: `${r.key} split`,
    head: h("span", { class: srm.mismatch ? "v-worse" : "muted", id: "exp-ratio" },
      `Sample ratio check: ${srm.chi_square == null ? "a variant given no traffic has units" : `χ² ${srm.chi_square.toFixed(2)}, p ${pText(srm.p_value)}`} — ${srm.mismatch ? "mismatch" : "as planned"}`),
  });
}

interface Row { m: ExperimentMetric; v: VariantMetric }
const W = 120;

/** The metrics' rows: every variant of every metric, the control first. */
export function experimentCsv(r: ExperimentResult): Column<Row>[] {
  const col = (label: string, csv: (x: Row) => string | number | null | undefined): Column<Row> => ({ label, cell: () => "", csv: (x) => csv(x) ?? "" });
  const c = (x: Row) => x.v.vs_control;
  return [
    col("Metric", (x) => x.m.goal), col("Primary", (x) => (x.m.primary ? "yes" : "no")), col("Variant", (x) => x.v.variant),
    col("Units", (x) => x.v.rate.den), col("Converted", (x) => x.v.rate.num), col("Rate", (x) => x.v.rate.rate), col("Rate low", (x) => x.v.rate.low), col("Rate high", (x) => x.v.rate.high),
    col(`Difference vs ${r.control}`, (x) => c(x)?.diff.diff), col("Sequential low", (x) => c(x)?.sequential.low), col("Sequential high", (x) => c(x)?.sequential.high),
    col("Sequential p", (x) => c(x)?.sequential.p_value), col("Adjusted p", (x) => c(x)?.sequential.adjusted_p), col("Verdict", (x) => c(x)?.verdict),
    col("Fixed-size low", (x) => c(x)?.diff.low), col("Fixed-size high", (x) => c(x)?.diff.high), col("Lift", (x) => c(x)?.lift?.ratio), col("Lift low", (x) => c(x)?.lift?.low),
    col("Lift high", (x) => c(x)?.lift?.high), col("Fixed-size p", (x) => c(x)?.p_value), col("P(best)", (x) => x.v.prob_best), col("Expected loss", (x) => x.v.expected_loss),
  ];
}

function metricTable(r: ExperimentResult, isMacro: Set<string>, pick: (goal: string) => void): HTMLElement {
  const rows: Row[] = r.metrics.flatMap((m) => m.variants.map((v) => ({ m, v })));
  // Each metric's scale: its widest interval end, either side of 0.
  const scale = new Map(r.metrics.map((m) => [m, Math.max(1e-4, ...m.variants.flatMap((v) => (v.vs_control ? [seqOf(v.vs_control).low, seqOf(v.vs_control).high, seqOf(v.vs_control).diff].map(Math.abs) : [])))]));
  const x = (m: ExperimentMetric, v: number): number => 3 + ((Math.max(-1, Math.min(1, v / scale.get(m)!)) + 1) / 2) * (W - 6);
  const diffCell = ({ m, v }: Row): Child => {
    const b = svg("svg", { viewBox: `0 0 ${W} 12`, width: W, height: 12, "aria-hidden": "true" });
    const c = v.vs_control;
    if (!c) {
      // The control's row: the metric's scale, in percentage points.
      b.setAttribute("class", "lift-axis");
      const e = scale.get(m)! * 100, d = e < 1 ? 2 : 1;
      for (const [at, t, a] of [[-1, `−${e.toFixed(d)}`, "start"], [0, "0", "middle"], [1, `+${e.toFixed(d)} pp`, "end"]] as const) {
        const tx = svg("text", { x: x(m, at * scale.get(m)!), y: 10, "text-anchor": a });
        tx.textContent = t;
        b.append(tx);
      }
      return h("span", { class: "r-cell" }, b, h("small", { class: "muted" }, v.variant === r.control ? "control" : "–"));
    }
    const s = seqOf(c);
    b.setAttribute("class", `lift-bar ${c.verdict === "better" ? "good" : c.verdict === "worse" ? "bad" : "raw"}`);
    b.append(svg("line", { x1: x(m, 0), x2: x(m, 0), y1: 0, y2: 12, class: "one" }),
      svg("rect", { x: x(m, s.low), y: 4, width: Math.max(1, x(m, s.high) - x(m, s.low)), height: 4, rx: 2 }),
      svg("circle", { cx: x(m, s.diff), cy: 6, r: 3.5 }));
    return h("span", { class: "r-cell", "data-diff": s.diff, "data-low": s.low, "data-high": s.high }, b, diffText(v));
  };
  const c = (x: Row) => x.v.vs_control;
  const cols: Column<Row>[] = [
    {
      label: "Metric",
      cell: ({ m, v }) => v !== m.variants[0] ? "" : h("span", {},
        h("button", { type: "button", class: "link", "data-pick": m.goal, title: `Chart ${m.goal} over time`, onclick: () => pick(m.goal) }, m.goal), " ", m.funnel ? badge("funnel") : badge(isMacro.has(m.goal) ? "macro" : "micro", isMacro.has(m.goal) ? "macro" : ""), m.primary ? [" ", badge("primary", "macro")] : null, m.guardrail ? [" ", badge("guardrail")] : null),
    },
    { label: "Variant", cell: ({ v }) => h("span", {}, v.variant, ctlBadge(r, v.variant)) },
    { label: `${r.unit[0].toUpperCase()}${r.unit.slice(1)}s`, cell: ({ v }) => num(v.rate.den), num: true },
    {
      label: "Rate (95% interval)",
      cell: ({ v }) => h("span", { "data-rate": v.rate.rate, title: `${num(v.rate.num)} of ${num(v.rate.den)} reached it after their first exposure` }, pct(v.rate.rate, 2), h("small", { class: "muted" }, ` ${ci(v.rate, 2)}`)),
      num: true,
    },
    { label: `Difference vs ${r.control} (sequential 95%)`, cell: diffCell },
    { label: "Adjusted p", cell: (x) => { const k = c(x); return k ? h("span", { "data-p": seqOf(k).adjusted_p }, pText(seqOf(k).adjusted_p)) : "–"; }, num: true },
    { label: "Verdict", cell: (x) => { const k = c(x); return k ? h("span", { class: `v-${k.verdict}`, "data-verdict": k.verdict }, VERDICT[k.verdict]) : "–"; } },
    // Secondary: shown on request.
    { label: "Lift (fixed size)", cell: (x) => { const l = c(x)?.lift; return l ? h("span", {}, times(l.ratio), h("small", { class: "muted" }, ` ${times(l.low)}–${times(l.high)}`)) : "–"; }, num: true },
    { label: "p (fixed size)", cell: (x) => { const p = c(x)?.p_value; return p == null ? "–" : pText(p); }, num: true },
    { label: "P(best)", cell: ({ v }) => pct(v.prob_best, 1), num: true },
    { label: "Expected loss", cell: ({ v }) => `${(v.expected_loss * 100).toFixed(3)} pp`, num: true },
  ];
  const more: HTMLInputElement = h("input", { type: "checkbox", id: "exp-more", onchange: () => t.classList.toggle("all", more.checked) });
  const t = table("Metrics, the primary first", cols, rows, {
    id: "exp-metrics", file: `${r.key} metrics`, csv: experimentCsv(r),
    head: h("span", { class: "check" }, more, h("label", { for: "exp-more" }, "Fixed-size and Bayesian figures")),
  });
  const fits = r.metrics.filter((m) => m.cuped);
  const units = r.variants.reduce((a, v) => a + v.units, 0);
  if (fits.length) t.querySelector(".scroll")!.before(h("p", { id: "exp-cuped-note" }, h("strong", {}, "Adjusted for history (CUPED): "),
    fits.map((m) => `${m.goal} ${pct(m.cuped!.variance_reduction, 1)} of the variance removed (${num(m.cuped!.with_history)} ${r.unit}s reached it before their exposure)`).join("; "), ". ",
    fits.every((m) => m.cuped!.variance_reduction < 0.05) ? (fits.every((m) => m.cuped!.with_history < 0.05 * units)
      ? `It helps little here: few ${r.unit}s did anything before their exposure. New visitors have no history; start the range before the experiment to include returning visitors’.`
      : "It helps little here: what units did before does not predict these metrics.") : "Differences, intervals and verdicts are the adjusted ones."));
  t.querySelector(".scroll")!.before(h("p", { class: "muted sec" }, "Lift and p (fixed size) are valid only at a sample size fixed in advance and read once: checked as the test runs, they find differences that are not there. P(best) and expected loss are Bayesian (flat priors), not a test."));
  t.querySelectorAll("tr").forEach((tr, i) => {
    [...tr.children].forEach((td, k) => {
      td.setAttribute("data-label", cols[k].label);
      if (td.textContent === "–") td.classList.add("nil");
      if (k > 6) td.classList.add("sec");
      if (k === 0 || k === 6) td.classList.add("wrap");
    });
    const x = rows[i - 1];
    if (!x) return;
    tr.setAttribute("data-metric", x.m.goal);
    tr.setAttribute("data-variant", x.v.variant);
    if (x.v === x.m.variants[0] && i > 1) tr.classList.add("group");
  });
  return t;
}

type Rev = NonNullable<ExperimentResult["revenue"]>[number];
type RevRow = { m: Rev; v: Rev["variants"][number] };
/** Revenue per unit after exposure, per currency: Welch's difference, the sequential
 * interval and the verdict. */
function revenue(r: ExperimentResult): HTMLElement[] {
  const rows: RevRow[] = (r.revenue || []).flatMap((m) => m.variants.map((v) => ({ m, v })));
  if (!rows.length) return [];
  const $ = (x: number, c: string): string => `${x < 0 ? "−" : x > 0 ? "+" : ""}${money(Math.abs(x), c)}`;
  const cols: Column<RevRow>[] = [
    { label: "Variant", cell: ({ v }) => h("span", {}, v.variant, ctlBadge(r, v.variant)) },
    { label: `Revenue per ${r.unit}`, cell: ({ m, v }) => h("span", { "data-mean": v.mean }, money(v.mean, m.currency)), num: true },
    { label: "Total", cell: ({ m, v }) => money(v.total, m.currency), num: true },
    { label: "Difference (Welch 95%)", cell: ({ m, v }) => { const c = v.vs_control; return c ? `${$(c.diff, m.currency)} [${$(c.low, m.currency)} – ${$(c.high, m.currency)}], p ${pText(c.p_value)}` : v.variant === r.control ? "control" : "–"; } },
    { label: "Sequential 95%", cell: ({ m, v }) => { const s = v.vs_control?.sequential; return s ? `[${$(s.low, m.currency)} – ${$(s.high, m.currency)}], adj. p ${pText(s.adjusted_p)}` : "–"; } },
    { label: "Verdict", cell: ({ v }) => { const k = v.vs_control; return k ? h("span", { class: `v-${k.verdict}`, "data-verdict": k.verdict }, VERDICT[k.verdict]) : "–"; } },
  ];
  const t = table(`Revenue per ${r.unit} after exposure${rows.length > r.variants.length ? ", per currency" : ` (${rows[0].m.currency})`}`, cols, rows, { id: "exp-revenue", file: `${r.key} revenue` });
  t.querySelector(".scroll")!.before(h("p", { class: "muted" }, `Every exposed ${r.unit} counts, those who paid nothing as 0. The verdict is the sequential test's (valid however often you look, Holm across currencies and variants); Welch's interval and p hold only at a size fixed in advance.`));
  t.querySelectorAll("tbody tr").forEach((tr) => [...tr.children].forEach((td, k) => td.setAttribute("data-label", cols[k].label)));
  return [t];
}

function legend(r: ExperimentResult): HTMLElement {
  const u = r.unit;
  const items: [string, string][] = [
    ["Difference (sequential 95%)", `Variant − control, in percentage points, with its 95% confidence sequence (the bar, around 0): valid however often you look, so read it every day and stop once it is clear of 0. Narrowest for a change near the one it is tuned to (${pct(r.mde, 0)} of the control’s rate).`],
    ["Adjusted p", "The always-valid p-value, adjusted (Holm) for comparing several metrics and variants at once."],
    ["Verdict", `better or worse: adjusted p under 0.05; no difference yet: keep it running; too early: a variant has under ${num(r.min_units)} ${u}s; check assignment: the split is not as planned, so nothing can be read.`],
  ];
  return h("details", { class: "card legend-card", id: "exp-legend" }, h("summary", {}, "What the numbers mean"),
    h("dl", {}, items.map(([k, d]) => [h("dt", {}, k), h("dd", {}, d)])));
}

/** How stable the tracker's assignment is without a persistent id. */
function cookieless(identity?: string): HTMLElement {
  return h("p", { class: "card muted", id: "exp-cookieless" }, h("strong", {}, identity === "cookieless" ? "This site is cookieless: " : "Stable assignment: "),
    "without the tracker’s persistent id (", h("code", {}, "data-persist"), "), a visitor keeps their variant only for the tab’s session. Coming back in a new tab they may see another variant: counted as mixed and left out that day, as a new visitor on another. For assignment that holds across visits, register the site with ",
    h("code", {}, "--identity first-party"), " and add ", h("code", {}, "data-persist"), " to the script tag (docs/tracker.md).");
}
