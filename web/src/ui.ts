// Small DOM helpers, number formatting and tables with CSV export.
import type { Rate, TimeStats } from "./api";

type Attrs = Record<string, string | number | boolean | null | undefined | EventListener>;
export type Child = Node | string | number | null | undefined | false | Child[];

/** Creates an element: attributes starting with "on" are listeners; false/null are left out. */
export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v == null || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v as EventListener);
    else if (k === "value" && "value" in el) (el as HTMLInputElement).value = String(v);
    else if (k === "checked" && "checked" in el) (el as HTMLInputElement).checked = Boolean(v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  append(el, children);
  return el;
}

function append(el: Node, children: Child[]): void {
  for (const c of children) {
    if (c == null || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.appendChild(typeof c === "object" ? c : document.createTextNode(String(c)));
  }
}

export function clear(el: Element, ...children: Child[]): void {
  el.textContent = "";
  append(el, children);
}

const nf = new Intl.NumberFormat("en-US");
export const num = (n: number): string => nf.format(n);
export const pct = (x: number, digits = 1): string => `${(x * 100).toFixed(digits)}%`;
export const rate = (r: Rate): string => pct(r.rate);
/** A rate's 95% interval, to the rate's own precision; none without a denominator. */
export const ci = (r: Rate, digits = 1): string => (r.den === 0 ? "–" : `${pct(r.low, digits)} – ${pct(r.high, digits)}`);
/** An amount as `4,321.00` (its currency named beside it). */
export const amount = (x: number): string => x.toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
export function money(total: number, currency: string): string {
  try {
    return new Intl.NumberFormat("en-US", { style: "currency", currency }).format(total);
  } catch {
    return `${total.toFixed(2)} ${currency}`;
  }
}
export function dur(ms: number): string {
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(s < 10 ? 1 : 0)}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${Math.round(s % 60)}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ${Math.round((s % 3600) / 60)}m`;
  return `${(s / 86400).toFixed(1)}d`;
}
export const timeStats = (t?: TimeStats | null): string => (t && t.count ? `${dur(t.median_ms)} (p25 ${dur(t.p25_ms)}, p75 ${dur(t.p75_ms)})` : "–");
/** A signed change in percentage points, with its interval. */
export function change(diff: number): string {
  const s = (diff * 100).toFixed(1);
  return `${diff > 0 ? "+" : ""}${s} pp`;
}

export const icons = {
  sun: '<svg viewBox="0 0 24 24" width="18" height="18" aria-hidden="true"><circle cx="12" cy="12" r="4" fill="currentColor"/><path d="M12 2v3M12 19v3M2 12h3M19 12h3M4.9 4.9l2.1 2.1M17 17l2.1 2.1M4.9 19.1 7 17M17 7l2.1-2.1" stroke="currentColor" stroke-width="2" fill="none" stroke-linecap="round"/></svg>',
  moon: '<svg viewBox="0 0 24 24" width="18" height="18" aria-hidden="true"><path d="M21 12.8A9 9 0 1 1 11.2 3a7 7 0 0 0 9.8 9.8z" fill="currentColor"/></svg>',
  download: '<svg viewBox="0 0 24 24" width="14" height="14" aria-hidden="true"><path d="M12 3v12m0 0-5-5m5 5 5-5M4 19h16" stroke="currentColor" stroke-width="2" fill="none" stroke-linecap="round" stroke-linejoin="round"/></svg>',
  logo: '<svg viewBox="0 0 24 24" width="22" height="22" aria-hidden="true"><ellipse cx="12" cy="19" rx="8" ry="3" fill="currentColor"/><ellipse cx="12" cy="13" rx="6" ry="2.6" fill="currentColor" opacity=".8"/><ellipse cx="12" cy="7.5" rx="4" ry="2.2" fill="currentColor" opacity=".6"/></svg>',
};

export function icon(svg: string): HTMLElement {
  const s = h("span", { class: "icon" });
  s.innerHTML = svg;
  return s;
}

export interface Column<R> {
  label: string;
  /** The cell shown. */
  cell: (r: R) => Child;
  /** The value exported (defaults to the cell's text). */
  csv?: (r: R) => string | number;
  num?: boolean;
}

/** One CSV cell. Text a spreadsheet would run as a formula (`=HYPERLINK(…)` in a hostile
 * UTM value) gets a leading `'`, as OWASP recommends; numbers are written as they are. */
export function csvField(v: string | number): string {
  let s = String(v);
  if (typeof v === "string" && /^'*[=+\-@\t\r]/.test(s)) s = `'${s}`;
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function toCsv<R>(cols: Column<R>[], rows: R[]): string {
  const text = (c: Column<R>, r: R): string | number => {
    if (c.csv) return c.csv(r);
    const v = c.cell(r);
    if (v instanceof Node) return v.textContent || "";
    return v == null || v === false ? "" : String(v);
  };
  const lines = [cols.map((c) => csvField(c.label)).join(",")];
  for (const r of rows) lines.push(cols.map((c) => csvField(text(c, r))).join(","));
  return lines.join("\r\n") + "\r\n";
}

/** Makes the browser save `text` as the CSV file `name`. */
export function downloadCsv(name: string, text: string): void {
  const blob = new Blob([text], { type: "text/csv;charset=utf-8" });
  const a = h("a", { href: URL.createObjectURL(blob), download: `${name.toLowerCase().replace(/\W+/g, "-")}.csv` });
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 1000);
}

/** A table with a caption and an "Export CSV" button; `onRow` makes the first cell a
 * button (it gets the button, to anchor a menu). */
export function table<R>(
  title: string, cols: Column<R>[], rows: R[],
  opts: {
    file?: string; id?: string; csv?: Column<R>[]; onRow?: (r: R, el: HTMLElement) => void; rowLabel?: (r: R) => string; clickable?: (r: R) => boolean; head?: Child;
    /** The row's main figure: drawn as a bar behind its first cell, the largest full. */
    bar?: (r: R) => number;
  } = {},
): HTMLElement {
  const exportCsv = (): void => downloadCsv(opts.file || title, toCsv(opts.csv || cols, rows));
  const max = opts.bar ? Math.max(0, ...rows.map(opts.bar)) : 0;
  const barOf = (r: R): Record<string, string> | null => (max > 0 ? { class: "barred", style: `--bar:${((opts.bar!(r) / max) * 100).toFixed(1)}%` } : null);
  const body = rows.length
    ? rows.map((r) =>
        h(
          "tr",
          {},
          cols.map((c, i) => {
            const content = c.cell(r);
            if (i === 0 && opts.onRow && (!opts.clickable || opts.clickable(r))) {
              const b: HTMLButtonElement = h("button", { type: "button", class: "link", onclick: () => opts.onRow!(r, b) }, content);
              if (opts.rowLabel) b.setAttribute("aria-label", opts.rowLabel(r));
              return h("th", { scope: "row", ...barOf(r) }, b);
            }
            return i === 0 ? h("th", { scope: "row", ...barOf(r) }, content) : h("td", { class: c.num ? "num" : null }, content);
          }),
        ),
      )
    : [h("tr", {}, h("td", { colspan: cols.length, class: "empty" }, "No data in this range."))];
  return h(
    "section",
    { class: "card table-card", id: opts.id },
    h(
      "div",
      { class: "card-head" },
      h("h2", {}, title),
      opts.head,
      h("button", { type: "button", class: "btn small", onclick: exportCsv, "aria-label": `Export ${title} as CSV` }, icon(icons.download), "Export CSV"),
    ),
    h(
      "div",
      { class: "scroll" },
      h("table", {}, h("thead", {}, h("tr", {}, cols.map((c) => h("th", { scope: "col", class: c.num ? "num" : null }, c.label)))), h("tbody", {}, body)),
    ),
  );
}

/** A card's stand-in while its figures load: its title and a few grey lines. */
export function placeholder(title = "", lines = 4): HTMLElement {
  return h("section", { class: "card placeholder", "aria-hidden": "true" }, title ? h("h2", {}, title) : null,
    Array.from({ length: lines }, (_, i) => h("div", { class: "ph-line", style: `width:${92 - ((i * 23) % 45)}%` })));
}

export function errorBox(e: unknown): HTMLElement {
  return h("div", { class: "error", role: "alert" }, e instanceof Error ? e.message : String(e));
}

/** An SVG element with its attributes. */
export function svg(tag: string, attrs: Record<string, string | number>): SVGElement {
  const e = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  return e;
}

/** A tiny inline SVG sparkline of values in [0, max]. */
export function sparkline(values: number[], label: string): SVGSVGElement {
  const w = 96, hgt = 24;
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", `0 0 ${w} ${hgt}`);
  svg.setAttribute("width", String(w));
  svg.setAttribute("height", String(hgt));
  svg.setAttribute("class", "spark");
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", label);
  const max = Math.max(...values, 1e-9);
  const pts = values.map((v, i) => `${values.length > 1 ? (i / (values.length - 1)) * w : w / 2},${(hgt - 2 - (v / max) * (hgt - 4)).toFixed(1)}`);
  const pl = document.createElementNS(ns, "polyline");
  pl.setAttribute("points", pts.join(" "));
  pl.setAttribute("fill", "none");
  pl.setAttribute("stroke", "currentColor");
  pl.setAttribute("stroke-width", "1.5");
  svg.appendChild(pl);
  return svg;
}
