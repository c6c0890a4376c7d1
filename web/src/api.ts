// The JSON API (docs/api.md, docs/queries.md): a session cookie plus the CSRF token on
// every request that is not a GET.
import type { components, paths } from "./api-types";

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
// The API's types: generated from its OpenAPI document into api-types.ts (do not copy
// them here: `node web/gen-types.mjs target/debug/cairn` regenerates it, see web/README.md).

type Schemas = components["schemas"];
/** The JSON body route `P` answers `M` with on success. */
export type Ok<P extends keyof paths, M extends keyof paths[P]> = paths[P][M] extends { responses: { "2XX": infer R } } ? R : never;

// The session and the site's management (crates/server/src/auth.rs, manage.rs).
export type Me = Ok<"/api/v1/me", "get">;
export type Site = Schemas["Site"];
export type Key = Ok<"/api/v1/sites/{site}/keys", "get">[number];
export type NewKey = Ok<"/api/v1/sites/{site}/keys", "post">;
export type Ignored = Ok<"/api/v1/sites/{site}/ignored", "get">;
// Campaign spend (crates/model/src/query/spend.rs): a stored or imported row, an import's answer.
export type SpendRow = Schemas["Spend"];
export type SpendImported = Ok<"/api/v1/sites/{site}/spend", "put">;

// Query results (crates/model/src/query/result.rs): a result is its report with the
// analysis's `type`.
export type QueryResult = Schemas["QueryResult"];
type Result<K extends QueryResult["type"]> = Extract<QueryResult, { type: K }>;
/** What an analysis of type `K` answers (a saved funnel answers a funnel). */
export type ResultOf<K extends AnalysisType> = Extract<QueryResult, { type: K extends "saved_funnel" ? "funnel" : K }>;
export type GoalsResult = Result<"goals">;
export type FunnelResult = Result<"funnel" | "checkout">;
export type CartResult = Result<"cart_abandonment">;
export type FormsResult = Result<"forms">;
export type PagesResult = Result<"pages">;
export type OverviewResult = Result<"overview">;
export type Rate = Schemas["Rate"];
export type TimeStats = Schemas["TimeStats"];
export type Unit = Schemas["Unit"];
export type GoalRow = Schemas["GoalRow"];
export type GoalsBreakdownRow = Schemas["GoalsBreakdownRow"];
export type PageRow = Schemas["PageRow"];
export type OverviewFigures = Schemas["OverviewFigures"];
export type OverviewBreakdownRow = Schemas["OverviewBreakdownRow"];
export type FunnelBreakdownRow = Schemas["FunnelBreakdownRow"];

// The query spec and the definitions (crates/model/src/query/: spec.rs, goal.rs,
// funnel.rs). The server checks what the types cannot say.
export type Spec = Schemas["Query"];
export type ExperimentDef = Schemas["ExperimentDef"];
export type Analysis = Schemas["Analysis"];
export type AnalysisType = Analysis["type"];
/** The analysis of type `K`: `spec` and `query` infer `K` from the literal's `type`. */
export type AnalysisOf<K extends AnalysisType> = Extract<Analysis, { type: K }>;
export type Filter = Schemas["Filter"];
export type Interval = Schemas["Interval"];
export type Goal = Schemas["Goal"];
export type Step = Schemas["Step"];
export type Exclusion = Schemas["Exclusion"];
export type FunnelSpec = Schemas["FunnelSpec"];
export type Condition = Schemas["Condition"];

// Behaviour flow (crates/model/src/query/paths.rs, result.rs).
export type PathsResult = Result<"paths">;
export type TransitionsResult = Result<"transitions">;
export type PathNode = Schemas["PathNode"];
export type NodeRef = Schemas["NodeRef"];
export type NodeKind = Schemas["NodeKind"];
export type NodeUnits = Schemas["NodeUnits"];
export type PageGroup = Schemas["PageGroup"];
export type FunnelFlow = Schemas["FunnelFlow"];

// Influence (crates/model/src/query/influence.rs, result.rs).
export type InfluenceResult = Result<"influence">;
export type InfluenceRow = Schemas["InfluenceRow"];
export type Ratio = Schemas["Ratio"];
export type AttributionResult = Result<"attribution">;
export type AttributionRow = Schemas["AttributionRow"];
export type Credit = Schemas["Credit"];

// The events and properties explorer (crates/model/src/query/events.rs, result.rs).
export type EventsResult = Result<"events">;
export type PropertyValueRow = Schemas["PropertyValueRow"];
/** The last events a site's server received (GET …/live). */
export type Live = Ok<"/api/v1/sites/{site}/live", "get">;

// Leading indicators (crates/model/src/query/leading.rs, result.rs).
export type LeadingResult = Result<"leading_indicators">;
export type Indicator = Schemas["Indicator"];
export type Cohort = Schemas["Cohort"];

// Experiments (crates/model/src/query/experiment.rs, result.rs).
export type ExperimentResult = Result<"experiment">;
export type ExperimentMetric = Schemas["ExperimentMetric"];
export type VariantMetric = Schemas["VariantMetric"];
export type Verdict = Schemas["Verdict"];
export type TrendPoint = Schemas["TrendPoint"];
export type PlanResult = Result<"experiment_plan">;
export type PlanRow = Schemas["PlanRow"];

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

/** Runs a query; when the server is busy (503: 4 queries already running) tries again.
 * The result's type follows from the analysis's. */
export async function query<K extends AnalysisType>(spec: Spec & { analysis: AnalysisOf<K> }): Promise<ResultOf<K>> {
  await slot();
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        return await api<ResultOf<K>>("POST", "/api/v1/query", spec);
      } catch (e) {
        if (!(e instanceof ApiError) || e.status !== 503 || attempt >= 5) throw e;
        await sleep(250 * 2 ** attempt);
      }
    }
  } finally {
    release();
  }
}
