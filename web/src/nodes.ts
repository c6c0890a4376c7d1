// Nodes of the behaviour flow (pages, events, goals; and the `other`, exit and entrance
// rows): how they read, the funnel-step-like matcher (docs/paths.md) that finds one (the
// start or end of a path, a funnel step), and the reference that names one (the node of
// transitions).
import type { NodeRef, PathNode, Step } from "./api";

/** A node as text: a page is its name, events and goals say what they are. */
export function nodeText(n: PathNode): string {
  switch (n.kind) {
    case "event":
    case "goal":
      return `${n.kind} ${n.name}`;
    case "entrance":
      // Paths name it "(entrance)"; transitions name the source it came from.
      return n.name === "(entrance)" ? n.name : n.name.startsWith("(") ? `entrance ${n.name}` : `entrance from ${n.name}`;
    default:
      return n.name;
  }
}

/** Whether a node is a page, an event or a goal (not `other`, an exit or an entrance). */
export const isReal = (n: PathNode): boolean => n.kind === "page" || n.kind === "event" || n.kind === "goal";

/** The step that matches a node (null for `other`, exits and entrances): a page (a
 * pageview whose path is that page by the grouping rules), an event or a goal. */
export function nodeStep(n: PathNode): Step | null {
  switch (n.kind) {
    case "page":
      return { page: n.name };
    case "event":
      return { event: n.name };
    case "goal":
      return { goal: n.name };
    default:
      return null;
  }
}

/** The reference to a node (null for `other`, exits and entrances). */
export const nodeRef = (n: PathNode): NodeRef | null => (n.kind === "page" || n.kind === "event" || n.kind === "goal" ? { kind: n.kind, name: n.name } : null);

/** How a step or node is picked in a form: a page (after grouping), a path (with its
 * match; steps only), an event or a goal; "" is none. */
export type PickKind = "" | "page" | "path" | "event" | "goal";
export interface Pick { kind: PickKind; value: string; match: NonNullable<Step["match"]> }

/** The page a step names, when that is all it says: `{"page": NAME}`, or a pageview whose
 * only condition is `page = NAME`. */
export function stepPage(st: Step): string | null {
  const w = st.where || [];
  if (st.path != null || st.goal != null || st.any_of?.length) return null;
  if (st.page != null) return (st.event == null || st.event === "pageview") && !w.length ? st.page : null;
  if (st.event !== "pageview" || w.length !== 1) return null;
  const c = w[0];
  return c.field === "page" && (c.op == null || c.op === "eq") && typeof c.value === "string" ? c.value : null;
}

/** The form's reading of a step or a node reference (JSON from the URL); one it cannot
 * show is none. */
export function toPick(json: string): Pick {
  let st: (Step & Partial<NodeRef>) | null = null;
  try {
    st = json ? (JSON.parse(json) as Step & Partial<NodeRef>) : null;
  } catch {
    st = null;
  }
  const none: Pick = { kind: "", value: "", match: "equals" };
  if (!st || typeof st !== "object") return none;
  if (st.kind) return ["page", "event", "goal"].includes(st.kind) && typeof st.name === "string" ? { kind: st.kind, value: st.name, match: "equals" } : none;
  const page = stepPage(st);
  if (page != null) return { kind: "page", value: page, match: "equals" };
  if (st.where?.length || st.any_of?.length) return none;
  if (st.goal != null) return { kind: "goal", value: st.goal, match: "equals" };
  if (st.path != null) return { kind: "path", value: st.path, match: st.match || "equals" };
  if (st.event != null) return { kind: "event", value: st.event, match: "equals" };
  return none;
}

/** The node a pick names (null: none, no value, or a path pattern). */
export function pickNode(p: Pick): NodeRef | null {
  const v = p.value.trim();
  return v && (p.kind === "page" || p.kind === "event" || p.kind === "goal") ? { kind: p.kind, name: v } : null;
}

/** The step a pick stands for (null: none, or no value). */
export function pickStep(p: Pick): Step | null {
  const v = p.value.trim();
  if (!p.kind || !v) return null;
  switch (p.kind) {
    case "page":
      return nodeStep({ kind: "page", name: v });
    case "path":
      return { path: v, match: p.match };
    case "event":
      return { event: v };
    case "goal":
      return { goal: v };
  }
}

/** A step as text ("page /pricing", "path /product/* (wildcard)", "event signup", "goal Purchase"). */
export function pickText(p: Pick): string {
  return p.kind === "path" && p.match !== "equals" ? `path ${p.value} (${p.match})` : `${p.kind} ${p.value}`;
}
