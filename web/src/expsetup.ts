// Setting up an experiment, for admins: a kept definition (docs/experiments.md) created or
// edited with a form, stopped or restarted today, deleted. The server checks it (PUT
// /api/v1/sites/{site}/experiments/{key}); its refusal names the field, shown by the form.
import { api, type ExperimentDef, type Goal } from "./api";
import type { Ctx } from "./main";
import { days } from "./state";
import { clear, errorBox, h, type Child } from "./ui";

const url = (ctx: Ctx, key: string): string => `/api/v1/sites/${encodeURIComponent(ctx.state.site)}/experiments/${encodeURIComponent(key)}`;
const today = (ctx: Ctx): string => days({ ...ctx.state, range: "today" }).to;

/** Keeps a definition, then shows it with its metrics and MDE. */
async function save(ctx: Ctx, key: string, d: ExperimentDef): Promise<void> {
  await api("PUT", url(ctx, key), d);
  ctx.go({ exp: key, ctrl: "", metrics: [], mde: 10, tmetric: "" });
}

/** The page head's part: the kept experiment shown (its days), and for admins a new one,
 * and the shown one edited, stopped today (or restarted) and deleted; `el` takes the form. */
export function setupTools(ctx: Ctx, el: HTMLElement, goals: Goal[], kept: Record<string, ExperimentDef>, key: string, funnels: string[]): Child {
  const d = kept[key];
  const fail = (e: unknown): void => clear(el, errorBox(e));
  const btn = (id: string, t: string, on: () => unknown, c = "small"): HTMLElement => h("button", { type: "button", class: `btn ${c}`, id, onclick: on }, t);
  return [
    ctx.canEdit ? btn("new-experiment", "New experiment", () => openSetup(ctx, el, goals, kept, "", funnels), "primary") : null,
    d ? h("span", { class: "inline", id: "exp-kept" }, h("span", { class: "muted" }, `${key}: kept${d.start ? `, from ${d.start}` : ""}${d.stop ? `, stopped on ${d.stop}` : ", running"}`),
      ctx.canEdit ? [
        btn("exp-edit", "Edit", () => openSetup(ctx, el, goals, kept, key, funnels)),
        btn("exp-stop", d.stop ? "Restart" : "Stop today", () => save(ctx, key, { ...d, stop: d.stop ? undefined : today(ctx) }).catch(fail)),
        btn("exp-delete", "Delete", async () => {
          if (!confirm(`Delete “${key}”? Its events stay.`)) return;
          try {
            await api("DELETE", url(ctx, key));
            ctx.go({ exp: "", ctrl: "", metrics: [], tmetric: "" });
          } catch (e) {
            fail(e);
          }
        }, "small danger"),
      ] : null) : null,
  ];
}

/** The form: a new experiment (`key` "") or the kept `key`, replaced whole. */
function openSetup(ctx: Ctx, el: HTMLElement, goals: Goal[], kept: Record<string, ExperimentDef>, key: string, funnels: string[]): void {
  const d: ExperimentDef = kept[key] || { variants: [], start: today(ctx) };
  const field = (f: string, id: string, label: string, input: Child, hint?: string): HTMLElement =>
    h("div", { class: "field", "data-f": f }, h("label", { for: id }, label), input, hint ? h("small", { class: "muted" }, hint) : null);
  const set = (f: string, legend: string, box: HTMLElement): HTMLElement => h("fieldset", { class: "field wide", "data-f": f }, h("legend", {}, legend), box);
  const mark = (g: Goal): string => `${g.name}${g.conversion === "macro" ? " (macro)" : ""}`;
  const name: HTMLInputElement = h("input", { id: "x-key", placeholder: "sticky_cart" });
  const hyp = h("textarea", { id: "x-hypothesis", rows: 2 }, d.hypothesis || "");
  const vars = h("textarea", { id: "x-variants", rows: 2, placeholder: "control\nsticky", oninput: () => weigh() }, d.variants.join("\n"));
  const list = (): string[] => vars.value.split(/[\n,]/).map((v) => v.trim()).filter(Boolean);
  const w: Record<string, unknown> = { ...d.weights };
  const wbox = h("div", { class: "inline", id: "x-weights" });
  const weigh = (): void => {
    wbox.querySelectorAll("input").forEach((i) => (w[i.dataset.v!] = i.value));
    const l = [...new Set(list())];
    clear(wbox, l.map((v) => h("label", { class: "check" }, v, h("input", { type: "number", min: 0, step: "any", value: w[v] as string, "data-v": v }))));
  };
  const m = d.metrics || [];
  const primary = h("select", { id: "x-primary", onchange: () => sync() }, h("option", { value: "" }, "every goal, macro first"),
    goals.map((g) => h("option", { value: g.name, selected: g.name === (key ? m[0] : goals.find((x) => x.conversion === "macro")?.name) }, mark(g))));
  const boxes = (id: string, on: string[]): HTMLElement => h("div", { class: "inline", id }, goals.map((g) =>
    h("label", { class: "check" }, h("input", { type: "checkbox", value: g.name, checked: on.includes(g.name) }), mark(g))));
  const also = boxes("x-also", m.slice(1)), guards = boxes("x-guardrails", d.guardrails || []);
  const fbox = h("div", { class: "inline", id: "x-funnels" }, funnels.map((f) =>
    h("label", { class: "check" }, h("input", { type: "checkbox", value: f, checked: (d.funnels || []).includes(f) }), f)));
  const picked = (b: HTMLElement): string[] => [...b.querySelectorAll<HTMLInputElement>("input:checked:enabled")].map((i) => i.value);
  const sync = (): void => also.querySelectorAll("input").forEach((i) => (i.disabled = !primary.value || i.value === primary.value));
  const mde: HTMLInputElement = h("input", { id: "x-mde", type: "number", min: 0, step: "any", placeholder: "10", value: d.mde == null ? "" : +(d.mde * 100).toFixed(6) });
  const date = (id: string, v?: string | null): HTMLInputElement => h("input", { id, type: "date", value: v || "" });
  const start = date("x-start", d.start), stop = date("x-stop", d.stop);
  const tgt = h("textarea", { id: "x-targeting", rows: 2, placeholder: '[{"field": "device", "value": "mobile"}]' }, d.targeting?.length ? JSON.stringify(d.targeting) : "");
  const err = h("p", { class: "error", role: "alert", id: "exp-setup-error", hidden: true });
  const build = (): ExperimentDef => {
    const out: ExperimentDef = { variants: list() };
    if (hyp.value.trim()) out.hypothesis = hyp.value.trim();
    const ws = [...wbox.querySelectorAll("input")], given = ws.filter((i) => i.value.trim());
    if (given.length && given.length < ws.length) throw new Error("weights: one per variant, or none");
    if (given.length) out.weights = Object.fromEntries(given.map((i) => [i.dataset.v!, Number(i.value)]));
    if (primary.value) out.metrics = [primary.value, ...picked(also)];
    const g = picked(guards);
    if (g.length) out.guardrails = g;
    const f = picked(fbox);
    if (f.length) out.funnels = f;
    if (mde.value.trim()) out.mde = Number(mde.value) / 100;
    if (start.value) out.start = start.value;
    if (stop.value) out.stop = stop.value;
    try {
      if (tgt.value.trim()) out.targeting = JSON.parse(tgt.value);
    } catch (x) {
      throw new Error(`targeting: ${(x as Error).message}`);
    }
    return out;
  };
  /** The error, and its field (the path's first name: `experiment.variants[1]: …`) marked. */
  const show = (msg: string): void => {
    err.textContent = msg;
    err.hidden = false;
    form.querySelectorAll(".invalid").forEach((x) => x.classList.remove("invalid"));
    const f = form.querySelector(`[data-f="${/^(?:experiment\.)?([a-z]+)/.exec(msg)?.[1]}"]`);
    f?.classList.add("invalid");
    f?.querySelector<HTMLElement>("input:enabled, select, textarea")?.focus();
  };
  const form: HTMLFormElement = h("form", {
    class: "card editor", id: "exp-setup-form", "aria-label": key ? `Edit experiment ${key}` : "New experiment",
    onsubmit: async (e: Event) => {
      e.preventDefault();
      const k = key || name.value.trim();
      try {
        // The key is the URL's: checked as the API checks a name.
        const bad = key ? "" : !k || new TextEncoder().encode(k).length > 200 || /[\0-\x1f\x7f-\x9f]/.test(k) ? "1 to 200 bytes, not blank, no control characters"
          : kept[k] ? `\`${k}\` is kept already: edit it` : "";
        if (bad) throw new Error(`key: ${bad}`);
        await save(ctx, k, build());
      } catch (x) {
        show((x as Error).message);
      }
    },
  },
  h("h2", {}, key ? `Edit “${key}”` : "New experiment"),
  h("div", { class: "form-grid" },
    key ? null : field("key", "x-key", "Key", name, "as the tracker sends it"),
    field("metrics", "x-primary", "Primary metric", primary),
    field("mde", "x-mde", "Change to detect (%)", mde, "of the control’s rate; blank: 10"),
    field("start", "x-start", "Start", start),
    field("stop", "x-stop", "Stop", stop),
    field("hypothesis", "x-hypothesis", "Hypothesis", hyp),
    field("variants", "x-variants", "Variants", vars, "one per line or comma-separated, the control first"),
    set("weights", "Weights (e.g. 1 and 3; all blank: equal shares)", wbox),
    set("metrics", "Also compared", also),
    set("guardrails", "Guardrails (must not get worse)", guards),
    funnels.length ? set("funnels", "Funnels completed (compared after the goals)", fbox) : null,
    field("targeting", "x-targeting", "Targeting (filters, JSON; optional)", tgt)),
  h("p", { class: "muted" }, "Assigning variants: the tracker’s ", h("code", {}, "cairn('experiment', key, variants, callback)"),
    " splits evenly; uneven weights or assignment by user need the server’s ", h("code", {}, "POST /api/v1/assign"), " (docs/experiments.md)."),
  err,
  h("div", { class: "actions" },
    h("button", { type: "submit", class: "btn primary", id: "exp-save" }, "Save experiment"),
    h("button", { type: "button", class: "btn", onclick: () => clear(el) }, "Cancel")));
  weigh();
  sync();
  clear(el, form);
  (key ? hyp : name).focus();
}
