// Builds the dashboard: src/ -> dist/index.html, dist/app.js, dist/app.css (exactly these
// three files; the Rust server embeds them and serves them at /, /app.js and /app.css).
//
//   node build.mjs           write dist/
//   node build.mjs --check   exit 1 if dist/ differs from a fresh build
//
// The build is deterministic (no hashes, dates or absolute paths) and dist/ is committed.
import { readFileSync, writeFileSync, mkdirSync, readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";

export const ROOT = dirname(fileURLToPath(import.meta.url));
export const DIST = join(ROOT, "dist");
export const FILES = ["index.html", "app.js", "app.css"];

/** Builds the three files; resolves to {name: text}. */
export async function build() {
  const common = {
    bundle: true,
    write: false,
    minify: true,
    sourcemap: false,
    legalComments: "none",
    charset: "utf8",
    logLevel: "silent",
    absWorkingDir: ROOT,
  };
  const js = await esbuild.build({
    ...common,
    entryPoints: [join(ROOT, "src", "main.ts")],
    format: "iife",
    target: "es2020",
    platform: "browser",
    define: { "process.env.NODE_ENV": '"production"', __DEV__: "false" },
  });
  const css = await esbuild.build({
    ...common,
    entryPoints: [join(ROOT, "src", "app.css")],
    target: ["chrome100", "firefox100", "safari15"],
  });
  return {
    "index.html": readFileSync(join(ROOT, "src", "index.html"), "utf8"),
    "app.js": js.outputFiles[0].text,
    "app.css": css.outputFiles[0].text,
  };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const out = await build();
  if (process.argv.includes("--check")) {
    let stale = [];
    for (const f of FILES) {
      let old = null;
      try {
        old = readFileSync(join(DIST, f), "utf8");
      } catch {}
      if (old !== out[f]) stale.push(f);
    }
    let extra = [];
    try {
      extra = readdirSync(DIST).filter((f) => !FILES.includes(f));
    } catch {}
    if (stale.length || extra.length) {
      if (stale.length) console.error(`web/dist is stale (${stale.join(", ")}): run \`node web/build.mjs\` and commit it`);
      if (extra.length) console.error(`web/dist has files the build does not make: ${extra.join(", ")}`);
      process.exit(1);
    }
    console.log(`web/dist is up to date (${FILES.map((f) => `${f} ${out[f].length} bytes`).join(", ")})`);
  } else {
    mkdirSync(DIST, { recursive: true });
    for (const f of FILES) writeFileSync(join(DIST, f), out[f]);
    console.log(`wrote web/dist: ${FILES.map((f) => `${f} ${out[f].length} bytes`).join(", ")}`);
  }
}
