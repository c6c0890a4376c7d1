// The tracker's size budget: assembles what the server serves (build.mjs `assemble`, as
// crates/server/src/tracker.rs does) for the core alone (`/cairn.js?f=core`), the core
// with each autocapture feature (`?f=forms`, …) and every feature (`/cairn.js`), prints
// their gzipped sizes (zlib level 9, the server's) and fails when the core exceeds 2048
// bytes or a feature adds more than 1024.
//
//   node test/sizes.mjs
import { gzipSync } from "node:zlib";
import { assemble, chunks, FEATURES } from "../build.mjs";

const CORE_MAX = 2048;
const FEATURE_MAX = 1024;

const gz = (s) => gzipSync(Buffer.from(s), { level: 9 }).length;
const rows = [];
let failed = false;

const c = await chunks();
const core = assemble(c, []);
const coreGz = gz(core);
rows.push(["core (?f=core)", core.length, coreGz, "", coreGz > CORE_MAX ? `FAIL > ${CORE_MAX}` : "ok"]);
failed ||= coreGz > CORE_MAX;

for (const f of FEATURES) {
  const js = assemble(c, [f]);
  const added = gz(js) - coreGz;
  rows.push([`core + ${f} (?f=${f})`, js.length, gz(js), `+${added}`, added > FEATURE_MAX ? `FAIL > ${FEATURE_MAX}` : "ok"]);
  failed ||= added > FEATURE_MAX;
}
const all = assemble(c, FEATURES);
rows.push(["all (/cairn.js)", all.length, gz(all), `+${gz(all) - coreGz}`, ""]);

const head = ["build", "minified", "gzip -9", "added", ""];
const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
const line = (r) => r.map((c, i) => (i == 0 ? String(c).padEnd(w[i]) : String(c).padStart(w[i]))).join("  ").trimEnd();
console.log(line(head));
for (const r of rows) console.log(line(r));
if (failed) {
  console.error("tracker size budget exceeded");
  process.exit(1);
}
