// Goals: the site's stored goals, their conversion report (per unit, with the interval,
// value, trend and change), a breakdown of one goal, and the goal editor.
import { api, query, type Goal, type GoalsResult } from "./api";
import { barChart } from "./charts";
import type { Ctx } from "./main";
import { withProps } from "./events";
import { coverage, DIMENSIONS, period, spec } from "./state";
import { change, ci, clear, errorBox, h, money, num, pct, placeholder, sparkline, table } from "./ui";

const UNITS = ["session", "visitor", "lead"] as const;
const TYPES: Goal["type"][] = ["event", "destination", "scroll", "duration", "pages", "count", "composite"];

export async function renderGoals(ctx: Ctx, main: HTMLElement): Promise<void> {
  const s = ctx.state;
  const unitSel = h(
    "select",
    { id: "unit", onchange: () => ctx.go({ unit: unitSel.value as typeof s.unit }) },
    UNITS.map((u) => h("option", { value: u, selected: u === s.unit }, u)),
  );
  const report = h("div", { id: "goals-report", "aria-busy": "true" }, placeholder("", 6));
  const breakdown = h("div", { id: "goal-breakdown" });
  const editor = h("div", { id: "goal-editor" });
  clear(
    main,
    h("div", { class: "page-head" }, h("h1", {}, "Goals"), h("span", { class: "inline" }, h("label", { for: "unit" }, "Unit"), unitSel),
      ctx.canEdit ? h("button", { type: "button", class: "btn primary", id: "new-goal", onclick: () => openEditor(ctx, editor, null) }, "New goal") : null),
    editor, report, breakdown,
  );
  const goals = await ctx.goals();
  if (!ctx.current()) return;
  if (!goals.length) {
    clear(report, h("p", { class: "card" }, "This site has no goals yet.", ctx.canEdit ? " Create one with “New goal”." : ""));
    report.setAttribute("aria-busy", "false");
    return;
  }
  const p = period(s);
  let r: GoalsResult;
  // With compare: whether the previous period has data from its start (else its rates
  // are partial, and no change is marked significant).
  let cov: ReturnType<typeof coverage> | null = null;
  try {
    const prevDays = s.compare ? query(spec(s, { type: "overview", interval: p.interval }, true)) : null;
    r = await query(spec(s, { type: "goals", units: [s.unit], interval: p.interval, compare: s.compare }));
    if (prevDays) cov = coverage(((await prevDays).series || []).map((b) => b.figures.events));
  } catch (e) {
    if (ctx.current()) clear(report, errorBox(e));
    return;
  }
  if (!ctx.current()) return;
  const byName = new Map(goals.map((g) => [g.name, g]));
  const idx = new Map(r.goals.map((g, i) => [g.name, i]));
  const total = r.totals[0]?.total ?? 0;
  const rows = r.goals;
  const t = table(
    "Goal conversions",
    [
      { label: "Goal", cell: (g) => g.name },
      // The rate next to the name, where a phone shows it without scrolling sideways.
      { label: "Rate", cell: (g) => h("strong", {}, g.rates[0].rate.den ? pct(g.rates[0].rate.rate, 2) : "–"), csv: (g) => g.rates[0].rate.rate, num: true },
      { label: "Kind", cell: (g) => h("span", {}, h("span", { class: `badge ${g.conversion}` }, g.conversion), " ", h("span", { class: `badge ${g.role}` }, g.role)), csv: (g) => `${g.conversion} ${g.role}` },
      { label: "Conversions", cell: (g) => num(g.conversions), csv: (g) => g.conversions, num: true },
      { label: `Converting ${s.unit}s`, cell: (g) => `${num(g.rates[0].rate.num)} / ${num(g.rates[0].rate.den)}`, csv: (g) => g.rates[0].rate.num, num: true },
      { label: "95% interval", cell: (g) => ci(g.rates[0].rate, 2), num: true },
      ...(s.compare
        ? [
            { label: "Previous rate", cell: (g: (typeof rows)[0]) => (g.rates[0].previous ? pct(g.rates[0].previous.rate, 2) : "–"), csv: (g: (typeof rows)[0]) => g.rates[0].previous?.rate ?? "", num: true },
            {
              label: "Change",
              cell: (g: (typeof rows)[0]) => {
                const c = g.rates[0].change;
                if (!c) return "–";
                const sig = cov && !cov.complete ? "" : c.low > 0 ? "up" : c.high < 0 ? "down" : "";
                return h("span", { class: `delta ${sig}`, title: `95% interval ${change(c.low)} to ${change(c.high)}` }, change(c.diff));
              },
              csv: (g: (typeof rows)[0]) => g.rates[0].change?.diff ?? "",
              num: true,
            },
          ]
        : []),
      { label: "Value", cell: (g) => (g.value && g.value.length ? g.value.map((m) => money(m.total, m.currency)).join(", ") : "–"), num: true },
      {
        label: "Trend",
        cell: (g) => {
          const i = idx.get(g.name)!;
          const vals = (r.series || []).map((b) => b.rates[i]?.[0]?.rate ?? 0);
          return vals.length ? sparkline(vals, `${g.name}: conversion rate per ${p.interval}`) : "–";
        },
        csv: (g) => (r.series || []).map((b) => b.rates[idx.get(g.name)!]?.[0]?.rate ?? 0).join(" "),
      },
      ...(ctx.canEdit
        ? [{
            label: "Actions",
            cell: (g: (typeof rows)[0]) =>
              byName.has(g.name)
                ? h("span", { class: "actions" },
                    h("button", { type: "button", class: "btn small", "aria-label": `Edit ${g.name}`, onclick: () => openEditor(ctx, editor, byName.get(g.name)!) }, "Edit"),
                    h("button", { type: "button", class: "btn small danger", "aria-label": `Delete ${g.name}`, onclick: () => deleteGoal(ctx, editor, g.name) }, "Delete"))
                : "",
            csv: () => "",
          }]
        : []),
    ],
    rows,
    { id: "goals-table", bar: (g) => g.rates[0].rate.rate, onRow: (g) => ctx.go({ goal: g.name }), rowLabel: (g) => `Break down ${g.name}` },
  );
  // A unit without data (leads on a site that identifies nobody) is explained, not shown
  // as 0% rates beside real conversions (issue 19, item 3).
  const none = total === 0
    ? h("p", { class: "card empty", id: "unit-empty" },
        s.unit === "lead"
          ? "No leads in this range: a lead is a visitor identified with a user id (the tracker's cairn.identify(), an identify record of the batch API, or events that carry user). Rates per lead appear once visitors are identified; choose session or visitor meanwhile."
          : `No ${s.unit}s in this range: widen the range or loosen the filters.`)
    : null;
  const prevNote = cov && !cov.complete
    ? h("p", { class: "muted", id: "compare-note" }, cov.withData
        ? `The previous period has data on ${cov.withData} of its ${cov.total} ${p.interval}s only: its rates are partial, and no change is marked as significant.`
        : "The previous period has no data: nothing to compare with.")
    : null;
  clear(report, h("p", { class: "muted" }, `${num(total)} ${s.unit}s in the range. Click a goal to break it down.`), prevNote, none, none ? null : t);
  report.setAttribute("aria-busy", "false");
  if (s.goal && byName.has(s.goal)) await renderBreakdown(ctx, breakdown);
}

async function renderBreakdown(ctx: Ctx, el: HTMLElement): Promise<void> {
  const s = ctx.state;
  const by = h("select", { id: "breakdown-by", onchange: () => ctx.go({ by: by.value }) }, DIMENSIONS.map((d) => h("option", { value: d, selected: d === s.by }, d)));
  withProps(s, by, s.by);
  const chart = h("div", { class: "chart", role: "img", "aria-label": `${s.goal} conversion rate by ${s.by}` });
  const body = h("div", {}, placeholder("", 6));
  clear(
    el,
    h("section", { class: "card" },
      h("div", { class: "card-head" }, h("h2", {}, `${s.goal} by `, h("label", { for: "breakdown-by", class: "sr-only" }, "Dimension"), by),
        h("button", { type: "button", class: "btn small", onclick: () => ctx.go({ goal: "" }) }, "Close")),
      chart),
    body,
  );
  try {
    const r = await query(spec(s, { type: "goals", units: [s.unit], goals: [s.goal], breakdown: { by: s.by, limit: 10 } }));
    if (!ctx.current()) return;
    const rows = r.breakdown || [];
    barChart(chart, rows.map((x) => x.value), [{ name: "Conversion rate", data: rows.map((x) => x.rates[0][0].rate) }], (v) => pct(v), true);
    clear(body, table(`${s.goal} by ${s.by}`, [
      { label: s.by, cell: (x) => x.value },
      { label: `${s.unit}s`, cell: (x) => num(x.totals[0]), csv: (x) => x.totals[0], num: true },
      { label: "Converting", cell: (x) => num(x.rates[0][0].num), csv: (x) => x.rates[0][0].num, num: true },
      { label: "Rate", cell: (x) => pct(x.rates[0][0].rate, 2), csv: (x) => x.rates[0][0].rate, num: true },
      { label: "95% interval", cell: (x) => ci(x.rates[0][0]), num: true },
    ], rows, { id: "breakdown-table", bar: (x) => x.rates[0][0].rate }));
  } catch (e) {
    if (ctx.current()) clear(body, errorBox(e));
  }
}

async function deleteGoal(ctx: Ctx, editor: HTMLElement, name: string): Promise<void> {
  if (!confirm(`Delete the goal “${name}”?`)) return;
  try {
    await api("DELETE", `/api/v1/sites/${encodeURIComponent(ctx.state.site)}/goals/${encodeURIComponent(name)}`);
    ctx.refreshGoals();
    ctx.go({ goal: ctx.state.goal === name ? "" : ctx.state.goal });
  } catch (e) {
    clear(editor, errorBox(e));
  }
}

/** The goal form: creates (PUT) or replaces a goal; the server validates it. */
function openEditor(ctx: Ctx, el: HTMLElement, g: Goal | null): void {
  const field = (id: string, label: string, input: HTMLElement, types?: string[], hint?: string): HTMLElement =>
    h("div", { class: "field", "data-types": types ? types.join(" ") : null }, h("label", { for: id }, label), input, hint ? h("small", { class: "muted" }, hint) : null);
  const sel = (id: string, opts: string[], v?: string): HTMLSelectElement => h("select", { id }, opts.map((o) => h("option", { value: o, selected: o === v }, o)));
  const inp = (id: string, v: unknown, type = "text"): HTMLInputElement => h("input", { id, type, value: v == null ? "" : String(v), step: type === "number" ? "any" : null });
  const name = inp("g-name", g?.name);
  if (g) name.readOnly = true;
  const type = sel("g-type", TYPES, g?.type || "event");
  const event = inp("g-event", g?.event);
  const path = inp("g-path", g?.path);
  const match = sel("g-match", ["equals", "prefix", "wildcard", "regex"], g?.match || "equals");
  const seconds = inp("g-seconds", g?.seconds, "number");
  const pages = inp("g-pages", g?.pages, "number");
  const min = inp("g-min", g?.min, "number");
  const depth = inp("g-depth", g?.depth, "number");
  const combine = sel("g-combine", ["all_of", "any_of", "at_least"], g?.any_of?.length ? "any_of" : g?.at_least ? "at_least" : "all_of");
  const of = inp("g-of", (g?.all_of?.length ? g.all_of : g?.any_of?.length ? g.any_of : g?.of || []).join(", "));
  const atLeast = inp("g-at-least", g?.at_least, "number");
  const conversion = sel("g-conversion", ["micro", "macro"], g?.conversion || "micro");
  const role = sel("g-role", ["milestone", "secondary"], g?.role || "milestone");
  const count = sel("g-count", ["unit", "session", "visitor", "every"], g?.count || "unit");
  const valueKind = sel("g-value", ["none", "revenue", "fixed"], g?.value == null ? "none" : typeof g.value === "string" ? "revenue" : "fixed");
  const fixedValue = g?.value != null && typeof g.value === "object" ? g.value : null;
  const fixed = inp("g-fixed", fixedValue ? fixedValue.fixed : "", "number");
  const currency = inp("g-currency", fixedValue?.currency || "USD");
  const where = h("textarea", { id: "g-where", rows: 2, placeholder: '[{"field": "props.plan", "value": "pro"}]' }, g?.where?.length ? JSON.stringify(g.where) : "");
  const err = h("p", { class: "error", role: "alert", id: "goal-error", hidden: true });
  const sync = (): void => {
    form.querySelectorAll<HTMLElement>("[data-types]").forEach((f) => (f.hidden = !f.dataset.types!.split(" ").includes(type.value)));
    fixed.parentElement!.hidden = currency.parentElement!.hidden = valueKind.value !== "fixed";
    atLeast.parentElement!.hidden = type.value !== "composite" || combine.value !== "at_least";
  };
  const build = (): Goal => {
    // The selects offer only the API's values (TYPES and the lists above).
    const t = type.value as Goal["type"];
    const out: Goal = {
      name: name.value.trim(), type: t, conversion: conversion.value as Goal["conversion"], role: role.value as Goal["role"],
      count: count.value as Goal["count"],
    };
    const n = (x: HTMLInputElement): number | undefined => (x.value.trim() === "" ? undefined : Number(x.value));
    if (["event", "count", "scroll"].includes(t) && event.value.trim()) out.event = event.value.trim();
    if (["destination", "scroll"].includes(t) && path.value.trim()) {
      out.path = path.value.trim();
      out.match = match.value as Goal["match"];
    }
    if (t === "duration") out.seconds = n(seconds);
    if (t === "pages") out.pages = n(pages);
    if (t === "count") out.min = n(min);
    if (t === "scroll") out.depth = n(depth);
    if (t === "composite") {
      const list = of.value.split(",").map((x) => x.trim()).filter(Boolean);
      if (combine.value === "at_least") {
        out.of = list;
        out.at_least = n(atLeast);
      } else out[combine.value as "all_of" | "any_of"] = list;
    }
    if (valueKind.value === "revenue") out.value = "revenue";
    if (valueKind.value === "fixed") out.value = { fixed: Number(fixed.value || 0), currency: currency.value.trim() || "USD" };
    if (["event", "count"].includes(t) && where.value.trim()) out.where = JSON.parse(where.value);
    return out;
  };
  const form: HTMLFormElement = h(
    "form",
    {
      class: "card editor", id: "goal-form", "aria-label": g ? `Edit goal ${g.name}` : "New goal",
      onsubmit: async (e: Event) => {
        e.preventDefault();
        err.hidden = true;
        let goal: Goal;
        try {
          goal = build();
        } catch (x) {
          err.textContent = `where: ${(x as Error).message}`;
          err.hidden = false;
          return;
        }
        if (!goal.name) {
          err.textContent = "A goal needs a name.";
          err.hidden = false;
          return name.focus();
        }
        try {
          await api("PUT", `/api/v1/sites/${encodeURIComponent(ctx.state.site)}/goals/${encodeURIComponent(goal.name)}`, goal);
          ctx.refreshGoals();
          ctx.go({});
        } catch (x) {
          err.textContent = (x as Error).message;
          err.hidden = false;
        }
      },
      onchange: () => sync(),
    },
    h("h2", {}, g ? `Edit “${g.name}”` : "New goal"),
    h("div", { class: "form-grid" },
      field("g-name", "Name", name),
      field("g-type", "Type", type),
      field("g-event", "Event name", event, ["event", "count", "scroll"], "e.g. purchase"),
      field("g-path", "Path", path, ["destination", "scroll"], "e.g. /checkout/done"),
      field("g-match", "Path match", match, ["destination", "scroll"]),
      field("g-seconds", "Seconds", seconds, ["duration"]),
      field("g-pages", "Pageviews", pages, ["pages"]),
      field("g-min", "Minimum events", min, ["count"]),
      field("g-depth", "Scroll depth (%)", depth, ["scroll"]),
      field("g-combine", "Combine", combine, ["composite"]),
      field("g-of", "Goals (comma separated)", of, ["composite"]),
      field("g-at-least", "At least", atLeast),
      field("g-conversion", "Conversion", conversion),
      field("g-role", "Role", role),
      field("g-count", "Count", count),
      field("g-value", "Value", valueKind),
      field("g-fixed", "Value per conversion", fixed),
      field("g-currency", "Currency", currency),
      field("g-where", "Conditions (JSON, optional)", where, ["event", "count"]),
    ),
    err,
    h("div", { class: "actions" },
      h("button", { type: "submit", class: "btn primary", id: "goal-save" }, "Save goal"),
      h("button", { type: "button", class: "btn", onclick: () => clear(el) }, "Cancel")),
  );
  clear(el, form);
  sync();
  (g ? type : name).focus();
}
