// The Cairn dashboard: login, the chrome (site, range, comparison, filters, theme) and the
// pages. Everything shown comes from the JSON API; the view's state is in the URL hash.
import { api, ApiError, query, setCsrf, setOnUnauthorized, type Goal, type Me, type Site } from "./api";
import { disposeAll } from "./charts";
import { FILTER_FIELDS, PAGES, RANGES, format, parse, setSiteTimezone, spec, type Page, type State } from "./state";
import { clear, errorBox, h, icon, icons } from "./ui";
import { renderOverview } from "./overview";
import { renderGoals } from "./goals";
import { renderFunnels } from "./funnels";
import { renderPaths } from "./paths";
import { renderForms } from "./forms";
import { renderCampaigns } from "./campaigns";
import { renderInfluence } from "./influence";
import { renderExperiments } from "./experiments";
import { renderSetup } from "./setup";
import { renderEvents } from "./events";
import { addSiteButton, siteForm } from "./sites";

export interface Ctx {
  state: State;
  me: Me;
  /** The site's stored goals (loaded once per site and refreshed after edits). */
  goals: () => Promise<Goal[]>;
  refreshGoals: () => void;
  go: (patch: Partial<State>, replace?: boolean) => void;
  /** Whether this render is still the current one. */
  current: () => boolean;
  canEdit: boolean;
}

const root = document.getElementById("app")!;
let me: Me | null = null;
let generation = 0;
let goalsCache: { site: string; p: Promise<Goal[]> } | null = null;
/** The sites' time zones (GET /api/v1/sites), asked for with /me. */
let zones: Promise<Record<string, string>> | null = null;
function loadZones(): Promise<Record<string, string>> {
  return api<Site[]>("GET", "/api/v1/sites", undefined, true)
    .then((l) => Object.fromEntries(l.map((x) => [x.site, x.timezone])))
    .catch(() => ({}));
}

// ---------------------------------------------------------------------------------------
// Theme: prefers-color-scheme unless the toggle chose one (kept in localStorage).

function storedTheme(): string {
  try {
    return localStorage.getItem("cairn-theme") || "";
  } catch {
    return "";
  }
}
function applyTheme(): void {
  const t = storedTheme();
  if (t) document.documentElement.dataset.theme = t;
  else delete document.documentElement.dataset.theme;
}
function effectiveTheme(): "light" | "dark" {
  const t = storedTheme();
  if (t === "light" || t === "dark") return t;
  return matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light";
}
function toggleTheme(): void {
  try {
    localStorage.setItem("cairn-theme", effectiveTheme() === "dark" ? "light" : "dark");
  } catch {}
  applyTheme();
  render();
}
applyTheme();
matchMedia("(prefers-color-scheme: dark)").addEventListener("change", () => !storedTheme() && render());

// ---------------------------------------------------------------------------------------
// Login.

function renderLogin(message = ""): void {
  disposeAll();
  document.title = "Sign in · Cairn";
  const err = h("p", { class: "error", role: "alert", id: "login-error", hidden: !message }, message);
  const email = h("input", { type: "email", id: "email", name: "email", autocomplete: "username", required: true });
  const password = h("input", { type: "password", id: "password", name: "password", autocomplete: "current-password", required: true });
  const submit = h("button", { type: "submit", class: "btn primary" }, "Sign in");
  const form = h(
    "form",
    {
      class: "login card",
      onsubmit: async (ev: Event) => {
        ev.preventDefault();
        submit.disabled = true;
        err.hidden = true;
        try {
          me = await api<Me>("POST", "/api/v1/login", { email: email.value, password: password.value });
          setCsrf(me.csrf ?? "");
          render();
        } catch (e) {
          err.textContent = e instanceof ApiError && e.status === 401 ? "Wrong email or password." : (e as Error).message;
          err.hidden = false;
          submit.disabled = false;
          password.focus();
        }
      },
    },
    h("h1", {}, icon(icons.logo), " Cairn"),
    h("label", { for: "email" }, "Email"),
    email,
    h("label", { for: "password" }, "Password"),
    password,
    err,
    submit,
  );
  clear(root, h("main", { class: "login-wrap" }, form));
  email.focus();
}

setOnUnauthorized(() => {
  me = null;
  renderLogin("Your session has ended: sign in again.");
});

// ---------------------------------------------------------------------------------------
// The chrome.

function go(patch: Partial<State>, replace = false): void {
  const next = { ...parse(location.hash), ...patch };
  const hash = format(next);
  if (replace || hash === location.hash) {
    history.replaceState(null, "", hash);
    render();
  } else location.hash = hash; // the hashchange renders
}

/** Another site: what belongs to the old one goes. */
const siteReset = (site: string): Partial<State> => ({ site, goal: "", event: "", funnel: "", def: "", did: [], didNot: [], at: "", node: "", exp: "", metrics: [], ctrl: "", tmetric: "" });
/** A site added here: the session's sites again, then its Setup page (the snippet, and
 * whether its first event arrived). */
function added(site: string): void {
  me = null;
  zones = null;
  go({ ...siteReset(site), page: "setup" });
}

const PAGE_NAMES: Record<Page, string> = {
  overview: "Overview", goals: "Goals", events: "Events", funnels: "Funnels", paths: "Paths", forms: "Forms & checkout", campaigns: "Campaigns",
  influence: "What drives conversion", experiments: "Experiments", setup: "Setup",
};
const RANGE_NAMES: Record<string, string> = { today: "Today", "7d": "Last 7 days", "30d": "Last 30 days", "90d": "Last 90 days", custom: "Custom" };

function chrome(s: State, m: Me, goals: Goal[]): HTMLElement {
  const nav = h(
    "nav",
    { class: "tabs", "aria-label": "Reports" },
    PAGES.map((p) => h("a", { href: format({ ...s, page: p }), "aria-current": p === s.page ? "page" : null, "data-page": p }, PAGE_NAMES[p])),
  );
  const site = h(
    "select",
    { id: "site", onchange: () => go(siteReset(site.value)) },
    (m.sites ?? []).map((x) => h("option", { value: x.site, selected: x.site === s.site }, x.site)),
  );
  const range = h(
    "select",
    {
      id: "range",
      onchange: () => {
        const r = range.value as State["range"];
        if (r === "custom") {
          const today = new Date().toISOString().slice(0, 10);
          const from = new Date(Date.now() - 29 * 86400000).toISOString().slice(0, 10);
          go({ range: r, from: s.from || from, to: s.to || today });
        } else go({ range: r });
      },
    },
    RANGES.map((r) => h("option", { value: r, selected: r === s.range }, RANGE_NAMES[r])),
  );
  const from = h("input", { type: "date", id: "from", value: s.from, required: true });
  const to = h("input", { type: "date", id: "to", value: s.to, required: true });
  const custom =
    s.range === "custom"
      ? h(
          "form",
          { class: "inline", onsubmit: (e: Event) => (e.preventDefault(), go({ from: from.value, to: to.value })) },
          h("label", { for: "from" }, "From"), from, h("label", { for: "to" }, "To"), to,
          h("button", { type: "submit", class: "btn small" }, "Apply"),
        )
      : null;
  const compare = h("input", { type: "checkbox", id: "compare", checked: s.compare, onchange: () => go({ compare: compare.checked }) });

  // Filters: chips, then a small form to add one.
  const chips = [
    ...s.filters.map((f, i) => ({ text: `${f.field} = ${f.value}`, drop: () => go({ filters: s.filters.filter((_, j) => j !== i) }) })),
    ...s.did.map((g) => ({ text: `did ${g}`, drop: () => go({ did: s.did.filter((x) => x !== g) }) })),
    ...s.didNot.map((g) => ({ text: `did not ${g}`, drop: () => go({ didNot: s.didNot.filter((x) => x !== g) }) })),
  ];
  // A custom property: the field "property", then its name.
  const fProp = h("input", { id: "filter-prop", "aria-label": "Property name", placeholder: "property, e.g. plan", hidden: true, size: 12, onchange: () => suggest() });
  const fField = h(
    "select",
    { id: "filter-field", "aria-label": "Filter field", onchange: () => ((fProp.hidden = fField.value !== "property"), (fProp.required = !fProp.hidden), suggest()) },
    FILTER_FIELDS.map((f) => h("option", { value: f }, f)),
    h("option", { value: "property" }, "custom property…"),
  );
  // Suggestions: the field's most frequent values in the range and segment (the overview
  // broken down by it), asked for when the value box is first used.
  const values = h("datalist", { id: "filter-values" });
  let suggested = "";
  const suggest = async (): Promise<void> => {
    const field = fField.value === "property" ? (fProp.value.trim() ? `props.${fProp.value.trim().replace(/^props\./, "")}` : "") : fField.value;
    if (!field || field === suggested) return;
    suggested = field;
    try {
      const r = await query(spec(s, { type: "overview", breakdown: { by: field, limit: 50 } }));
      if (suggested !== field) return;
      clear(values, (r.breakdown || []).filter((b) => b.value !== "(none)" && b.value !== "(other)").map((b) => h("option", { value: b.value }, `${b.figures.visitors} visitors`)));
    } catch {
      suggested = "";
    }
  };
  const fValue = h("input", { id: "filter-value", "aria-label": "Filter value", placeholder: "value, e.g. mobile", required: true, list: "filter-values", autocomplete: "off", onfocus: () => suggest() });
  const gKind = h("select", { id: "goal-filter-kind", "aria-label": "Did or did not" }, h("option", { value: "did" }, "did"), h("option", { value: "not" }, "did not"));
  const gName = h("select", { id: "goal-filter-goal", "aria-label": "Goal" }, goals.map((g) => h("option", { value: g.name }, g.name)));
  const filterBar = h(
    "div",
    { class: "filters", id: "filters", role: "group", "aria-label": "Filters" },
    chips.length === 0
      ? null
      : h(
      "ul",
      { class: "chips", "aria-label": "Active filters" },
      chips.map((c) => h("li", {}, h("span", {}, c.text), h("button", { type: "button", class: "chip-x", "aria-label": `Remove filter ${c.text}`, onclick: c.drop }, "×"))),
    ),
    h(
      "form",
      {
        class: "inline",
        onsubmit: (e: Event) => {
          e.preventDefault();
          const field = fField.value === "property" ? `props.${fProp.value.trim().replace(/^props\./, "")}` : fField.value;
          if (fValue.value.trim() && field !== "props.") go({ filters: [...s.filters, { field, value: fValue.value.trim() }] });
        },
      },
      fField, fProp, fValue, values, h("button", { type: "submit", class: "btn small" }, "Add filter"),
    ),
    goals.length
      ? h(
          "form",
          {
            class: "inline",
            onsubmit: (e: Event) => {
              e.preventDefault();
              const g = gName.value;
              if (gKind.value === "did") go({ did: [...s.did.filter((x) => x !== g), g] });
              else go({ didNot: [...s.didNot.filter((x) => x !== g), g] });
            },
          },
          h("span", { class: "muted" }, "Visitors who"), gKind, gName, h("button", { type: "submit", class: "btn small" }, "Add"),
        )
      : null,
  );
  const dark = effectiveTheme() === "dark";
  const setup = s.page === "setup";
  // What drives conversion, Experiments and Events compare nothing with a previous period either.
  const noCompare = setup || s.page === "influence" || s.page === "experiments" || s.page === "events";
  return h(
    "header",
    { class: "top" },
    h(
      "div",
      { class: "bar" },
      h("a", { class: "brand", href: format({ ...s, page: "overview" }), "aria-label": "Cairn" }, icon(icons.logo), h("span", { class: "brand-name" }, "Cairn")),
      h("label", { for: "site", class: "sr-only" }, "Site"),
      site,
      m.superuser && addSiteButton(added),
      nav,
      h(
        "div",
        { class: "right" },
        h("button", { type: "button", class: "btn icon-btn", id: "theme", onclick: toggleTheme, "aria-label": dark ? "Use light theme" : "Use dark theme", title: dark ? "Light theme" : "Dark theme" }, icon(dark ? icons.sun : icons.moon)),
        h("span", { class: "muted who" }, m.email),
        h(
          "button",
          {
            type: "button", class: "btn small", id: "logout",
            onclick: async () => {
              try {
                await api("POST", "/api/v1/logout");
              } catch {}
              me = null;
              goalsCache = null;
              zones = null;
              renderLogin();
            },
          },
          "Log out",
        ),
      ),
    ),
    h(
      "div",
      { class: "bar controls" },
      h("label", { for: "range" }, "Range"), range, custom,
      // Setup compares nothing and filters nothing (its range is the grouping preview's).
      noCompare ? null : h("span", { class: "check" }, compare, h("label", { for: "compare" }, "Compare", h("span", { class: "long" }, " with previous period"))),
      // On a phone the forms to add a filter fold away behind this (the chips stay).
      setup ? null : h("button", {
        type: "button", class: "btn small filter-toggle", id: "filter-toggle", "aria-controls": "filters", "aria-expanded": "false",
        onclick: (e: Event) => (e.currentTarget as HTMLElement).setAttribute("aria-expanded", String(filterBar.classList.toggle("open"))),
      }, "Filters"),
    ),
    setup ? null : filterBar,
  );
}

async function render(): Promise<void> {
  const gen = ++generation;
  if (!me) {
    try {
      zones = zones || loadZones();
      me = await api<Me>("GET", "/api/v1/me");
      setCsrf(me.csrf ?? "");
    } catch (e) {
      zones = null;
      if (gen !== generation) return;
      if (e instanceof ApiError && e.status === 401) return renderLogin();
      clear(root, errorBox(e));
      return;
    }
  }
  if (gen !== generation) return;
  const m = me;
  const s = parse(location.hash);
  const sites = m.sites ?? [];
  if (!sites.length) {
    clear(root, h("main", { class: "page" }, m.superuser ? h("div", { class: "card" }, siteForm(added)) : h("p", {}, "You may not see any site yet: ask an administrator to grant you one.")));
    return;
  }
  if (!sites.some((x) => x.site === s.site)) {
    s.site = sites[0].site ?? "";
    history.replaceState(null, "", format(s));
  }
  if (!zones) zones = loadZones();
  const zone = (await zones)[s.site] || "";
  if (gen !== generation) return;
  setSiteTimezone(zone);
  if (!goalsCache || goalsCache.site !== s.site) {
    const site = s.site;
    goalsCache = { site, p: api<Goal[]>("GET", `/api/v1/sites/${encodeURIComponent(site)}/goals`).catch(() => []) };
  }
  const goalsP = goalsCache.p;
  const role = sites.find((x) => x.site === s.site)?.role;
  const ctx: Ctx = {
    state: s,
    me: m,
    goals: () => goalsP,
    refreshGoals: () => (goalsCache = null),
    go,
    current: () => gen === generation,
    canEdit: m.superuser || role === "admin",
  };
  const main = h("main", { class: "page", id: "main", "data-page": s.page });
  document.title = `${PAGE_NAMES[s.page]} · ${s.site} · Cairn`;
  const focused = document.activeElement?.id;
  disposeAll();
  // The page goes into the document at once (charts need their size) and starts loading;
  // the chrome follows when the site's goals (for the goal filter) are known.
  const header = h("header", { class: "top" });
  clear(root, header, main);
  const pageP = (async () => {
    switch (s.page) {
      case "overview": return renderOverview(ctx, main);
      case "goals": return renderGoals(ctx, main);
      case "events": return renderEvents(ctx, main);
      case "funnels": return renderFunnels(ctx, main);
      case "paths": return renderPaths(ctx, main);
      case "forms": return renderForms(ctx, main);
      case "campaigns": return renderCampaigns(ctx, main);
      case "influence": return renderInfluence(ctx, main);
      case "experiments": return renderExperiments(ctx, main);
      case "setup": return renderSetup(ctx, main);
    }
  })();
  const goals = await goalsP;
  if (gen !== generation) return;
  header.replaceWith(chrome(s, m, goals));
  if (focused) document.getElementById(focused)?.focus();
  try {
    await pageP;
  } catch (e) {
    if (gen === generation) main.appendChild(errorBox(e));
  }
}

window.addEventListener("hashchange", () => render());
render();
