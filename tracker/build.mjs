// Builds the tracker: src/cairn.ts -> dist/cairn.js (minified IIFE, ES2017, every
// feature compiled in; each can still be turned off per site with data-exclude).
//
//   node build.mjs           write dist/cairn.js
//   node build.mjs --check   exit 1 if dist/cairn.js differs from a fresh build
//
// The bundle is committed: the Rust server embeds it (crates/server/src/tracker.rs).
import { readFileSync, writeFileSync, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";

export const ROOT = dirname(fileURLToPath(import.meta.url));
export const OUT = join(ROOT, "dist", "cairn.js");

/** The autocapture features, by their data-exclude name. */
export const FEATURES = ["outbound", "downloads", "cta", "forms", "video", "search", "share"];

/**
 * Bundles the tracker with the given features compiled in (all by default) and returns
 * its text.
 */
export async function bundle(features = FEATURES) {
  const define = {};
  for (const f of FEATURES) define[`__${f.toUpperCase()}__`] = String(features.includes(f));
  const r = await esbuild.build({
    entryPoints: [join(ROOT, "src", "cairn.ts")],
    bundle: true,
    write: false,
    format: "iife",
    target: "es2017",
    platform: "browser",
    minify: true,
    sourcemap: false,
    legalComments: "none",
    charset: "utf8",
    define,
    logLevel: "silent",
  });
  return r.outputFiles[0].text;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const js = await bundle();
  if (process.argv.includes("--check")) {
    let old = "";
    try {
      old = readFileSync(OUT, "utf8");
    } catch {}
    if (old !== js) {
      console.error("tracker/dist/cairn.js is stale: run `node tracker/build.mjs` and commit it");
      process.exit(1);
    }
    console.log(`tracker/dist/cairn.js is up to date (${js.length} bytes)`);
  } else {
    mkdirSync(dirname(OUT), { recursive: true });
    writeFileSync(OUT, js);
    console.log(`wrote tracker/dist/cairn.js (${js.length} bytes)`);
  }
}
