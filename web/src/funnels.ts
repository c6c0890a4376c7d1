// Funnels: pick a stored funnel or build one (event, page, page path and goal steps, each
// optional or within a time of the previous; exclusions; mode; window; unit; breakdown;
// trend), see its steps, drop-off, time to convert, breakdown and trend, what those who
// dropped off did next and how converters really went (the funnel's flow), and save it.
import { api, query, type AnalysisOf, type Condition, type Exclusion, type FunnelBreakdownRow, type FunnelFlow, type FunnelResult, type FunnelSpec, type NodeUnits, type Step } from "./api";
import { barChart, lineChart } from "./charts";
import type { Ctx } from "./main";
import { siteEvents, withProps } from "./events";
import { nodeStep, nodeText, stepPage } from "./nodes";
import { period, spec } from "./state";
import { ci, clear, dur, errorBox, h, num, pct, table, timeStats, type Column } from "./ui";

const BREAKDOWNS = ["device", "channel", "source", "utm_source", "utm_medium", "utm_campaign", "country", "browser", "os", "language"];

/** A page is a pageview of a page by the site's grouping rules (`{"page": NAME}`). */
type Kind = "event" | "page" | "path" | "goal";
type PathMatch = NonNullable<Step["match"]>;
type Breakdown = NonNullable<FunnelSpec["breakdown"]>;
/** One step of the builder. What the builder cannot edit (conditions, alternatives, a
 * label) is shown with the step and kept on save, never dropped silently. */
interface Row {
  kind: Kind; value: string; match: PathMatch; within: string; optional: boolean;
  where: Condition[]; anyOf: Step[]; label: string;
}
/** An exclusion: an event that must not happen between two steps (1-based). */
interface Excl { event: string; from: number; to: number }

const blank = (): Row => ({ kind: "event", value: "", match: "equals", within: "", optional: false, where: [], anyOf: [], label: "" });

/** A condition as text: `props.form_id = newsletter`. */
function condText(c: Condition): string {
  const op = c.op == null || c.op === "eq" ? "=" : c.op.replace(/_/g, " ");
  const v = c.value == null ? "" : Array.isArray(c.value) ? c.value.join(", ") : String(c.value);
  return `${c.field} ${op} ${v}`.trim();
}

/** An alternative as text. */
function altText(st: Step): string {
  const base = st.goal != null ? `goal ${st.goal}` : st.page != null ? st.page : st.path != null ? st.path : st.event || "any event";
  return st.where?.length ? `${base} [${st.where.map(condText).join(", ")}]` : base;
}

function toRows(def: FunnelSpec | null): Row[] {
  const rows = (def?.steps || []).map((st: Step): Row => {
    const page = stepPage(st);
    const extra = {
      within: st.within == null ? "" : String(st.within), optional: !!st.optional,
      // A page read from `pageview` + `page = …` has used its one condition.
      where: page != null ? [] : st.where || [], anyOf: st.any_of || [], label: st.label || "",
    };
    return page != null ? { kind: "page", value: page, match: "equals", ...extra }
      : st.goal != null ? { kind: "goal", value: st.goal, match: "equals", ...extra }
      : st.path != null ? { kind: "path", value: st.path, match: st.match || "equals", ...extra }
      : { kind: "event", value: st.event || "", match: "equals", ...extra };
  });
  while (rows.length < 2) rows.push(blank());
  return rows;
}

// The funnel being built, kept for the session (sessionStorage) so another page (Paths)
// can add a step to it.
const DRAFT = "cairn-funnel-draft";
/** The picker's choice of building a new funnel (an empty `funnel` opens the first stored one). */
const NEW = "new";

interface Draft { site: string; funnel: string; def: FunnelSpec }
function saveDraft(d: Draft): void {
  try {
    sessionStorage.setItem(DRAFT, JSON.stringify(d));
  } catch {}
}
const hasMatcher = (st: Step): boolean => !!(st.event || st.path || st.page || st.goal || st.any_of?.length);

/** Appends a step to the funnel being built (or a new one) and shows it on the Funnels page. */
export function addFunnelStep(ctx: Ctx, step: Step): void {
  let d: Draft | null = null;
  try {
    d = JSON.parse(sessionStorage.getItem(DRAFT) || "null") as Draft | null;
  } catch {}
  if (!d || d.site !== ctx.state.site || !Array.isArray(d.def?.steps)) d = { site: ctx.state.site, funnel: "", def: { steps: [] } };
  const def: FunnelSpec = { ...d.def, steps: [...d.def.steps.filter(hasMatcher), step] };
  saveDraft({ ...d, def });
  ctx.go({ page: "funnels", funnel: d.funnel, def: JSON.stringify(def) });
}

/** The exclusions the builder edits (an event between two steps); others are kept as stored. */
function toExcl(def: FunnelSpec | null): { edited: Excl[]; kept: Exclusion[] } {
  const edited: Excl[] = [], kept: Exclusion[] = [];
  for (const x of def?.exclusions || []) {
    const st = x.step;
    if (st && st.event && Object.keys(st).length === 1 && x.between?.length === 2) edited.push({ event: st.event, from: x.between[0], to: x.between[1] });
    else kept.push(x);
  }
  return { edited, kept };
}

export async function renderFunnels(ctx: Ctx, main: HTMLElement): Promise<void> {
  const s = ctx.state;
  const site = encodeURIComponent(s.site);
  const head = h("div", { class: "page-head" }, h("h1", {}, "Funnels"));
  const builderEl = h("div", {});
  const result = h("div", { id: "funnel-result" });
  clear(main, head, builderEl, result);
  const [stored, goals] = await Promise.all([
    api<Record<string, FunnelSpec>>("GET", `/api/v1/sites/${site}/funnels`).catch(() => ({}) as Record<string, FunnelSpec>),
    ctx.goals(),
  ]);
  if (!ctx.current()) return;
  const names = Object.keys(stored).sort();
  // Arriving without a choice: the first stored funnel and its result, not an empty
  // builder ("— build a new funnel —" is the choice NEW).
  if (!s.def && !s.funnel && names.length > 0) {
    ctx.go({ funnel: names[0] }, true);
    return;
  }
  let def: FunnelSpec | null = null;
  if (s.def) {
    try {
      def = JSON.parse(s.def) as FunnelSpec;
    } catch {
      def = null;
    }
  } else if (s.funnel && stored[s.funnel]) def = stored[s.funnel];

  // --- The picker and the builder.
  const pick = h(
    "select",
    { id: "funnel-pick", onchange: () => ctx.go({ funnel: pick.value, def: "" }) },
    h("option", { value: NEW, selected: !stored[s.funnel] }, "— build a new funnel —"),
    names.map((n) => h("option", { value: n, selected: n === s.funnel }, n)),
  );
  head.appendChild(h("span", { class: "inline" }, h("label", { for: "funnel-pick" }, "Stored funnel"), pick));

  const rows = toRows(def);
  const stepsEl = h("ol", { class: "steps", id: "funnel-steps-editor" });
  const datalist = h("datalist", { id: "goal-names" }, goals.map((g) => h("option", { value: g.name })));
  // The range's event names, suggested for event steps; a name not among them is flagged
  // (when the list is complete).
  const evList = h("datalist", { id: "event-names" });
  let known: Set<string> | null = null;
  let checks: (() => void)[] = [];
  void siteEvents(s).then((r) => {
    if (!ctx.current() || !r.names.length || r.other.names) return;
    known = new Set(r.names.map((n) => n.name));
    clear(evList, r.names.map((n) => h("option", { value: n.name }, `${num(n.events)} events`)));
    checks.forEach((c) => c());
  });
  const drawSteps = (): void => {
    checks = [];
    clear(
      stepsEl,
      rows.map((r, i) => {
        const kind = h("select", { "aria-label": `Step ${i + 1} kind`, class: "step-kind", onchange: () => ((r.kind = kind.value as Kind), (r.label = ""), drawSteps()) },
          (["event", "page", "path", "goal"] as Kind[]).map((k) => h("option", { value: k, selected: k === r.kind }, k === "path" ? "page path" : k === "page" ? "page (grouped)" : k)));
        const value = h("input", {
          "aria-label": `Step ${i + 1} ${r.kind === "path" ? "path" : r.kind === "goal" ? "goal" : r.kind === "page" ? "page" : "event name"}`, class: "step-value", value: r.value, required: true,
          placeholder: r.kind === "path" ? "/checkout" : r.kind === "goal" ? "goal name" : r.kind === "page" ? "page, e.g. Product page or /pricing" : "event name, e.g. add_to_cart",
          list: r.kind === "goal" ? "goal-names" : r.kind === "event" ? "event-names" : null, oninput: () => ((r.value = value.value), (r.label = ""), check()),
          hidden: r.anyOf.length > 0,
        });
        const warn = r.kind === "event" && !r.anyOf.length ? h("span", { class: "step-warn", role: "status", hidden: true }, "no such event in this range") : null;
        const check = (): void => void (warn && (warn.hidden = !known || !r.value.trim() || known.has(r.value.trim())));
        checks.push(check);
        check();
        if (r.anyOf.length) kind.hidden = true;
        // What the builder keeps but does not edit: alternatives, conditions.
        const kept = [
          ...(r.anyOf.length ? [{ text: `any of: ${r.anyOf.map(altText).join(" | ")}`, drop: () => (r.anyOf = []) }] : []),
          ...r.where.map((c, j) => ({ text: `where ${condText(c)}`, drop: () => r.where.splice(j, 1) })),
        ].map((k) => h("span", { class: "chip step-kept" }, k.text,
          h("button", { type: "button", class: "chip-x", "aria-label": `Remove “${k.text}” from step ${i + 1}`, onclick: () => (k.drop(), (r.label = ""), drawSteps()) }, "×")));
        const match = r.kind === "path"
          ? h("select", { "aria-label": `Step ${i + 1} path match`, onchange: () => (r.match = match!.value as PathMatch) }, ["equals", "prefix", "wildcard", "regex"].map((m) => h("option", { value: m, selected: m === r.match }, m)))
          : null;
        const within = i > 0
          ? h("input", { "aria-label": `Step ${i + 1} within (time from step ${i})`, class: "step-within", value: r.within, size: 5, placeholder: "within…", title: "At most this long after the previous step, e.g. 30m, 1d (empty: the funnel's window)", oninput: () => (r.within = within!.value) })
          : null;
        const optional = i > 0 && i < rows.length - 1
          ? h("label", { class: "check" }, h("input", { type: "checkbox", class: "step-optional", checked: r.optional, onchange: (e: Event) => (r.optional = (e.target as HTMLInputElement).checked) }), "optional")
          : null;
        return h("li", {}, kind, value, warn, match, kept, within, optional,
          h("button", { type: "button", class: "btn small", "aria-label": `Remove step ${i + 1}`, disabled: rows.length <= 2, onclick: () => (rows.splice(i, 1), drawSteps(), drawExcl()) }, "×"));
      }),
    );
  };
  const { edited: excl, kept: keptExcl } = toExcl(def);
  const exclEl = h("ul", { class: "steps", id: "funnel-exclusions" });
  const stepSel = (v: number, label: string, set: (n: number) => void): HTMLSelectElement => {
    const sel = h("select", { "aria-label": label, onchange: () => set(Number(sel.value)) }, rows.map((_, i) => h("option", { value: String(i + 1), selected: i + 1 === v }, `step ${i + 1}`)));
    return sel;
  };
  const drawExcl = (): void => {
    clear(
      exclEl,
      excl.map((x, i) => {
        const ev = h("input", { "aria-label": `Exclusion ${i + 1} event`, class: "excl-event", value: x.event, required: true, placeholder: "event name, e.g. remove_from_cart", oninput: () => (x.event = ev.value) });
        return h("li", {}, h("span", { class: "muted" }, "No"), ev, h("span", { class: "muted" }, "between"),
          stepSel(x.from, `Exclusion ${i + 1} from step`, (n) => (x.from = n)), h("span", { class: "muted" }, "and"),
          stepSel(x.to, `Exclusion ${i + 1} to step`, (n) => (x.to = n)),
          h("button", { type: "button", class: "btn small", "aria-label": `Remove exclusion ${i + 1}`, onclick: () => (excl.splice(i, 1), drawExcl()) }, "×"));
      }),
    );
  };
  drawSteps();
  drawExcl();
  const mode = h("select", { id: "f-mode" }, ["ordered", "strict", "unordered"].map((m) => h("option", { value: m, selected: m === (def?.mode || "ordered") }, m)));
  const windowIn = h("input", { id: "f-window", value: def?.window == null ? "7d" : String(def.window), size: 6 });
  const unit = h("select", { id: "f-unit" }, ["visitor", "session", "lead", "attempt"].map((u) => h("option", { value: u, selected: u === (def?.unit || "visitor") }, u)));
  const by = h("select", { id: "f-by" }, h("option", { value: "" }, "none"), BREAKDOWNS.map((b) => h("option", { value: b, selected: b === def?.breakdown?.by }, b)));
  withProps(s, by, def?.breakdown?.by);
  // Whose value a unit is counted under (docs/funnels.md): by default the unit's first
  // value, its acquisition: UTM fields are only on the landing pageview.
  const attrs: [string, string][] = [["unit", "the unit's first value (acquisition)"], ["first", "the first funnel event's"], ["last", "the last funnel event's"]];
  if (def?.breakdown?.attribution === "step") attrs.push(["step", `step ${def.breakdown.step}'s event`]);
  const attr = h("select", { id: "f-attr" }, attrs.map(([v, t]) => h("option", { value: v, selected: v === (def?.breakdown?.attribution || (def?.breakdown ? "first" : "unit")) }, t)));
  const trend = h("select", { id: "f-trend" }, h("option", { value: "" }, "the range's default"), ["hour", "day", "week", "month"].map((t) => h("option", { value: t, selected: t === def?.trend }, t)));
  const saveName = h("input", { id: "f-name", value: stored[s.funnel] ? s.funnel : "", placeholder: "checkout" });
  const err = h("p", { class: "error", role: "alert", id: "funnel-error", hidden: true });
  const current = (): FunnelSpec => {
    const out: FunnelSpec = {
      steps: rows.map((r): Step => {
        const v = r.value.trim();
        const st: Step = r.anyOf.length ? { any_of: r.anyOf }
          : r.kind === "goal" ? { goal: v } : r.kind === "path" ? { path: v, match: r.match } : r.kind === "page" ? { page: v } : { event: v };
        if (r.where.length && !r.anyOf.length) st.where = r.where;
        if (r.label) st.label = r.label;
        if (r.within.trim()) st.within = r.within.trim();
        if (r.optional) st.optional = true;
        return st;
      }),
      unit: unit.value as FunnelSpec["unit"],
      mode: mode.value as FunnelSpec["mode"],
      window: windowIn.value.trim() || "7d",
    };
    if (by.value) {
      const b: Breakdown = { by: by.value, limit: 10, attribution: attr.value as Breakdown["attribution"] };
      if (attr.value === "step") b.step = def?.breakdown?.step;
      out.breakdown = b;
    }
    if (trend.value) out.trend = trend.value as FunnelSpec["trend"];
    const exclusions: Exclusion[] = [...excl.filter((x) => x.event.trim()).map((x): Exclusion => ({ step: { event: x.event.trim() }, between: [x.from, x.to] })), ...keptExcl];
    if (exclusions.length) out.exclusions = exclusions;
    // Keep what the builder does not edit (open funnels, held properties, step conditions
    // and labels) of a stored funnel.
    if (def) {
      for (const k of ["open", "hold"] as const) if (def[k] != null) (out as unknown as Record<string, unknown>)[k] = def[k];
      out.steps = out.steps.map((st, i) => {
        const o = def!.steps[i];
        if (!o) return st;
        const same = (st.event ?? null) === (o.event ?? null) && (st.path ?? null) === (o.path ?? null) && (st.goal ?? null) === (o.goal ?? null) && (st.page ?? null) === (o.page ?? null);
        if (!same) return st;
        const merged: Step = { ...o, ...st };
        if (!st.within) delete merged.within;
        if (!st.optional) delete merged.optional;
        return merged;
      });
    }
    return out;
  };
  const builder = h(
    "form",
    {
      class: "card", id: "funnel-form", "aria-label": "Funnel",
      onsubmit: (e: Event) => {
        e.preventDefault();
        ctx.go({ def: JSON.stringify(current()) });
      },
      oninput: () => keep(),
      onchange: () => keep(),
      onclick: () => setTimeout(keep),
    },
    h("h2", {}, "Steps"),
    datalist,
    evList,
    stepsEl,
    h("button", { type: "button", class: "btn small", id: "add-step", onclick: () => (rows.push(blank()), drawSteps(), drawExcl(), (stepsEl.lastElementChild?.querySelector(".step-value") as HTMLElement)?.focus()) }, "+ Add step"),
    h("h2", {}, "Exclusions"),
    h("p", { class: "muted" }, "A unit that does one of these between the two steps leaves the funnel (counted as excluded)."),
    exclEl,
    h("button", { type: "button", class: "btn small", id: "add-exclusion", onclick: () => (excl.push({ event: "", from: 1, to: rows.length }), drawExcl(), (exclEl.lastElementChild?.querySelector(".excl-event") as HTMLElement)?.focus()) }, "+ Add exclusion"),
    h("div", { class: "form-grid" },
      h("div", { class: "field" }, h("label", { for: "f-mode" }, "Mode"), mode),
      h("div", { class: "field" }, h("label", { for: "f-window" }, "Window"), windowIn, h("small", { class: "muted" }, "e.g. 30m, 1d, 7d")),
      h("div", { class: "field" }, h("label", { for: "f-unit" }, "Count per"), unit),
      h("div", { class: "field" }, h("label", { for: "f-by" }, "Break down by"), by),
      h("div", { class: "field" }, h("label", { for: "f-attr" }, "Counted under"), attr),
      h("div", { class: "field" }, h("label", { for: "f-trend" }, "Trend per"), trend),
    ),
    h("div", { class: "actions" },
      h("button", { type: "submit", class: "btn primary", id: "run-funnel" }, "Show funnel"),
      ctx.canEdit ? [
        h("label", { for: "f-name" }, "Save as"), saveName,
        h("button", {
          type: "button", class: "btn", id: "save-funnel",
          onclick: async () => {
            err.hidden = true;
            const n = saveName.value.trim();
            if (!n) {
              err.textContent = "Name the funnel to save it.";
              err.hidden = false;
              return saveName.focus();
            }
            try {
              await api("PUT", `/api/v1/sites/${site}/funnels/${encodeURIComponent(n)}`, current());
              ctx.go({ funnel: n, def: "" });
            } catch (x) {
              err.textContent = (x as Error).message;
              err.hidden = false;
            }
          },
        }, "Save"),
        s.funnel && stored[s.funnel] ? h("button", {
          type: "button", class: "btn danger", id: "delete-funnel",
          onclick: async () => {
            if (!confirm(`Delete the funnel “${s.funnel}”?`)) return;
            try {
              await api("DELETE", `/api/v1/sites/${site}/funnels/${encodeURIComponent(s.funnel)}`);
              ctx.go({ funnel: NEW, def: "" });
            } catch (x) {
              err.textContent = (x as Error).message;
              err.hidden = false;
            }
          },
        }, "Delete") : null,
      ] : null),
    err,
  );
  clear(builderEl, builder);
  const keep = (): void => saveDraft({ site: s.site, funnel: s.funnel, def: current() });
  keep();

  if (!def || def.steps.length < 2 || !def.steps.every(hasMatcher)) {
    clear(result, h("p", { class: "muted card" }, "Choose a stored funnel, or enter at least two steps and press “Show funnel”."));
    return;
  }
  await renderResult(ctx, result, def);
}

async function renderResult(ctx: Ctx, el: HTMLElement, def: FunnelSpec): Promise<void> {
  clear(el, h("p", { class: "muted" }, "Loading…"));
  const analysis: AnalysisOf<"funnel"> = { type: "funnel", steps: def.steps };
  for (const [k, v] of Object.entries(def)) if (v != null) (analysis as Record<string, unknown>)[k] = v;
  // The conversion's trend over the range, per the range's bucket unless the funnel says.
  if (!analysis.trend) analysis.trend = period(ctx.state).interval;
  // What those who dropped off did next, and how converters went (closed funnels, not
  // per attempt).
  if (!def.open && def.unit !== "attempt") analysis.flow = true;
  let r: FunnelResult;
  try {
    r = await query(spec(ctx.state, analysis));
  } catch (e) {
    if (ctx.current()) clear(el, errorBox(e));
    return;
  }
  if (!ctx.current()) return;
  const chart = h("div", { class: "chart", role: "img", "aria-label": "Units at each step" });
  const last = r.steps[r.steps.length - 1];
  const tts = last?.time_from_start;
  const hist = h("div", { class: "chart", role: "img", "aria-label": "Time to convert, from step 1 to the last step" });
  const trendEl = h("div", { class: "chart", role: "img", "aria-label": "Conversion by the date of the first step" });
  const tr = r.trend || [];
  const first = r.steps[0]?.count ?? 0;
  clear(
    el,
    h("section", { class: "card" },
      h("div", { class: "card-head" }, h("h2", {}, `Funnel per ${r.unit}`),
        h("span", { class: "muted", id: "funnel-conversion" }, `${num(first)} → ${num(last?.count ?? 0)}: ${pct(last?.from_start.rate ?? 0, 2)} converted`, r.excluded ? `, ${num(r.excluded)} excluded` : "")),
      chart),
    table("Funnel steps", [
      { label: "Step", cell: (x) => x.label + (x.optional ? " (optional)" : "") },
      { label: r.unit + "s", cell: (x) => h("span", { "data-count": String(x.count) }, num(x.count)), csv: (x) => x.count, num: true },
      { label: "From previous", cell: (x) => pct(x.from_previous.rate, 2), csv: (x) => x.from_previous.rate, num: true },
      { label: "95% interval", cell: (x) => ci(x.from_previous, 2), num: true },
      { label: "Dropped", cell: (x) => `${num(x.dropped)} (${pct(x.drop_off)})`, csv: (x) => x.dropped, num: true },
      { label: "From start", cell: (x) => pct(x.from_start.rate, 2), csv: (x) => x.from_start.rate, num: true },
      { label: "Time from previous: median (p25, p75)", cell: (x) => timeStats(x.time_from_previous), csv: (x) => x.time_from_previous?.median_ms ?? "" },
    ], r.steps, { id: "funnel-steps" }),
    tts && tts.count
      ? h("section", { class: "card" },
          h("div", { class: "card-head" }, h("h2", {}, "Time to convert"),
            h("span", { class: "muted" }, `median ${dur(tts.median_ms)}, p25 ${dur(tts.p25_ms)}, p75 ${dur(tts.p75_ms)}, p90 ${dur(tts.p90_ms)}, mean ${dur(tts.mean_ms)}`)),
          hist)
      : null,
    tr.length
      ? h("section", { class: "card", id: "funnel-trend" },
          h("div", { class: "card-head" }, h("h2", {}, "Conversion over time"), h("span", { class: "muted" }, `by the date of step 1, per ${analysis.trend}`)),
          trendEl)
      : null,
    r.breakdown_by && r.breakdown
      ? table(`Funnel by ${r.breakdown_by}`, [
          { label: r.breakdown_by, cell: (x) => x.value },
          ...r.steps.map((st, i) => ({ label: st.label, cell: (x: FunnelBreakdownRow) => num(x.counts[i]), csv: (x: FunnelBreakdownRow) => x.counts[i], num: true })),
          { label: "Conversion", cell: (x) => pct(x.conversion.rate, 2), csv: (x) => x.conversion.rate, num: true },
          { label: "95% interval", cell: (x) => ci(x.conversion), num: true },
        ], r.breakdown, { id: "funnel-breakdown" })
      : null,
  );
  barChart(chart, r.steps.map((x) => x.label), [{ name: `${r.unit}s`, data: r.steps.map((x) => x.count) }], num, true);
  if (tr.length) lineChart(trendEl, tr.map((b) => b.label), [{ name: "Conversion", data: tr.map((b) => b.conversion.rate) }], (v) => pct(v, 1));
  if (tts && tts.count) barChart(hist, tts.histogram.map((b) => b.label), [{ name: `${r.unit}s`, data: tts.histogram.map((b) => b.count) }], num);
  if (r.flow) el.append(...showFlow(ctx, r, r.flow, def));
}

const nodeCols = (unit: string, of: number, ofLabel: string): Column<NodeUnits>[] => [
  { label: "Node", cell: (x) => nodeText(x.node) + (x.nodes ? ` (${num(x.nodes)} nodes)` : ""), csv: (x) => nodeText(x.node) },
  { label: `${unit}s`, cell: (x) => num(x.count), csv: (x) => x.count, num: true },
  { label: ofLabel, cell: (x) => pct(of ? x.count / of : 0), csv: (x) => (of ? x.count / of : 0), num: true },
];

/** The funnel's flow: after each drop-off, what units did next; and the funnel against
 * what converters really did (steps skipped, the order kept, what came between the
 * steps, and a suggested funnel). */
function showFlow(ctx: Ctx, r: FunnelResult, flow: FunnelFlow, def: FunnelSpec): HTMLElement[] {
  const u = r.unit;
  const st = r.steps;
  // Optional steps have no list: those who skip one have not dropped.
  const dropped = st.map((x, j) => (j > 0 && flow.dropped_next[j]?.length
    ? table(`Dropped before “${x.label}”`, nodeCols(u, x.dropped, "Share of dropped"), flow.dropped_next[j], {
        id: `funnel-dropped-${j + 1}`,
        head: h("span", { class: "muted" }, `${num(x.dropped)} did not go on to it`),
      })
    : null));
  const c = flow.converters;
  const gaps = flow.between.flatMap((g) => g.nodes.map((x) => ({ ...x, gap: `${st[g.from_step - 1]?.label} → ${st[g.to_step - 1]?.label}` })));
  // The suggested milestones, then the funnel's own last step (the conversion).
  const steps = [...flow.suggested.map((x) => nodeStep(x.node)).filter((x): x is Step => !!x), def.steps[def.steps.length - 1]];
  return [
    h("section", { class: "card", id: "funnel-dropped" },
      h("h2", {}, "After dropping off"),
      h("p", { class: "muted" }, `What the ${u}s that reached a step but not the next did just after their last step (a page or event, or the exit).`),
      h("div", { class: "grid2" }, dropped)),
    h("section", { class: "card", id: "funnel-reality" },
      h("h2", {}, "Funnel vs reality"),
      h("p", { id: "funnel-converters" }, `${num(c)} ${u}s did the last step (“${st[st.length - 1]?.label}”); `,
        h("strong", {}, num(flow.in_order)), ` of them went through every step in order (${pct(c ? flow.in_order / c : 0)}).`),
      table("Steps before converting", [
        { label: "Step", cell: (x) => x.label },
        { label: "Did it before converting", cell: (x) => num(x.n), csv: (x) => x.n, num: true },
        { label: "Skipped it", cell: (x) => `${num(c - x.n)} (${pct(c ? (c - x.n) / c : 0)})`, csv: (x) => c - x.n, num: true },
      ], st.map((x, i) => ({ label: x.label, n: flow.reached_before[i] ?? 0 })), { id: "funnel-skipped" }),
      table("Between the steps (not in the funnel)", [
        { label: "Between", cell: (x) => x.gap },
        ...nodeCols(u, flow.in_order, "Share of completions"),
      ], gaps, { id: "funnel-between" }),
      steps.length >= 2
        ? h("div", { id: "funnel-suggested" },
            h("h3", {}, "Suggested funnel"),
            h("p", { class: "muted" }, `The milestones at least half the converting ${u}s reached before converting, in their usual order (the share that did each).`),
            h("ol", {}, flow.suggested.map((x) => h("li", {}, nodeText(x.node), h("span", { class: "muted" }, ` ${pct(x.share)} (${num(x.units)})`)))),
            h("button", { type: "button", class: "btn", id: "use-suggested", onclick: () => ctx.go({ def: JSON.stringify({ ...def, steps, exclusions: undefined }) }) }, "Use as the funnel’s steps"))
        : h("p", { class: "muted", id: "funnel-suggested" }, "No suggested funnel: no milestone goal (or, without one, no page) was reached by at least half the converters before converting.")),
  ];
}
