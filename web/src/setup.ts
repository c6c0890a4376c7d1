// Setup: the tracking snippet and whether the site's events are arriving (polled); for
// admins, the site's time zone and visitor identity, its page grouping rules and its API
// keys.
import { api, query, type Ignored, type Key, type NewKey, type Site } from "./api";
import type { Ctx } from "./main";
import { showPageGroups } from "./pagegroups";
import { spec, setSiteTimezone, type State } from "./state";
import { clear, errorBox, h, num, table, type Child } from "./ui";

export async function renderSetup(ctx: Ctx, main: HTMLElement): Promise<void> {
  const s = ctx.state;
  const site = encodeURIComponent(s.site);
  const status = h("p", { id: "arrival", "aria-live": "polite" }, "Checking for events…");
  const ignored = h("p", { id: "ignored", "aria-live": "polite", class: "muted" });
  const settings = h("div", { id: "site-settings" });
  const keys = h("div", { id: "site-keys" });
  const groups = h("div", { id: "site-page-groups" });
  clear(
    main,
    h("div", { class: "page-head" }, h("h1", {}, `Setup · ${s.site}`)),
    h(
      "section",
      { class: "card", id: "snippet" },
      h("h2", {}, "Tracking snippet"),
      h("p", { class: "muted" }, "Put this in the <head> of every page. Options (features to turn off, Do Not Track, first-party ids) are attributes of the tag: see ", h("a", { href: "/docs/tracker.md", target: "_blank", rel: "noopener", id: "tracker-guide" }, "the tracker's guide"), "."),
      snippetBox(s.site),
      h("p", { class: "muted", id: "tracker-features" }, "Only need some features? Name them in the URL, e.g. ", h("code", {}, "…/cairn.js?f=forms,video"),
        " (", h("code", {}, "?f=core"), ": pageviews and custom events only, 2 KB): outbound, downloads, cta, forms, video, search, share."),
      h("h2", {}, "Events arriving"),
      status,
      ignored,
      h("p", { class: "muted" }, "From servers, pipelines and CRMs: the server API (POST /api/v1/batch with a write key), Plausible's POST /api/event and Segment's /v1/batch also work (", h("a", { href: "/docs/ingestion.md", target: "_blank", rel: "noopener" }, "the ingestion guide"), ")."),
    ),
    settings,
    groups,
    keys,
  );
  arrival(ctx, status, ignored);
  if (!ctx.canEdit) return;
  await Promise.all([
    showSettings(ctx, settings, site),
    showPageGroups(ctx, groups, site).catch((e) => ctx.current() && clear(groups, errorBox(e))),
    showKeys(ctx, keys, site),
  ]);
}

/** The tracking snippet with its Copy button. */
export function snippetBox(site: string): Child[] {
  const snippet = `<script defer data-site="${site}" src="${location.origin}/cairn.js"></script>`;
  const copied = h("span", { class: "muted", "aria-live": "polite" });
  const copy = async (): Promise<void> => {
    try {
      await navigator.clipboard.writeText(snippet);
      copied.textContent = "Copied.";
    } catch {
      copied.textContent = "Select the text and copy it.";
    }
  };
  return [h("div", { class: "snippet" }, h("code", { id: "snippet-code" }, snippet), h("button", { type: "button", class: "btn small", id: "copy-snippet", onclick: copy }, "Copy")), copied];
}

/** Whether the site has any event at all (its overview since 1970, unfiltered): asked
 * only when a shorter range has none, so cheap where it is asked. */
export async function hasEvents(s: State): Promise<boolean> {
  return (await query({ ...spec(s, { type: "overview" }), filters: [], from: 0, to: "now" })).figures.events > 0;
}

/** Events and visitors of the last 30 minutes, every 5 s while the page is shown; with
 * none, whether the site ever had one (asked once). */
function arrival(ctx: Ctx, el: HTMLElement, ignoredEl: HTMLElement): void {
  const s = ctx.state;
  let any: boolean | undefined;
  const tick = async (): Promise<void> => {
    if (!ctx.current() || !el.isConnected) return;
    try {
      const [r, ig] = await Promise.all([
        query({ ...spec(s, { type: "overview" }), filters: [], from: "-30m", to: "now" }),
        api<Ignored>("GET", `/api/v1/sites/${encodeURIComponent(s.site)}/ignored`, undefined, true),
      ]);
      if (!ctx.current() || !el.isConnected) return;
      showIgnored(ignoredEl, ig);
      const f = r.figures;
      if (f.events > 0) any = true;
      else if (any === undefined) any = await hasEvents(s);
      if (!ctx.current() || !el.isConnected) return;
      el.dataset.events = String(f.events);
      el.dataset.ticks = String(Number(el.dataset.ticks || 0) + 1);
      el.dataset.state = f.events > 0 ? "receiving" : any ? "quiet" : "waiting";
      clear(
        el,
        f.events > 0
          ? [h("span", { class: "status ok" }, "Receiving events. "), `${num(f.events)} ${f.events === 1 ? "event" : "events"} from ${num(f.visitors)} ${f.visitors === 1 ? "visitor" : "visitors"} in the last 30 minutes.`]
          : [h("span", { class: "status" }, any ? "No events in the last 30 minutes. " : "Waiting for the first event… "), "Install the snippet and open a page of the site: this updates by itself."],
      );
    } catch (e) {
      clear(el, errorBox(e));
    }
    setTimeout(tick, 5000);
  };
  void tick();
}

/** Says why events of the last hour were not stored (GET /api/v1/sites/{site}/ignored): a
 * tester's headless browser is a bot. */
function showIgnored(el: HTMLElement, ig: Ignored): void {
  const bots = ig.ignored.bot ?? 0;
  const unsupported = ig.ignored.unsupported ?? 0;
  const parts: string[] = [];
  if (bots > 0) {
    parts.push(`${num(bots)} ${bots === 1 ? "event" : "events"} from bots ignored in the last hour (crawlers and headless browsers, by their user agent): test the tracker in a normal browser.`);
  }
  if (unsupported > 0) {
    parts.push(`${num(unsupported)} Segment screen, group or alias ${unsupported === 1 ? "message" : "messages"} accepted but not stored in the last hour.`);
  }
  el.dataset.bots = String(bots);
  clear(el, parts.join(" "));
}

async function showSettings(ctx: Ctx, el: HTMLElement, site: string): Promise<void> {
  const sites = await api<Site[]>("GET", "/api/v1/sites");
  if (!ctx.current()) return;
  const me = sites.find((x) => x.site === ctx.state.site);
  if (!me) return;
  const tz = h("input", { id: "site-timezone", value: me.timezone, required: true, placeholder: "Europe/Berlin" });
  const identity = h(
    "select",
    { id: "site-identity" },
    h("option", { value: "cookieless", selected: me.identity === "cookieless" }, "Cookieless"),
    h("option", { value: "first-party", selected: me.identity === "first-party" }, "First-party id"),
  );
  // What each means, under the select (a phone cuts long options off).
  const identityNote = h("p", { class: "muted", id: "site-identity-note" });
  const explain = (): void =>
    void (identityNote.textContent = identity.value === "cookieless"
      ? "A daily-salted hash of the address and browser: nothing is stored in the browser; a visitor is new each day."
      : "An id the tracker keeps in the browser (data-persist on the snippet): a visitor is recognised across days.");
  identity.addEventListener("change", explain);
  explain();
  const msg = h("p", { "aria-live": "polite", id: "settings-msg" });
  const save = h("button", { type: "submit", class: "btn primary" }, "Save");
  clear(
    el,
    h(
      "form",
      {
        class: "card", "aria-label": "Site settings",
        onsubmit: async (e: Event) => {
          e.preventDefault();
          save.disabled = true;
          try {
            const r = await api<Site>("PATCH", `/api/v1/sites/${site}`, { timezone: tz.value.trim(), identity: identity.value });
            setSiteTimezone(r.timezone);
            clear(msg, "Saved.");
            msg.className = "muted";
          } catch (err) {
            clear(msg, errorBox(err));
          } finally {
            save.disabled = false;
          }
        },
      },
      h("h2", {}, "Site settings"),
      h(
        "div",
        { class: "form-grid" },
        h("div", { class: "field" }, h("label", { for: "site-timezone" }, "Time zone (IANA)"), tz),
        h("div", { class: "field" }, h("label", { for: "site-identity" }, "Visitor identity"), identity, identityNote),
      ),
      msg,
      save,
    ),
  );
}

async function showKeys(ctx: Ctx, el: HTMLElement, site: string): Promise<void> {
  const list = await api<Key[]>("GET", `/api/v1/sites/${site}/keys`);
  if (!ctx.current()) return;
  const shown = h("div", { "aria-live": "polite", id: "new-key" });
  const scope = h("select", { id: "key-scope", "aria-label": "Scope" }, h("option", { value: "read" }, "read (queries)"), h("option", { value: "write" }, "write (server-side events)"));
  const reload = (): Promise<void> => showKeys(ctx, el, site);
  clear(
    el,
    table(
      "API keys",
      [
        { label: "Key", cell: (k: Key) => h("code", {}, `${k.prefix}…`), csv: (k: Key) => k.prefix },
        { label: "Scope", cell: (k: Key) => k.scope },
        { label: "Created", cell: (k: Key) => k.created.slice(0, 16).replace("T", " ") },
        {
          label: "Actions",
          cell: (k: Key) =>
            h("button", {
              type: "button", class: "btn small danger", "aria-label": `Revoke key ${k.prefix}`,
              onclick: async () => {
                if (!confirm(`Revoke the key ${k.prefix}…? What uses it stops working.`)) return;
                try {
                  await api("DELETE", `/api/v1/sites/${site}/keys/${encodeURIComponent(k.prefix)}`);
                  await reload();
                } catch (e) {
                  clear(shown, errorBox(e));
                }
              },
            }, "Revoke"),
          csv: () => "",
        },
      ],
      list,
      { id: "keys-table" },
    ),
    h(
      "form",
      {
        class: "card inline", "aria-label": "New API key",
        onsubmit: async (e: Event) => {
          e.preventDefault();
          try {
            const r = await api<NewKey>("POST", `/api/v1/sites/${site}/keys`, { scope: scope.value });
            await reload();
            const box = document.getElementById("new-key");
            if (box) clear(box, h("p", {}, "The new key, shown once: ", h("code", { id: "new-key-value" }, r.key)));
          } catch (err) {
            clear(shown, errorBox(err));
          }
        },
      },
      scope,
      h("button", { type: "submit", class: "btn small" }, "Create key"),
    ),
    shown,
  );
}
