// Page grouping rules (docs/paths.md): an ordered list of a page's name, a pattern and how
// it matches (wildcard or regex); a path is the page of the first rule it matches, and a
// path no rule matches is its own page. Edited with a live preview: the range's most
// viewed paths under the draft rules (a `pages` query with the rules in its spec).
import { api, ApiError, query, type PageGroup, type PageRow } from "./api";
import type { Ctx } from "./main";
import { spec } from "./state";
import { clear, errorBox, h, num, table } from "./ui";

const PREVIEW_PATHS = 200;
type Match = NonNullable<PageGroup["match"]>;
interface Rule { name: string; pattern: string; match: Match }

/** A refusal naming a rule (`page_groups[1].pattern: invalid pattern: …`): the rule's
 * index in what was sent, the field and the message. */
function ruleError(e: unknown): { i: number; field: string; message: string } | null {
  if (!(e instanceof ApiError) || e.status !== 422) return null;
  const m = /^page_groups\[(\d+)\](?:\.(\w+))?: ([\s\S]*)$/.exec(e.message);
  return m ? { i: Number(m[1]), field: m[2] || "rule", message: m[3] } : null;
}

/** Whether a page name came from a rule's name (`Docs: {section}` gives `Docs: api`). */
function named(rule: Rule, page: string): boolean {
  const re = rule.name.split(/\{[^}]*\}/).map((t) => t.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")).join("[\\s\\S]*");
  return new RegExp(`^${re}$`).test(page);
}

export async function showPageGroups(ctx: Ctx, el: HTMLElement, site: string): Promise<void> {
  const stored = await api<PageGroup[]>("GET", `/api/v1/sites/${site}/page-groups`);
  if (!ctx.current()) return;
  const rules: Rule[] = stored.map((r) => ({ name: r.name, pattern: r.pattern, match: r.match || "wildcard" }));
  const list = h("ol", { class: "steps rules", id: "page-groups-list" });
  const preview = h("div", { id: "page-groups-preview" });
  const msg = h("p", { id: "page-groups-msg", "aria-live": "polite" });
  // Per rule (as listed): its error line and its count of matching paths.
  let errEls: HTMLElement[] = [];
  let countEls: HTMLElement[] = [];
  let timer = 0;
  let seq = 0;

  const changed = (): void => {
    msg.textContent = "";
    clearTimeout(timer);
    timer = window.setTimeout(() => void run(), 400);
  };
  const draw = (): void => {
    errEls = [];
    countEls = [];
    clear(list, rules.map((r, i) => {
      const n = i + 1;
      const name = h("input", { class: "rule-name", "aria-label": `Rule ${n} page name`, value: r.name, placeholder: "Product page", oninput: () => ((r.name = name.value), changed()) });
      const pattern = h("input", { class: "rule-pattern", "aria-label": `Rule ${n} pattern`, value: r.pattern, placeholder: "/product/*", oninput: () => ((r.pattern = pattern.value), changed()) });
      const match = h("select", { class: "rule-match", "aria-label": `Rule ${n} match`, onchange: () => ((r.match = match.value as Match), changed()) },
        (["wildcard", "regex"] as const).map((m) => h("option", { value: m, selected: m === r.match }, m)));
      const move = (to: number): void => {
        rules.splice(to, 0, ...rules.splice(i, 1));
        draw();
        changed();
        (list.children[to]?.querySelector(".rule-name") as HTMLElement | null)?.focus();
      };
      const err = h("p", { class: "error rule-error", role: "alert", hidden: true });
      const count = h("span", { class: "muted rule-count" });
      errEls.push(err);
      countEls.push(count);
      return h("li", { "data-rule": n },
        h("div", { class: "inline" }, name, pattern, match,
          h("button", { type: "button", class: "btn small", "aria-label": `Move rule ${n} up`, disabled: i === 0, onclick: () => move(i - 1) }, "↑"),
          h("button", { type: "button", class: "btn small", "aria-label": `Move rule ${n} down`, disabled: i === rules.length - 1, onclick: () => move(i + 1) }, "↓"),
          h("button", { type: "button", class: "btn small", "aria-label": `Remove rule ${n}`, onclick: () => (rules.splice(i, 1), draw(), changed()) }, "×"),
          count),
        err);
    }));
  };

  /** The rules worth sending (a name and a pattern), with their index in the list. */
  const sendable = (): { rule: Rule; i: number }[] =>
    rules.map((rule, i) => ({ rule: { ...rule, name: rule.name.trim() }, i })).filter((x) => x.rule.name && x.rule.pattern);
  const showError = (i: number, text: string): void => {
    const e = errEls[i];
    if (!e) return void clear(msg, errorBox(text));
    e.textContent = text;
    e.hidden = false;
  };

  const run = async (): Promise<void> => {
    const my = ++seq;
    const sent = sendable();
    errEls.forEach((e) => (e.hidden = true));
    // Without rules the spec would take the site's stored ones: the paths then match none.
    // Every path of the range (Setup shows no filters, so none apply).
    const sp = { ...spec(ctx.state, { type: "pages", limit: PREVIEW_PATHS }), filters: [], page_groups: sent.map((x) => x.rule) };
    preview.setAttribute("aria-busy", "true");
    let rows: PageRow[];
    try {
      rows = (await query(sp)).pages;
    } catch (e) {
      if (my !== seq || !ctx.current()) return;
      const re = ruleError(e);
      if (re && sent[re.i]) showError(sent[re.i].i, `${re.field}: ${re.message}`);
      clear(preview, re ? h("p", { class: "muted" }, "Fix the rule to see the preview.") : errorBox(e));
      return;
    }
    if (my !== seq || !ctx.current()) return;
    // Each path under the first rule whose name gives its page.
    const by = new Map<number, PageRow[]>();
    for (const p of rows) {
      const g = sent.length ? p.group : null;
      const hit = g == null ? -1 : sent.find((x) => named(x.rule, g))?.i ?? -1;
      by.set(hit, [...(by.get(hit) || []), p]);
    }
    countEls.forEach((c, i) => (c.textContent = by.get(i)?.length ? `matches ${num(by.get(i)!.length)} paths` : "matches none"));
    type Line = { rule: string; pages: string; paths: PageRow[] };
    const lines: Line[] = [
      ...sent.map((x) => ({ rule: `${x.i + 1}. ${x.rule.pattern}`, pages: x.rule.name, paths: by.get(x.i) || [] })),
      { rule: "no rule", pages: "each path its own page", paths: by.get(-1) || [] },
    ];
    const sample = (l: Line): string => {
      const p = l.paths.map((x) => (x.group && x.group !== l.pages ? `${x.path} → ${x.group}` : x.path));
      return p.length > 12 ? `${p.slice(0, 12).join(", ")} … and ${num(p.length - 12)} more` : p.join(", ") || "–";
    };
    clear(preview, table(`Preview: the ${num(rows.length)} most viewed paths of the range`, [
      { label: "Rule", cell: (l) => l.rule },
      { label: "Page", cell: (l) => l.pages },
      { label: "Paths", cell: (l) => h("span", { "data-paths": l.paths.length }, num(l.paths.length)), csv: (l) => l.paths.length, num: true },
      { label: "Pageviews", cell: (l) => num(l.paths.reduce((a, x) => a + x.pageviews, 0)), csv: (l) => l.paths.reduce((a, x) => a + x.pageviews, 0), num: true },
      { label: "Which", cell: (l) => h("span", { class: "path" }, sample(l)), csv: (l) => l.paths.map((x) => x.path).join(" ") },
    ], lines, { id: "page-groups-table" }));
    preview.setAttribute("aria-busy", "false");
  };

  const save = h("button", { type: "submit", class: "btn primary", id: "save-page-groups" }, "Save rules");
  clear(
    el,
    h("form", {
      class: "card", id: "page-groups", "aria-label": "Page grouping rules",
      onsubmit: async (e: Event) => {
        e.preventDefault();
        save.disabled = true;
        errEls.forEach((x) => (x.hidden = true));
        const sent = sendable();
        try {
          const back = await api<PageGroup[]>("PUT", `/api/v1/sites/${site}/page-groups`, sent.map((x) => x.rule));
          rules.splice(0, rules.length, ...back.map((r) => ({ name: r.name, pattern: r.pattern, match: r.match || "wildcard" })));
          draw();
          msg.className = "muted";
          msg.textContent = `Saved ${num(back.length)} ${back.length === 1 ? "rule" : "rules"}.`;
          void run();
        } catch (x) {
          const re = ruleError(x);
          if (re && sent[re.i]) showError(sent[re.i].i, `${re.field}: ${re.message}`);
          else clear(msg, errorBox(x));
        } finally {
          save.disabled = false;
        }
      },
    },
    h("h2", {}, "Page grouping rules"),
    h("p", { class: "muted" }, "Paths that are one page to you (", h("code", {}, "/product/*"), " is “Product page”) are grouped in Paths, transitions and page filters. A path takes the first rule it matches, top to bottom. Wildcard: ",
      h("code", {}, "*"), " is anything, ", h("code", {}, ":name"), " one segment; regex: Rust syntax. A name may use a capture: ", h("code", {}, "Docs: {section}"), "."),
    list,
    h("div", { class: "actions" },
      h("button", { type: "button", class: "btn small", id: "add-page-group", onclick: () => {
        rules.push({ name: "", pattern: "", match: "wildcard" });
        draw();
        (list.lastElementChild?.querySelector(".rule-name") as HTMLElement | null)?.focus();
      } }, "+ Add rule"),
      save),
    msg,
    preview),
  );
  draw();
  await run();
}
