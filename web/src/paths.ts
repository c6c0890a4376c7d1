// Paths: the behaviour flow (a Sankey forward from a start or backward to an end, its
// nodes per step, the most frequent sequences) and one node's transitions (what came
// just before and just after it), per session or visitor. A node's menu follows it
// further, filters the dashboard to it, adds it to the funnel being built or shows its
// transitions. Semantics: docs/paths.md.
import { query, type AnalysisOf, type NodeKind, type NodeUnits, type PathNode, type PathsResult, type Step, type TransitionsResult } from "./api";
import { sankeyChart, type FlowLink, type FlowNode } from "./charts";
import { addFunnelStep } from "./funnels";
import type { Ctx } from "./main";
import { isReal, nodeRef, nodeStep, nodeText, pickNode, pickStep, pickText, toPick, type Pick, type PickKind } from "./nodes";
import { format, spec, type State } from "./state";
import { clear, downloadCsv, dur, errorBox, h, num, pct, table, toCsv, type Column } from "./ui";

const KINDS: [NodeKind, string][] = [["page", "pages"], ["event", "events"], ["goal", "goals"]];

export async function renderPaths(ctx: Ctx, main: HTMLElement): Promise<void> {
  const s = ctx.state;
  const result = h("div", { id: "paths-result" });
  const views: [State["view"], string][] = [["flow", "Flow"], ["transitions", "Transitions"]];
  clear(
    main,
    h("div", { class: "page-head" }, h("h1", {}, "Paths"),
      h("nav", { class: "subtabs", "aria-label": "Paths views" },
        views.map(([v, t]) => h("a", { href: format({ ...s, view: v }), id: `view-${v}`, "aria-current": v === s.view ? "page" : null }, t)))),
    controls(ctx),
    result,
  );
  await (s.view === "flow" ? renderFlow(ctx, result) : renderTransitions(ctx, result));
}

/** A step from the URL (JSON), or null. */
function parseStep(json: string): Step | null {
  try {
    const st = json ? (JSON.parse(json) as Step) : null;
    return st && typeof st === "object" ? st : null;
  } catch {
    return null;
  }
}

/** A step or node reference from the URL, as text. */
function stepText(json: string): string {
  const p = toPick(json);
  return p.kind ? pickText(p) : "the chosen step";
}

// ---------------------------------------------------------------------------------------
// The form: direction and start or end (flow) or the node (transitions), steps, unit, what
// becomes a node, repeats, how many nodes per step or rows per list.

function controls(ctx: Ctx): HTMLElement {
  const s = ctx.state;
  const flow = s.view === "flow";
  const opt = (v: string, t: string, sel: boolean): HTMLOptionElement => h("option", { value: v, selected: sel }, t);
  const dir = h("select", { id: "p-dir" }, opt("forward", "forward from", s.dir === "forward"), opt("backward", "backward to", s.dir === "backward"));
  const none = (): string => (!flow ? "every pair of nodes" : dir.value === "backward" ? "choose the end…" : "the landing (each unit’s first node)");
  const at = picker(ctx, "p-at", flow ? s.at : s.node, flow ? "Start or end" : "Node", none, flow);
  dir.addEventListener("change", () => at.sync());
  const steps = h("input", { id: "p-steps", type: "number", min: 2, max: 20, value: s.steps, required: true });
  const unit = h("select", { id: "p-unit" }, opt("session", "session", s.punit === "session"), opt("visitor", "visitor", s.punit === "visitor"));
  const kinds = KINDS.map(([k, t]) => h("label", { class: "check" }, h("input", { type: "checkbox", id: `p-node-${k}`, value: k, checked: s.nodes.includes(k) }), t));
  const collapse = h("input", { type: "checkbox", id: "p-collapse", checked: s.collapse });
  const limit = h("input", { id: "p-limit", type: "number", min: 1, max: flow ? 100 : 1000, value: flow ? s.limit : s.tlimit, required: true });
  const err = h("p", { class: "error", role: "alert", id: "paths-error", hidden: true });
  const form = h(
    "form",
    {
      class: "card", id: "paths-form", "aria-label": flow ? "Paths" : "Transitions",
      onsubmit: (e: Event) => {
        e.preventDefault();
        const nodes = [...form.querySelectorAll<HTMLInputElement>("[id^=p-node-]:checked")].map((c) => c.value);
        const pick = at.get();
        const step = flow ? pickStep(pick) : pickNode(pick);
        const fail = (m: string): void => {
          err.textContent = m;
          err.hidden = false;
        };
        if (!nodes.length) return fail("Choose at least one kind of node: pages, events or goals.");
        if (flow && dir.value === "backward" && !step) return fail("Going backward needs an end: a page, path, event or goal.");
        const patch: Partial<State> = { punit: unit.value as State["punit"], nodes, collapse: collapse.checked };
        const json = step ? JSON.stringify(step) : "";
        ctx.go(flow
          ? { ...patch, dir: dir.value as State["dir"], at: json, steps: Number(steps.value), limit: Number(limit.value) }
          : { ...patch, node: json, tlimit: Number(limit.value) });
      },
    },
    h("div", { class: "form-grid" },
      flow ? h("div", { class: "field" }, h("label", { for: "p-dir" }, "Direction"), dir) : null,
      at.el,
      flow ? h("div", { class: "field" }, h("label", { for: "p-steps" }, "Steps (2–20)"), steps) : null,
      h("div", { class: "field" }, h("label", { for: "p-unit" }, "Follow each"), unit),
      h("fieldset", { class: "field" }, h("legend", {}, "Nodes"), h("div", { class: "inline" }, kinds)),
      h("div", { class: "field" }, h("label", { for: "p-limit" }, flow ? "Nodes per step" : "Rows per list"), limit),
      h("div", { class: "field" }, h("span", { class: "check" }, collapse, h("label", { for: "p-collapse" }, "Count a repeated node once")),
        h("small", { class: "muted" }, "e.g. a reload")),
    ),
    err,
    h("button", { type: "submit", class: "btn primary", id: "run-paths" }, flow ? "Show paths" : "Show transitions"),
  );
  return form;
}

/** A step (or node) picker: none, a page (after grouping), a page path (with its match;
 * steps only), an event or a goal, with the range's pages, events and the site's goals
 * suggested. */
function picker(ctx: Ctx, id: string, json: string, label: string, none: () => string, paths: boolean): { el: HTMLElement; get: () => Pick; sync: () => void } {
  const p = toPick(json);
  const kinds: [PickKind, string][] = [["", ""], ["page", "page"], ...(paths ? [["path", "page path"] as [PickKind, string]] : []), ["event", "event"], ["goal", "goal"]];
  const kind = h("select", { id: `${id}-kind`, "aria-label": `${label}: kind` }, kinds.map(([v, t]) => h("option", { value: v, selected: v === p.kind }, t)));
  const list = h("datalist", { id: `${id}-list` });
  const value = h("input", { id, value: p.value, list: `${id}-list`, autocomplete: "off", "aria-label": label, onfocus: () => suggest() });
  const match = h("select", { id: `${id}-match`, "aria-label": `${label}: path match` },
    ["equals", "prefix", "wildcard", "regex"].map((m) => h("option", { value: m, selected: m === p.match }, m)));
  const cache = new Map<string, Promise<string[]>>();
  const suggest = async (): Promise<void> => {
    const k = kind.value;
    if (!k || k === "path") return clear(list);
    if (!cache.has(k)) cache.set(k, suggestions(ctx, k).catch(() => []));
    const names = await cache.get(k)!;
    if (kind.value === k) clear(list, names.map((n) => h("option", { value: n })));
  };
  const sync = (): void => {
    (kind.options[0] as HTMLOptionElement).textContent = `— ${none()} —`;
    value.hidden = !kind.value;
    value.required = !!kind.value;
    match.hidden = kind.value !== "path";
    value.placeholder = { "": "", page: "/pricing or Product page", path: "/product/*", event: "signup", goal: "goal name" }[kind.value as PickKind];
    if (document.activeElement === value) void suggest();
  };
  kind.addEventListener("change", () => (sync(), value.focus()));
  sync();
  return {
    el: h("div", { class: "field picker" }, h("label", { for: `${id}-kind` }, label), h("div", { class: "inline" }, kind, value, match, list)),
    get: () => ({ kind: kind.value as PickKind, value: value.value, match: match.value as Pick["match"] }),
    sync,
  };
}

/** Names to suggest: the range's pages (after grouping) and events, the site's goals. */
async function suggestions(ctx: Ctx, kind: string): Promise<string[]> {
  const s = ctx.state;
  if (kind === "goal") return (await ctx.goals()).map((g) => g.name);
  if (kind === "page") {
    const r = await query(spec(s, { type: "pages", limit: 100, grouped: true }));
    return r.pages.map((x) => x.path);
  }
  const r = await query(spec(s, { type: "overview", breakdown: { by: "name", limit: 50 } }));
  return (r.breakdown || []).map((b) => b.value).filter((v) => !["pageview", "(other)", "(none)"].includes(v));
}

// ---------------------------------------------------------------------------------------
// A node's menu.

let closeMenu: (() => void) | null = null;

/** Opens a node's menu where `at` says (in the window: it follows its anchor when the
 * page scrolls). */
function nodeMenu(ctx: Ctx, node: PathNode, at: () => { x: number; y: number }, about: string): void {
  closeMenu?.();
  const s = ctx.state;
  const step = nodeStep(node);
  const ref = nodeRef(node);
  const opener = document.activeElement as HTMLElement | null;
  const close = (): void => {
    menu.remove();
    document.removeEventListener("mousedown", outside, true);
    document.removeEventListener("keydown", key, true);
    window.removeEventListener("scroll", place, true);
    closeMenu = null;
  };
  const item = (action: string, text: string, f: () => void): HTMLButtonElement =>
    h("button", { type: "button", role: "menuitem", class: "menu-item", "data-action": action, onclick: () => (close(), f()) }, text);
  const items = step
    ? [
        item("from", "Paths from here", () => ctx.go({ page: "paths", view: "flow", dir: "forward", at: JSON.stringify(step) })),
        item("to", "Paths to here", () => ctx.go({ page: "paths", view: "flow", dir: "backward", at: JSON.stringify(step) })),
        item("filter", "Filter the dashboard to visitors who did this", () => ctx.go(filterTo(s, node))),
        item("funnel", "Add as funnel step", () => addFunnelStep(ctx, step)),
        item("transitions", "Transitions of this node", () => ctx.go({ page: "paths", view: "transitions", node: JSON.stringify(ref) })),
      ]
    : node.kind === "other"
      ? [item("more", "Show more nodes", () => ctx.go(s.view === "flow" ? { limit: Math.min(100, s.limit * 2) } : { tlimit: Math.min(1000, s.tlimit * 2) }))]
      : [];
  const menu = h("div", { class: "menu", role: "menu", id: "node-menu", "aria-label": nodeText(node) },
    h("div", { class: "menu-title" }, h("strong", {}, nodeText(node)), h("small", { class: "muted" }, about)), items);
  const outside = (e: Event): void => void (!menu.contains(e.target as Node) && close());
  const key = (e: KeyboardEvent): void => {
    if (e.key === "Escape") {
      close();
      opener?.focus();
    }
    const i = items.indexOf(document.activeElement as HTMLButtonElement);
    if ((e.key === "ArrowDown" || e.key === "ArrowUp") && items.length) {
      e.preventDefault();
      items[(i + (e.key === "ArrowDown" ? 1 : items.length - 1)) % items.length].focus();
    }
  };
  const place = (): void => {
    const r = menu.getBoundingClientRect();
    const { x, y } = at();
    menu.style.left = `${Math.max(4, Math.min(x, innerWidth - r.width - 4))}px`;
    menu.style.top = `${Math.max(4, Math.min(y, innerHeight - r.height - 4))}px`;
  };
  document.body.appendChild(menu);
  place();
  setTimeout(() => document.addEventListener("mousedown", outside, true));
  document.addEventListener("keydown", key, true);
  window.addEventListener("scroll", place, true);
  closeMenu = close;
  items[0]?.focus();
}

/** The dashboard filtered to units that did this: a page or event by its name, a goal by
 * the behavioural filter. */
function filterTo(s: State, n: PathNode): Partial<State> {
  if (n.kind === "goal") return { did: [...s.did.filter((g) => g !== n.name), n.name] };
  const f = { field: n.kind === "page" ? "page" : "name", value: n.name };
  return { filters: [...s.filters.filter((x) => x.field !== f.field || x.value !== f.value), f] };
}

/** Opens the menu of a row's node under its button. */
const rowMenu = (ctx: Ctx, node: PathNode, about: string) => (_: unknown, el: HTMLElement): void =>
  nodeMenu(ctx, node, () => {
    const r = el.getBoundingClientRect();
    return { x: r.left, y: r.bottom + 2 };
  }, about);

// ---------------------------------------------------------------------------------------
// The flow.

interface StepRow { step: number; node: PathNode; count: number; nodes?: number | null; of: number }

async function renderFlow(ctx: Ctx, el: HTMLElement): Promise<void> {
  const s = ctx.state;
  const back = s.dir === "backward";
  const at = parseStep(s.at);
  if (back && !at) {
    clear(el, h("p", { class: "muted card" }, "Choose the end to go backward to (a page, path, event or goal), then “Show paths”."));
    return;
  }
  const a: AnalysisOf<"paths"> = { type: "paths", steps: s.steps, unit: s.punit, nodes: s.nodes as NodeKind[], collapse_repeats: s.collapse, limit: s.limit, sequences: 10 };
  if (at) a[back ? "end" : "start"] = at;
  clear(el, h("p", { class: "muted" }, "Loading…"));
  let r: PathsResult;
  try {
    r = await query(spec(s, a));
  } catch (e) {
    if (ctx.current()) clear(el, errorBox(e));
    return;
  }
  if (!ctx.current()) return;
  const u = r.unit;
  const n = r.steps.length;
  const followed = r.followed;
  const what = at ? stepText(s.at) : "";
  const summary = back
    ? `${num(followed)} of ${num(r.units)} ${u}s reached ${what}: the ${n - 1} steps before it, right to left. ${num(r.beyond)} began before step ${n}.`
    : at
      ? `${num(followed)} of ${num(r.units)} ${u}s reached ${what}: their next ${n - 1} steps. ${num(r.beyond)} went on after step ${n}.`
      : `${num(followed)} ${u}s from their landing (first node), ${n} steps. ${num(r.beyond)} went on after step ${n}.`;

  // The diagram: one column per step (step 1 on the left forward, on the right backward),
  // with the units that ended (exits forward, entrances backward) as their own nodes.
  const col = (k: number): number => (back ? n - k : k - 1);
  const id = (k: number, x: PathNode): string => `${k}:${x.kind}:${x.name}`;
  const stepUnits = (k: number): number => r.steps[k - 1]?.units ?? 0;
  const nodes: FlowNode[] = [];
  const at_ = new Map<string, { step: number; node: PathNode; count: number; about: string }>();
  const add = (k: number, x: PathNode, count: number, about: string): void => {
    const key = id(k, x);
    if (at_.has(key)) return;
    at_.set(key, { step: k, node: x, count, about });
    nodes.push({ id: key, label: `${num(count)} · ${nodeText(x)}`, column: col(k), value: count, kind: x.kind, tip: `${nodeText(x)}\n${about}` });
  };
  const rows: StepRow[] = [];
  for (const st of r.steps) {
    for (const x of st.nodes) {
      const about = `step ${st.step}: ${num(x.count)} ${u}s, ${pct(st.units ? x.count / st.units : 0)} of the step, ${pct(followed ? x.count / followed : 0)} of all${x.nodes ? ` (${num(x.nodes)} nodes)` : ""}`;
      add(st.step, x.node, x.count, about);
      rows.push({ step: st.step, node: x.node, count: x.count, nodes: x.nodes, of: st.units });
    }
    if (st.step > 1) {
      const prev = stepUnits(st.step - 1);
      const end: PathNode = back ? { kind: "entrance", name: "(entrance)" } : { kind: "exit", name: "(exit)" };
      const about = `${back ? "began at" : "ended after"} step ${st.step - 1}: ${num(st.ended)} ${u}s, ${pct(prev ? st.ended / prev : 0)} of step ${st.step - 1}`;
      if (st.ended) add(st.step, end, st.ended, about);
      rows.push({ step: st.step, node: end, count: st.ended, of: prev });
    }
  }
  const counts = new Map([...at_].map(([k, v]) => [k, v.count]));
  const links: FlowLink[] = [];
  for (const l of r.links) {
    const from = id(l.step, l.from), to = id(l.step + 1, l.to);
    if (!at_.has(to)) add(l.step + 1, l.to, l.units, `${num(l.units)} ${u}s`);
    if (!at_.has(from)) continue;
    const [a1, b1] = back ? [l.to, l.from] : [l.from, l.to];
    links.push({
      source: back ? to : from, target: back ? from : to, value: l.units,
      tip: `${nodeText(a1)} → ${nodeText(b1)}\n${num(l.units)} ${u}s, ${pct(l.units / (counts.get(from) || 1))} of ${nodeText(l.from)} at step ${l.step}`,
    });
  }
  const perColumn = new Map<number, number>();
  for (const x of nodes) perColumn.set(x.column, (perColumn.get(x.column) || 0) + 1);
  const tall = Math.max(...perColumn.values(), 1);
  const chartEl = h("div", { class: "chart", id: "paths-chart", role: "img", "aria-label": `Paths, ${summary} The table below lists every node.` });
  const wrap = h("div", { class: "sankey" }, chartEl);
  const legend = h("p", { class: "legend muted" }, ["page", "event", "goal", "other", back ? "entrance" : "exit"].map((k) => h("span", { class: `key ${k}` }, k)));
  const stepsTable = table(`Nodes per step`, [
    { label: "Node", cell: (x) => nodeText(x.node) + (x.nodes ? ` (${num(x.nodes)} nodes)` : "") },
    { label: "Step", cell: (x) => String(x.step), csv: (x) => x.step, num: true },
    { label: `${u}s`, cell: (x) => h("span", { "data-step": x.step, "data-kind": x.node.kind, "data-count": x.count }, num(x.count)), csv: (x) => x.count, num: true },
    { label: "Share of the step", cell: (x) => pct(x.of ? x.count / x.of : 0), csv: (x) => (x.of ? x.count / x.of : 0), num: true },
    { label: "Share of all", cell: (x) => pct(followed ? x.count / followed : 0), csv: (x) => (followed ? x.count / followed : 0), num: true },
  ], rows, {
    id: "paths-steps",
    onRow: (x, b) => rowMenu(ctx, x.node, `step ${x.step}: ${num(x.count)} ${u}s`)(x, b),
    rowLabel: (x) => `${nodeText(x.node)} at step ${x.step}: actions`,
    head: h("span", { class: "muted" }, back ? "a step’s nodes and entrances add up to the units of the step after it" : "a step’s nodes and exits add up to the units of the step before it"),
  });
  const cut = (x: PathsResult["sequences"][number]): string => {
    const t = x.nodes.map(nodeText).join(" → ");
    return x.complete ? t : back ? `… → ${t}` : `${t} → …`;
  };
  clear(
    el,
    h("section", { class: "card", id: "paths-flow" },
      h("div", { class: "card-head" }, h("h2", {}, back ? `Paths to ${what}` : at ? `Paths from ${what}` : "Paths from the landing"), legend),
      h("p", { class: "muted", id: "paths-summary" }, summary, " Click a node for more."),
      wrap),
    stepsTable,
    table("Most frequent sequences", [
      { label: "Sequence", cell: (x) => h("span", { class: "path" }, cut(x)), csv: cut },
      { label: `${u}s`, cell: (x) => num(x.units), csv: (x) => x.units, num: true },
      { label: "Share", cell: (x) => pct(x.share), csv: (x) => x.share, num: true },
      { label: "Median time", cell: (x) => (x.nodes.length > 1 ? dur(x.median_ms) : "–"), csv: (x) => x.median_ms, num: true },
    ], r.sequences, { id: "paths-sequences" }),
  );
  const width = Math.max(wrap.clientWidth, n * 150 + 140);
  chartEl.style.width = `${width}px`;
  chartEl.style.height = `${Math.min(1000, Math.max(360, tall * 46 + 40))}px`;
  el.dataset.ready = "1";
  sankeyChart(chartEl, nodes, links, (key, x, y) => {
    const v = at_.get(key);
    if (!v) return;
    nodeMenu(ctx, v.node, () => {
      const b = chartEl.getBoundingClientRect();
      return { x: b.left + x, y: b.top + y };
    }, v.about);
  });
}

// ---------------------------------------------------------------------------------------
// Transitions.

async function renderTransitions(ctx: Ctx, el: HTMLElement): Promise<void> {
  const s = ctx.state;
  const node = pickNode(toPick(s.node));
  const a: AnalysisOf<"transitions"> = { type: "transitions", unit: s.punit, nodes: s.nodes as NodeKind[], collapse_repeats: s.collapse, limit: s.tlimit };
  if (node) a.node = node;
  clear(el, h("p", { class: "muted" }, "Loading…"));
  let r: TransitionsResult;
  try {
    r = await query(spec(s, a));
  } catch (e) {
    if (ctx.current()) clear(el, errorBox(e));
    return;
  }
  if (!ctx.current()) return;
  const u = r.unit;
  const occ = r.occurrences;
  const share = (c: number): number => (occ ? c / occ : 0);
  const what = node ? stepText(s.node) : "";
  const listCols = (label: string): Column<NodeUnits>[] => [
    { label, cell: (x) => nodeText(x.node) + (x.nodes ? ` (${num(x.nodes)} nodes)` : ""), csv: (x) => nodeText(x.node) },
    { label: "Times", cell: (x) => h("span", { "data-count": x.count }, num(x.count)), csv: (x) => x.count, num: true },
    { label: "Share", cell: (x) => pct(share(x.count)), csv: (x) => share(x.count), num: true },
  ];
  type Pair = NonNullable<TransitionsResult["pairs"]>[number];
  const pairCols: Column<Pair>[] = [
    { label: "From", cell: (x) => nodeText(x.from) },
    { label: "To", cell: (x) => nodeText(x.to) },
    { label: "Times", cell: (x) => h("span", { "data-count": x.count }, num(x.count)), csv: (x) => x.count, num: true },
    { label: "Share", cell: (x) => pct(share(x.count)), csv: (x) => share(x.count), num: true },
  ];
  const menu = (x: NodeUnits, b: HTMLElement): void => rowMenu(ctx, x.node, `${num(x.count)} times`)(x, b);
  // The full lists, asked for again without a limit worth the name, as one CSV.
  const download = h("button", {
    type: "button", class: "btn small", id: "transitions-csv",
    onclick: async () => {
      download.disabled = true;
      try {
        const all = await query(spec(s, { ...a, limit: 100000 }));
        const sh = (c: number): number => (all.occurrences ? c / all.occurrences : 0);
        type Row = { list: string; node: PathNode; count: number };
        const csv = node
          ? toCsv<Row>([
              { label: "List", cell: (x) => x.list },
              { label: "Kind", cell: (x) => x.node.kind },
              { label: "Node", cell: (x) => x.node.name },
              { label: "Times", cell: (x) => x.count, csv: (x) => x.count },
              { label: "Share", cell: (x) => sh(x.count), csv: (x) => sh(x.count) },
            ], [...(all.previous || []).map((x) => ({ list: "previous", ...x })), ...(all.next || []).map((x) => ({ list: "next", ...x }))])
          : toCsv<Pair>([
              { label: "From kind", cell: (x) => x.from.kind },
              { label: "From", cell: (x) => x.from.name },
              { label: "To kind", cell: (x) => x.to.kind },
              { label: "To", cell: (x) => x.to.name },
              { label: "Times", cell: (x) => x.count, csv: (x) => x.count },
              { label: "Share", cell: (x) => sh(x.count), csv: (x) => sh(x.count) },
            ], all.pairs || []);
        downloadCsv(node ? `transitions ${what}` : "transitions", csv);
      } catch (e) {
        download.after(errorBox(e));
      } finally {
        download.disabled = false;
      }
    },
  }, "Download CSV (all rows)");
  clear(
    el,
    h("section", { class: "card", id: "transitions-head" },
      h("div", { class: "card-head" },
        h("h2", {}, node ? `Transitions of ${what}` : "Transitions between nodes"), download),
      h("p", { class: "muted", id: "transitions-summary" }, node
        ? `${num(occ)} times, by ${num(r.units)} ${u}s. Before: the node just before, or the entrance by source; after: the next node, or the exit.`
        : `${num(occ)} transitions by ${num(r.units)} ${u}s. Pick a node above to see what came before and after it.`)),
    node
      ? h("div", { class: "grid2" },
          table(`Before ${what}`, listCols("Previous"), r.previous || [], { id: "transitions-previous", onRow: menu, clickable: (x) => isReal(x.node) || x.node.kind === "other", rowLabel: (x) => `${nodeText(x.node)}: actions` }),
          table(`After ${what}`, listCols("Next"), r.next || [], { id: "transitions-next", onRow: menu, clickable: (x) => isReal(x.node) || x.node.kind === "other", rowLabel: (x) => `${nodeText(x.node)}: actions` }))
      : table("Transitions", pairCols, r.pairs || [], { id: "transitions-pairs" }),
  );
  el.dataset.ready = "1";
}
