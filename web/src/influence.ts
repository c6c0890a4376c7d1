// What drives conversion: which micro conversions (and, if asked, event names) go with
// the macro conversion — the `influence` analysis. Per candidate: the macro goal's rate
// with and without it, the lift raw and adjusted for who the units are (on a log scale),
// the false-discovery-rate verdict, the converters' share, those who did it only after
// converting and the median time to the goal. Every number is the API's.
//
// Its second view, attribution (`view=attribution`), credits the macro conversions to the
// touches on the way (micro goals, or a field's value per session) by five models.
import { query, type AttributionResult, type AttributionRow, type Goal, type InfluenceResult, type InfluenceRow, type Ratio, type Rate } from "./api";
import type { Ctx } from "./main";
import { CREDIT, DIMENSIONS, format, spec } from "./state";
import { type Child, clear, type Column, dur, errorBox, h, money, num, pct, placeholder, svg, table } from "./ui";

const UNITS = ["session", "visitor", "lead"] as const;
// Where a unit left (exit_page) is an outcome, not who it is: not a stratum.
const FIELDS = DIMENSIONS.filter((d) => d !== "exit_page");

export const times = (x: number): string => `×${x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2)}`;
const qText = (q: number): string => (q < 0.0001 ? "< 0.0001" : q.toPrecision(2));
/** "Visitors", "Sessions", "Leads". */
const units = (u: string): string => `${u[0].toUpperCase()}${u.slice(1)}s`;
/** Whom the `did` filter keeps: visitors, or leads for lead rates. */
const who = (u: string): string => (u === "lead" ? "leads" : "visitors");
const ciText = (r: Rate): string => `95% interval ${pct(r.low, 2)} – ${pct(r.high, 2)}`;

export async function renderInfluence(ctx: Ctx, main: HTMLElement): Promise<void> {
  const s = ctx.state;
  const out = h("div", { id: s.attrib ? "attribution" : "influence", "aria-busy": "true" }, placeholder("", 6));
  const head = h("div", { class: "page-head" }, h("h1", {}, "What drives conversion"),
    h("nav", { class: "subtabs", "aria-label": "What drives conversion views" },
      ([[false, "influence", "Influence"], [true, "attribution", "Attribution"]] as const).map(([a, v, t]) =>
        h("a", { href: format({ ...s, attrib: a }), id: `view-${v}`, "aria-current": a === s.attrib ? "page" : null }, t))));
  clear(main, head, out);
  const done = (...c: Child[]): void => {
    clear(out, ...c);
    out.setAttribute("aria-busy", "false");
  };
  const goals = await ctx.goals();
  if (!ctx.current()) return;
  const macros = goals.filter((g) => g.conversion === "macro");
  if (!macros.length)
    return done(h("div", { class: "card empty", id: "influence-empty" },
      h("p", {}, "This page compares the rate of the site’s macro conversion (a purchase, a signup, a lead) between the visitors who did each micro conversion first and those who did not. This site has no macro goal yet."),
      h("p", {}, ctx.canEdit
        ? ["Define one on ", h("a", { href: format({ ...s, page: "goals" }) }, "Goals"), ": “New goal”, with Conversion “macro”; micro goals (Conversion “micro”) become the candidates, and event names can be added."]
        : ["An administrator of the site can define one on ", h("a", { href: format({ ...s, page: "goals" }) }, "Goals"), " (a goal whose conversion is “macro”)."])));
  const goal = macros.some((g) => g.name === s.macro) ? s.macro : macros[0].name;
  main.insertBefore(controls(ctx, macros.map((g) => g.name), goal), out);
  if (s.attrib) return attribution(ctx, goal, goals, done);
  if (!goals.some((g) => g.conversion === "micro") && !s.events)
    return done(h("div", { class: "card empty", id: "influence-empty" },
      h("p", {}, `No candidates: this site has no micro goal to compare with ${goal}. Define micro goals on `, h("a", { href: format({ ...s, page: "goals" }) }, "Goals"), ", or compare every event name:"),
      h("button", { type: "button", class: "btn", id: "influence-use-events", onclick: () => ctx.go({ events: true }) }, "Include event names")));

  let r: InfluenceResult;
  try {
    r = await query(spec(s, { type: "influence", goal, unit: s.unit, stratify: s.strata, order: s.order, events: s.events }));
  } catch (e) {
    if (ctx.current()) done(errorBox(e));
    return;
  }
  if (!ctx.current()) return;
  const u = r.unit;
  const c = r.converted;
  if (c.den === 0) return done(noUnits(u, "session or visitor"));
  const summary = h("section", { class: "card", id: "influence-summary" },
    h("p", { id: "influence-total" }, h("strong", {}, `${r.goal}: ${num(c.num)} of ${num(c.den)} ${u}s converted (${pct(c.rate, 2)})`),
      h("span", { class: "muted" }, ` · ${ciText(c)}`)),
    h("p", { id: "influence-precedence" }, r.precedence),
    h("p", { id: "influence-caveat" }, h("strong", {}, "Associated with, not caused by: "),
      `${u}s who do an action may differ in ways that also make them convert; only an experiment tells what an action causes.`),
    h("p", { class: "muted", id: "influence-strata" }, r.stratified_by.length
      ? `Adjusted lift: compared within ${num(r.strata)} groups of ${u}s alike in ${r.stratified_by.join(" and ")} (Mantel–Haenszel). The nearer it is to ×1 than the raw lift, the more of the raw lift comes from who the ${u}s are rather than from the action.`
      : "Not adjusted: choose fields under “Adjust for” to see how much of a lift who the units are explains."),
    h("p", { class: "muted" }, `${num(r.tested)} candidates done by at least ${num(r.min_support)} ${u}s are ranked and tested. `,
      h("span", { class: "fdr sig" }, "✱"), " significant after the Benjamini–Hochberg correction for testing many at once (q < 0.05, interval clear of ×1).",
      ` Click a goal to see the dashboard for the ${who(u)} who did it.`));
  if (!r.candidates.length) return done(summary, h("p", { class: "card empty" }, "No candidate action was done in this range."));
  if (c.num === 0) return done(summary, h("p", { class: "card empty" }, `No ${u} reached ${r.goal} in this range: there is nothing to compare.`));

  // One log scale for every lift on the page, ×1 included, within ×1/100 and ×100 (an
  // interval beyond ends in an arrow).
  const ratios = r.candidates.flatMap((x) => [x.lift, x.stratified?.lift]).filter((x): x is Ratio => !!x);
  const pos = ratios.flatMap((x) => [x.low, x.ratio, x.high]).filter((v) => v > 0 && Number.isFinite(v));
  const scale = { lo: Math.log(Math.max(0.01, Math.min(1, ...pos) / 1.15)), hi: Math.log(Math.min(100, Math.max(1, ...pos) * 1.15)) };
  const strat = r.stratified_by.length > 0;

  const groups = split(r);
  const cols = columns(r, strat, scale);
  const tips = help(r);
  const tables = groups.map((g) => {
    const t = table(g.title, cols, g.rows, {
      id: g.id, file: `${r.goal} ${g.title}`,
      clickable: (x) => x.kind === "goal",
      onRow: (x) => ctx.go({ page: "goals", did: [...s.did.filter((d) => d !== x.name), x.name] }),
      rowLabel: (x) => `${x.name}: show the dashboard for ${who(u)} who did it`,
      head: g.note ? h("span", { class: "muted" }, g.note) : null,
    });
    label(t, cols, tips)[4]?.appendChild(axis(scale));
    return t;
  });
  done(summary, tables, legend(r));
}

const noUnits = (u: string, instead: string): HTMLElement =>
  h("p", { class: "card empty", id: "unit-empty" }, u === "lead"
    ? `No leads in this range: a lead is a visitor identified with a user id (the tracker’s cairn.identify(), an identify record of the batch API, or events that carry user). Choose ${instead} meanwhile.`
    : `No ${u}s in this range: widen the range or loosen the filters.`);

/** Each cell says its column, for a phone's stacked rows; each column's title, its
 * meaning. Returns the head's cells. */
function label<R>(t: HTMLElement, cols: Column<R>[], tips: Record<string, string>): NodeListOf<Element> {
  t.querySelectorAll("tbody tr").forEach((tr) => [...tr.children].forEach((td, i) => td.setAttribute("data-label", cols[i]?.label || "")));
  const ths = t.querySelectorAll("thead th");
  cols.forEach((col, i) => ths[i]?.setAttribute("title", tips[col.label] || ""));
  return ths;
}

/** The form: macro goal, unit, then strata, which actions count, event names; or, for
 * attribution, what gets the credit. */
function controls(ctx: Ctx, macros: string[], goal: string): HTMLElement {
  const s = ctx.state;
  const a = s.attrib;
  const sel = (id: string, opts: [string, string][], v: string, on: () => void): HTMLSelectElement =>
    h("select", { id, onchange: on }, opts.map(([o, t]) => h("option", { value: o, selected: o === v }, t)));
  const goalSel = sel("i-goal", macros.map((g) => [g, g]), goal, () => ctx.go({ macro: goalSel.value }));
  const unit = sel("i-unit", UNITS.slice(a ? 1 : 0).map((x) => [x, x]), a && s.unit === "session" ? "visitor" : s.unit, () => ctx.go({ unit: unit.value as typeof s.unit }));
  const common = [
    h("div", { class: "field" }, h("label", { for: "i-goal" }, "Macro goal"), goalSel),
    h("div", { class: "field" }, h("label", { for: "i-unit" }, "Unit"), unit,
      a && s.unit === "session" ? h("small", { class: "muted", id: "a-unit-note" }, "attribution credits visitors (or leads), not sessions") : null),
  ];
  if (a) {
    const by = sel("i-credit", [["", "micro goals"], ...CREDIT.map((f): [string, string] => [f, f])], s.credit, () => ctx.go({ credit: by.value }));
    return h("form", { class: "card", id: "influence-form", "aria-label": "Attribution", onsubmit: (e: Event) => e.preventDefault() },
      h("div", { class: "form-grid" }, common, h("div", { class: "field" }, h("label", { for: "i-credit" }, "Credit to"), by)));
  }
  const fields = FIELDS.map((f): [string, string] => [f, f]);
  const strata = (): void => ctx.go({ strata: [...new Set([s1.value, s1.value ? s2.value : ""].filter(Boolean))] });
  const s1 = sel("i-strata-1", [["", "nothing"], ...fields], s.strata[0] || "", strata);
  const s2 = sel("i-strata-2", [["", "—"], ...fields], s.strata[1] || "", strata);
  s2.disabled = !s1.value;
  s2.setAttribute("aria-label", "and by");
  const radio = (v: "before" | "any", t: string): HTMLElement =>
    h("label", { class: "check" }, h("input", { type: "radio", name: "i-order", id: `i-order-${v}`, value: v, checked: s.order === v, onchange: () => ctx.go({ order: v }) }), t);
  const events = h("input", { type: "checkbox", id: "i-events", checked: s.events, onchange: () => ctx.go({ events: events.checked }) });
  return h("form", { class: "card", id: "influence-form", "aria-label": "What drives conversion", onsubmit: (e: Event) => e.preventDefault() },
    h("div", { class: "form-grid" }, common,
      h("div", { class: "field" }, h("label", { for: "i-strata-1" }, "Adjust for"), h("div", { class: "inline" }, s1, s2)),
      h("fieldset", { class: "field" }, h("legend", {}, "Count an action"), h("div", { class: "inline" }, radio("before", "only before converting"), radio("any", "any time"))),
      h("div", { class: "field" }, h("span", { class: "check" }, events, h("label", { for: "i-events" }, "Include event names")),
        h("small", { class: "muted" }, "besides the micro goals")),
    ));
}

interface Group { id: string; title: string; note?: string; rows: InfluenceRow[] }

/** Ranked candidates in the API's order, split by kind when there is more than one, then
 * the unranked ones. */
function split(r: InfluenceResult): Group[] {
  const ranked = r.candidates.filter((x) => x.ranked);
  const sec = ranked.filter((x) => x.kind === "goal" && x.role === "secondary");
  const mil = ranked.filter((x) => x.kind === "goal" && x.role !== "secondary");
  const ev = ranked.filter((x) => x.kind === "event");
  const low = r.candidates.filter((x) => !x.ranked);
  const out: Group[] = [];
  if ([sec, mil, ev].filter((g) => g.length).length > 1) {
    if (sec.length) out.push({ id: "influence-secondary", title: "Secondary actions", rows: sec });
    if (mil.length) out.push({ id: "influence-milestones", title: "Milestones (steps of the path: high by construction)", note: "those who convert pass through them", rows: mil });
    if (ev.length) out.push({ id: "influence-events", title: "Event names", note: "an event that is a step of the path is high by construction too", rows: ev });
  } else if (ranked.length) out.push({ id: "influence-ranked", title: "Candidates", rows: ranked });
  if (low.length) {
    const all = low.every((x) => x.support < r.min_support);
    out.push({
      id: "influence-unranked",
      title: all ? `Below ${num(r.min_support)} ${r.unit}s (not ranked)` : "Not ranked",
      note: all ? "too few to test" : `below ${num(r.min_support)} ${r.unit}s, or done by every ${r.unit}`,
      rows: low,
    });
  }
  return out;
}

interface Scale { lo: number; hi: number }
const W = 140;
const x = (sc: Scale, v: number): number => 3 + ((Math.min(sc.hi, Math.max(sc.lo, Math.log(v))) - sc.lo) / (sc.hi - sc.lo || 1)) * (W - 6);

/** One lift's interval bar: the interval, the estimate, and ×1; an arrow where the
 * interval goes beyond the scale. */
function bar(sc: Scale, l: Ratio, kind: string): SVGElement {
  const g = svg("svg", { viewBox: `0 0 ${W} 12`, width: W, height: 12, class: `lift-bar ${kind}`, "aria-hidden": "true" });
  const one = x(sc, 1), a = x(sc, l.low), b = x(sc, l.high), m = x(sc, l.ratio);
  g.append(
    svg("line", { x1: one, x2: one, y1: 0, y2: 12, class: "one" }),
    svg("rect", { x: a, y: 4, width: Math.max(1, b - a), height: 4, rx: 2 }),
    svg("circle", { cx: m, cy: 6, r: 3.5 }),
  );
  if (Math.log(l.high) > sc.hi) g.append(svg("path", { d: `M${W - 6} 1L${W} 6L${W - 6} 11Z` }));
  if (!(Math.log(l.low) >= sc.lo)) g.append(svg("path", { d: "M6 1L0 6L6 11Z" }));
  return g;
}

/** The scale under the lift column's title: ×1 and the powers of ten in range that have
 * room for their label. */
function axis(sc: Scale): HTMLElement {
  const g = svg("svg", { viewBox: `0 0 ${W} 12`, width: W, height: 12, class: "lift-axis", "aria-hidden": "true" });
  const placed: number[] = [];
  const ks: number[] = [0];
  for (let k = 1; k < 9; k++) ks.push(k, -k);
  for (const k of ks) {
    const v = 10 ** k;
    const at = x(sc, v);
    if (Math.log(v) < sc.lo || Math.log(v) > sc.hi || placed.some((p) => Math.abs(p - at) < 34)) continue;
    placed.push(at);
    const t = svg("text", { x: at, y: 10, "text-anchor": at < 12 ? "start" : at > W - 16 ? "end" : "middle" });
    t.textContent = times(v).replace(/\.0+$/, "");
    g.append(t);
  }
  return h("span", { class: "lift lift-head" }, h("span", {}), g, h("span", { class: "muted" }, "log scale"));
}

/** A lift line: its key (raw, adj.), its bar and its figures; or why there is none. */
function liftLine(sc: Scale, key: string, l: Ratio | null | undefined, none: string, kind: string): Child[] {
  if (!l) return [h("span", { class: "lift-k" }, key), h("span", { class: "muted lift-none" }, none)];
  return [
    h("span", { class: "lift-k" }, key),
    bar(sc, l, kind),
    h("span", { class: "lift-v", [`data-${kind}`]: l.ratio }, times(l.ratio), h("small", { class: "muted" }, ` ${times(l.low)}–${times(l.high)}`)),
  ];
}

const liftCsv = (l?: Ratio | null): string => (l ? `${l.ratio} [${l.low} – ${l.high}]` : "");

function columns(r: InfluenceResult, strat: boolean, sc: Scale): Column<InfluenceRow>[] {
  const u = r.unit;
  const rate = (y: Rate, who: string): HTMLElement =>
    h("span", { title: `${num(y.num)} of the ${num(y.den)} ${u}s ${who} reached ${r.goal}; ${ciText(y)}` }, pct(y.rate, 2));
  return [
    {
      label: "Action",
      cell: (c) => h("span", { class: "cand", "data-candidate": c.name, "data-kind": c.kind },
        c.name, " ", h("span", { class: `badge ${c.kind === "goal" ? c.role || "" : "event"}` }, c.kind === "goal" ? c.role || "goal" : "event")),
      csv: (c) => c.name,
    },
    { label: units(u), cell: (c) => h("span", { "data-support": c.support }, num(c.support)), csv: (c) => c.support, num: true },
    { label: "Rate with", cell: (c) => rate(c.with, "who did it"), csv: (c) => c.with.rate, num: true },
    {
      label: "Rate without",
      cell: (c) => h("span", {}, rate(c.without, "who did not"),
        h("small", { class: "muted diff", title: `Difference: ${diffText(c)}` }, `${c.diff.diff >= 0 ? "+" : ""}${(c.diff.diff * 100).toFixed(2)} pp`)),
      csv: (c) => c.without.rate,
      num: true,
    },
    {
      label: strat ? "Lift: raw · adjusted" : "Lift",
      cell: (c) => h("div", { class: "lift" },
        liftLine(sc, "raw", c.lift, c.support === 0 ? `no ${u} did it` : `no ${u} without it converted`, "raw"),
        strat ? liftLine(sc, "adj.", c.stratified?.lift, c.support === 0 ? "none" : "none: no group has converters without it", "adj") : null),
      csv: (c) => (strat ? `${liftCsv(c.lift)}; adjusted ${liftCsv(c.stratified?.lift)}` : liftCsv(c.lift)),
    },
    {
      label: "FDR",
      cell: (c) => c.q_value == null
        ? h("span", { class: "muted", title: "not ranked: not tested" }, "–")
        : h("span", {
            class: c.significant ? "fdr sig" : "fdr", "data-q": c.q_value,
            title: `${c.significant ? "Significant" : "Not significant"} after the Benjamini–Hochberg correction: q = ${qText(c.q_value)}` +
              (c.p_value != null ? `; p = ${qText(c.p_value)}` : "") + (c.stratified ? `, adjusted p = ${qText(c.stratified.p_value)}` : ""),
          }, c.significant ? "✱ " : "", `q ${qText(c.q_value)}`),
      csv: (c) => c.q_value ?? "",
      num: true,
    },
    {
      label: "Converters who did it first",
      cell: (c) => h("span", { title: `${num(c.converters_share.num)} of the ${num(c.converters_share.den)} converting ${u}s` }, pct(c.converters_share.rate, 1)),
      csv: (c) => c.converters_share.rate,
      num: true,
    },
    { label: "Only after converting", cell: (c) => num(c.after_only), csv: (c) => c.after_only, num: true },
    { label: "Median time to goal", cell: (c) => (c.median_to_goal_ms == null ? "–" : dur(c.median_to_goal_ms)), csv: (c) => c.median_to_goal_ms ?? "", num: true },
  ];
}

const diffText = (c: InfluenceRow): string =>
  `${(c.diff.diff * 100).toFixed(2)} percentage points (95% interval ${(c.diff.low * 100).toFixed(2)} to ${(c.diff.high * 100).toFixed(2)})`;

/** What each column means, in plain words (the legend, and the columns' tooltips). */
function help(r: InfluenceResult): Record<string, string> {
  const u = r.unit;
  const adj = r.stratified_by.length
    ? ` Adjusted: compared only between ${u}s alike in ${r.stratified_by.join(" and ")}; if it is much nearer ×1 than the raw one, much of the raw lift comes from who the ${u}s are.`
    : "";
  const lift = `How many times higher the ${r.goal} rate is with the action than without it (×1: no difference), with its 95% interval, on a log scale.${adj}`;
  return {
    Action: "A micro goal or an event name. Click a goal to see the dashboard for those who did it.",
    [units(u)]: `${units(u)} who did it ${r.order === "before" ? "before converting, or without converting" : "at any time"}.`,
    "Rate with": `Of the ${u}s who did it, the share who reached ${r.goal}.`,
    "Rate without": `Of the other ${u}s${r.order === "before" ? " (those who did it only after converting included)" : ""}, the share who reached ${r.goal}; then the difference, in percentage points.`,
    Lift: lift,
    "Lift: raw · adjusted": lift,
    FDR: "Testing many actions at once, some look strong by chance. q is the p-value corrected for that (Benjamini–Hochberg); ✱: q under 0.05 and an interval clear of ×1.",
    "Converters who did it first": `Of the ${u}s who reached ${r.goal}, the share who had done it before.`,
    "Only after converting": r.order === "before"
      ? `${units(u)} who did it only after reaching ${r.goal}: counted as not having done it, since it cannot have led there.`
      : `${units(u)} who did it only after reaching ${r.goal} (counted as having done it: “any time”).`,
    "Median time to goal": `Among the ${u}s who did it and then converted, the median time from first doing it to reaching ${r.goal}.`,
  };
}

function legend(r: InfluenceResult): HTMLElement {
  const hp = help(r);
  const keys = ["Action", units(r.unit), "Rate with", "Rate without", "Lift", "FDR", "Converters who did it first", "Only after converting", "Median time to goal"];
  return h("details", { class: "card legend-card", id: "influence-legend", open: true },
    h("summary", {}, "What the numbers mean"),
    h("dl", {}, keys.map((k) => [h("dt", {}, k), h("dd", {}, hp[k])])),
    h("p", { class: "muted" }, "An event name cannot be made a segment (the filter bar’s “name = EVENT” keeps only those events, not the visitors who did them): define a goal for it to click through."));
}

// ---------------------------------------------------------------------------------------
// Attribution: who gets the credit for the conversions that happened.

const MODELS = [
  ["first_touch", "First touch", "All the credit to the first touch on the path."],
  ["last_touch", "Last touch", "All the credit to the last touch before converting."],
  ["linear", "Linear", "Equal parts to every touch on the path."],
  ["position", "Position-based", "40% to the first touch, 40% to the last, 20% shared by those between (one touch: all; two: half each)."],
  ["markov", "Data-driven (Markov)", "From every path, converting or not: how much less often paths would convert without the touch (its removal effect), as shares; with the 95% bootstrap interval."],
] as const;

/** Values per currency, side by side (never added across currencies). */
const values = (v: Record<string, number>): string => Object.entries(v).map(([c, x]) => money(x, c)).join(", ");
const conv = (x: number): string => (x >= 100 ? num(Math.round(x)) : x.toFixed(1));

async function attribution(ctx: Ctx, goal: string, goals: Goal[], done: (...c: Child[]) => void): Promise<void> {
  const s = ctx.state;
  if (!s.credit && !goals.some((g) => g.conversion === "micro"))
    return done(h("div", { class: "card empty", id: "influence-empty" },
      `No micro goal to credit: define some on Goals, or choose “Credit to” channel.`));
  let r: AttributionResult;
  try {
    r = await query(spec(s, { type: "attribution", goal, unit: s.unit === "lead" ? "lead" : "visitor", by: s.credit || undefined }));
  } catch (e) {
    if (ctx.current()) done(errorBox(e));
    return;
  }
  if (!ctx.current()) return;
  const u = r.unit;
  if (!r.units) return done(noUnits(u, "visitor"));
  const goalsBy = r.by === "goals";
  const summary = h("section", { class: "card", id: "attribution-summary" },
    h("h2", {}, "Who gets the credit: attribution"),
    h("p", { id: "attribution-total" }, h("strong", {}, `${num(r.conversions)} ${u}s converted to ${r.goal}`),
      Object.keys(r.value).length ? `; value ${values(r.value)}` : "",
      h("span", { class: "muted" }, ` · ${num(r.units)} ${u}s followed; touches: ${goalsBy ? "micro goals, in the order first reached" : `each session’s ${r.by}`}`)),
    h("p", { id: "attribution-caveat" }, h("strong", {}, "Attribution describes paths, it does not prove cause: "),
      "a touch gets credit for being on the way, whether or not it made anyone convert.",
      goalsBy ? " Milestones (add to cart, checkout) take much of the credit in every model because they are the path: compare secondary actions, or credit channels and campaigns." : ""),
    h("p", { class: "muted" }, `Every model credits each ${u}’s first conversion once: a column adds up to ${num(r.conversions)}.` +
      (r.bootstrap ? ` Markov intervals: ${num(r.bootstrap)} bootstrap resamples.` : "")));
  if (!r.conversions) return done(summary, h("p", { class: "card empty" }, `No ${u} reached ${r.goal} in this range: there is nothing to credit.`));

  const max = Math.min(1, 1.05 * Math.max(0.01, ...r.touches.flatMap((t) => [...MODELS.map(([m]) => t[m].share), t.markov.high ?? 0])));
  const cols: Column<AttributionRow>[] = [
    { label: "Touch", cell: (t) => h("span", { "data-touch": t.touch }, t.touch), csv: (t) => t.touch },
    { label: "Converting paths", cell: (t) => h("span", { "data-paths": t.paths }, num(t.paths)), csv: (t) => t.paths, num: true },
    { label: "Share by model", cell: (t) => shares(t, max) },
    ...MODELS.map(([m, name]): Column<AttributionRow> => ({
      label: name,
      num: true,
      cell: (t) => {
        const c = t[m], k = t.markov;
        return h("span", {
          class: "credit", "data-model": m, "data-share": c.share, "data-conversions": c.conversions,
          title: `${name}: ${conv(c.conversions)} of the ${num(r.conversions)} conversions credited to ${t.touch}` +
            (m === "markov" ? ` (removal effect ${pct(k.removal_effect, 1)})` : "") + (Object.keys(c.value).length ? `; value ${values(c.value)}` : ""),
        }, pct(c.share, 1),
        m === "markov" && k.low != null && k.high != null ? h("small", { class: "muted" }, ` ${pct(k.low, 1)} – ${pct(k.high, 1)}`) : null,
        h("small", { class: "muted" }, `${conv(c.conversions)} conv.`));
      },
    })),
  ];
  // The CSV: every model's conversions, share and value per currency; the Markov extras.
  const cv = (label: string, csv: (t: AttributionRow) => string | number): Column<AttributionRow> => ({ label, cell: () => "", csv });
  const csv = [cols[0], cols[1], ...MODELS.flatMap(([m, name]) => [
    cv(`${name} conversions`, (t) => t[m].conversions), cv(`${name} share`, (t) => t[m].share),
    ...Object.keys(r.value).map((c) => cv(`${name} value ${c}`, (t) => t[m].value[c] ?? 0)),
  ]), cv("Markov low", (t) => t.markov.low ?? ""), cv("Markov high", (t) => t.markov.high ?? ""), cv("Markov removal effect", (t) => t.markov.removal_effect)];
  const t = table(`Credit for ${r.goal} by ${goalsBy ? "micro goal" : r.by}`, cols, r.touches, { id: "attribution-table", file: `${r.goal} attribution ${r.by}`, csv });
  label(t, cols, Object.fromEntries(MODELS.map(([, n, d]) => [n, d])))[2]?.appendChild(h("span", { class: "share-axis" }, h("span", {}, "0"), h("span", {}, pct(max, 0))));
  done(summary, t, h("details", { class: "card legend-card", id: "attribution-legend", open: true },
    h("summary", {}, "The models"),
    h("dl", {}, MODELS.map(([m, name, d]) => [h("dt", {}, h("span", { class: `key m-${m}` }), name), h("dd", {}, d)])),
    h("p", { class: "muted" }, `Converting paths: ${u}s who converted with the touch on their path. Bars: each model’s share, in this order. (none): no touch before converting; (other): the rest, summed. Where the models agree, the credit does not hang on a model.`)));
}

/** A touch's share under each model: one thin bar per model, the Markov one with its
 * interval. */
function shares(t: AttributionRow, max: number): SVGElement {
  const w = 200, sx = (v: number): number => (Math.min(v, max) / max) * w;
  const g = svg("svg", { viewBox: `0 0 ${w} 23`, width: w, height: 23, class: "shares", "aria-hidden": "true" });
  MODELS.forEach(([m], i) => g.append(svg("rect", { x: 0, y: i * 4, width: Math.max(1, sx(t[m].share)), height: i < 4 ? 3 : 5, class: `m-${m}` })));
  const { low, high } = t.markov;
  if (low != null && high != null) g.append(svg("path", { d: `M${sx(low)} 17v5M${sx(low)} 19.5H${sx(high)}M${sx(high)} 17v5`, class: "ci" }));
  return g;
}
