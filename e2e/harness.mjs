// What both browser tests (tracker/e2e/e2e.mjs, web/e2e/e2e.mjs) share: Chromium's
// path and flags, a fresh data directory, the `cairn` binary from the command line,
// `cairn serve` on a free loopback port, and a runner that cleans up and sets the exit
// code. No npm dependency: each test brings its own playwright-core.
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

export const CHROMIUM = process.env.CAIRN_CHROMIUM || "/usr/bin/chromium";
/** Headless, and quiet on a closed network (no background connections to Google). */
export const CHROMIUM_ARGS = [
  "--headless=new",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * A test run: `tag` prefixes its log lines, `script` is its path for the usage line.
 * Exits with 2 when no cairn binary was given.
 */
export function harness(tag, script) {
  const bin = process.argv[2] && resolve(process.argv[2]);
  if (!bin) {
    console.error(`usage: node ${script} PATH/TO/cairn`);
    process.exit(2);
  }
  const data = mkdtempSync(join(tmpdir(), `cairn-${tag}-`));
  const cleanups = [];
  const log = (...a) => console.log(`[${tag}]`, ...a);

  /** Runs `cairn --data DATA ARGS…` to completion; its standard output. */
  function cairn(args, env = {}) {
    try {
      return execFileSync(bin, ["--data", data, ...args], {
        encoding: "utf8",
        maxBuffer: 64 << 20,
        stdio: ["ignore", "pipe", "pipe"],
        env: { ...process.env, ...env },
      });
    } catch (e) {
      throw new Error(`cairn ${args.join(" ")} failed: ${e.stderr || e.message}`);
    }
  }

  /**
   * Starts `cairn serve` on a free port and waits until /healthz answers 200. Returns
   * the process, its origin, its output so far, and a promise of its exit.
   */
  async function serve() {
    const proc = spawn(bin, ["--data", data, "serve", "--listen", "127.0.0.1:0"], {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, CAIRN_LOG: process.env.CAIRN_LOG || "warn" },
    });
    let out = "";
    let err = "";
    proc.stdout.on("data", (c) => (out += c));
    proc.stderr.on("data", (c) => (err += c));
    const exited = new Promise((r) => proc.on("exit", (code, sig) => r({ code, sig })));
    cleanups.push(async () => {
      if (proc.exitCode != null) return;
      proc.kill("SIGTERM");
      if (!(await Promise.race([exited, sleep(20000).then(() => null)]))) proc.kill("SIGKILL");
    });
    let origin;
    for (let i = 0; i < 300 && !origin; i++) {
      const m = /listening on (http:\/\/[\d.]+:\d+)/.exec(out);
      if (m) origin = m[1];
      else if (proc.exitCode != null) throw new Error(`cairn serve exited: ${err}${out}`);
      else await sleep(50);
    }
    if (!origin) throw new Error(`cairn serve printed no address:\n${out}\n${err}`);
    for (let i = 0; ; i++) {
      try {
        if ((await fetch(origin + "/healthz")).status === 200) break;
      } catch {}
      if (i > 200) throw new Error("cairn serve: /healthz never answered 200");
      await sleep(50);
    }
    return { proc, origin, exited, out: () => out, err: () => err };
  }

  /** Runs `main`, then every cleanup (newest first), removes the data unless
   * CAIRN_E2E_KEEP is set, and exits 0 or 1. */
  async function run(main) {
    let code = 0;
    try {
      await main();
    } catch (e) {
      code = 1;
      console.error(`[${tag}] FAILED:`, e && e.stack ? e.stack : e);
    }
    for (const c of cleanups.reverse()) {
      try {
        await c();
      } catch {}
    }
    if (!process.env.CAIRN_E2E_KEEP) rmSync(data, { recursive: true, force: true });
    else console.error(`[${tag}] data kept in`, data);
    process.exit(code);
  }

  /**
   * Launches Debian's Chromium through the test's playwright-core `chromium`, with a
   * regular desktop Chrome user agent: "HeadlessChrome" would be taken for a bot. It is
   * set for the whole browser (a context's override does not reach the beacons a page
   * sends while it unloads, which would make them another visitor). Closed at the end.
   */
  async function launch(chromium) {
    const version = execFileSync(CHROMIUM, ["--version"], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
    const major = /(\d+)\./.exec(version)[1];
    const userAgent = `Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/${major}.0.0.0 Safari/537.36`;
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: [...CHROMIUM_ARGS, `--user-agent=${userAgent}`] });
    cleanups.push(() => browser.close().catch(() => {}));
    return browser;
  }

  return { bin, data, cleanups, log, cairn, serve, launch, run };
}
