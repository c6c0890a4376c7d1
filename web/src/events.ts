// Events: what the site's events are, and what they carry. The explorer (the `events`
// analysis): every event name with its events, visitors, sessions, share and trend; a
// name opens its properties, each with its top values (a value filters the dashboard to
// it). Live (`view=live`): the last events the server received, newest first, those
// ignored (bots) with the reason — polled every 3 s while shown. The site's property keys
// and event names (cached per site and range) also feed the breakdown selectors and the
// funnel builder.
import { api, query, type AnalysisOf, type EventsResult, type Live, type PropertyValueRow } from "./api";
import type { Ctx } from "./main";
import { hasEvents } from "./setup";
import { format, period, spec, type State } from "./state";
import { type Child, clear, errorBox, h, num, pct, placeholder, sparkline, table } from "./ui";

type Scalar = string | number | boolean;

/** Runs an `events` analysis for the state's site, range and filters. */
const events = (s: State, a: Omit<AnalysisOf<"events">, "type">): Promise<EventsResult> => query(spec(s, { type: "events", ...a }));

let cache: { key: string; p: Promise<EventsResult> } | null = null;
/** The site's event names and property keys in the range (unfiltered), asked once per site and range. */
export function siteEvents(s: State): Promise<EventsResult> {
  const p = period(s);
  const key = `${s.site} ${p.from} ${p.to}`;
  if (cache?.key !== key) cache = { key, p: events({ ...s, filters: [], did: [], didNot: [] }, { limit: 1000, properties: true, values: 1 }).catch(() => ({ names: [], other: { names: 0, events: 0 }, distinct_names: 0, events: 0 }) as unknown as EventsResult) };
  return cache.p;
}
/** The site's properties as breakdown fields: `props.plan`. */
export const propFields = async (s: State): Promise<string[]> => ((await siteEvents(s)).properties || []).map((k) => `props.${k.key}`);

const text = (v: Scalar): string => String(v);

export async function renderEvents(ctx: Ctx, main: HTMLElement): Promise<void> {
  const s = ctx.state;
  const head = h("div", { class: "page-head" }, h("h1", {}, "Events"),
    h("nav", { class: "subtabs", "aria-label": "Events views" },
      ([[false, "explorer", "Explorer"], [true, "live", "Live"]] as const).map(([l, v, t]) =>
        h("a", { href: format({ ...s, live: l }), id: `view-${v}`, "aria-current": l === s.live ? "page" : null }, t))));
  if (s.live) return live(ctx, main, head);
  const out = h("div", { id: "events", "aria-busy": "true" }, placeholder("Events", 8));
  clear(main, head, out);
  const done = (...c: Child[]): void => (clear(out, ...c), out.setAttribute("aria-busy", "false"));
  const p = period(s);
  let r: EventsResult;
  try {
    r = await events(s, { limit: 50, interval: p.interval, properties: true, event: s.event || undefined, values: 10 });
  } catch (e) {
    if (ctx.current()) done(errorBox(e));
    return;
  }
  if (!ctx.current()) return;
  if (!r.names.length) {
    const any = await hasEvents(s);
    if (!ctx.current()) return;
    return done(h("div", { class: "card empty", id: "events-empty" }, any
      ? h("p", {}, "No events in this range: widen the range or loosen the filters.")
      : h("p", {}, `No events yet for ${s.site}. Put the tracking snippet on its pages: see `, h("a", { href: format({ ...s, page: "setup" }) }, "Setup"), ".")));
  }
  const other = r.other.events;
  const total = r.events;
  const names = table("Event names", [
    { label: "Event", cell: (x) => x.name },
    { label: "Events", cell: (x) => h("span", { class: "share-bar", style: `--share:${(x.events / (total || 1)) * 100}%` }, num(x.events)), csv: (x) => x.events, num: true },
    { label: "Share", cell: (x) => pct(x.events / (total || 1)), csv: (x) => x.events / (total || 1), num: true },
    { label: "Visitors", cell: (x) => num(x.visitors), csv: (x) => x.visitors, num: true },
    { label: "Sessions", cell: (x) => num(x.sessions), csv: (x) => x.sessions, num: true },
    { label: "Trend", cell: (x) => (x.series?.length ? sparkline(x.series, `${x.name}: events per ${p.interval}`) : "–"), csv: (x) => (x.series || []).join(" ") },
  ], r.names, {
    id: "event-names",
    onRow: (x) => ctx.go({ event: x.name === s.event ? "" : x.name }),
    rowLabel: (x) => (x.name === s.event ? `Close ${x.name}` : `Properties of ${x.name}`),
    head: h("span", { class: "muted", id: "events-total" }, `${num(total)} events, ${num(r.distinct_names)} names`,
      other ? ` (${num(other)} events of the ${num(r.other.names)} names not listed)` : ""),
  });
  names.querySelectorAll("tbody tr").forEach((tr, i) => {
    const n = r.names[i]?.name;
    (tr as HTMLElement).dataset.event = n;
    if (n === s.event) tr.classList.add("selected");
  });
  done(names, props(ctx, r));
}

/** The properties of the chosen event (or of all): each key's top values, a value a filter. */
function props(ctx: Ctx, r: EventsResult): HTMLElement {
  const s = ctx.state;
  const ev = s.event;
  const named = ev && !s.filters.some((f) => f.field === "name" && f.value === ev);
  const keys = r.properties || [];
  return h("section", { class: "card", id: "event-props" },
    h("div", { class: "card-head" },
      h("h2", {}, ev ? ["Properties of ", h("code", {}, ev)] : "Properties of all events"),
      named ? h("button", { type: "button", class: "btn small", id: "filter-event", onclick: () => ctx.go({ filters: [...s.filters, { field: "name", value: ev }] }) }, `Only ${ev} events`) : null,
      ev ? h("button", { type: "button", class: "btn small", onclick: () => ctx.go({ event: "" }) }, "All events") : null),
    h("p", { class: "muted" }, keys.length ? "The most frequent values of each property. Click a value to filter the dashboard to the events that have it." : ev ? `${ev} events carry no properties in this range.` : "No event carries properties in this range."),
    h("div", { class: "grid3" }, keys.map((k) => {
      const field = `props.${k.key}`;
      const rows: (PropertyValueRow & { rest?: boolean })[] = [...k.values];
      if (k.other_events > 0) rows.push({ value: `(${num(k.distinct - k.values.length)} other values)`, events: k.other_events, visitors: NaN, rest: true });
      const t = table(field, [
        { label: "Value", cell: (x) => text(x.value) },
        { label: "Events", cell: (x) => h("span", { class: "share-bar", style: `--share:${(x.events / (k.events || 1)) * 100}%` }, num(x.events)), csv: (x) => x.events, num: true },
        { label: "Visitors", cell: (x) => (x.rest ? "" : num(x.visitors)), csv: (x) => (x.rest ? "" : x.visitors), num: true },
      ], rows, {
        id: `prop-${k.key}`,
        clickable: (x) => !x.rest,
        onRow: (x) => ctx.go({ filters: [...s.filters.filter((f) => f.field !== field), typeof x.value === "string" ? { field, value: x.value } : { field, value: text(x.value), typed: true }] }),
        rowLabel: (x) => `Only ${field} = ${text(x.value)}`,
        head: h("span", { class: "muted" }, `${num(k.events)} events · ${num(k.distinct)} values`),
      });
      t.dataset.key = k.key;
      return t;
    })));
}

const time = (t: number): string => new Date(t).toLocaleTimeString("en-GB");

/** The last events the server received (GET …/live), every 3 s while shown and the tab visible. */
function live(ctx: Ctx, main: HTMLElement, head: HTMLElement): void {
  const s = ctx.state;
  const status = h("span", { class: "muted", id: "live-status", "aria-live": "polite" }, "Loading…");
  const body = h("div", { id: "live", "aria-busy": "true" });
  let paused = false;
  const pause: HTMLButtonElement = h("button", { type: "button", class: "btn small", id: "live-pause", "aria-pressed": "false", onclick: () => {
    paused = !paused;
    pause.setAttribute("aria-pressed", String(paused));
    pause.textContent = paused ? "Resume" : "Pause";
  } }, "Pause");
  clear(main, head,
    h("p", { class: "realtime" }, h("span", { class: "dot on" }), status, pause),
    h("p", { class: "muted" }, "The last events the server received for this site, newest first, including those it ignored and why. The range and filters do not apply; nothing here is stored beyond the server's memory."),
    body);
  let last = "";
  const tick = async (): Promise<void> => {
    if (!ctx.current() || !body.isConnected) return;
    if (!paused && !document.hidden) {
      try {
        const r = await api<Live>("GET", `/api/v1/sites/${encodeURIComponent(s.site)}/live?limit=100`, undefined, true);
        if (!ctx.current() || !body.isConnected) return;
        const ig = r.events.filter((e) => e.ignored).length;
        status.textContent = `${num(r.events.length)} recent events${ig ? `, ${num(ig)} ignored` : ""} · updated ${time(Date.now())}`;
        const key = `${r.events.length} ${r.events[0]?.received}`;
        if (key !== last) ((last = key), showLive(s, body, r));
      } catch (e) {
        clear(body, errorBox(e));
        body.setAttribute("aria-busy", "false");
        last = "";
      }
    }
    setTimeout(tick, 3000);
  };
  void tick();
}

function showLive(s: State, el: HTMLElement, r: Live): void {
  el.setAttribute("aria-busy", "false");
  if (!r.events.length)
    return clear(el, h("div", { class: "card empty", id: "live-empty" },
      h("p", {}, "No events received since the server started. Events appear here within seconds of arriving: put the tracking snippet on the site's pages (see ", h("a", { href: format({ ...s, page: "setup", live: false }) }, "Setup"), "), or send one through the API.")));
  const t = table("Live events", [
    // An ignored event says so under its name (in view on a phone), why in the tooltip and last column.
    { label: "Event", cell: (e) => [h("strong", {}, e.name), e.ignored ? h("span", { class: "badge ignored", title: e.ignored.detail || "" }, `ignored: ${e.ignored.reason}`) : null, h("small", { class: "muted", title: new Date(e.received).toISOString() }, time(e.received))], csv: (e) => `${e.name} ${new Date(e.received).toISOString()}` },
    { label: "Page", cell: (e) => h("span", { class: "path" }, e.path) },
    { label: "Properties", cell: (e) => h("span", { class: "kv" }, Object.entries(e.props || {}).map(([k, v]) => h("span", {}, `${k}=${text(v)}`))), csv: (e) => JSON.stringify(e.props || {}) },
    { label: "Visitor", cell: (e) => [[e.device, e.browser, e.os, e.country].filter(Boolean).join(" · "), e.source ? h("small", { class: "muted" }, `from ${e.source}`) : null] },
    { label: "Stored", cell: (e) => (e.ignored ? h("small", { class: "muted ua" }, `no: ${e.ignored.reason}`, e.ignored.detail ? ` (${e.ignored.detail})` : "") : h("span", { class: "muted" }, "stored")), csv: (e) => (e.ignored ? `ignored: ${e.ignored.reason} ${e.ignored.detail || ""}` : "stored") },
  ], r.events, { id: "live-table", file: "live events" });
  t.querySelectorAll("tbody tr").forEach((tr, i) => r.events[i]?.ignored && tr.classList.add("ignored"));
  clear(el, t, h("p", { class: "muted" }, `The server keeps the last ${num(r.kept)} events in memory.`));
}

/** Adds the site's properties (`props.KEY`, once known) to a "by" select, and `cur` if
 * it is one not listed. */
export function withProps(s: State, sel: HTMLSelectElement, cur = ""): void {
  const g = h("optgroup", { label: "Properties" });
  const have = new Set([...sel.options].map((o) => o.value));
  const add = (l: string[]): void => {
    for (const f of l) if (!have.has(f)) (have.add(f), g.append(h("option", { value: f }, f)));
    if (g.children.length) sel.append(g);
    if (have.has(cur)) sel.value = cur;
  };
  add(cur.startsWith("props.") ? [cur] : []);
  void propFields(s).then(add);
}
