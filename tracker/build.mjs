// Builds the tracker: the core (src/cairn.ts) and each autocapture feature
// (src/features/<name>.ts) as a minified chunk of its own (ES2017, deterministic), and
// the script with every feature. The server serves a site the core plus the features
// it asks for (`/cairn.js?f=forms,video`), assembled from these chunks the way
// `assemble` does here (crates/server/src/tracker.rs does the same); `/cairn.js`
// without `f` is dist/cairn.js.
//
//   node build.mjs           write dist/cairn.js, dist/core.js and dist/features/*.js
//   node build.mjs --check   exit 1 if one of them differs from a fresh build
//
// The files are committed: the Rust server embeds them.
import { readFileSync, writeFileSync, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";

export const ROOT = dirname(fileURLToPath(import.meta.url));
export const DIST = join(ROOT, "dist");
export const OUT = join(DIST, "cairn.js");

/** The autocapture features, by their data-exclude (and `?f=`) name. */
export const FEATURES = ["outbound", "downloads", "cta", "forms", "video", "search", "share"];

/**
 * The order of the features' chunks in an assembled script, which is the order the core
 * starts them in: the click listeners go share, downloads, outbound, CTA (a click one
 * of them counted, a later one leaves alone), and the search feature hooks into the
 * first pageview.
 */
export const ORDER = ["share", "downloads", "outbound", "cta", "forms", "video", "search"];

/**
 * What wraps the chunks: one function whose parameter is the list the feature chunks
 * register in and the core (the last chunk) starts them from (src/globals.d.ts).
 */
export const HEAD = '"use strict";(cairnF=>{';
export const TAIL = "})([]);\n";

const STRICT = '"use strict";';

/** A feature chunk must not carry a copy of the core: it uses the core's through src/api.ts. */
const noCore = {
  name: "no-core",
  setup(build) {
    build.onResolve({ filter: /(^|\/)(core|cut)$/ }, (a) => ({
      errors: [{ text: `${a.importer} imports ${a.path}: a feature uses the core through ../api` }],
    }));
  },
};

/**
 * One chunk: `entry` bundled as a minified IIFE, without its "use strict" (HEAD has it);
 * `bare`: without the IIFE around it either (the core: the function of HEAD and TAIL
 * gives its names their own scope).
 */
async function chunk(entry, plugins = [], bare = false) {
  const r = await esbuild.build({
    entryPoints: [join(ROOT, "src", entry)],
    bundle: true,
    write: false,
    format: "iife",
    target: "es2017",
    platform: "browser",
    minify: true,
    sourcemap: false,
    legalComments: "none",
    charset: "utf8",
    plugins,
    logLevel: "silent",
  });
  const js = r.outputFiles[0].text;
  const [open, close] = bare ? [STRICT + "(()=>{", "})();\n"] : [STRICT, ""];
  if (!js.startsWith(open) || !js.endsWith(close)) throw new Error(`${entry}: esbuild's output is not ${open}…${close}`);
  return js.slice(open.length, js.length - close.length) + (bare ? "\n" : "");
}

/** The chunks: `{core, features: {name: text}}`. */
export async function chunks() {
  const features = {};
  for (const f of ORDER) features[f] = await chunk(`features/${f}.ts`, [noCore]);
  return { core: await chunk("cairn.ts", [], true), features };
}

/**
 * The script with the given features (in any order; unknown names throw): HEAD, their
 * chunks in `ORDER`, the core, TAIL. What the server serves for `?f=`.
 */
export function assemble(c, features) {
  for (const f of features) if (!ORDER.includes(f)) throw new Error(`unknown feature ${f}`);
  return HEAD + ORDER.filter((f) => features.includes(f)).map((f) => c.features[f]).join("") + c.core + TAIL;
}

/** The script with the given features (all by default), as the server serves it. */
export async function bundle(features = FEATURES) {
  return assemble(await chunks(), features);
}

/** Every file of dist/: path (relative to dist/) -> text. */
export async function files() {
  const c = await chunks();
  const out = { "cairn.js": assemble(c, FEATURES), "core.js": c.core };
  for (const f of ORDER) out[`features/${f}.js`] = c.features[f];
  return out;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const check = process.argv.includes("--check");
  let stale = 0;
  for (const [name, js] of Object.entries(await files())) {
    const path = join(DIST, name);
    if (check) {
      let old = "";
      try {
        old = readFileSync(path, "utf8");
      } catch {}
      if (old !== js) {
        console.error(`tracker/dist/${name} is stale: run \`node tracker/build.mjs\` and commit it`);
        stale++;
      }
    } else {
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, js);
      console.log(`wrote tracker/dist/${name} (${js.length} bytes)`);
    }
  }
  if (stale) process.exit(1);
  if (check) console.log("tracker/dist/ is up to date");
}
