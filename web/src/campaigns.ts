// Campaigns: for each campaign (or source, medium, …), its units and every goal's rate
// side by side, micro goals first: a campaign can be judged on its micro conversions
// before its macro conversions arrive. One `goals` query broken down by the field; by
// campaign, source or medium it also gives, from the imported spend, each row's cost, its
// cost per conversion of every goal, its revenue and its return on spend
// (docs/campaigns.md). The spend itself: the Spend card (spend.ts); whether a campaign's
// early micro rates foretell its macro rate: the Leading indicators card (leading.ts).
import { query, type GoalRow, type GoalsBreakdownRow, type GoalsResult, type Rate } from "./api";
import type { Ctx } from "./main";
import { showLeading } from "./leading";
import { showSpend } from "./spend";
import { spec } from "./state";
import { amount, clear, type Column, errorBox, h, money, num, pct, placeholder, table } from "./ui";

const FIELDS = ["utm_campaign", "utm_source", "utm_medium", "utm_content", "utm_term", "source", "channel"];
const UNITS = ["session", "visitor", "lead"] as const;
/** The fields spend joins, and what its spend on no value of them is. */
const COST: Record<string, string> = { utm_campaign: "no campaign", utm_source: "no source", utm_medium: "no medium" };

/** A return on spend: `3.2×`. */
export const ros = (x: number): string => `${x.toFixed(x < 1 ? 2 : 1)}×`;

export async function renderCampaigns(ctx: Ctx, main: HTMLElement): Promise<void> {
  const s = ctx.state;
  const by = h("select", { id: "campaign-by", onchange: () => ctx.go({ cby: by.value }) }, FIELDS.map((f) => h("option", { value: f, selected: f === s.cby }, f)));
  const unit = h("select", { id: "campaign-unit", onchange: () => ctx.go({ unit: unit.value as typeof s.unit }) }, UNITS.map((u) => h("option", { value: u, selected: u === s.unit }, u)));
  const out = h("div", { id: "campaigns", "aria-busy": "true" }, placeholder("", 6));
  const spendEl = h("div", { id: "spend" });
  const leadEl = h("div", { id: "leading-card" });
  clear(
    main,
    h("div", { class: "page-head" }, h("h1", {}, "Campaigns"),
      h("span", { class: "inline" }, h("label", { for: "campaign-by" }, "By"), by),
      h("span", { class: "inline" }, h("label", { for: "campaign-unit" }, "Unit"), unit)),
    out,
    leadEl,
    spendEl,
  );
  const load = (): Promise<void> => showTable(ctx, out);
  void showSpend(ctx, spendEl, load).catch((e) => ctx.current() && clear(spendEl, errorBox(e)));
  void showLeading(ctx, leadEl).catch((e) => ctx.current() && clear(leadEl, errorBox(e)));
  await load();
}

async function showTable(ctx: Ctx, out: HTMLElement): Promise<void> {
  const s = ctx.state;
  out.setAttribute("aria-busy", "true");
  const goals = await ctx.goals();
  if (!ctx.current()) return;
  if (!goals.length) {
    clear(out, h("p", { class: "card" }, "Campaigns are judged by their goals' rates: this site has no goals yet (see Goals)."));
    out.setAttribute("aria-busy", "false");
    return;
  }
  let r: GoalsResult;
  try {
    r = await query(spec(s, { type: "goals", units: [s.unit], breakdown: { by: s.cby, limit: 25 } }));
  } catch (e) {
    if (ctx.current()) clear(out, errorBox(e));
    return;
  }
  if (!ctx.current()) return;
  // The macro goals next to the name (what the campaign is for), then the micro ones;
  // each keeps its index in the result.
  const macro = r.goals.map((g, i) => ({ g, i })).filter((x) => x.g.conversion === "macro");
  const micro = r.goals.map((g, i) => ({ g, i })).filter((x) => x.g.conversion !== "macro");
  const order = [...macro, ...micro];
  const sp = r.spend;
  const cur = sp?.currency || "";
  const m = (x: number): string => money(x, cur);
  // Revenue: the value of the first macro goal with one, as the return on spend counts it.
  const valued = new Set(goals.filter((g) => g.value).map((g) => g.name));
  const rev = r.goals.findIndex((g) => g.conversion === "macro" && valued.has(g.name));
  const unitName = `${s.unit[0].toUpperCase()}${s.unit.slice(1)}s`;
  const rateCell = (x: Rate): HTMLElement =>
    h("span", { title: `${num(x.num)} of ${num(x.den)}; 95% interval ${pct(x.low, 1)} – ${pct(x.high, 1)}` }, pct(x.rate, 1), h("span", { class: "ci muted" }, ` ±${pct((x.high - x.low) / 2, 1)}`));
  const overall: GoalsBreakdownRow = { value: "All", totals: r.totals.map((t) => t.total), rates: r.goals.map((g: GoalRow) => g.rates.map((u) => u.rate)) };
  if (sp) {
    // “All”: every cost of the range over every conversion (blended).
    overall.cost = sp.total;
    overall.cost_per_conversion = overall.rates.map((u) => (u[0].num && sp.total ? sp.total / u[0].num : null));
    overall.values = r.goals.map((g) => Object.fromEntries((g.value || []).map((v) => [v.currency, v.total])));
    const v = rev >= 0 ? overall.values[rev][cur] : undefined;
    if (v != null && sp.total) overall.return_on_spend = v / sp.total;
  }
  const rows = [...(r.breakdown || []), overall];
  // The revenue's currencies, the spend's first: listed side by side, never added.
  const revCur = rev < 0 ? [] : [...new Set([cur, ...rows.flatMap((x) => Object.keys(x.values?.[rev] || {}))])];
  const revenue = (x: GoalsBreakdownRow): [string, number][] => revCur.flatMap((c): [string, number][] => {
    const v = x.values?.[rev]?.[c];
    return v == null ? [] : [[c, v]];
  });
  const cpc = (x: GoalsBreakdownRow, i: number): number | null | undefined => (x.cost == null ? undefined : x.cost_per_conversion?.[i]);
  const first: Column<GoalsBreakdownRow>[] = [
    { label: s.cby, cell: (x) => x.value, csv: (x) => x.value },
    { label: unitName, cell: (x) => num(x.totals[0]), csv: (x) => x.totals[0], num: true },
  ];
  const costCol: Column<GoalsBreakdownRow>[] = sp ? [{ label: `Cost (${cur})`, cell: (x) => h("span", { "data-cost": x.cost ?? "" }, x.cost == null ? "–" : m(x.cost)), csv: (x) => x.cost ?? "", num: true }] : [];
  const last: Column<GoalsBreakdownRow>[] = sp && rev >= 0
    ? [
        { label: `Revenue (${r.goals[rev].name})`, cell: (x) => h("span", { "data-revenue": x.values?.[rev]?.[cur] ?? "" }, revenue(x).map(([c, v]) => money(v, c)).join(", ") || "–"), num: true },
        { label: "Return on spend", cell: (x) => h("span", { "data-ros": x.return_on_spend ?? "" }, x.return_on_spend == null ? "–" : ros(x.return_on_spend)), csv: (x) => x.return_on_spend ?? "", num: true },
      ]
    : [];
  // Seen without scrolling sideways: the macro goals' rates, then the money, then the
  // micro goals.
  const goalCol = ({ g, i }: { g: GoalRow; i: number }): Column<GoalsBreakdownRow> => ({
    label: `${g.name} (${g.conversion})`,
    cell: (x) => {
      const c = cpc(x, i);
      return [rateCell(x.rates[i][0]), c === undefined ? null : h("small", { class: "cpc muted", "data-cpc": c ?? "", title: `Cost per converting ${s.unit}` }, c == null ? "–" : `${m(c)} each`)];
    },
    csv: (x) => x.rates[i][0].rate,
    num: true,
  });
  const cols: Column<GoalsBreakdownRow>[] = [...first, ...macro.map(goalCol), ...costCol, ...last, ...micro.map(goalCol)];
  // The CSV: every figure in its own column, each currency in its own.
  const csv: Column<GoalsBreakdownRow>[] = sp
    ? [
        ...first, ...costCol,
        ...revCur.map((c): Column<GoalsBreakdownRow> => ({ label: `Revenue (${c})`, cell: () => "", csv: (x) => x.values?.[rev]?.[c] ?? "" })),
        ...last.slice(1),
        ...order.flatMap(({ g, i }): Column<GoalsBreakdownRow>[] => [
          { label: `${g.name} (${g.conversion})`, cell: () => "", csv: (x) => x.rates[i][0].rate },
          { label: `${g.name} cost per conversion (${cur})`, cell: () => "", csv: (x) => cpc(x, i) ?? "" },
        ]),
      ]
    : cols;
  const none = COST[s.cby];
  const unattributed = sp && sp.unattributed > 0 ? ` (${amount(sp.unattributed)} on ${none})` : "";
  clear(
    out,
    h("p", { class: "muted" }, `Each ${s.unit} counts under its first ${s.cby}; “All” is the whole range. Click a value to filter the dashboard to it.`),
    sp
      ? h("p", { id: "spend-line" }, h("strong", {}, `Spend in the range: ${amount(sp.total)} ${cur}${unattributed}.`),
          h("span", { class: "muted" }, ` Under each rate: the cost per converting ${s.unit}${rev >= 0 ? `; revenue is the value of ${r.goals[rev].name}, return on spend that revenue in ${cur} ÷ the cost` : ""}. “All” divides all the spend by all the conversions.`))
      : h("p", { id: "cost-note", class: "muted" }, none
          ? `No spend was imported for these days${ctx.canEdit ? ": import it under Spend below" : ""}.`
          : "Costs join utm_campaign, utm_source or utm_medium: choose one of them under By to see each row's cost, cost per conversion and return on spend."),
    table(`Goal rates by ${s.cby}`, cols, rows, {
      id: "campaigns-table",
      csv,
      bar: (x) => (x === overall ? 0 : x.totals[0]),
      clickable: (x) => !["All", "(other)", "(none)"].includes(x.value),
      onRow: (x) => ctx.go({ page: "overview", filters: [...s.filters.filter((f) => f.field !== s.cby), { field: s.cby, value: x.value }] }),
      rowLabel: (x) => `Only ${s.cby} ${x.value}`,
    }),
  );
  out.setAttribute("aria-busy", "false");
}
