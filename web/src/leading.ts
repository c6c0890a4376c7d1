// The Campaigns page's Leading indicators card: can a campaign be judged before it sells?
// The `leading_indicators` analysis groups new visitors into cohorts (the page's campaign,
// source, medium or channel on their first visit × the week of that visit) and sets each
// cohort's early rate of every micro goal (its first days) against its macro rate weeks
// later, across the finished cohorts: Pearson's r with its interval and FDR verdict, and a
// line that predicts the macro rate of the cohorts still under way. Every number is the
// API's; the words say "went with", never "causes".
import { query, type Cohort, type Indicator, type LeadingResult, type Rate } from "./api";
import { scatterChart, type Point } from "./charts";
import type { Ctx } from "./main";
import { EARLY_DAYS, HORIZON_DAYS, spec, type State } from "./state";
import { clear, errorBox, h, num, pct, svg, table, type Child, type Column } from "./ui";

/** The fields a cohort can be made of (others of the page's By: utm_campaign). */
const BY = ["utm_campaign", "utm_source", "utm_medium", "source", "channel"];
/** Fewer finished cohorts than this, and r is not worth showing. */
const MIN_FITTED = 3;

/** The cohorts' field for the page's By. */
export const leadingBy = (cby: string): string => (BY.includes(cby) ? cby : "utm_campaign");

/** r and its ends: `0.94`, `−0.45`. */
export const rText = (x: number): string => x.toFixed(2).replace("-", "−");
/** `r = 0.94 [0.79 – 0.99]`. */
export const rWithCi = (i: Indicator): string =>
  i.r == null ? "r: none" : `r = ${rText(i.r)}${i.low != null && i.high != null ? ` [${rText(i.low)} – ${rText(i.high)}]` : " (no interval under 4 cohorts)"}`;
const pText = (p: number): string => (p < 0.0001 ? "< 0.0001" : p.toPrecision(2));
/** `q = 0.012`, `q < 0.0001`. */
const qIs = (q: number): string => `q ${q < 0.0001 ? "" : "= "}${pText(q)}`;
/** "the first day", "the first 3 days". */
const firstDays = (n: number): string => (n === 1 ? "the first day" : `the first ${n} days`);
/** The macro goal's line: `0.82% + 0.95 × early rate`. */
export const lineText = (i: Indicator): string =>
  i.slope == null || i.intercept == null ? "–" : `${pct(i.intercept, 2)} ${i.slope < 0 ? "−" : "+"} ${Math.abs(i.slope).toFixed(2)} × early rate`;
const STATUS: Record<Cohort["status"], string> = { complete: "complete", early: "early window over", too_recent: "too recent" };
/** A cohort's status in words. */
export const statusText = (c: Cohort, min: number): string => (c.status === "complete" && !c.fitted ? `complete, under ${min}: not fitted` : STATUS[c.status]);
const rateTip = (x: Rate): string => `${num(x.num)} of ${num(x.den)}; 95% interval ${pct(x.low, 1)} – ${pct(x.high, 1)}`;

/** What a cohort's period is: "week" or "day". */
const per = (r: LeadingResult): string => (r.period === "day" ? "day" : "week");
const Per = (r: LeadingResult): string => (r.period === "day" ? "Day" : "Week");

/** The days the state's range spans (custom: from its dates). */
function rangeDays(s: State): number {
  if (s.range === "today") return 1;
  if (s.range !== "custom") return parseInt(s.range, 10);
  const d = (Date.parse(s.to) - Date.parse(s.from)) / 86400000;
  return Number.isFinite(d) ? Math.max(1, Math.round(d) + 1) : 1;
}

/** The indicator the chart, the cohorts and the predictions follow: the one the API
 * predicts from (the best significant), else the best with an r. */
export function shownIndicator(r: LeadingResult): Indicator | undefined {
  const p = r.cohorts.find((c) => c.predicted)?.predicted?.indicator;
  return r.indicators.find((i) => i.goal === p) || r.indicators.find((i) => i.r != null);
}

/** A column of a CSV only. */
const col = <R>(label: string, csv: (x: R) => string | number): Column<R> => ({ label, cell: () => "", csv });

/** The cohorts' CSV: every figure in its own column, every indicator's early rate. */
export function cohortCsv(r: LeadingResult): Column<Cohort>[] {
  return [
    col(r.by, (c) => c.value),
    col(`${Per(r)} of first visit`, (c) => c.period),
    col("New visitors", (c) => c.visitors),
    col("Status", (c) => c.status),
    col("Fitted", (c) => (c.fitted ? "yes" : "no")),
    ...r.indicators.map((i) => col<Cohort>(`${i.goal} in ${firstDays(r.early_days)}`, (c) => c.early[i.goal]?.rate ?? "")),
    col(`${r.goal} within ${r.horizon_days} days`, (c) => c.converted.rate),
    col(`${r.goal} low`, (c) => c.converted.low),
    col(`${r.goal} high`, (c) => c.converted.high),
    col("Predicted from", (c) => c.predicted?.indicator ?? ""),
    col(`Predicted ${r.goal}`, (c) => c.predicted?.rate ?? ""),
    col("Predicted low", (c) => c.predicted?.low ?? ""),
    col("Predicted high", (c) => c.predicted?.high ?? ""),
  ];
}

/** The card, into `el`: its controls at once, then the result. */
export async function showLeading(ctx: Ctx, el: HTMLElement): Promise<void> {
  const s = ctx.state;
  const by = leadingBy(s.cby);
  const sel = (id: string, opts: number[], v: number, text: (n: number) => string, on: (n: number) => void): HTMLSelectElement => {
    const e: HTMLSelectElement = h("select", { id, onchange: () => on(Number(e.value)) }, opts.map((n) => h("option", { value: n, selected: n === v }, text(n))));
    return e;
  };
  const early = sel("lead-early", EARLY_DAYS, s.early, (n) => (n === 1 ? "first day" : `first ${n} days`), (n) => ctx.go({ early: n }));
  const horizon = sel("lead-horizon", HORIZON_DAYS, s.horizon, (n) => `${n} days`, (n) => ctx.go({ horizon: Math.max(n, s.early) }));
  const body = h("div", { id: "leading-body" }, h("p", { class: "muted" }, "Loading…"));
  const card = h("section", { class: "card", id: "leading", "aria-busy": "true" },
    h("div", { class: "card-head" },
      h("h2", {}, "Leading indicators — judge a campaign before it sells"),
      h("span", { class: "inline" },
        h("label", { for: "lead-early" }, "Early window"), early,
        h("label", { for: "lead-horizon" }, "Horizon"), horizon)),
    body);
  clear(el, card);
  const done = (...c: Child[]): void => {
    clear(body, ...c);
    card.setAttribute("aria-busy", "false");
  };
  const goals = await ctx.goals();
  if (!ctx.current()) return;
  const macro = goals.find((g) => g.conversion === "macro");
  if (!macro)
    return done(h("p", { id: "leading-empty" }, "This needs a macro goal (a purchase, a signup): define one on Goals."));
  let r: LeadingResult;
  try {
    r = await query(spec(s, { type: "leading_indicators", goal: macro.name, by, early_days: s.early, horizon_days: s.horizon }));
  } catch (e) {
    if (ctx.current()) done(errorBox(e));
    return;
  }
  if (!ctx.current()) return;
  const g = r.goal;
  const intro = h("p", { class: "muted", id: "leading-intro" },
    `Cohorts: each ${r.by}’s new visitors, by ${per(r)} of first visit${by !== s.cby ? ` (not by ${s.cby}: campaigns, sources, mediums or channels only)` : ""}. Early rate: the share reaching a goal in ${firstDays(r.early_days)}; ${g} rate: the share reaching ${g} within ${r.horizon_days} days.`);
  if (!r.visitors) return done(intro, h("p", { id: "leading-empty" }, "No new visitors in this range: widen the range or loosen the filters."));

  const shown = shownIndicator(r);
  if (r.fitted < MIN_FITTED || !shown) return done(intro, insufficient(ctx, r, !shown && r.fitted >= MIN_FITTED));
  const top = r.indicators.find((i) => i.r != null)!;
  done(intro, summary(r, top, shown), indicatorTable(r), chartBlock(r, shown), cohortTable(r, shown));
  const chartEl = document.getElementById("leading-chart");
  if (chartEl) scatterChart(chartEl, points(r, shown), line(r, shown), { x: `${shown.goal} in ${firstDays(r.early_days)}`, y: `${g} within ${r.horizon_days} days` },
    (v) => pct(v, 1), ["finished cohorts", "under way: predicted", "fitted line"]);
}

/** Too few finished cohorts: what a range needs, and real ways to get there. */
function insufficient(ctx: Ctx, r: LeadingResult, flat: boolean): HTMLElement {
  const s = ctx.state;
  const need = r.horizon_days + (r.period === "day" ? 1 : 7);
  const count = (st: Cohort["status"]): number => r.cohorts.filter((c) => c.status === st).length;
  const has = `This range: ${num(count("complete"))} complete cohorts (${num(r.fitted)} large enough), ${num(count("early"))} with the early window over, ${num(count("too_recent"))} too recent.`;
  const offers: HTMLElement[] = [];
  if (!flat && rangeDays(s) < 90) offers.push(h("button", { type: "button", class: "btn small", id: "leading-longer", onclick: () => ctx.go({ range: "90d" }) }, "Show the last 90 days"));
  if (!flat && r.horizon_days > 7) offers.push(h("button", { type: "button", class: "btn small", id: "leading-shorter", onclick: () => ctx.go({ horizon: 7, early: Math.min(s.early, 7) }) }, "Use a 7-day horizon"));
  return h("div", { id: "leading-empty" },
    h("p", {}, h("strong", {}, flat
      ? `Nothing to judge: no early rate (or ${r.goal}’s rate) varies across the ${num(r.fitted)} finished cohorts.`
      : `Too few finished cohorts to judge: ${num(r.fitted)} of the ${MIN_FITTED} needed.`)),
    flat ? null : h("p", {}, `A cohort is finished once all its visitors have had the ${r.horizon_days}-day horizon to reach ${r.goal}, and counts from ${num(r.min_visitors)} new visitors: a range needs at least ${need} days (the horizon and a ${per(r)})${rangeDays(s) < need ? `; this one has ${rangeDays(s)}.` : `. Here too few cohorts are both finished and that large: a longer range, a shorter horizon or more visitors per ${r.by} gives more.`}`),
    h("p", { class: "muted" }, has, " Nothing is predicted without a fit."),
    offers.length ? h("div", { class: "actions" }, offers) : null);
}

/** The verdict in plain words: what went with what, how surely, and what it is not. */
function summary(r: LeadingResult, top: Indicator, shown: Indicator): HTMLElement {
  const g = r.goal;
  const n = r.indicators.filter((i) => i.p_value != null).length;
  const across = `Across ${num(top.cohorts)} finished cohorts (${r.by} × ${per(r)} of first visit), `;
  const first = firstDays(r.early_days);
  const value = h("strong", { id: "leading-r", "data-r": top.r ?? "", "data-indicator": top.goal }, rWithCi(top));
  const micro = r.indicators.filter((i) => !i.baseline && i.r != null);
  const best = top.baseline
    ? [
        `${across}the share already reaching ${g} in ${first} went with the share reaching ${g} within ${r.horizon_days} days: `, value,
        `. That is the baseline, ${g}’s own early rate: a micro goal is useful as an early signal only if it beats it, and none does here`,
        micro.length ? `; the best, ${micro[0].goal}, has ${rWithCi(micro[0])}.` : ": define micro goals on Goals to weigh some.",
      ]
    : [`${across}the share reaching ${top.goal} in ${first} went with the share reaching ${g} within ${r.horizon_days} days: `, value, "."];
  const sure = top.significant
    ? [h("span", { class: "fdr sig" }, "✱"), ` Significant after the Benjamini–Hochberg correction for weighing ${num(n)} indicators at once (${qIs(top.q_value ?? 0)}).`]
    : [`Not significant after the correction for weighing ${num(n)} indicators at once${top.q_value != null ? ` (${qIs(top.q_value)})` : ""}: with these cohorts it may be chance.`];
  const predicted = r.cohorts.filter((c) => c.status === "early" && c.predicted).length;
  const sig = r.indicators.some((i) => i.significant);
  return h("section", { id: "leading-summary" },
    h("p", {}, best),
    h("p", {}, sure,
      predicted
        ? ` The ${num(predicted)} cohorts whose early window is over, but not yet their horizon, get a predicted ${g} rate from ${shown.goal}${shown.goal !== top.goal ? " (the best significant indicator)" : ""}, with a 95% prediction interval.`
        : sig ? "" : " No indicator is significant, so no rate is predicted."),
    h("p", {}, h("strong", {}, "Went with, not caused: "), top.baseline || !top.significant
      ? "these are associations across cohorts, not proof that one thing brings about another; only an experiment shows that."
      : `campaigns whose visitors reach ${top.goal} early also tend to bring visitors who reach ${g} later; that does not mean pushing ${top.goal} makes more of them.`));
}

// r on −1..1, as a bar: its interval, the estimate, and 0 (drawn as the influence
// report's lifts are).
const W = 120;
const rx = (v: number): number => 3 + ((Math.max(-1, Math.min(1, v)) + 1) / 2) * (W - 6);
function rBar(i: Indicator): SVGElement {
  const b = svg("svg", { viewBox: `0 0 ${W} 12`, width: W, height: 12, class: `lift-bar ${i.significant ? "adj" : "raw"}`, "aria-hidden": "true" });
  b.append(svg("line", { x1: rx(0), x2: rx(0), y1: 0, y2: 12, class: "one" }));
  if (i.low != null && i.high != null) b.append(svg("rect", { x: rx(i.low), y: 4, width: Math.max(1, rx(i.high) - rx(i.low)), height: 4, rx: 2 }));
  if (i.r != null) b.append(svg("circle", { cx: rx(i.r), cy: 6, r: 3.5 }));
  return b;
}
function rAxis(): HTMLElement {
  const a = svg("svg", { viewBox: `0 0 ${W} 12`, width: W, height: 12, class: "lift-axis", "aria-hidden": "true" });
  for (const [v, t] of [[-1, "−1"], [0, "0"], [1, "+1"]] as const) {
    const e = svg("text", { x: rx(v), y: 10, "text-anchor": v < 0 ? "start" : v > 0 ? "end" : "middle" });
    e.textContent = t;
    a.append(e);
  }
  return h("span", { class: "r-head" }, a);
}

function indicatorTable(r: LeadingResult): HTMLElement {
  const cols: Column<Indicator>[] = [
    {
      label: "Indicator",
      cell: (i) => h("span", { "data-indicator": i.goal }, i.goal, " ",
        i.baseline ? h("span", { class: "badge macro", title: `${r.goal}’s own early rate: the baseline a micro goal has to beat` }, "baseline") : null),
      csv: (i) => i.goal,
    },
    { label: "Cohorts", cell: (i) => num(i.cohorts), csv: (i) => i.cohorts, num: true },
    {
      label: "r (95% interval)",
      cell: (i) => h("span", { class: "r-cell", "data-r": i.r ?? "" }, rBar(i),
        i.r == null ? h("span", { class: "muted" }, "none") : h("span", {}, rText(i.r),
          i.low != null && i.high != null ? h("small", { class: "muted" }, ` ${rText(i.low)} – ${rText(i.high)}`) : null)),
      csv: (i) => i.r ?? "",
    },
    { label: "p", cell: (i) => (i.p_value == null ? "–" : pText(i.p_value)), csv: (i) => i.p_value ?? "", num: true },
    {
      label: "q",
      cell: (i) => i.q_value == null ? "–" : h("span", { class: i.significant ? "fdr sig" : "fdr", title: i.significant ? "Significant: q under 0.05 and r’s interval clear of 0" : "Not significant" }, i.significant ? "✱ " : "", pText(i.q_value)),
      csv: (i) => i.q_value ?? "",
      num: true,
    },
    { label: `Line: ${r.goal} rate ≈`, cell: (i) => h("span", { class: "muted" }, lineText(i)), csv: (i) => lineText(i) },
  ];
  const csv: Column<Indicator>[] = [
    cols[0], col("Baseline", (i) => (i.baseline ? "yes" : "no")), cols[1], cols[2], col("r low", (i) => i.low ?? ""), col("r high", (i) => i.high ?? ""),
    cols[3], cols[4], col("Significant", (i) => (i.significant ? "yes" : "no")), col("Intercept", (i) => i.intercept ?? ""), col("Slope", (i) => i.slope ?? ""),
  ];
  const t = table("Indicators, best first", cols, r.indicators, {
    id: "leading-indicators", file: `${r.goal} leading indicators by ${r.by}`, csv,
    head: h("span", { class: "muted" }, `r: how closely a goal’s early rate and the ${r.goal} rate move together across cohorts (1: in step; 0: unrelated)`),
  });
  t.querySelectorAll("thead th")[2]?.appendChild(rAxis());
  // Each cell says its column, for a phone's stacked rows.
  t.querySelectorAll("tbody tr").forEach((tr) => [...tr.children].forEach((td, i) => td.setAttribute("data-label", cols[i].label)));
  return t;
}

function chartBlock(r: LeadingResult, shown: Indicator): HTMLElement {
  return h("section", { id: "leading-scatter" },
    h("h3", {}, `${shown.goal} in ${firstDays(r.early_days)} against ${r.goal} within ${r.horizon_days} days, per cohort`),
    h("div", { class: "chart", id: "leading-chart" }),
    h("p", { class: "muted" }, "Filled: finished cohorts, which the line is fitted to. Hollow: early window over, at the predicted rate with its 95% interval. Point at one to see which it is."));
}

function points(r: LeadingResult, shown: Indicator): Point[] {
  const g = r.goal;
  const out: Point[] = [];
  for (const c of r.cohorts) {
    const e = c.early[shown.goal];
    if (!e) continue;
    const head = `${c.value} · ${per(r)} of ${c.period}\n${num(c.visitors)} new visitors\n${shown.goal} in ${firstDays(r.early_days)}: ${pct(e.rate, 1)}`;
    if (c.fitted) out.push({ x: e.rate, y: c.converted.rate, tip: `${head}\n${g} within ${r.horizon_days} days: ${pct(c.converted.rate, 1)}` });
    else if (c.status === "early" && c.predicted && c.predicted.indicator === shown.goal) {
      const p = c.predicted;
      out.push({ x: e.rate, y: p.rate, low: p.low, high: p.high, hollow: true,
        tip: `${head}\n${g} predicted: ${pct(p.rate, 1)} (95%: ${pct(p.low, 1)} – ${pct(p.high, 1)})\n${g} so far: ${pct(c.converted.rate, 1)}` });
    }
  }
  return out;
}

/** The fitted line across the points' early rates. */
function line(r: LeadingResult, shown: Indicator): [number, number][] | null {
  if (shown.slope == null || shown.intercept == null) return null;
  const xs = r.cohorts.filter((c) => c.fitted || c.status === "early").map((c) => c.early[shown.goal]?.rate).filter((x): x is number => x != null);
  if (!xs.length) return null;
  const a = Math.min(...xs), b = Math.max(...xs);
  return [[a, shown.intercept + shown.slope * a], [b, shown.intercept + shown.slope * b]];
}

function cohortTable(r: LeadingResult, shown: Indicator): HTMLElement {
  const g = r.goal;
  // The API's values in order, each value's newest period first: what is under way on top.
  const groups = new Map<string, Cohort[]>();
  for (const c of r.cohorts) groups.set(c.value, [c, ...(groups.get(c.value) || [])]);
  const rows = [...groups.values()].flat();
  const firstOf = new Set(rows.filter((c, i) => i === 0 || rows[i - 1].value !== c.value));
  const rate = (x: Rate, soFar: boolean): HTMLElement =>
    h("span", { title: rateTip(x) }, pct(x.rate, 1), soFar ? h("small", { class: "muted" }, " so far") : null);
  const cols: Column<Cohort>[] = [
    { label: r.by, cell: (c) => (firstOf.has(c) ? c.value : ""), csv: (c) => c.value },
    { label: `${Per(r)} of first visit`, cell: (c) => c.period },
    { label: "New visitors", cell: (c) => num(c.visitors), num: true },
    { label: "Status", cell: (c) => h("span", { class: `status-${c.status}`, "data-status": c.status }, statusText(c, r.min_visitors)) },
    { label: `${shown.goal} in ${firstDays(r.early_days)}`, cell: (c) => (c.early[shown.goal] ? rate(c.early[shown.goal], c.status === "too_recent") : "–"), num: true },
    { label: `${g} within ${r.horizon_days} days`, cell: (c) => rate(c.converted, c.status !== "complete"), num: true },
    {
      label: `Predicted ${g} (95% interval)`,
      cell: (c) => !c.predicted ? "–" : h("span", { "data-predicted": c.predicted.rate, class: c.status === "complete" ? "muted" : null, title: `From ${c.predicted.indicator}` },
        pct(c.predicted.rate, 1), h("small", { class: "muted" }, ` ${pct(c.predicted.low, 1)} – ${pct(c.predicted.high, 1)}`)),
      num: true,
    },
  ];
  const t = table(`Cohorts by ${r.by} and ${per(r)}`, cols, rows, {
    id: "leading-cohorts", file: `${g} cohorts by ${r.by}`, csv: cohortCsv(r),
    head: h("span", { class: "muted" }, r.other_visitors ? `${num(r.other_visitors)} new visitors of other ${r.by} values not listed` : null),
  });
  t.querySelectorAll("tbody tr").forEach((tr, i) => {
    tr.setAttribute("data-cohort", `${rows[i].value} ${rows[i].period}`);
    if (firstOf.has(rows[i]) && i > 0) tr.classList.add("group");
  });
  return t;
}
