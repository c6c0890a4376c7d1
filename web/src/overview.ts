// Overview: visitors on the site now, the site's figures (the `overview` analysis, per
// bucket for the trend), its sources, campaigns, devices and countries (the overview
// broken down), and its top, entry and exit pages (the `pages` analysis).
import { query, type OverviewBreakdownRow, type OverviewFigures, type PageRow } from "./api";
import { lineChart } from "./charts";
import type { Ctx } from "./main";
import { hasEvents, snippetBox } from "./setup";
import { coverage, format, period, spec } from "./state";
import { clear, dur, errorBox, h, num, pct, placeholder, table, type Column } from "./ui";

interface Kpi {
  key: string;
  label: string;
  value: (f: OverviewFigures) => number;
  fmt: (v: number) => string;
  /** Lower is better (shown green when it falls). */
  lower?: boolean;
}

const KPIS: Kpi[] = [
  { key: "visitors", label: "Visitors", value: (f) => f.visitors, fmt: num },
  { key: "sessions", label: "Sessions", value: (f) => f.sessions, fmt: num },
  { key: "pageviews", label: "Pageviews", value: (f) => f.pageviews, fmt: num },
  { key: "bounce_rate", label: "Bounce rate", value: (f) => f.bounce_rate.rate, fmt: (v) => pct(v), lower: true },
  { key: "mean_duration_ms", label: "Session duration (mean)", value: (f) => f.mean_duration_ms, fmt: dur },
  { key: "median_duration_ms", label: "Session duration (median)", value: (f) => f.median_duration_ms, fmt: dur },
];

let metric = "visitors";

export async function renderOverview(ctx: Ctx, main: HTMLElement): Promise<void> {
  const s = ctx.state;
  const p = period(s);
  const kpis = h("section", { class: "kpis", "aria-label": "Key figures", "aria-busy": "true" }, KPIS.map((k) => h("div", { class: "kpi card skeleton" }, h("span", { class: "kpi-label" }, k.label), h("span", { class: "kpi-value" }, "…"))));
  const trend = h("section", { class: "card" }, h("h2", { id: "trend-title" }, "Trend"), h("div", { class: "chart", id: "trend-chart" }, placeholder("", 6)));
  const pages = h("div", { class: "grid3" }, ["Top pages", "Entry pages", "Exit pages"].map((t) => placeholder(t)));
  const pagesHead = h("div", { class: "toolbar" });
  const dims = h("div", { class: "grid2", id: "breakdowns" }, BREAKDOWNS.map((b) => placeholder(b.title, 5)));
  const live = h("p", { class: "realtime muted", id: "realtime", "aria-live": "polite" }, h("span", { class: "dot" }), "Visitors now: …");
  clear(main, h("h1", { class: "sr-only" }, "Overview"), live, kpis, trend, dims, pagesHead, pages);
  realtime(ctx, live);

  // The figures, the trend and the four breakdowns in one pass over the range.
  const cur = query(spec(s, { type: "overview", interval: p.interval, breakdowns: BREAKDOWNS.map((b) => ({ by: b.by, limit: 10 })) }));
  const prev = s.compare ? query(spec(s, { type: "overview", interval: p.interval }, true)) : Promise.resolve(null);
  // Pages after the site's grouping rules (a path no rule matches is its own page), or
  // raw paths.
  const pagesP = query(spec(s, { type: "pages", limit: 100, grouped: !s.rawPaths }));

  const showKpis = async (): Promise<void> => {
    const [r, old] = await Promise.all([cur, prev]);
    // None in the range: if the site has none at all, say how to send the first.
    if (!r.figures.events && !(await hasEvents(s))) return void (ctx.current() && noEvents(ctx, main));
    if (!ctx.current()) return;
    const draw = (): void => {
      const k = KPIS.find((x) => x.key === metric) || KPIS[0];
      const series = [{ name: "This period", data: (r.series || []).map((b) => k.value(b.figures)) }];
      if (old) series.push({ name: "Previous period", data: (old.series || []).map((b) => k.value(b.figures)) });
      document.getElementById("trend-title")!.textContent = `${k.label} over time`;
      const el = document.getElementById("trend-chart")!;
      el.replaceWith((trendEl = h("div", { class: "chart", id: "trend-chart", role: "img", "aria-label": `${k.label} per ${p.interval}` })));
      lineChart(trendEl, (r.series || []).map((b) => b.label), series, k.fmt, p.partial);
    };
    let trendEl: HTMLElement;
    // The previous period may start before the site's data: then its figures are partial,
    // and the changes are shown without a colour that would call them real.
    const cov = old ? coverage((old.series || []).map((b) => b.figures.events)) : null;
    const prevNote = cov && !cov.complete
      ? h("p", { class: "muted", id: "compare-note" }, cov.withData
          ? `The previous period has data on ${cov.withData} of its ${cov.total} ${p.interval}s only (from ${old!.series![cov.firstWithData].label}): the changes compare with less than a whole period.`
          : "The previous period has no data: nothing to compare with.")
      : null;
    clear(
      kpis,
      KPIS.map((k) => {
        const v = k.value(r.figures);
        let delta: HTMLElement | null = null;
        if (old) {
          const o = k.value(old.figures);
          // A rate changes in percentage points (as goals do), a count or a time relatively.
          const rate = k.key === "bounce_rate";
          const d = rate ? (v - o) * 100 : o ? (v - o) / o : 0;
          const good = k.lower ? d < 0 : d > 0;
          const tone = d === 0 || (cov && !cov.complete) ? "" : good ? "up" : "down";
          const empty = cov !== null && cov.withData === 0;
          const text = empty ? "–" : rate ? `${d > 0 ? "+" : ""}${d.toFixed(1)} pp` : o ? `${d > 0 ? "+" : ""}${(d * 100).toFixed(1)}%` : "–";
          delta = h("span", { class: `delta ${tone}`, title: `previous period: ${k.fmt(o)}` }, text, h("span", { class: "sr-only" }, " vs previous period"));
        }
        return h(
          "button",
          {
            type: "button", class: "kpi card", "data-kpi": k.key, "data-value": String(v), "aria-pressed": String(k.key === metric),
            onclick: (e: Event) => {
              metric = k.key;
              kpis.querySelectorAll("button").forEach((b) => b.setAttribute("aria-pressed", String(b === e.currentTarget)));
              draw();
            },
          },
          h("span", { class: "kpi-label" }, k.label),
          h("span", { class: "kpi-value" }, k.fmt(v)),
          k.key === "bounce_rate" ? h("span", { class: "kpi-sub" }, `${pct(r.figures.bounce_rate.low)} – ${pct(r.figures.bounce_rate.high)}`) : null,
          delta,
        );
      }),
    );
    document.getElementById("compare-note")?.remove();
    if (prevNote) kpis.after(prevNote);
    kpis.setAttribute("aria-busy", "false");
    kpis.dataset.ready = "1";
    draw();
  };

  const showPages = async (): Promise<void> => {
    const r = await pagesP;
    if (!ctx.current()) return;
    const path: Column<PageRow> = { label: s.rawPaths ? "Path" : "Page", cell: (x) => h("span", { class: "path" }, x.path), csv: (x) => x.path };
    const top = r.pages.slice(0, 10);
    const entries = r.pages.filter((x) => x.entries > 0).sort((a, b) => b.entries - a.entries || a.path.localeCompare(b.path)).slice(0, 10);
    const exits = r.pages.filter((x) => x.exits > 0).sort((a, b) => b.exits - a.exits || a.path.localeCompare(b.path)).slice(0, 10);
    const toggle = h(
      "label",
      { class: "muted", id: "raw-paths" },
      h("input", { type: "checkbox", checked: s.rawPaths, onchange: () => ctx.go({ rawPaths: !s.rawPaths }) }),
      " Paths, not page groups",
    );
    clear(pagesHead, toggle);
    clear(
      pages,
      table("Top pages", [path, { label: "Pageviews", cell: (x) => num(x.pageviews), csv: (x) => x.pageviews, num: true }, { label: "Visitors", cell: (x) => num(x.visitors), csv: (x) => x.visitors, num: true }], top, { id: "top-pages", bar: (x) => x.pageviews }),
      table("Entry pages", [path, { label: "Entries", cell: (x) => num(x.entries), csv: (x) => x.entries, num: true }, { label: "Bounce rate", cell: (x) => pct(x.bounce_rate.rate), csv: (x) => x.bounce_rate.rate, num: true }], entries, { id: "entry-pages", bar: (x) => x.entries }),
      table("Exit pages", [path, { label: "Exits", cell: (x) => num(x.exits), csv: (x) => x.exits, num: true }, { label: "Exit rate", cell: (x) => pct(x.exit_rate.rate), csv: (x) => x.exit_rate.rate, num: true }], exits, { id: "exit-pages", bar: (x) => x.exits }),
    );
  };

  const showDims = async (): Promise<void> => {
    const rs = (await cur).breakdowns || [];
    if (!ctx.current()) return;
    clear(
      dims,
      BREAKDOWNS.map((b, i) =>
        table(
          b.title,
          [
            { label: b.label, cell: (x: Row) => x.value, csv: (x: Row) => x.value },
            { label: "Visitors", cell: (x: Row) => num(x.figures.visitors), csv: (x: Row) => x.figures.visitors, num: true },
            { label: "Sessions", cell: (x: Row) => num(x.figures.sessions), csv: (x: Row) => x.figures.sessions, num: true },
            { label: "Bounce rate", cell: (x: Row) => pct(x.figures.bounce_rate.rate), csv: (x: Row) => x.figures.bounce_rate.rate, num: true },
          ],
          rs[i]?.rows || [],
          {
            id: `by-${b.by}`,
            bar: (x) => x.figures.visitors,
            // A click filters the whole dashboard to that value.
            clickable: (x) => x.value !== "(other)" && x.value !== "(none)",
            onRow: (x) => ctx.go({ filters: [...s.filters.filter((f) => f.field !== b.by), { field: b.by, value: x.value }] }),
            rowLabel: (x) => `Only ${b.label.toLowerCase()} ${x.value}`,
          },
        ),
      ),
    );
  };

  await Promise.all([
    showKpis().catch((e) => ctx.current() && clear(kpis, errorBox(e))),
    showDims().catch((e) => ctx.current() && clear(dims, errorBox(e))),
    showPages().catch((e) => ctx.current() && clear(pages, errorBox(e))),
  ]);
}

/** A site without a single event: its snippet and the way to Setup, not zeros. */
function noEvents(ctx: Ctx, main: HTMLElement): void {
  const s = ctx.state;
  clear(
    main,
    h(
      "section",
      { class: "card", id: "no-events", "aria-labelledby": "no-events-title" },
      h("h1", { id: "no-events-title" }, `No events yet for ${s.site}`),
      h("p", {}, "The reports fill in from the first event. Put the tracking snippet in the <head> of every page:"),
      snippetBox(s.site),
      h("p", { class: "actions" }, h("a", { class: "btn primary", id: "open-setup", href: format({ ...s, page: "setup" }) }, "Open Setup"), h("span", { class: "muted" }, "to see the first event arrive, and other ways to send events.")),
    ),
  );
}

type Row = OverviewBreakdownRow;
const BREAKDOWNS = [
  { by: "source", title: "Sources", label: "Source" },
  { by: "utm_campaign", title: "Campaigns", label: "Campaign" },
  { by: "device", title: "Devices", label: "Device" },
  { by: "country", title: "Countries", label: "Country" },
];

/** Visitors with an event in the last 5 minutes (the server's clock), every 15 s while
 * the page is shown. Filters apply; the range does not. */
function realtime(ctx: Ctx, el: HTMLElement): void {
  const s = ctx.state;
  const tick = async (): Promise<void> => {
    if (!ctx.current() || !el.isConnected) return;
    try {
      const r = await query({ ...spec(s, { type: "overview" }), from: "-5m", to: "now" });
      if (!ctx.current() || !el.isConnected) return;
      const n = r.figures.visitors;
      el.dataset.visitors = String(n);
      clear(el, h("span", { class: n > 0 ? "dot on" : "dot" }), `${num(n)} ${n === 1 ? "visitor" : "visitors"} now`, h("span", { class: "muted" }, " (last 5 minutes)"));
    } catch {
      clear(el, h("span", { class: "dot" }), "Visitors now: unavailable");
    }
    setTimeout(tick, 15000);
  };
  void tick();
}
