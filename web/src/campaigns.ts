// Campaigns: for each campaign (or source, medium, …), its units and every goal's rate
// side by side, micro goals first: a campaign can be judged on its micro conversions
// before its macro conversions arrive. One `goals` query broken down by the field.
import { query, type GoalRow, type GoalsBreakdownRow, type GoalsResult, type Rate } from "./api";
import type { Ctx } from "./main";
import { spec } from "./state";
import { clear, errorBox, h, num, pct, table, type Column } from "./ui";

const FIELDS = ["utm_campaign", "utm_source", "utm_medium", "utm_content", "utm_term", "source", "channel"];
const UNITS = ["session", "visitor", "lead"] as const;

export async function renderCampaigns(ctx: Ctx, main: HTMLElement): Promise<void> {
  const s = ctx.state;
  const by = h("select", { id: "campaign-by", onchange: () => ctx.go({ cby: by.value }) }, FIELDS.map((f) => h("option", { value: f, selected: f === s.cby }, f)));
  const unit = h("select", { id: "campaign-unit", onchange: () => ctx.go({ unit: unit.value as typeof s.unit }) }, UNITS.map((u) => h("option", { value: u, selected: u === s.unit }, u)));
  const out = h("div", { id: "campaigns", "aria-busy": "true" }, h("p", { class: "muted" }, "Loading…"));
  clear(
    main,
    h("div", { class: "page-head" }, h("h1", {}, "Campaigns"),
      h("span", { class: "inline" }, h("label", { for: "campaign-by" }, "By"), by),
      h("span", { class: "inline" }, h("label", { for: "campaign-unit" }, "Unit"), unit)),
    out,
  );
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
  // Micro goals first (the early signal), then macro; each keeps its index in the result.
  const order = r.goals.map((g, i) => ({ g, i })).sort((a, b) => Number(a.g.conversion === "macro") - Number(b.g.conversion === "macro"));
  const rateCell = (x: Rate): HTMLElement =>
    h("span", { title: `${num(x.num)} of ${num(x.den)}; 95% interval ${pct(x.low, 1)} – ${pct(x.high, 1)}` }, pct(x.rate, 1), h("span", { class: "ci muted" }, ` ±${pct((x.high - x.low) / 2, 1)}`));
  const cols: Column<GoalsBreakdownRow>[] = [
    { label: s.cby, cell: (x) => x.value, csv: (x) => x.value },
    { label: `${s.unit[0].toUpperCase()}${s.unit.slice(1)}s`, cell: (x) => num(x.totals[0]), csv: (x) => x.totals[0], num: true },
    ...order.map(({ g, i }): Column<GoalsBreakdownRow> => ({
      label: `${g.name} (${g.conversion})`,
      cell: (x) => rateCell(x.rates[i][0]),
      csv: (x) => x.rates[i][0].rate,
      num: true,
    })),
  ];
  const overall: GoalsBreakdownRow = { value: "All", totals: r.totals.map((t) => t.total), rates: r.goals.map((g: GoalRow) => g.rates.map((u) => u.rate)) };
  const rows = [...(r.breakdown || []), overall];
  clear(
    out,
    h("p", { class: "muted" }, `Each ${s.unit} counts under its first ${s.cby}; “All” is the whole range. Click a value to filter the dashboard to it.`),
    table(`Goal rates by ${s.cby}`, cols, rows, {
      id: "campaigns-table",
      clickable: (x) => !["All", "(other)", "(none)"].includes(x.value),
      onRow: (x) => ctx.go({ page: "overview", filters: [...s.filters.filter((f) => f.field !== s.cby), { field: s.cby, value: x.value }] }),
      rowLabel: (x) => `Only ${s.cby} ${x.value}`,
    }),
  );
  out.setAttribute("aria-busy", "false");
}
