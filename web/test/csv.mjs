// CSV export cells (hardening item 11): text a spreadsheet would run as a formula gets a
// leading `'` (OWASP); numbers and ordinary text are written as they are.
//
//   node web/test/csv.mjs
import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const here = dirname(fileURLToPath(import.meta.url));
const out = await build({
  entryPoints: [join(here, "..", "src", "ui.ts")],
  bundle: true,
  format: "esm",
  platform: "neutral",
  write: false,
  logLevel: "silent",
});
const ui = await import(`data:text/javascript;base64,${Buffer.from(out.outputFiles[0].text).toString("base64")}`);

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
