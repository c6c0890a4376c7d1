// CSV export cells (hardening item 11): text a spreadsheet would run as a formula gets a
// leading `'` (OWASP); numbers and ordinary text are written as they are. And CSV read:
// the Campaigns page's spend import (src/spend.ts) reads quoted fields, CRLF, a BOM and
// blank lines, keeps each row's line, and puts the API's `rows[i]` errors at their line.
//
//   node web/test/csv.mjs
import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const here = dirname(fileURLToPath(import.meta.url));
/** The module `src/NAME.ts`, bundled. */
async function load(name) {
  const out = await build({
    entryPoints: [join(here, "..", "src", `${name}.ts`)],
    bundle: true,
    format: "esm",
    platform: "neutral",
    write: false,
    logLevel: "silent",
  });
  return import(`data:text/javascript;base64,${Buffer.from(out.outputFiles[0].text).toString("base64")}`);
}
const ui = await load("ui");

const cases = [
  ['=HYPERLINK("https://evil.example","x")', `"'=HYPERLINK(""https://evil.example"",""x"")"`],
  ["+1", "'+1"],
  ["-2+3", "'-2+3"],
  ["@SUM(A1)", "'@SUM(A1)"],
  ["\tx", "'\tx"],
  ["\rx", `"'\rx"`],
  ["'=quoted", "''=quoted"],
  ["plain", "plain"],
  ["a,b", `"a,b"`],
  [-2.5, "-2.5"],
  [0, "0"],
];
for (const [v, want] of cases) assert.equal(ui.csvField(v), want, JSON.stringify(v));
console.log(`csv: ${cases.length} cells written safely`);

const spend = await load("spend");
const file = '\uFEFFDate,Source,Medium,Campaign,Cost,Currency\r\n2026-09-01,google,cpc,"autumn, ""sale""",182.40,EUR\r\n\r\n2026-09-01,facebook,paid_social,"two\nlines",95.1,USD\n2026-09-02,,,brand,0,EUR';
const read = spend.readSpend(file);
assert.deepEqual(read.rows, [
  { date: "2026-09-01", source: "google", medium: "cpc", campaign: 'autumn, "sale"', cost: 182.4, currency: "EUR" },
  { date: "2026-09-01", source: "facebook", medium: "paid_social", campaign: "two\nlines", cost: 95.1, currency: "USD" },
  { date: "2026-09-02", source: "", medium: "", campaign: "brand", cost: 0, currency: "EUR" },
]);
assert.deepEqual(read.lines, [2, 4, 6], "each row's line: a blank line skipped, a quoted line break counted");
assert.deepEqual(spend.readSpend("cost,currency,date,campaign\n1.5,EUR,2026-09-01,x\n").rows, [{ date: "2026-09-01", source: "", medium: "", campaign: "x", cost: 1.5, currency: "EUR" }], "columns in any order");
assert.throws(() => spend.readSpend("date,campaign,cost\n"), /^Error: line 1: the header must name date, cost and currency/);
assert.throws(() => spend.readSpend("date,cost,currency\n2026-09-01,12,EUR\n2026-09-02,1.234,50,EUR\n2026-09-03,abc,EUR"), /^Error: line 4: cost: `abc` is not a number/);
assert.equal(spend.atLine("rows[1].currency: USD is not EUR", read.lines), "line 4: currency: USD is not EUR");
assert.equal(spend.atLine("rows[0]: name the campaign, its source or its medium", read.lines), "line 2: name the campaign, its source or its medium");
assert.equal(spend.atLine("currency: `eu` is not a currency code", read.lines), "currency: `eu` is not a currency code");
console.log("csv: spend files read, errors at their lines");

// The Leading indicators card's cohort CSV (src/leading.ts): every figure in its own
// column, every indicator's early rate, a hostile campaign name made harmless.
const leading = await load("leading");
const rate = (num, den) => ({ num, den, rate: num / den, low: 0.01, high: 0.2 });
const lr = {
  type: "leading_indicators", goal: "Purchase", by: "utm_campaign", early_days: 3, horizon_days: 14, min_visitors: 30, period: "week", visitors: 140, other_visitors: 0, fitted: 1,
  indicators: [
    { goal: "Purchase", baseline: true, cohorts: 3, r: 0.9, low: null, high: null, p_value: 0.2, q_value: 0.2, slope: 1, intercept: 0, significant: false },
    { goal: "Add to cart", baseline: false, cohorts: 3, r: -0.5, low: null, high: null, p_value: 0.6, q_value: 0.6, slope: -0.25, intercept: 0.01, significant: false },
  ],
  cohorts: [
    { value: "=cmd()", period: "2026-09-07", visitors: 100, status: "complete", fitted: true, early: { Purchase: rate(2, 100), "Add to cart": rate(10, 100) }, converted: rate(3, 100), predicted: { indicator: "Purchase", rate: 0.025, low: 0, high: 0.05 } },
    { value: "=cmd()", period: "2026-09-14", visitors: 40, status: "too_recent", fitted: false, early: { Purchase: rate(1, 40) }, converted: rate(1, 40) },
  ],
};
assert.deepEqual(ui.toCsv(leading.cohortCsv(lr), lr.cohorts).split("\r\n"), [
  "utm_campaign,Week of first visit,New visitors,Status,Fitted,Purchase in the first 3 days,Add to cart in the first 3 days,Purchase within 14 days,Purchase low,Purchase high,Predicted from,Predicted Purchase,Predicted low,Predicted high",
  "'=cmd(),2026-09-07,100,complete,yes,0.02,0.1,0.03,0.01,0.2,Purchase,0.025,0,0.05",
  "'=cmd(),2026-09-14,40,too_recent,no,0.025,,0.025,0.01,0.2,,,,",
  "",
], "a cohort per line, every indicator's early rate");
assert.equal(leading.lineText(lr.indicators[1]), "1.00% − 0.25 × early rate", "a falling line");
assert.equal(leading.rWithCi({ ...lr.indicators[1], low: -0.91, high: 0.2 }), "r = −0.50 [−0.91 – 0.20]");
assert.equal(leading.leadingBy("utm_content"), "utm_campaign", "cohorts by campaign, source, medium or channel only");
console.log("csv: leading indicators' cohorts written one per line");

// The Experiments page's metrics CSV (src/experiments.ts): a line per metric and variant,
// the control's comparison left empty, a hostile variant name made harmless; and the
// difference as the page writes it.
const exp = await load("experiments");
const r3 = (num, den, low, high) => ({ num, den, rate: num / den, low, high });
const er = {
  type: "experiment", key: "sticky_cart", unit: "visitor", control: "control", mixed: 0, mde: 0.1, min_units: 100,
  variants: [{ name: "control", units: 200, share: 0.5, expected_share: 0.5 }, { name: "=cmd()", units: 200, share: 0.5, expected_share: 0.5 }],
  sample_ratio: { chi_square: 0, p_value: 1, mismatch: false },
  metrics: [{
    goal: "Add to cart", primary: true,
    variants: [
      { variant: "control", rate: r3(10, 200, 0.03, 0.09), prob_best: 0.1, expected_loss: 0.02 },
      { variant: "=cmd()", rate: r3(20, 200, 0.07, 0.15), prob_best: 0.9, expected_loss: 0.001,
        vs_control: { sequential: { low: -0.01, high: 0.11, p_value: 0.2, adjusted_p: 0.4 }, diff: { diff: 0.05, low: -0.004, high: 0.1 }, lift: null, p_value: 0.04, verdict: "no_difference_yet" } },
    ],
  }],
};
assert.deepEqual(ui.toCsv(exp.experimentCsv(er), er.metrics.flatMap((m) => m.variants.map((v) => ({ m, v })))).split("\r\n"), [
  "Metric,Primary,Variant,Units,Converted,Rate,Rate low,Rate high,Difference vs control,Sequential low,Sequential high,Sequential p,Adjusted p,Verdict,Fixed-size low,Fixed-size high,Lift,Lift low,Lift high,Fixed-size p,P(best),Expected loss",
  "Add to cart,yes,control,200,10,0.05,0.03,0.09,,,,,,,,,,,,,0.1,0.02",
  "Add to cart,yes,'=cmd(),200,20,0.1,0.07,0.15,0.05,-0.01,0.11,0.2,0.4,no_difference_yet,-0.004,0.1,,,,0.04,0.9,0.001",
  "",
], "a line per metric and variant");
assert.equal(exp.diffText(er.metrics[0].variants[1]), "+5.00 pp [−1.00 – +11.00]", "the difference with its sequential interval");
assert.equal(exp.pText(0.00004), "< 0.0001");
console.log("csv: experiment metrics written one per metric and variant");

// The Experiments page's planner (src/plan.ts): a line per goal with every figure of the
// API, a goal the plan cannot size left empty, a hostile goal name made harmless; days
// rounded up, "over a year" past 365; and the trend's periods (src/experiments.ts).
const plan = await load("plan");
const pr = {
  type: "experiment_plan", goal: "Purchase", unit: "visitor", mde: 0.1, power: 0.8, variants: 2, share: 1, days: 30, units: 70265, units_per_day: 2342.2,
  metrics: [
    { goal: "Purchase", is_macro: true, baseline: r3(2257, 70265, 0.0308, 0.0335), units_fixed: 49582, units_sequential: 96082, days_sequential: 82.05, days_fixed: 42.34, macro_lift: null, proxy: false },
    { goal: "=cmd()", is_macro: false, baseline: r3(7490, 70265, 0.1044, 0.1089), units_fixed: 13725, units_sequential: 26593, days_sequential: 22.7, days_fixed: 11.7, macro_lift: { ratio: 5011.3, low: 1791.5, high: 14017.9 }, proxy: true },
    { goal: "Big basket", is_macro: false, baseline: r3(0, 70265, 0, 0.0001), units_fixed: null, units_sequential: null, days_sequential: null, days_fixed: null, macro_lift: null, proxy: false },
  ],
};
assert.deepEqual(ui.toCsv(plan.planCsv(pr), pr.metrics).split("\r\n"), [
  'Goal,Macro,Proxy,Baseline,Baseline low,Baseline high,Converted,Visitors,"Visitors per variant, sequential","Days, sequential","Visitors per variant, fixed size","Days, fixed size",Macro lift,Macro lift low,Macro lift high',
  `Purchase,yes,no,${2257 / 70265},0.0308,0.0335,2257,70265,96082,82.05,49582,42.34,,,`,
  `'=cmd(),no,yes,${7490 / 70265},0.1044,0.1089,7490,70265,26593,22.7,13725,11.7,5011.3,1791.5,14017.9`,
  "Big basket,no,no,0,0,0.0001,0,70265,,,,,,,",
  "",
], "a line per goal");
assert.deepEqual([82.05, 23, 365, 365.2, null].map(plan.daysText), ["83", "23", "365", "over a year", "–"], "days rounded up, over a year past 365");
const st = (range, from = "", to = "") => ({ range, from, to });
assert.deepEqual([st("7d"), st("30d"), st("90d"), st("custom", "2026-01-01", "2026-02-14"), st("custom", "2026-01-01", "2026-02-15")].map(exp.trendBy), ["day", "day", "week", "day", "week"], "days up to 45 days, else weeks");
console.log("csv: a test's plan written one per goal");
