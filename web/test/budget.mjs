// The dashboard's size budget: prints the minified and gzipped sizes of web/dist/app.js
// and web/dist/app.css and fails when one is over its budget.
//
//   node web/test/budget.mjs
//
// Budget (gzip -9): app.js 249 KiB, app.css 8 KiB, both together 253 KiB. Nearly all of
// app.js is ECharts (tree-shaken: line, bar and Sankey charts, grid, tooltip, legend,
// canvas renderer, about 200 KiB gzipped); the dashboard's own code is about 37 KiB. (The
// budget grew by 5 KiB with What drives conversion, about 4.5 KiB of its own: a page of
// numbers, each explained in plain words, drawn without ECharts. It grew again with
// campaign costs, app.js by 4 KiB and the total by 2 KiB, the least whole KiB over the
// 3.2 KiB they added: the Campaigns page's cost, cost per conversion, revenue and return
// on spend, and its Spend card — a CSV file read in the browser, rates, a preview, errors
// at their line, the stored spend listed, days deleted — with no library. And again with
// the Campaigns page's Leading indicators card, app.js and the total by 4 KiB, the least
// whole KiB over the 4.5 KiB it added: its verdict in plain words, the indicators with r's
// interval on −1..1, a scatter of the cohorts with the line and the predictions — drawn
// with the line chart already bundled, as the scatter module would add 2 KiB more — and
// the cohorts' table and CSV. And again with the Experiments page, app.js and the total
// by 5 KiB, the least whole KiB over the 4.6 KiB it added (4.9 with its CSS): a verdict in
// plain words, the split with the sample ratio check, every metric's difference on a bar
// around 0, drawn as the lifts are, with no chart module. And again with the Experiments
// page's interval over time and its planner, app.js and the total by 3 KiB, the least whole
// KiB over the 3.2 KiB they added: a metric's difference in its sequential band per day or
// week, drawn with the line chart already bundled (a band is two stacked line series, the
// zero line a third: no new ECharts module), and the plan in words, its table and CSV.
// The total by 1 KiB more for a kept experiment's defaults and hypothesis on the page. And
// app.js and the total by 3 KiB with setting up an experiment, the least whole KiB over the
// 2.1 KiB it added (2.0 in app.js): a form for admins that keeps a definition —
// variants, weights, metrics, guardrails, MDE, days, targeting — with the server's refusal
// shown at its field; stopping, restarting and deleting one; kept ones listed; and the
// CUPED switch with its note, 0.4 KiB. And app.js and the total by 1 KiB with onboarding,
// the least whole KiB over the 0.9 KiB it added: adding a site from the header (a dialog
// with the server's refusal at its field) and an overview that, for a site without a
// single event, shows its snippet and the way to Setup instead of zeros. And app.js and
// the total by 3 KiB with the Events page, the least whole KiB over the 2.9 KiB it added
// (2.6 in app.js): the explorer's names with shares and sparklines, an event's properties
// and top values that filter, the live view polled every 3 s, and the site's properties
// offered in every breakdown and its event names in the funnel builder. And app.js and the
// total by 1 KiB, the least whole KiB over the 0.8 KiB they added, with the first ten
// minutes' details: bars behind the rows' main figures, stand-ins while cards load, a
// compact header on phones with the filter forms folded, the macro goal next to the name
// on Campaigns, and the tracker's guide and feature builds on Setup.)
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";

const DIST = join(dirname(fileURLToPath(import.meta.url)), "..", "dist");
const KiB = 1024;
const BUDGET = { "app.js": 249 * KiB, "app.css": 8 * KiB, total: 253 * KiB };

let failed = false;
let total = 0;
const kib = (n) => `${(n / KiB).toFixed(1)} KiB`;
for (const f of ["app.js", "app.css"]) {
  const buf = readFileSync(join(DIST, f));
  const gz = gzipSync(buf, { level: 9 }).length;
  total += gz;
  const ok = gz <= BUDGET[f];
  if (!ok) failed = true;
  console.log(`${f}: ${kib(buf.length)} minified, ${kib(gz)} gzipped (budget ${kib(BUDGET[f])}) ${ok ? "ok" : "OVER BUDGET"}`);
}
const ok = total <= BUDGET.total;
if (!ok) failed = true;
console.log(`total: ${kib(total)} gzipped (budget ${kib(BUDGET.total)}) ${ok ? "ok" : "OVER BUDGET"}`);
process.exit(failed ? 1 : 0);
