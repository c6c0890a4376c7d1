// The view's whole state lives in the URL hash (#/page?key=value&…), so a URL can be
// shared and a reload shows the same view.
import type { AnalysisOf, AnalysisType, Filter, Interval, Spec, Unit } from "./api";

export const PAGES = ["overview", "goals", "events", "campaigns", "influence", "experiments", "funnels", "paths", "forms", "setup"] as const;
export type Page = (typeof PAGES)[number];
export const RANGES = ["today", "7d", "30d", "90d", "custom"] as const;
export type Range = (typeof RANGES)[number];
export const FILTER_FIELDS = ["device", "channel", "source", "utm_campaign", "country", "path"] as const;
export const DIMENSIONS = [
  "device", "channel", "source", "utm_source", "utm_medium", "utm_campaign", "country", "browser", "os",
  "landing_page", "exit_page", "language",
];

export interface State {
  page: Page;
  site: string;
  range: Range;
  from: string;
  to: string;
  compare: boolean;
  /** Event conditions: field = value; `typed`: the value is JSON (a property's number or
   * boolean, URL `fx=`), not text. */
  filters: { field: string; value: string; typed?: boolean }[];
  did: string[];
  didNot: string[];
  /** The unit of goal rates (funnels choose theirs, which may also be "attempt"). */
  unit: Exclude<Unit, "attempt">;
  /** Goals page: the goal broken down, and by what. */
  goal: string;
  by: string;
  /** Campaigns page: the acquisition field compared; its leading indicators' early
   * window and horizon, in days. */
  cby: string;
  early: number;
  horizon: number;
  /** Funnels page: the stored funnel shown, or the built one (JSON of a funnel). */
  funnel: string;
  def: string;
  /** Paths page: the flow (forward from `at`, or backward to it) or one node's
   * transitions; `at` and `node` are funnel-step-like matchers (JSON), "" for none. */
  view: "flow" | "transitions";
  dir: "forward" | "backward";
  at: string;
  steps: number;
  /** The unit followed (paths follow sessions or visitors). */
  punit: "session" | "visitor";
  /** What becomes a node: page, event, goal. */
  nodes: string[];
  collapse: boolean;
  /** Nodes per step (flow), rows per list (transitions). */
  limit: number;
  tlimit: number;
  node: string;
  /** Overview: its page tables by path rather than by page (the grouping rules' pages). */
  rawPaths: boolean;
  /** What drives conversion: the macro goal ("" for the site's first), the fields of the
   * strata ([] for none), which actions count, and whether event names are candidates. */
  macro: string;
  strata: string[];
  order: "before" | "any";
  events: boolean;
  /** Its attribution view (URL `view=attribution`), and what touches are credited: "" for
   * micro goals, or a field (`credit=channel`). */
  attrib: boolean;
  credit: string;
  /** Experiments: the experiment's key ("" for the first found), its metrics in order (the
   * first is primary; [] for the site's goals, macro first), its control ("" for the
   * API's default) and the change the sequential test is tuned to, in % (`MDES`). */
  exp: string;
  metrics: string[];
  ctrl: string;
  mde: number;
  /** The metric whose interval is charted over time ("" for the primary). */
  tmetric: string;
  /** CUPED: adjust for what units did before their exposure. */
  cuped: boolean;
  /** Stored funnels whose completion is compared too. */
  efun: string[];
  /** The planner: the change to detect (in %, `MDES`), the power (%, `POWERS`), the
   * variants (`ARMS`) and the share of the traffic in the test (%, `SHARES`). */
  pmde: number;
  power: number;
  arms: number;
  share: number;
  /** Events page: the event whose properties are shown ("" for all events), and its live view. */
  event: string;
  live: boolean;
}

/** What attribution can credit, besides micro goals. */
export const CREDIT = ["channel", "source", "utm_campaign", "utm_source", "utm_medium"];

/** The leading indicators' early windows and horizons offered, in days (3 and 14 by
 * default, as the API's). */
export const EARLY_DAYS = [1, 3, 7];
export const HORIZON_DAYS = [7, 14, 28];

/** The experiments' minimal detectable effects offered, in % (10 by default, as the API's). */
export const MDES = [5, 10, 20, 30];
/** The planner's powers, variants and shares of the traffic offered (80%, 2 and 100% by default, as the API's). */
export const POWERS = [80, 90];
export const ARMS = [2, 3, 4];
export const SHARES = [100, 50, 20, 10];

/** The influence report's default strata. */
export const STRATA = ["device", "channel"];

export function defaults(): State {
  return {
    page: "overview", site: "", range: "30d", from: "", to: "", compare: false, filters: [], did: [], didNot: [],
    unit: "visitor", goal: "", by: "device", cby: "utm_campaign", early: 3, horizon: 14, funnel: "", def: "",
    view: "flow", dir: "forward", at: "", steps: 5, punit: "session", nodes: ["page"], collapse: true, limit: 8, tlimit: 20, node: "", rawPaths: false,
    macro: "", strata: STRATA, order: "before", events: false, attrib: false, credit: "",
    exp: "", metrics: [], ctrl: "", mde: 10, tmetric: "", cuped: false, efun: [], pmde: 10, power: 80, arms: 2, share: 100, event: "", live: false,
  };
}

export function parse(hash: string): State {
  const s = defaults();
  const m = /^#\/?([a-z]*)\??(.*)$/.exec(hash);
  if (!m) return s;
  if ((PAGES as readonly string[]).includes(m[1])) s.page = m[1] as Page;
  const q = new URLSearchParams(m[2]);
  s.site = q.get("site") || "";
  const r = q.get("range") || "";
  if ((RANGES as readonly string[]).includes(r)) s.range = r as Range;
  s.from = q.get("from") || "";
  s.to = q.get("to") || "";
  s.compare = q.get("compare") === "1";
  for (const f of q.getAll("f")) {
    const i = f.indexOf(":");
    if (i > 0) s.filters.push({ field: f.slice(0, i), value: f.slice(i + 1) });
  }
  for (const f of q.getAll("fx")) {
    const i = f.indexOf(":");
    if (i > 0) s.filters.push({ field: f.slice(0, i), value: f.slice(i + 1), typed: true });
  }
  s.did = q.getAll("did");
  s.didNot = q.getAll("not");
  const u = q.get("unit");
  if (u === "session" || u === "visitor" || u === "lead") s.unit = u;
  s.goal = q.get("goal") || "";
  s.by = q.get("by") || s.by;
  s.cby = q.get("cby") || s.cby;
  const early = Number(q.get("early")), horizon = Number(q.get("horizon"));
  if (EARLY_DAYS.includes(early)) s.early = early;
  if (HORIZON_DAYS.includes(horizon)) s.horizon = horizon;
  s.funnel = q.get("funnel") || "";
  s.def = q.get("def") || "";
  if (q.get("view") === "transitions") s.view = "transitions";
  if (q.get("dir") === "backward") s.dir = "backward";
  s.at = q.get("at") || "";
  s.node = q.get("node") || "";
  const int = (k: string, lo: number, hi: number, d: number): number => {
    const n = Number(q.get(k) || d);
    return Number.isInteger(n) && n >= lo && n <= hi ? n : d;
  };
  s.steps = int("steps", 2, 20, s.steps);
  s.limit = int("n", 1, 100, s.limit);
  s.tlimit = int("tn", 1, 1000, s.tlimit);
  if (q.get("pu") === "visitor") s.punit = "visitor";
  const nodes = (q.get("nodes") || "").split(",").filter((x) => ["page", "event", "goal"].includes(x));
  if (nodes.length) s.nodes = nodes;
  s.collapse = q.get("repeats") !== "keep";
  s.rawPaths = q.get("paths") === "1";
  s.macro = q.get("macro") || "";
  // `strata=` (empty) is none; absent, the default.
  if (q.has("strata")) s.strata = (q.get("strata") || "").split(",").filter(Boolean).slice(0, 2);
  if (q.get("order") === "any") s.order = "any";
  s.events = q.get("events") === "1";
  s.attrib = q.get("view") === "attribution";
  if (CREDIT.includes(q.get("credit") || "")) s.credit = q.get("credit")!;
  s.exp = q.get("exp") || "";
  s.metrics = q.getAll("m");
  s.ctrl = q.get("control") || "";
  const mde = Number(q.get("mde"));
  if (MDES.includes(mde)) s.mde = mde;
  s.tmetric = q.get("trend") || "";
  s.cuped = q.get("cuped") === "1";
  s.efun = q.getAll("fn");
  const pick = (k: string, l: number[], d: number): number => (l.includes(Number(q.get(k))) ? Number(q.get(k)) : d);
  s.pmde = pick("pmde", MDES, s.pmde);
  s.power = pick("power", POWERS, s.power);
  s.arms = pick("variants", ARMS, s.arms);
  s.share = pick("share", SHARES, s.share);
  s.event = q.get("event") || "";
  s.live = q.get("view") === "live";
  return s;
}

export function format(s: State): string {
  const q = new URLSearchParams();
  if (s.site) q.set("site", s.site);
  q.set("range", s.range);
  if (s.range === "custom") {
    q.set("from", s.from);
    q.set("to", s.to);
  }
  if (s.compare) q.set("compare", "1");
  for (const f of s.filters) q.append(f.typed ? "fx" : "f", `${f.field}:${f.value}`);
  for (const g of s.did) q.append("did", g);
  for (const g of s.didNot) q.append("not", g);
  if (s.unit !== "visitor") q.set("unit", s.unit);
  if (s.page === "goals" && s.goal) q.set("goal", s.goal);
  if (s.by !== "device") q.set("by", s.by);
  if (s.page === "campaigns") {
    if (s.cby !== "utm_campaign") q.set("cby", s.cby);
    if (s.early !== 3) q.set("early", String(s.early));
    if (s.horizon !== 14) q.set("horizon", String(s.horizon));
  }
  if (s.page === "funnels") {
    if (s.funnel) q.set("funnel", s.funnel);
    if (s.def) q.set("def", s.def);
  }
  if (s.page === "overview" && s.rawPaths) q.set("paths", "1");
  if (s.page === "influence") {
    if (s.macro) q.set("macro", s.macro);
    if (s.strata.join() !== STRATA.join()) q.set("strata", s.strata.join());
    if (s.order !== "before") q.set("order", s.order);
    if (s.events) q.set("events", "1");
    if (s.attrib) q.set("view", "attribution");
    if (s.credit) q.set("credit", s.credit);
  }
  if (s.page === "experiments") {
    if (s.exp) q.set("exp", s.exp);
    for (const m of s.metrics) q.append("m", m);
    if (s.ctrl) q.set("control", s.ctrl);
    if (s.mde !== 10) q.set("mde", String(s.mde));
    if (s.tmetric) q.set("trend", s.tmetric);
    if (s.cuped) q.set("cuped", "1");
    for (const f of s.efun) q.append("fn", f);
    if (s.pmde !== 10) q.set("pmde", String(s.pmde));
    if (s.power !== 80) q.set("power", String(s.power));
    if (s.arms !== 2) q.set("variants", String(s.arms));
    if (s.share !== 100) q.set("share", String(s.share));
  }
  if (s.page === "paths") {
    if (s.view !== "flow") q.set("view", s.view);
    if (s.dir !== "forward") q.set("dir", s.dir);
    if (s.at) q.set("at", s.at);
    if (s.steps !== 5) q.set("steps", String(s.steps));
    if (s.punit !== "session") q.set("pu", s.punit);
    if (s.nodes.join() !== "page") q.set("nodes", s.nodes.join());
    if (!s.collapse) q.set("repeats", "keep");
    if (s.limit !== 8) q.set("n", String(s.limit));
    if (s.tlimit !== 20) q.set("tn", String(s.tlimit));
    if (s.node) q.set("node", s.node);
  }
  if (s.page === "events") {
    if (s.event) q.set("event", s.event);
    if (s.live) q.set("view", "live");
  }
  return `#/${s.page}?${q.toString()}`;
}

export const TIMEZONE = (() => {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
  } catch {
    return "UTC";
  }
})();

let siteTimezone = "";
/** The site's time zone (from GET /api/v1/sites), for dates and buckets; else the browser's. */
export function setSiteTimezone(tz: string): void {
  siteTimezone = tz;
}

const DAY = 86400000;
const isoDate = (ms: number): string => new Date(ms).toISOString().slice(0, 10);

/** The day (`2026-09-01`) of an instant in the site's time zone. */
function dayOf(ms: number): string {
  const f = (tz: string): string => {
    const p = Object.fromEntries(new Intl.DateTimeFormat("en-US", { timeZone: tz, year: "numeric", month: "2-digit", day: "2-digit" }).formatToParts(ms).map((x) => [x.type, x.value]));
    return `${p.year}-${p.month}-${p.day}`;
  };
  try {
    return f(siteTimezone || TIMEZONE);
  } catch {
    return f("UTC");
  }
}

/** The days the state's range touches in the site's time zone: those whose spend a goal
 * report joins (docs/campaigns.md). */
export function days(s: State): { from: string; to: string } {
  if (s.range === "custom") return { from: s.from, to: s.to };
  const now = Date.now();
  return { from: dayOf(s.range === "today" ? now : now - (parseInt(s.range, 10) - 1) * DAY), to: dayOf(now) };
}

/** The query range for the state, and the previous period of the same length; `partial`:
 * the range's last bucket is still under way (today). Presets are whole days in the
 * site's time zone: "Last 30 days" is today and the 29 days before, the previous period
 * the 30 whole days before them (as the goal report's comparison takes it). */
export function period(s: State): { from: string; to: string; prevFrom: string; prevTo: string; interval: Interval; partial: boolean } {
  switch (s.range) {
    case "today":
      return { from: "today", to: "now", prevFrom: "yesterday", prevTo: "-1d", interval: "hour", partial: true };
    case "custom": {
      const f = Date.parse(s.from + "T00:00:00Z"), t = Date.parse(s.to + "T00:00:00Z");
      const days = Number.isFinite(f) && Number.isFinite(t) ? Math.max(1, Math.round((t - f) / DAY) + 1) : 1;
      return {
        from: s.from, to: s.to,
        prevFrom: Number.isFinite(f) ? isoDate(f - days * DAY) : s.from,
        prevTo: Number.isFinite(f) ? isoDate(f - DAY) : s.to,
        interval: days <= 2 ? "hour" : days > 120 ? "week" : "day",
        partial: Number.isFinite(t) && s.to >= dayOf(Date.now()),
      };
    }
    default: {
      const n = parseInt(s.range, 10);
      const now = Date.now();
      return {
        from: dayOf(now - (n - 1) * DAY), to: "today",
        prevFrom: dayOf(now - (2 * n - 1) * DAY), prevTo: dayOf(now - n * DAY),
        interval: "day", partial: true,
      };
    }
  }
}

export function filters(s: State): Filter[] {
  const out: Filter[] = s.filters.map((f) => ({ field: f.field, value: f.typed ? json(f.value) : f.value }));
  for (const g of s.did) out.push({ did: g });
  for (const g of s.didNot) out.push({ did_not: g });
  return out;
}

function json(v: string): string | number | boolean {
  try {
    const x: unknown = JSON.parse(v);
    if (typeof x === "number" || typeof x === "boolean") return x;
  } catch {}
  return v;
}

/** A spec for the state's site, range and filters. */
export function spec<K extends AnalysisType>(s: State, analysis: AnalysisOf<K>, previous = false): Spec & { analysis: AnalysisOf<K> } {
  const p = period(s);
  return {
    site: s.site,
    from: previous ? p.prevFrom : p.from,
    to: previous ? p.prevTo : p.to,
    timezone: siteTimezone || TIMEZONE,
    filters: filters(s),
    analysis,
  };
}

/** How much of a previous period has data, from its buckets' event counts: incomplete
 * when its first buckets hold nothing (the site's data starts inside it), so changes
 * against it are not marked as significant. */
export function coverage(events: number[]): { complete: boolean; withData: number; total: number; firstWithData: number } {
  const first = events.findIndex((n) => n > 0);
  return {
    complete: first === 0,
    withData: events.filter((n) => n > 0).length,
    total: events.length,
    firstWithData: first,
  };
}
