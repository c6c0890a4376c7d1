// The JSON API (docs/api.md, docs/queries.md): a session cookie plus the CSRF token on
// every request that is not a GET.

export interface SiteRole { site: string; role: string }
export interface Me { email: string; superuser: boolean; csrf: string; sites: SiteRole[] }

export class ApiError extends Error {
  constructor(public status: number, message: string) {
    super(message);
  }
}

let csrf = "";
export function setCsrf(token: string): void {
  csrf = token;
}

/** Called when the session is gone (401 on anything but login). */
export let onUnauthorized: () => void = () => {};
export function setOnUnauthorized(f: () => void): void {
  onUnauthorized = f;
}

/** Calls the API; a 401 (but for login, /me and `quiet` calls) means the session ended. */
export async function api<T>(method: string, path: string, body?: unknown, quiet = false): Promise<T> {
  const headers: Record<string, string> = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET" && csrf) headers["X-CSRF-Token"] = csrf;
  const r = await fetch(path, {
    method,
    headers,
    credentials: "same-origin",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (r.status === 204) return undefined as T;
  let data: unknown = null;
  const text = await r.text();
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!r.ok) {
    const msg =
      data && typeof data === "object" && "error" in data ? String((data as { error: unknown }).error) : `${r.status} ${r.statusText}`;
    if (r.status === 401 && !quiet && path !== "/api/v1/login" && path !== "/api/v1/me") onUnauthorized();
    throw new ApiError(r.status, msg);
  }
  return data as T;
}

// ---------------------------------------------------------------------------------------
// Query results (crates/model/src/query/result.rs).

export interface Rate { num: number; den: number; rate: number; low: number; high: number }
export interface Diff { diff: number; low: number; high: number }
export interface Money { currency: string; total: number; per_conversion: number }
export interface HistBin { label: string; from_ms: number; to_ms: number | null; count: number }
export interface TimeStats {
  count: number; p25_ms: number; median_ms: number; p75_ms: number; p90_ms: number; mean_ms: number;
  histogram: HistBin[];
}
export type Unit = "session" | "visitor" | "lead" | "attempt";
export interface UnitRate { unit: Unit; rate: Rate; previous?: Rate; change?: Diff }
export interface GoalRow {
  name: string; conversion: "micro" | "macro"; role: "milestone" | "secondary"; conversions: number;
  previous_conversions?: number; rates: UnitRate[]; value?: Money[];
}
export interface GoalsBucket { start: number; label: string; totals: number[]; rates: Rate[][] }
export interface GoalsBreakdownRow { value: string; totals: number[]; rates: Rate[][] }
export interface GoalsResult {
  type: "goals"; totals: { unit: Unit; total: number }[]; goals: GoalRow[]; series?: GoalsBucket[];
  breakdown_by?: string; breakdown?: GoalsBreakdownRow[]; previous_period?: [number, number];
}
export interface FunnelStepResult {
  label: string; optional: boolean; count: number; entrances?: number; from_previous: Rate; dropped: number;
  drop_off: number; from_start: Rate; time_from_previous?: TimeStats; time_from_start?: TimeStats;
}
export interface FunnelResult {
  type: "funnel" | "checkout"; unit: Unit; steps: FunnelStepResult[]; excluded: number; breakdown_by?: string;
  breakdown?: { value: string; counts: number[]; conversion: Rate }[];
  trend?: { start: number; label: string; counts: number[]; conversion: Rate }[];
}
export interface CartResult {
  type: "cart_abandonment"; carts: number; purchased: number; abandoned: number; abandonment: Rate;
  recovered: number; recovery: Rate; time_to_recover?: TimeStats;
}
export interface FormRow {
  form: string; starts: number; submissions: number; submission_rate: Rate; abandonment: Rate;
  time_to_submit?: TimeStats;
  fields: { field: string; touched: number; last_before_abandon: number; time?: TimeStats }[];
}
export interface FormsResult { type: "forms"; forms: FormRow[] }
export interface PageRow {
  path: string; pageviews: number; visitors: number; entries: number; exits: number; exit_rate: Rate; bounce_rate: Rate;
}
export interface PagesResult { type: "pages"; pages: PageRow[] }
export interface OverviewFigures {
  visitors: number; sessions: number; pageviews: number; events: number; bounce_rate: Rate;
  pages_per_session: number; mean_duration_ms: number; median_duration_ms: number;
}
export interface OverviewResult {
  type: "overview"; figures: OverviewFigures; series?: { start: number; label: string; figures: OverviewFigures }[];
  breakdown_by?: string; breakdown?: { value: string; figures: OverviewFigures }[];
}
export interface Site { site: string; timezone: string; identity: string; role?: string }
export interface Key { prefix: string; scope: "read" | "write"; created: string }

// ---------------------------------------------------------------------------------------
// Definitions (crates/model/src/query/goal.rs, funnel.rs). Kept loose: the server checks.

export interface Condition { field: string; op?: string; value?: unknown }
export interface Goal {
  name: string; type: string; conversion?: string; role?: string; count?: string;
  value?: string | { fixed: number; currency?: string }; event?: string; where?: Condition[];
  path?: string; match?: string; host?: string; seconds?: number; pages?: number; min?: number; depth?: number;
  all_of?: string[]; any_of?: string[]; at_least?: number; of?: string[];
}
export interface Step {
  label?: string; event?: string; path?: string; match?: string; goal?: string; where?: Condition[];
  any_of?: Step[]; within?: string | number; optional?: boolean;
}
export interface FunnelDef {
  steps: Step[]; unit?: Unit; mode?: string; window?: string | number; open?: boolean; exclusions?: unknown[];
  hold?: string[]; breakdown?: { by: string; limit?: number; attribution?: string; step?: number } | null;
  trend?: string | null;
}

export type Filter = { field: string; op?: string; value?: unknown } | { did: string } | { did_not: string };

export interface Spec {
  site: string; from: string; to: string; timezone?: string; filters?: Filter[]; analysis: Record<string, unknown>;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

// The server runs at most 4 queries at once (503 beyond): a page keeps 3 in flight and
// queues the rest, so one tab does not starve the others.
const MAX_IN_FLIGHT = 3;
let inFlight = 0;
const waiting: (() => void)[] = [];
async function slot(): Promise<void> {
  if (inFlight < MAX_IN_FLIGHT) {
    inFlight++;
    return;
  }
  await new Promise<void>((r) => waiting.push(r));
}
function release(): void {
  const next = waiting.shift();
  if (next) next();
  else inFlight--;
}

/** Runs a query; when the server is busy (503: 4 queries already running) tries again. */
export async function query<T>(spec: Spec): Promise<T> {
  await slot();
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        return await api<T>("POST", "/api/v1/query", spec);
      } catch (e) {
        if (!(e instanceof ApiError) || e.status !== 503 || attempt >= 5) throw e;
        await sleep(250 * 2 ** attempt);
      }
    }
  } finally {
    release();
  }
}
