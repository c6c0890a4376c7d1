// Plan a test (the `experiment_plan` analysis), on the Experiments page with or without an
// experiment: on the range's traffic, the units and days each goal needs to show the change
// chosen, with the sequential test (read every day) and the fixed-size one (read once),
// and which micro goals go with the macro goal and show it sooner (proxies). Its controls
// are in the URL; changing one asks for the plan again, and only the plan.
import { query, type PlanResult, type PlanRow } from "./api";
import { times } from "./influence";
import type { Ctx } from "./main";
import { ARMS, MDES, POWERS, SHARES, format, parse, spec, type State } from "./state";
import { ci, clear, errorBox, h, num, pct, table, type Child, type Column } from "./ui";

type Controls = Pick<State, "pmde" | "power" | "arms" | "share">;

/** Days, rounded up; "over a year" past 365; "–" when the goal cannot be planned. */
export const daysText = (d?: number | null): string => (d == null ? "–" : d > 365 ? "over a year" : num(Math.ceil(d)));
const rateText = (x: number): string => pct(x, x < 0.01 ? 2 : 1);
const liftText = (l: PlanRow["macro_lift"]): string => (l ? `${times(l.ratio)} [${times(l.low).slice(1)} – ${times(l.high).slice(1)}]` : "");

export function planCard(ctx: Ctx): HTMLElement {
  const s = ctx.state;
  const unit = s.unit === "lead" ? "lead" : "visitor";
  let c: Controls = { pmde: s.pmde, power: s.power, arms: s.arms, share: s.share };
  const says = h("div", { id: "plan-says" }), rows = h("div");
  let gen = 0;
  const run = async (): Promise<void> => {
    const g = ++gen;
    el.setAttribute("aria-busy", "true");
    const done = (x: Child, t: Child = null): void => {
      if (g !== gen || !ctx.current()) return;
      clear(says, x);
      clear(rows, t);
      el.setAttribute("aria-busy", "false");
    };
    try {
      const r = await query(spec(s, { type: "experiment_plan", unit, mde: c.pmde / 100, power: c.power / 100, variants: c.arms, share: c.share / 100 }));
      done(planText(r), planTable(r));
    } catch (e) {
      done(errorBox(e));
    }
  };
  const set = (patch: Partial<Controls>): void => {
    c = { ...c, ...patch };
    history.replaceState(null, "", format({ ...parse(location.hash), ...patch }));
    run();
  };
  const sel = (id: string, label: string, k: keyof Controls, opts: number[], text: (v: number) => string): HTMLElement => {
    const e: HTMLSelectElement = h("select", { id, onchange: () => set({ [k]: Number(e.value) }) }, opts.map((o) => h("option", { value: o, selected: o === c[k] }, text(o))));
    return h("div", { class: "field" }, h("label", { for: id }, label), e);
  };
  const el = h("div", { id: "exp-plan", "aria-busy": "true" },
    h("section", { class: "card" }, h("h2", {}, "Plan a test"),
      h("form", { class: "form-grid", "aria-label": "Plan a test", onsubmit: (e: Event) => e.preventDefault() },
        sel("plan-mde", "Change to detect", "pmde", MDES, (v) => `${v}% of the rate`),
        sel("plan-power", "Power", "power", POWERS, (v) => `${v}%`),
        sel("plan-variants", "Variants", "arms", ARMS, (v) => `${v}, the control included`),
        sel("plan-share", "Share of the traffic", "share", SHARES, (v) => `${v}%`)),
      says),
    rows);
  run();
  return el;
}

/** The plan in a sentence: the macro goal's days, and the quickest proxy's. */
function planText(r: PlanResult): HTMLElement {
  const u = r.unit, change = pct(r.mde, 0);
  const perDay = r.units_per_day * r.share;
  const year = (m: PlanRow): boolean => m.days_sequential == null || m.days_sequential > 365;
  const days = (m: PlanRow): Child => h("strong", {}, year(m) ? "over a year" : `${daysText(m.days_sequential)} days`);
  const macro = r.metrics.find((m) => m.is_macro);
  const proxies = r.metrics.filter((m) => m.proxy);
  const p = proxies[0];
  const said: Child[] = [`At ${num(Math.round(perDay))} ${u}s a day${r.share < 1 ? ` in the test (${pct(r.share, 0)} of ${num(Math.round(r.units_per_day))})` : ""}, `];
  if (macro) {
    said.push(`a test on ${macro.goal} (${rateText(macro.baseline.rate)}) `, macro.days_sequential == null ? "cannot be planned (a rate of 0, or near 100%)"
      : ["needs ", year(macro) ? "" : "about ", days(macro), ` to show a ${change} change`]);
    const lift = p && (p.macro_lift ? liftText(p.macro_lift) : "every converter reached it");
    said.push(!p ? `; no micro goal both goes with ${macro.goal} and shows it sooner.`
      : year(p) ? `; even ${p.goal}, the quickest proxy (${lift}), needs over a year: plan for a larger change or more of the traffic.`
      : ["; ", p.goal, " shows it in ", days(p), ` and goes with ${macro.goal} (${lift}): a proxy`, proxies.length > 1 ? ` (${proxies.length} in all, highlighted below).` : "."]);
  } else {
    const q = r.metrics.filter((m) => m.days_sequential != null).sort((a, b) => a.days_sequential! - b.days_sequential!)[0];
    said.push(q ? [`the quickest goal to show a ${change} change is ${q.goal} (${rateText(q.baseline.rate)}), in `, days(q), "."] : "no goal can be planned.");
  }
  return h("div", {},
    h("p", {}, said),
    h("p", { class: "muted" }, "Sequential: the default, read every day; fixed size: read once, at the planned size. ",
      macro && p ? `A proxy is a bet: a change that raises ${p.goal} need not raise ${macro.goal} as much. Keep ${macro.goal} as a secondary metric and watch it.` : ""));
}

/** The plan's CSV: a line per goal, every figure of the API in a column of its own. */
export function planCsv(r: PlanResult): Column<PlanRow>[] {
  const col = (label: string, f: (m: PlanRow) => string | number | null | undefined): Column<PlanRow> => ({ label, cell: () => "", csv: (m) => f(m) ?? "" });
  const U = `${r.unit[0].toUpperCase()}${r.unit.slice(1)}s`;
  return [
    col("Goal", (m) => m.goal), col("Macro", (m) => (m.is_macro ? "yes" : "no")), col("Proxy", (m) => (m.proxy ? "yes" : "no")), col("Baseline", (m) => m.baseline.rate),
    col("Baseline low", (m) => m.baseline.low), col("Baseline high", (m) => m.baseline.high), col("Converted", (m) => m.baseline.num), col(U, (m) => m.baseline.den),
    col(`${U} per variant, sequential`, (m) => m.units_sequential), col("Days, sequential", (m) => m.days_sequential),
    col(`${U} per variant, fixed size`, (m) => m.units_fixed), col("Days, fixed size", (m) => m.days_fixed),
    col("Macro lift", (m) => m.macro_lift?.ratio), col("Macro lift low", (m) => m.macro_lift?.low), col("Macro lift high", (m) => m.macro_lift?.high),
  ];
}

function planTable(r: PlanResult): HTMLElement {
  const U = `${r.unit[0].toUpperCase()}${r.unit.slice(1)}s`;
  const cols: Column<PlanRow>[] = [
    {
      label: "Goal",
      cell: (m) => h("span", {}, m.goal, m.is_macro ? [" ", h("span", { class: "badge macro" }, "macro")] : null, m.proxy ? [" ", h("span", { class: "badge proxy" }, "proxy")] : null),
    },
    { label: "Baseline (95% interval)", cell: (m) => h("span", {}, pct(m.baseline.rate, 2), h("small", { class: "muted" }, ` ${ci(m.baseline, 2)}`)), num: true },
    { label: `${U} per variant, sequential`, cell: (m) => (m.units_sequential == null ? "–" : num(m.units_sequential)), num: true },
    { label: "Days, sequential", cell: (m) => h("strong", {}, daysText(m.days_sequential)), num: true },
    { label: `${U} per variant, fixed size`, cell: (m) => (m.units_fixed == null ? "–" : num(m.units_fixed)), num: true },
    { label: "Days, fixed size", cell: (m) => daysText(m.days_fixed), num: true },
    {
      label: `Lift on ${r.goal || "the macro goal"} (95% interval)`,
      cell: (m) => (m.macro_lift ? h("span", {}, liftText(m.macro_lift)) : !m.is_macro && m.proxy ? h("small", {}, "every converter reached it") : "–"),
      num: true,
    },
  ];
  const t = table("Days each goal needs", cols, r.metrics, {
    id: "plan-table", csv: planCsv(r), file: `plan ${pct(r.mde, 0)} ${r.variants} variants`,
  });
  t.querySelectorAll("tbody tr").forEach((tr, i) => {
    const m = r.metrics[i];
    if (!m) return;
    tr.setAttribute("data-goal", m.goal);
    tr.setAttribute("data-plan", JSON.stringify([m.units_sequential ?? null, m.days_sequential ?? null, m.units_fixed ?? null, m.days_fixed ?? null, m.proxy]));
    if (m.proxy) tr.classList.add("proxy");
    [...tr.children].forEach((td, k) => td.setAttribute("data-label", cols[k].label));
  });
  return t;
}
