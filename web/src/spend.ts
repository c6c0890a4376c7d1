// The Spend card of the Campaigns page (docs/campaigns.md): the stored spend of the
// range's days per campaign (GET /api/v1/sites/{site}/spend), and for admins an import
// from a CSV file parsed here — the currency kept, a rate for each other currency of the
// file, a preview — sent as one PUT (the server checks every row: an error names its line),
// and deleting the spend of some days.
import { api, type SpendRow, type SpendImported } from "./api";
import type { Ctx } from "./main";
import { days } from "./state";
import { amount, clear, errorBox, h, num, table } from "./ui";

/** The records of a CSV text (RFC 4180: quoted fields, `""`), each with its line number;
 * blank lines left out. */
export function csvRecords(text: string): { line: number; fields: string[] }[] {
  const out: { line: number; fields: string[] }[] = [];
  let fields: string[] = [], f = "", quoted = false, line = 1, start = 1;
  const end = (): void => {
    fields.push(f);
    if (fields.some((x) => x.trim())) out.push({ line: start, fields });
    fields = [];
    f = "";
  };
  text = text.replace(/^\uFEFF/, "");
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c !== '"') f += c;
      else if (text[i + 1] === '"') f += text[++i];
      else quoted = false;
      if (c === "\n") line++;
    } else if (c === '"') quoted = true;
    else if (c === ",") {
      fields.push(f);
      f = "";
    } else if (c === "\n" || c === "\r") {
      if (c === "\r" && text[i + 1] === "\n") i++;
      end();
      start = ++line;
    } else f += c;
  }
  if (f || fields.length) end();
  return out;
}

/** Spend rows from a CSV text with a header naming date, cost and currency (and source,
 * medium, campaign), as `cairn spend import` reads it; the line of each row. */
export function readSpend(text: string): { rows: SpendRow[]; lines: number[] } {
  const [head, ...recs] = csvRecords(text);
  if (!head) throw new Error("the file is empty");
  const names = head.fields.map((x) => x.trim().toLowerCase());
  const col = (k: string): number => names.indexOf(k);
  if (["date", "cost", "currency"].some((k) => col(k) < 0)) {
    throw new Error(`line ${head.line}: the header must name date, cost and currency (and source, medium, campaign), found ${names.join(",")}`);
  }
  const rows = recs.map(({ line, fields }): SpendRow => {
    const get = (k: string): string => (fields[col(k)] ?? "").trim();
    const cost = get("cost");
    if (!cost || !Number.isFinite(Number(cost))) throw new Error(`line ${line}: cost: \`${cost}\` is not a number`);
    return { date: get("date"), source: get("source"), medium: get("medium"), campaign: get("campaign"), cost: Number(cost), currency: get("currency") };
  });
  return { rows, lines: recs.map((r) => r.line) };
}

/** The API's `rows[3].currency: …` as the file's line: `line 5: currency: …`. */
export const atLine = (msg: string, lines: number[]): string =>
  msg.replace(/^rows\[(\d+)\]\.?/, (_, i: string) => `line ${lines[Number(i)] ?? Number(i) + 2}: `).replace(/^(line \d+): : /, "$1: ");

/** Amounts per currency, never added across currencies: `540.20 EUR, 95.10 USD`. */
function perCurrency(rows: SpendRow[]): string {
  const t = new Map<string, number>();
  for (const r of rows) t.set(r.currency, (t.get(r.currency) || 0) + r.cost);
  return [...t].map(([c, x]) => `${amount(x)} ${c}`).join(", ");
}

/** One campaign's spend over the days shown. */
interface Campaign { campaign: string; source: string; medium: string; days: number; cost: number }

export async function showSpend(ctx: Ctx, el: HTMLElement, changed: () => Promise<void>): Promise<void> {
  const s = ctx.state;
  const site = `/api/v1/sites/${encodeURIComponent(s.site)}/spend`;
  const range = days(s);
  const summary = h("span", { class: "muted", id: "spend-summary" });
  const list = h("div", { id: "spend-list" });
  const msg = h("div", { id: "spend-msg", "aria-live": "polite" });
  let currency = "";
  const showList = async (): Promise<void> => {
    const rows = await api<SpendRow[]>("GET", `${site}?from=${range.from}&to=${range.to}`);
    if (!ctx.current()) return;
    currency = rows[0]?.currency || currency;
    const by = new Map<string, Campaign & { dates: Set<string> }>();
    for (const r of rows) {
      const [campaign = "", source = "", medium = ""] = [r.campaign, r.source, r.medium];
      const k = JSON.stringify([campaign, source, medium]);
      const c = by.get(k) || { campaign, source, medium, days: 0, cost: 0, dates: new Set<string>() };
      c.cost += r.cost;
      c.dates.add(r.date);
      c.days = c.dates.size;
      by.set(k, c);
    }
    const campaigns = [...by.values()].sort((a, b) => b.cost - a.cost || a.campaign.localeCompare(b.campaign));
    const cell = (v: string): string => v || "–";
    summary.textContent = ` · ${rows.length ? perCurrency(rows) : "none"}, ${range.from} – ${range.to}`;
    clear(
      list,
      table(`Spend by campaign, ${range.from} – ${range.to}`, [
        { label: "Campaign", cell: (c: Campaign) => cell(c.campaign), csv: (c: Campaign) => c.campaign },
        { label: "Source", cell: (c: Campaign) => cell(c.source), csv: (c: Campaign) => c.source },
        { label: "Medium", cell: (c: Campaign) => cell(c.medium), csv: (c: Campaign) => c.medium },
        { label: "Days", cell: (c: Campaign) => num(c.days), csv: (c: Campaign) => c.days, num: true },
        { label: `Cost${currency ? ` (${currency})` : ""}`, cell: (c: Campaign) => h("span", { "data-cost": c.cost }, amount(c.cost)), csv: (c: Campaign) => c.cost, num: true },
      ], campaigns, { id: "spend-table", file: "spend" }),
    );
  };
  const after = async (text: string): Promise<void> => {
    clear(msg, h("p", { class: "status ok" }, text));
    try {
      await Promise.all([showList(), changed()]);
    } catch (e) {
      clear(msg, errorBox(e));
    }
  };

  await showList();
  if (!ctx.current()) return;
  clear(
    el,
    h("details", { class: "card legend-card", id: "spend-card" },
      h("summary", {}, "Spend", summary),
      h("p", { class: "muted" }, "What the campaigns cost per day, from your ad platforms. Costs join the goal rates above by utm_campaign, utm_source and utm_medium, over the days of the range, in one currency per site."),
      list,
      ctx.canEdit ? [importForm(ctx, site, () => currency, after, msg), msg, deleteForm(site, range, after, msg)] : null,
    ),
  );
}

function importForm(ctx: Ctx, site: string, kept: () => string, after: (text: string) => Promise<void>, msg: HTMLElement): HTMLElement {
  let parsed: { rows: SpendRow[]; lines: number[] } | null = null;
  const rates = new Map<string, string>();
  const file = h("input", { type: "file", id: "spend-file", accept: ".csv,text/csv" });
  const cur = h("input", { id: "spend-currency", size: 4, maxlength: 3, placeholder: "EUR", autocomplete: "off", value: kept() });
  const rateBox = h("div", { class: "form-grid", id: "spend-rates" });
  const hint = "Choose a CSV file: a header line naming date, source, medium, campaign, cost and currency, in any order; one row per day and campaign.";
  const preview = h("p", { id: "spend-preview", class: "muted" }, hint);
  const go = h("button", { type: "submit", class: "btn primary", id: "spend-import", disabled: true }, "Import");
  const currencies = (): string[] => [...new Set(parsed?.rows.map((r) => r.currency))];
  const show = (): void => {
    const c = cur.value.trim().toUpperCase();
    const others = currencies().filter((x) => x !== c);
    clear(rateBox, others.map((x) =>
      h("div", { class: "field" }, h("label", { for: `spend-rate-${x}` }, `1 ${x} in ${c || "the kept currency"}`),
        h("input", { id: `spend-rate-${x}`, type: "number", min: 0, step: "any", value: rates.get(x), oninput: (e: Event) => rates.set(x, (e.target as HTMLInputElement).value) }))));
    go.disabled = !parsed || !parsed.rows.length || !c;
    if (parsed) {
      const ds = parsed.rows.map((r) => r.date).sort();
      preview.textContent = `${num(parsed.rows.length)} ${parsed.rows.length === 1 ? "row" : "rows"}${ds.length ? `, ${ds[0]} – ${ds[ds.length - 1]}` : ""}: ${perCurrency(parsed.rows) || "nothing"}.${others.length ? ` Give the rate of ${others.join(" and ")}: a row in a currency without one is refused.` : ""}`;
    }
  };
  file.addEventListener("change", async () => {
    parsed = null;
    clear(msg);
    const f = file.files?.[0];
    if (f) {
      try {
        parsed = readSpend(await f.text());
        // The kept currency: the site's, else the file's most frequent one.
        if (!cur.value.trim()) {
          const n = new Map<string, number>();
          for (const r of parsed.rows) n.set(r.currency, (n.get(r.currency) || 0) + 1);
          cur.value = [...n].sort((a, b) => b[1] - a[1])[0]?.[0] || "";
        }
      } catch (e) {
        clear(msg, errorBox(`${f.name}: ${(e as Error).message}`));
      }
    }
    show();
  });
  cur.addEventListener("input", show);
  return h(
    "form",
    {
      id: "spend-import-form", "aria-label": "Import spend",
      onsubmit: async (e: Event) => {
        e.preventDefault();
        const p = parsed;
        if (!p) return;
        const c = cur.value.trim().toUpperCase();
        const r: Record<string, number> = {};
        for (const x of currencies()) if (x !== c && rates.get(x)?.trim()) r[x] = Number(rates.get(x));
        go.disabled = true;
        let res: SpendImported;
        try {
          res = await api<SpendImported>("PUT", site, { currency: c, rates: r, rows: p.rows });
        } catch (err) {
          clear(msg, errorBox(atLine((err as Error).message, p.lines).replace(/\.?$/, ". Nothing was imported.")));
          show();
          return;
        }
        if (!ctx.current()) return;
        parsed = null;
        file.value = "";
        preview.textContent = hint;
        show();
        await after(`Imported ${num(res.imported)} ${res.imported === 1 ? "row" : "rows"}, kept in ${res.currency}.`);
      },
    },
    h("h3", {}, "Import from CSV"),
    h("div", { class: "form-grid" },
      h("div", { class: "field" }, h("label", { for: "spend-file" }, "CSV file"), file),
      h("div", { class: "field" }, h("label", { for: "spend-currency" }, "Keep in (currency)"), cur)),
    rateBox,
    preview,
    go,
  );
}

function deleteForm(site: string, range: { from: string; to: string }, after: (text: string) => Promise<void>, msg: HTMLElement): HTMLElement {
  const from = h("input", { type: "date", id: "spend-del-from", value: range.from, required: true });
  const to = h("input", { type: "date", id: "spend-del-to", value: range.to, required: true });
  return h(
    "form",
    {
      id: "spend-delete-form", "aria-label": "Delete spend",
      onsubmit: async (e: Event) => {
        e.preventDefault();
        if (!confirm(`Delete the spend of ${from.value} – ${to.value}? The costs of those days are gone until imported again.`)) return;
        try {
          const r = await api<{ deleted: number }>("DELETE", `${site}?from=${from.value}&to=${to.value}`);
          await after(`Deleted ${num(r.deleted)} ${r.deleted === 1 ? "row" : "rows"} of spend.`);
        } catch (err) {
          clear(msg, errorBox(err));
        }
      },
    },
    h("h3", {}, "Delete spend"),
    h("div", { class: "inline" }, h("label", { for: "spend-del-from" }, "From"), from, h("label", { for: "spend-del-to" }, "to"), to,
      h("button", { type: "submit", class: "btn small danger", id: "spend-delete" }, "Delete")),
  );
}
