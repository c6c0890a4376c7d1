// End-to-end test of the browser tracker against the real server, in Chromium.
//
//   node tracker/e2e/e2e.mjs target/debug/cairn
//
// Registers the sites in a fresh data directory, runs `cairn serve` on a free loopback
// port, serves the test pages (tracker/e2e/site/) from a second origin (so the tracker's
// requests are cross-origin, as in production), drives visitors through them with
// Playwright, stops the server with SIGTERM and compares `cairn export` with the exact
// events expected. Needs /usr/bin/chromium and tracker/node_modules (scripts/setup-browser).
// Exits non-zero on the first failure; CAIRN_E2E_KEEP=1 keeps the data directory.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readFileSync, statSync } from "node:fs";
import http from "node:http";
import { dirname, extname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { harness, sleep } from "../../e2e/harness.mjs";
import { HEAD, ORDER, TAIL } from "../build.mjs";

const HERE = dirname(fileURLToPath(import.meta.url));
const SITE_DIR = join(HERE, "site");
/** What the visitor types into forms: none of it may reach the server. */
const SECRETS = {
  fullname: "Alice Secret-Name",
  email: "alice.secret@example.org",
  company: "Secretcorp Holdings",
  hidden: "hidden-token-value",
  refine: "sandals-typed-in-search",
  abandonEmail: "bob.private@example.net",
  abandonPhone: "0171-5550199",
  dnt: "dnt-typed-value",
  contact: "carol-question-typed",
  searchForm: "typed-in-a-search-form",
};


// ---------------------------------------------------------------------------------
// Processes: the cairn binary and the test pages' server.

const test = harness("e2e", "tracker/e2e/e2e.mjs");
const { serve, log, data, cleanups } = test;
const cairn = (...args) => test.cairn(args);

/** Starts `cairn serve`; with its /metrics counters and a clean stop. */
async function startCairn() {
  const { proc, origin, exited, out, err } = await serve();
  const metric = (text, name) =>
    [...text.matchAll(new RegExp(`^${name}(\\{[^}]*\\})? (\\d+)$`, "gm"))].reduce((n, m) => n + +m[2], 0);
  const counters = async () => {
    const t = await (await fetch(origin + "/metrics")).text();
    return {
      stored: metric(t, "cairn_records_accepted_total"),
      rejected: metric(t, "cairn_requests_rejected_total"),
      ignored: metric(t, "cairn_events_ignored_total"),
    };
  };
  return {
    origin,
    logs: () => out() + err(),
    /**
     * Waits until the server has stored exactly `n` records in all (its /metrics), and
     * checks that none was refused or ignored and that no more arrive.
     */
    async expectStored(n, what) {
      let c;
      for (let i = 0; ; i++) {
        c = await counters();
        assert.equal(c.rejected, 0, `the server refused a request (${what}):\n${err()}`);
        assert.equal(c.ignored, 0, `the server ignored events, e.g. as a bot (${what})`);
        if (c.stored >= n) break;
        if (i > 400) assert.fail(`${what}: the server stored ${c.stored} records, ${n} expected`);
        await sleep(25);
      }
      await sleep(150);
      c = await counters();
      assert.equal(c.stored, n, `${what}: the server stored more records than expected`);
    },
    /** SIGTERM, then waits for a clean exit. */
    async stop() {
      proc.kill("SIGTERM");
      const { code, sig } = await Promise.race([
        exited,
        sleep(20000).then(() => ({ code: "timeout" })),
      ]);
      assert.equal(code, 0, `cairn serve did not exit cleanly on SIGTERM (code ${code}, signal ${sig}):\n${err()}`);
    },
  };
}

const TYPES = { ".html": "text/html; charset=utf-8", ".webm": "video/webm" };

/**
 * Serves tracker/e2e/site/ with {{CAIRN}}, {{OTHER}}, … (`vars`), else the request's
 * query parameter of that name, filled in; /shop/* is shop.html. Pages are `no-store`
 * (never kept in the back/forward cache) unless their query has `cache=1`.
 */
function startSite(vars) {
  const srv = http.createServer((req, res) => {
    try {
      const u = new URL(req.url, "http://x");
      let path = u.pathname;
      if (path.startsWith("/shop/")) path = "/shop.html";
      if (!/^\/[\w-]+\.(html|webm)$/.test(path)) return res.writeHead(404).end("not found");
      const file = join(SITE_DIR, path.slice(1));
      let body = readFileSync(file);
      const type = TYPES[extname(file)];
      if (type.startsWith("text/html")) {
        body = Buffer.from(body.toString("utf8").replace(/\{\{(\w+)\}\}/g, (_, k) => vars[k] ?? u.searchParams.get(k) ?? ""));
      }
      const range = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range || "");
      if (range) {
        const start = +range[1];
        const end = range[2] ? Math.min(+range[2], body.length - 1) : body.length - 1;
        res.writeHead(206, {
          "Content-Type": type,
          "Accept-Ranges": "bytes",
          "Content-Range": `bytes ${start}-${end}/${body.length}`,
          "Content-Length": end - start + 1,
        });
        return res.end(body.subarray(start, end + 1));
      }
      const cache = u.searchParams.get("cache") ? {} : { "Cache-Control": "no-store" };
      res.writeHead(200, { "Content-Type": type, "Accept-Ranges": "bytes", ...cache });
      res.end(body);
    } catch (e) {
      res.writeHead(404).end(String(e));
    }
  });
  return new Promise((r) => srv.listen(0, "127.0.0.1", () => r(srv)));
}

// ---------------------------------------------------------------------------------
// The browser: every request to the event endpoint is watched.

class Traffic {
  constructor() {
    /** Event requests the browser made. */
    this.total = 0;
    /** The bodies the tracker made (see newContext). */
    this.sent = [];
    /** How they were sent (Playwright's resource types: "ping" for a beacon, "fetch"). */
    this.kinds = new Set();
    this.problems = [];
  }
  watch(context, endpoint) {
    context.on("request", (req) => {
      if (!req.url().startsWith(endpoint)) return;
      if (req.method() === "OPTIONS") this.problems.push("a CORS preflight was sent: the tracker must send text/plain");
      if (req.method() !== "POST") return;
      this.total++;
      this.kinds.add(req.resourceType());
    });
    context.on("requestfinished", async (req) => {
      if (!req.url().startsWith(endpoint) || req.method() !== "POST") return;
      const resp = await req.response().catch(() => null);
      if (resp && resp.status() !== 202)
        this.problems.push(`${req.postData()} -> ${resp.status()} ${await resp.text().catch(() => "")}`);
    });
    // (A beacon sent while the page unloads is reported as failed, net::ERR_ABORTED,
    // though the browser still delivers it: the server's counters tell what arrived.)
  }
  check() {
    assert.deepEqual(this.problems, [], "every event request is answered 202");
  }
}

// ---------------------------------------------------------------------------------
// Expected events, as steps: what one action of the visitor sends. Within a step the
// order is free (one request, or requests sent at once); across steps it is by time.

/** A compact, comparable form of a stored record. */
function sig(r) {
  if (r.type === "identify") return `identify user=${r.user}`;
  const props = { ...(r.props || {}) };
  if ("engaged_ms" in props && props.engaged_ms !== "*") {
    assert.ok(Number.isInteger(props.engaged_ms) && props.engaged_ms >= 0, `engaged_ms is an integer: ${JSON.stringify(r)}`);
    props.engaged_ms = "*";
  }
  const keys = Object.keys(props).sort();
  const p = keys.length ? " " + keys.map((k) => `${k}=${JSON.stringify(props[k])}`).join(" ") : "";
  const rev = r.revenue ? ` revenue=${r.revenue.amount}${r.revenue.currency}` : "";
  return `${r.name} ${r.path || ""}${r.query ? "?" + r.query : ""}${p}${rev}`;
}

/** An expected event's signature (props as given; engaged_ms is always "*"). */
function ev(name, url, props, rev) {
  return sig({ name, path: url.split("?")[0], query: url.split("?")[1], props, revenue: rev });
}

/** An expected pageview, with the page's title. */
const pv = (url, title) => ev("pageview", url, { title });

/** Compares stored records with the expected steps: exact multiset, then order by time. */
function compare(label, records, steps) {
  const got = records.map(sig).sort();
  const want = steps.flat().sort();
  if (JSON.stringify(got) !== JSON.stringify(want)) {
    const missing = [...want];
    const extra = [];
    for (const g of got) {
      const i = missing.indexOf(g);
      if (i >= 0) missing.splice(i, 1);
      else extra.push(g);
    }
    assert.fail(`${label}: stored events differ from the expected ones\n  missing: ${JSON.stringify(missing, null, 2)}\n  unexpected: ${JSON.stringify(extra, null, 2)}`);
  }
  // Order: walk the records by time; each takes the first step still expecting it.
  const slots = new Map();
  steps.forEach((s, i) => s.forEach((g) => slots.set(g, [...(slots.get(g) || []), i])));
  const byTime = records.map((r) => ({ r, t: Date.parse(r.ts) })).sort((a, b) => a.t - b.t);
  let prev = { step: -1, t: 0 };
  for (const { r, t } of byTime) {
    const step = slots.get(sig(r)).shift();
    assert.ok(
      step >= prev.step || t === prev.t,
      `${label}: ${sig(r)} (step ${step}, ${r.ts}) was stored after an event of step ${prev.step}`,
    );
    if (step >= prev.step) prev = { step, t };
  }
}

// ---------------------------------------------------------------------------------

async function main() {
  log("data directory:", data);
  const add = cairn("site", "add", "shop.example");
  assert.match(add, /write key/i, "cairn site add prints a write key");
  cairn("site", "add", "other.example", "--identity", "first-party");
  cairn("site", "add", "captures.example");
  cairn("site", "add", "builds.example");

  const server = await startCairn();
  cleanups.push(() => server.stop().catch(() => {}));
  const endpoint = server.origin + "/api/v1/event";
  log("cairn serve at", server.origin);

  // The pages come from another origin; "localhost" (same port) is the outbound host.
  // LONG: a button's text of 121 characters, in lines (captures.html).
  const vars = { CAIRN: server.origin, OTHER: "", LONG: `\n    ${"€".repeat(60)}\n\t ${"€".repeat(60)}\n  ` };
  const site = await startSite(vars);
  cleanups.push(() => site.close());
  const port = site.address().port;
  const base = `http://127.0.0.1:${port}`;
  vars.OTHER = `http://localhost:${port}`;
  log("test pages at", base);

  // The tracker is served with CORS and is the committed bundle.
  const js = await fetch(server.origin + "/cairn.js");
  assert.equal(js.status, 200, "GET /cairn.js");
  assert.match(js.headers.get("content-type") || "", /javascript/);
  assert.equal(await js.text(), readFileSync(join(HERE, "..", "dist", "cairn.js"), "utf8"), "the server embeds tracker/dist/cairn.js");
  // Per-feature builds (?f=): the core and the features named, assembled from the
  // chunks in dist/ as build.mjs does; one script and ETag whatever the list's order;
  // an unknown name refused.
  const dist = (f) => readFileSync(join(HERE, "..", "dist", f), "utf8");
  const script = async (q) => {
    const r = await fetch(`${server.origin}/cairn.js${q}`);
    return { status: r.status, etag: r.headers.get("etag"), cache: r.headers.get("cache-control"), text: await r.text() };
  };
  const fv = await script("?f=forms,video");
  assert.equal(fv.status, 200, "GET /cairn.js?f=forms,video");
  assert.equal(fv.text, HEAD + dist("features/forms.js") + dist("features/video.js") + dist("core.js") + TAIL, "?f=forms,video");
  assert.equal(fv.cache, js.headers.get("cache-control"), "cached like /cairn.js");
  const vf = await script("?f=video,forms,video");
  assert.deepEqual([vf.status, vf.etag, vf.text], [200, fv.etag, fv.text], "the same script and ETag for video,forms,video");
  assert.ok(fv.etag && fv.etag !== js.headers.get("etag"), "a build has an ETag of its own");
  for (const q of ["?f=", "?f=core"]) assert.equal((await script(q)).text, HEAD + dist("core.js") + TAIL, q);
  assert.equal((await script(`?f=${[...ORDER].reverse().join(",")}`)).text, dist("cairn.js"), "every feature listed: /cairn.js");
  const bad = await script("?f=forms,videos");
  assert.equal(bad.status, 400, "an unknown feature is refused");
  assert.match(bad.text, /"videos".*outbound, cta/, "the error names the unknown feature and the known ones");

  // Playwright turns the back/forward cache off (Back loads the page again); a second
  // browser has it, for a search page restored from it (which must not send its search
  // again).
  const browser = await test.launch(chromium);
  const bfBrowser = await test.launch({
    launch: (o) => chromium.launch({ ...o, ignoreDefaultArgs: ["--disable-back-forward-cache"] }),
  });
  const newContext = async (extra = {}, b = browser) => {
    const c = await b.newContext({ viewport: { width: 1280, height: 720 }, locale: "en-GB", ...extra });
    const t = new Traffic();
    t.watch(c, endpoint);
    // Playwright does not show a beacon's body: the page reports each text/plain Blob
    // it makes (the tracker's request bodies) to the test.
    await c.exposeBinding("__cairnSent", (_, body) => t.sent.push(body));
    await c.addInitScript(() => {
      const B = window.Blob;
      window.Blob = class extends B {
        constructor(parts, opts) {
          super(parts, opts);
          if (opts && opts.type === "text/plain") window.__cairnSent(parts.join(""));
        }
      };
    });
    const errors = [];
    c.on("weberror", (e) => errors.push(String(e.error())));
    // (A response refused by CORS shows as a console error.)
    c.on("console", (m) => m.type() === "error" && !/favicon|404/.test(m.text()) && errors.push(m.text()));
    return { c, t, errors };
  };

  // ---- Visitor 1, shop.example: everything the tracker captures ------------------
  const A = await newContext();
  const page = await A.c.newPage();
  const steps = [];
  // One action of a visitor, then the records it must have stored (`expected` may be
  // a function, called after the action).
  let total = 0;
  const stepper = (list, traffic) => async (expected, action) => {
    await action();
    const want = typeof expected === "function" ? expected() : expected;
    total += want.length;
    await server.expectStored(total, `step ${list.length + 1}: ${JSON.stringify(want)}`);
    traffic.check();
    list.push(want);
  };
  const step = stepper(steps, A.t);
  let hero;
  await step(
    () => [
      pv("/shop.html", "Shop (Cairn e2e)"),
      ev("experiment_exposure", "/shop.html", { experiment: "hero", variant: hero }),
      ev("queued_before_load", "/shop.html", { source: "queue" }),
    ],
    async () => {
      await page.goto(`${base}/shop.html`, { referer: "https://www.google.com/" });
      await page.waitForFunction(() => typeof window.cairn === "function" && !window.cairn.q);
      hero = await page.evaluate(() => document.documentElement.dataset.hero);
      assert.ok(["calm", "bold"].includes(hero), "the experiment callback ran with a variant");
    },
  );
  // A CTA, clicked on a child element: its event only (not also a cta_click), a
  // data-cairn-prop-* that is a plain decimal as a number.
  await step([ev("start_trial", "/shop.html", { plan: "pro", seats: 5 })], () => page.click("#cta-inner"));
  // The form: three fields, typed into, one focused twice, then submitted.
  await step(
    [ev("form_start", "/shop.html", { form_id: "signup" }), ev("form_field", "/shop.html", { form_id: "signup", field: "fullname" })],
    async () => {
      await page.click("#f-name");
      await page.keyboard.type(SECRETS.fullname);
    },
  );
  await step([ev("form_field", "/shop.html", { form_id: "signup", field: "email" })], async () => {
    await page.click("#f-email");
    await page.keyboard.type(SECRETS.email);
  });
  await step([ev("form_field", "/shop.html", { form_id: "signup", field: "company" })], async () => {
    await page.click("#f-company");
    await page.keyboard.type(SECRETS.company);
    await page.click("#f-company"); // the same field again: nothing new
  });
  await step([ev("form_submit", "/shop.html", { form_id: "signup" }), "identify user=lead-7"], () => page.click("#f-submit"));
  // The video, played for real (a 4 s VP8 clip at double speed).
  await step(
    [
      ev("video_play", "/shop.html", { video_id: "demo-video" }),
      ...[25, 50, 75, 100].map((percent) => ev("video_progress", "/shop.html", { video_id: "demo-video", percent })),
    ],
    async () => {
      await page.evaluate(() => {
        const v = document.querySelector("video");
        v.playbackRate = 2;
        return v.play();
      });
      await page.waitForFunction(() => document.querySelector("video").ended, null, { timeout: 20000 });
    },
  );
  // Share and copy buttons: those events, not also CTA clicks (and the form's submit
  // button above: form_submit only).
  await step([ev("share", "/shop.html", { network: "linkedin" })], () => page.click("#share"));
  // A copy (Ctrl+C) of text selected inside a data-cairn-copy element.
  await step([ev("copy", "/shop.html", { target: "promo-code" })], async () => {
    await page.evaluate(() => getSelection().selectAllChildren(document.getElementById("promo-code")));
    await page.keyboard.press("Control+C");
  });
  await sleep(600); // copies closer than 0.5 s count once
  await step([ev("copy", "/shop.html", { target: "coupon" })], () => page.click("#copy-btn"));
  await step(
    [ev("file_download", "/shop.html", { url: `${base}/files/brochure.pdf`, ext: "pdf" })],
    () => page.click("#download"),
  );
  // Scroll to half of the page (4 viewports tall): depth 50.
  await step([], async () => {
    await page.evaluate(() => window.scrollTo(0, 720));
    await page.waitForFunction(() => window.scrollY === 720);
    await sleep(100);
  });
  // SPA navigation (pushState; the app scrolls to the top: depth 25 on the new view).
  await step(
    [
      ev("engagement", "/shop.html", { engaged_ms: "*" }),
      ev("scroll", "/shop.html", { depth: 50 }),
      pv("/shop/pricing", "Shop (Cairn e2e)"),
    ],
    async () => {
      await page.click("#spa");
      await page.waitForFunction(() => location.pathname === "/shop/pricing" && window.scrollY === 0);
      await sleep(100);
    },
  );
  // replaceState within the same path: no pageview.
  await step([], () => page.evaluate(() => history.replaceState({}, "", "/shop/pricing?tab=2")));
  // A hash change is a new page view.
  await step(
    [
      ev("engagement", "/shop/pricing", { engaged_ms: "*" }),
      ev("scroll", "/shop/pricing", { depth: 25 }),
      pv("/shop/pricing?tab=2", "Shop (Cairn e2e)"),
    ],
    () => page.evaluate(() => (location.hash = "faq")),
  );
  // A search link (a full page load); forms are excluded on that page.
  await step(
    [
      ev("engagement", "/shop/pricing?tab=2", { engaged_ms: "*" }),
      ev("scroll", "/shop/pricing?tab=2", { depth: 25 }),
      pv("/search.html?q=boots&utm_source=e2e", "Search (Cairn e2e)"),
      ev("search", "/search.html?q=boots&utm_source=e2e", { query: "boots" }),
    ],
    async () => {
      await Promise.all([page.waitForURL(/search\.html/), page.click("#to-search")]);
      await page.waitForFunction(() => typeof window.cairn === "function");
    },
  );
  await step([], async () => {
    await page.click("#q");
    await page.keyboard.type(SECRETS.refine);
  });
  // A second search, in the page (pushState): a control character and a query longer
  // than the server takes (512 bytes) are cut, between code points.
  const long = "/search.html?q=" + encodeURIComponent("a\u0001b" + "€".repeat(200));
  await step(
    [
      ev("engagement", "/search.html?q=boots&utm_source=e2e", { engaged_ms: "*" }),
      ev("scroll", "/search.html?q=boots&utm_source=e2e", { depth: 100 }),
      pv(long, "Search (Cairn e2e)"),
      ev("search", long, { query: "ab" + "€".repeat(168) }),
    ],
    () => page.evaluate((u) => history.pushState({}, "", u), long),
  );
  // A middle click on the outbound link counts (an auxclick event, as the browser sends
  // it; dispatched, so that no tab opens); a right click does not.
  await step([ev("outbound_click", long, { url: `${vars.OTHER}/elsewhere.html?from=search` })], () =>
    page.evaluate(() => {
      const a = document.getElementById("outbound");
      for (const button of [1, 2]) a.dispatchEvent(new MouseEvent("auxclick", { button, bubbles: true, cancelable: true }));
    }),
  );
  // An outbound link, followed for real: the click and the page leave both arrive.
  await step(
    [
      ev("outbound_click", long, { url: `${vars.OTHER}/elsewhere.html?from=search` }),
      ev("engagement", long, { engaged_ms: "*" }),
      ev("scroll", long, { depth: 100 }),
    ],
    async () => {
      await Promise.all([page.waitForURL(/elsewhere\.html/), page.click("#outbound")]);
    },
  );
  // Back on the shop (a new page load): nothing in cookies or local storage without
  // data-persist; the variant is kept for the tab session.
  await step(
    [
      pv("/shop.html", "Shop (Cairn e2e)"),
      ev("experiment_exposure", "/shop.html", { experiment: "hero", variant: hero }),
      ev("queued_before_load", "/shop.html", { source: "queue" }),
    ],
    async () => {
      await page.goto(`${base}/shop.html`);
      await page.waitForFunction(() => typeof window.cairn === "function" && !window.cairn.q);
    },
  );
  assert.deepEqual(await A.c.cookies(), [], "no cookies");
  const stored = await page.evaluate(() => ({
    local: { ...localStorage },
    session: { ...sessionStorage },
    hero: document.documentElement.dataset.hero,
  }));
  assert.deepEqual(stored.local, {}, "no local storage without data-persist");
  assert.deepEqual(stored.session, { cairn_exp_hero: hero }, "the variant is kept in session storage");
  assert.equal(stored.hero, hero, "the variant is stable in the tab session");
  await step(
    [ev("engagement", "/shop.html", { engaged_ms: "*" }), ev("scroll", "/shop.html", { depth: 25 })],
    () => page.goto(`${base}/elsewhere.html`),
  );

  // A second page: the visitor starts a form and leaves it (the tab is closed).
  const page2 = await A.c.newPage();
  await step([pv("/abandon.html", "Contact (Cairn e2e)")], async () => {
    await page2.goto(`${base}/abandon.html`);
    await page2.waitForFunction(() => typeof window.cairn === "function");
  });
  await step(
    [
      ev("form_start", "/abandon.html", { form_id: "form-0" }),
      ev("form_field", "/abandon.html", { form_id: "form-0", field: "email" }),
      ev("form_field", "/abandon.html", { form_id: "form-0", field: "c-phone" }),
    ],
    async () => {
      await page2.click("#c-email");
      await page2.keyboard.type(SECRETS.abandonEmail);
      await page2.click("#c-phone");
      await page2.keyboard.type(SECRETS.abandonPhone);
    },
  );
  await step(
    [
      ev("engagement", "/abandon.html", { engaged_ms: "*" }),
      ev("scroll", "/abandon.html", { depth: 100 }),
      ev("form_abandon", "/abandon.html", { form_id: "form-0", field: "c-phone" }),
    ],
    async () => {
      await page2.close({ runBeforeUnload: true });
      await sleep(300);
    },
  );
  assert.deepEqual(A.errors, [], "no errors in the pages");

  // ---- Do not track: nothing is sent at all --------------------------------------
  const B = await newContext();
  await B.c.addInitScript(() =>
    Object.defineProperty(Navigator.prototype, "globalPrivacyControl", { get: () => true, configurable: true }),
  );
  const dnt = await B.c.newPage();
  await dnt.goto(`${base}/dnt.html`);
  await dnt.waitForFunction(() => typeof window.cairn === "function" && !window.cairn.q);
  assert.ok(await dnt.evaluate(() => !!document.documentElement.dataset.hero), "experiments still call back under DNT");
  await dnt.click("#cta");
  await dnt.click("#d-email");
  await dnt.keyboard.type(SECRETS.dnt);
  await dnt.click("#spa");
  await dnt.evaluate(() => cairn("event", "manual", { props: { a: 1 } }));
  await dnt.close({ runBeforeUnload: true });
  await sleep(300);
  await server.expectStored(total, "the do-not-track page");
  assert.equal(B.t.total, 0, "no request at all under do-not-track / GPC");
  assert.deepEqual(B.errors, [], "no errors in the DNT page");

  // ---- Visitor 2, other.example: first-party id, opt-out, revenue ----------------
  // This browser has no navigator.sendBeacon: the tracker falls back to fetch (whose
  // responses CORS lets the page read).
  const C = await newContext();
  await C.c.addInitScript(() => Object.defineProperty(Navigator.prototype, "sendBeacon", { value: undefined }));
  const other = await C.c.newPage();
  const osteps = [];
  const ostep = stepper(osteps, C.t);
  let vid;
  let variant;
  await ostep(
    () => [pv("/other.html", "Other site (Cairn e2e)"), ev("experiment_exposure", "/other.html", { experiment: "checkout", variant })],
    async () => {
      await other.goto(`${base}/other.html`);
      await other.waitForFunction(() => typeof window.cairn === "function");
      vid = await other.evaluate(() => localStorage.getItem("cairn_id"));
      variant = await other.evaluate(() => document.documentElement.dataset.variant);
    },
  );
  assert.match(vid || "", /^[0-9a-f]{24}$/, "data-persist keeps a random id in localStorage.cairn_id");
  const variants = ["one-step", "two-step", "three-step"];
  assert.equal(variant, variants[fnv1a(vid + "checkout") % variants.length], "the variant is variants[fnv1a(vid + key) % n]");
  assert.ok(C.t.sent.length && C.t.sent.every((b) => b.includes(`"vid":"${vid}"`)), `every request carries the vid: ${C.t.sent}`);
  await ostep([ev("signup_click", "/other.html", { step: 1 })], () => other.click("#cta"));
  await ostep([], async () => {
    await other.evaluate(() => cairn("optout"));
    assert.equal(await other.evaluate(() => localStorage.getItem("cairn_optout")), "1");
    await other.click("#cta");
    await other.evaluate(() => cairn("event", "while_opted_out"));
  });
  await ostep([ev("signup_click", "/other.html", { step: 1 })], async () => {
    await other.evaluate(() => cairn("optin"));
    await other.click("#cta");
  });
  await ostep(
    [ev("purchase", "/other.html", { plan: "pro", seats: 3, annual: true }, { amount: 49.5, currency: "EUR" })],
    () =>
      other.evaluate(() =>
        cairn("event", "purchase", { props: { plan: "pro", seats: 3, annual: true }, revenue: { amount: 49.5, currency: "EUR" } }),
      ),
  );
  await ostep([ev("engagement", "/other.html", { engaged_ms: "*" }), ev("scroll", "/other.html", { depth: 100 })], async () => {
    await other.close({ runBeforeUnload: true });
    await sleep(300);
  });
  assert.deepEqual(C.errors, [], "no errors in the other site's page");
  assert.deepEqual([...A.t.kinds], ["ping"], "sent with navigator.sendBeacon");
  assert.deepEqual([...C.t.kinds], ["fetch"], "sent with fetch where sendBeacon is missing");

  // ---- Visitor 3, captures.example: automatic CTA clicks, share links and the Web
  // Share API, search forms, searches seen again through the history, titles, numbers
  const E = await newContext();
  // Headless Chromium has no navigator.share: a stand-in, there before cairn.js (which
  // wraps it). It resolves, as when the visitor shares, or rejects as when they cancel.
  await E.c.addInitScript(() => {
    Navigator.prototype.share = function (data) {
      if (this !== navigator) return Promise.reject(new TypeError("Illegal invocation"));
      (window.__shares = window.__shares || []).push(data);
      return data.text === "cancel" ? Promise.reject(new DOMException("Share canceled", "AbortError")) : Promise.resolve();
    };
  });
  const cap = await E.c.newPage();
  const csteps = [];
  const cstep = stepper(csteps, E.t);
  const C1 = "/captures.html";
  await cstep([pv(C1, "Captures (Cairn e2e)")], async () => {
    await cap.goto(`${base}${C1}`);
    await cap.waitForFunction(() => typeof window.cairn === "function");
  });
  const cta = (text) => ev("cta_click", C1, { text });
  // Buttons and links of the default selector: their visible text, whitespace
  // collapsed (a hidden child left out); an aria-label when there is no text; at most
  // 100 characters.
  await cstep([cta("Add to cart")], () => cap.click("#add-cart"));
  await cstep([cta("Book a demo")], () => cap.click("#demo-inner"));
  await cstep([cta("See plans")], () => cap.click("#plans"));
  await cstep([cta("Close dialog")], () => cap.click("#close"));
  await cstep([cta("€".repeat(60) + " " + "€".repeat(39))], () => cap.click("#long"));
  // Neither a plain link nor text.
  await cstep([], async () => {
    await cap.click("#plain");
    await cap.click("#para");
  });
  // An outbound link and a download styled as buttons: those events only.
  await cstep([ev("outbound_click", C1, { url: `${vars.OTHER}/elsewhere.html?from=captures` })], () => cap.click("#partner"));
  await cstep([ev("file_download", C1, { url: `${base}/files/price-list.pdf`, ext: "pdf" })], () => cap.click("#pricelist"));
  // An explicit event: its props as numbers where they are plain decimals (no leading
  // zero, no exponent, no sign but a minus, at most 15 characters).
  await cstep(
    [
      ev("newsletter", C1, {
        price: 189,
        code: "007",
        exp: "1e5",
        neg: -2.5,
        big: "12345678901234567",
        zero: 0,
        half: 0.5,
        dot: ".5",
        plus: "+5",
        text: "abc",
      }),
    ],
    () => cap.click("#newsletter"),
  );
  // Share links: a share each, not an outbound click, not a CTA click (#sh-x is a.btn);
  // a middle click too. A chat link is an outbound click; a mail to someone, nothing.
  await cstep(
    ["facebook", "x", "linkedin", "whatsapp", "email"].map((network) => ev("share", C1, { network })),
    async () => {
      for (const id of ["sh-fb", "sh-x", "sh-li", "sh-wa", "sh-mail"]) await cap.click("#" + id);
    },
  );
  await cstep([ev("share", C1, { network: "facebook" })], () =>
    cap.evaluate(() => {
      const a = document.getElementById("sh-fb");
      for (const button of [1, 2]) a.dispatchEvent(new MouseEvent("auxclick", { button, bubbles: true, cancelable: true }));
    }),
  );
  await cstep([ev("outbound_click", C1, { url: "https://wa.me/4930123456" })], async () => {
    await cap.click("#wa-chat");
    await cap.click("#mail-sales");
  });
  // navigator.share: the button is a CTA click; the share counts once it resolves, with
  // the URL shared (resolved against the page), and not when the visitor cancels.
  await cstep([cta("Share"), ev("share", C1, { network: "native", url: `${base}/p/42?ref=native` })], async () => {
    await cap.click("#native");
    await cap.waitForFunction(() => document.body.dataset.shared === "1");
  });
  await cstep([cta("Share (cancelled)")], async () => {
    await cap.click("#native-cancel");
    await cap.waitForFunction(() => document.body.dataset.cancelled === "AbortError");
  });
  assert.deepEqual(
    await cap.evaluate(() => window.__shares),
    [{ url: "/p/42?ref=native", title: "Boots" }, { text: "cancel" }],
    "the page's navigator.share calls reach the browser's, as made",
  );
  // A form with a field named like a search parameter, but POST: a form like any other;
  // a type=button button in it is a CTA click, its submit button is not.
  await cstep(
    [ev("form_start", C1, { form_id: "contact" }), ev("form_field", C1, { form_id: "contact", field: "query" })],
    async () => {
      await cap.click("#c-query");
      await cap.keyboard.type(SECRETS.contact);
    },
  );
  await cstep([cta("Help")], () => cap.click("#c-help"));
  await cstep([ev("form_submit", C1, { form_id: "contact" })], () => cap.click("#c-send"));
  // Search forms (role=search, an input type=search, a GET form with a field q): no
  // form events; their submit buttons are not CTA clicks.
  await cstep([], async () => {
    for (const id of ["s1-in", "s2-in", "s3-in"]) {
      await cap.click("#" + id);
      await cap.keyboard.type(SECRETS.searchForm);
      await cap.keyboard.press("Control+A");
      await cap.keyboard.press("Backspace");
    }
    await cap.click("#s3-in");
    await cap.keyboard.type("boots");
  });
  const R = (q) => `/results.html?${q}`;
  const RT = "Results (Cairn e2e)";
  await cstep(
    [
      ev("engagement", C1, { engaged_ms: "*" }),
      ev("scroll", C1, { depth: 100 }),
      pv(R("q=boots"), RT),
      ev("search", R("q=boots"), { query: "boots" }),
    ],
    async () => {
      await Promise.all([cap.waitForURL(/results\.html/), cap.click("#s3-go")]);
      await cap.waitForFunction(() => typeof window.cairn === "function");
    },
  );
  // Away and Back: the page is loaded again (this browser has no back/forward cache):
  // a pageview, but not the search again.
  await cstep([ev("engagement", R("q=boots"), { engaged_ms: "*" }), ev("scroll", R("q=boots"), { depth: 100 })], async () => {
    await Promise.all([cap.waitForURL(/elsewhere\.html/), cap.click("#away")]);
  });
  await cstep([pv(R("q=boots"), RT)], async () => {
    await cap.goBack({ waitUntil: "commit" });
    await cap.waitForFunction(() => typeof window.cairn === "function" && document.documentElement.dataset.restored);
    assert.deepEqual(
      await cap.evaluate(() => [document.documentElement.dataset.restored, performance.getEntriesByType("navigation")[0].type]),
      ["0", "back_forward"],
      "the results page was loaded again by Back",
    );
  });
  // In the page: a new search (pushState; the title set before, with a control
  // character, which is dropped), then back and forward to the searches seen (popstate),
  // and a hash change: pageviews, no search again.
  const page3 = [ev("engagement", R("q=boots"), { engaged_ms: "*" }), ev("scroll", R("q=boots"), { depth: 100 })];
  await cstep([...page3, pv(R("q=hats"), "Hats results"), ev("search", R("q=hats"), { query: "hats" })], () =>
    cap.evaluate(() => {
      document.title = "Hats\u0001 results";
      history.pushState({}, "", "/results.html?q=hats");
    }),
  );
  const leaveHats = [ev("engagement", R("q=hats"), { engaged_ms: "*" }), ev("scroll", R("q=hats"), { depth: 100 })];
  await cstep([...leaveHats, pv(R("q=boots"), "Hats results")], async () => {
    await cap.evaluate(() => history.back());
    await cap.waitForURL(/q=boots/);
  });
  await cstep([...page3, pv(R("q=hats"), "Hats results")], async () => {
    await cap.evaluate(() => history.forward());
    await cap.waitForURL(/q=hats/);
  });
  await cstep([...leaveHats, pv(R("q=hats"), "Hats results")], () => cap.evaluate(() => (location.hash = "more")));
  await cstep(leaveHats, async () => {
    await cap.close({ runBeforeUnload: true });
    await sleep(300);
  });
  assert.deepEqual(E.errors, [], "no errors in the captures pages");
  assert.deepEqual([...E.t.kinds], ["ping"], "sent with navigator.sendBeacon");
  // The same visitor (the same user agent and address) in a browser with the
  // back/forward cache: a search page it keeps (cache=1: not no-store), restored by
  // Back, is a pageview again, but not a search again.
  const E2 = await newContext({}, bfBrowser);
  const bf = await E2.c.newPage();
  const cstep2 = stepper(csteps, E2.t);
  const S = R("q=socks&cache=1");
  await cstep2([pv(S, RT), ev("search", S, { query: "socks" })], async () => {
    await bf.goto(`${base}${S}`);
    await bf.waitForFunction(() => typeof window.cairn === "function");
  });
  await cstep2([ev("engagement", S, { engaged_ms: "*" }), ev("scroll", S, { depth: 100 })], async () => {
    await Promise.all([bf.waitForURL(/elsewhere\.html/), bf.click("#away")]);
  });
  await cstep2([pv(S, RT)], async () => {
    await bf.goBack({ waitUntil: "commit" });
    await bf.waitForFunction(() => document.documentElement.dataset.restored === "1");
  });
  // A selector of the site's own (data-cta=".buy"): only what matches it.
  const K = (cta) => `/custom.html?cta=${cta}`;
  const KT = "Custom (Cairn e2e)";
  await cstep2([ev("engagement", S, { engaged_ms: "*" }), ev("scroll", S, { depth: 100 }), pv(K(".buy"), KT)], async () => {
    await bf.goto(`${base}${K(".buy")}`);
    await bf.waitForFunction(() => typeof window.cairn === "function");
  });
  await cstep2([ev("cta_click", K(".buy"), { text: "Buy now" })], async () => {
    await bf.click("#nope");
    await bf.click("#buy b");
  });
  // data-cta="": no automatic CTA clicks; data-cairn-event still works.
  const leaveK = [ev("engagement", K(".buy"), { engaged_ms: "*" }), ev("scroll", K(".buy"), { depth: 100 })];
  await cstep2([...leaveK, pv(K(""), KT)], async () => {
    await bf.goto(`${base}${K("")}`);
    await bf.waitForFunction(() => typeof window.cairn === "function");
  });
  await cstep2([ev("go", K(""))], async () => {
    await bf.click("#nope");
    await bf.click("#buy");
    await bf.click("#explicit");
  });
  await cstep2([ev("engagement", K(""), { engaged_ms: "*" }), ev("scroll", K(""), { depth: 100 })], async () => {
    await bf.close({ runBeforeUnload: true });
    await sleep(300);
  });
  assert.deepEqual(E2.errors, [], "no errors in the captures pages (second browser)");
  assert.deepEqual([...E2.t.kinds], ["ping"], "sent with navigator.sendBeacon");

  // ---- Visitor 4, builds.example: a site that loads some features only ---------------
  // Pages of one site with /cairn.js?f=… (builds.html): the same interactions, events
  // only from the features loaded (and not excluded).
  const F = await newContext();
  const bp = await F.c.newPage();
  const bsteps = [];
  const bstep = stepper(bsteps, F.t);
  const BT = "Builds (Cairn e2e)";
  const Q = (f, exclude) => `/builds.html?f=${f}${exclude ? "&exclude=" + exclude : ""}`;
  const open = async (f, exclude) => {
    await bp.goto(`${base}${Q(f, exclude)}`);
    await bp.waitForFunction(() => typeof window.cairn === "function");
  };
  const leaveB = (u) => [ev("engagement", u, { engaged_ms: "*" }), ev("scroll", u, { depth: 100 })];
  /** Clicks a CTA-like button, an outbound link, a download, a share link. */
  const clicks = async () => {
    for (const id of ["btn", "out", "dl", "sh"]) await bp.click("#" + id);
  };
  const play = () =>
    bp.evaluate(async () => {
      const v = document.getElementById("clip");
      v.currentTime = 0;
      v.playbackRate = 2;
      await v.play();
      await new Promise((r) => v.addEventListener("ended", r, { once: true }));
    });
  const typeEmail = async () => {
    await bp.click("#o-email");
    await bp.keyboard.type(SECRETS.abandonEmail);
  };
  // Forms only: the clicks, the video and data-cairn-event send nothing; the form does.
  const FO = Q("forms");
  await bstep([pv(FO, BT)], () => open("forms"));
  await bstep([], async () => {
    await clicks();
    await bp.click("#mark");
    await play();
  });
  await bstep([ev("form_start", FO, { form_id: "order" }), ev("form_field", FO, { form_id: "order", field: "email" })], typeEmail);
  await bstep([ev("form_submit", FO, { form_id: "order" })], () => bp.click("#o-send"));
  // The core alone: pageviews, page leave, the page's own events and identify; nothing
  // automatic.
  const CO = Q("core");
  await bstep([...leaveB(FO), pv(CO, BT)], () => open("core"));
  await bstep([], async () => {
    await clicks();
    await bp.click("#mark");
    await typeEmail();
    await bp.click("#o-send");
    await play();
  });
  await bstep([ev("signup", CO, { plan: "pro" }, { amount: 9, currency: "EUR" })], () =>
    bp.evaluate(() => cairn("event", "signup", { props: { plan: "pro" }, revenue: { amount: 9, currency: "EUR" } })),
  );
  await bstep(["identify user=lead-9"], () => bp.evaluate(() => cairn("identify", "lead-9")));
  const CO2 = CO + "&step=2";
  await bstep([...leaveB(CO), pv(CO2, BT)], () => bp.evaluate((u) => history.pushState({}, "", u), CO2));
  // Two features, video excluded by data-exclude: the form only, and its abandon at
  // page leave.
  const VF = Q("video,forms", "video");
  await bstep([...leaveB(CO2), pv(VF, BT)], () => open("video,forms", "video"));
  await bstep([], async () => {
    await clicks();
    await play();
  });
  await bstep([ev("form_start", VF, { form_id: "order" }), ev("form_field", VF, { form_id: "order", field: "email" })], typeEmail);
  await bstep([...leaveB(VF), ev("form_abandon", VF, { form_id: "order", field: "email" })], async () => {
    await bp.close({ runBeforeUnload: true });
    await sleep(300);
  });
  assert.deepEqual(F.errors, [], "no errors in the builds pages");

  // Every request body: the protocol's fields only, at most 50 records, no typed value.
  const FIELDS = ["type", "site", "name", "url", "referrer", "props", "revenue", "screen", "language", "vid", "age", "user"];
  const bodies = [...A.t.sent, ...C.t.sent, ...E.t.sent, ...E2.t.sent, ...F.t.sent];
  assert.ok(bodies.length >= 20, "the tracker's request bodies were seen");
  for (const b of bodies) {
    const v = JSON.parse(b);
    const recs = Array.isArray(v) ? v : [v];
    assert.ok(recs.length >= 1 && recs.length <= 50, "1 to 50 records a request");
    if (Array.isArray(v)) assert.ok(recs.length > 1, "a single record is sent as an object");
    for (const r of recs) {
      for (const k of Object.keys(r)) assert.ok(FIELDS.includes(k), `unknown field ${k} in ${b}`);
      assert.ok(r.site && r.url, `site and url: ${b}`);
      if (r.type === "identify") continue;
      assert.match(r.screen, /^\d+x\d+$/, "screen");
      assert.equal(r.language, "en-GB", "language");
      assert.equal("referrer" in r, r.name === "pageview", `referrer only on pageviews: ${b}`);
    }
    for (const s of Object.values(SECRETS)) assert.ok(!b.includes(s), `a typed value was sent: ${s}`);
  }

  await browser.close();
  await bfBrowser.close();
  await sleep(200);
  await server.stop();
  log("server stopped; exporting");

  // ---- The store ----------------------------------------------------------------
  const exp = (s) => {
    const text = cairn("export", "--site", s, "--format", "ndjson", "--out", "-");
    for (const v of Object.values(SECRETS)) assert.ok(!text.includes(v), `a typed value was stored: ${v}`);
    return text.split("\n").filter(Boolean).map((l) => JSON.parse(l));
  };
  const shop = exp("shop.example");
  const oth = exp("other.example");
  const caps = exp("captures.example");
  const builds = exp("builds.example");

  for (const [label, recs] of [["shop.example", shop], ["other.example", oth], ["captures.example", caps], ["builds.example", builds]]) {
    assert.ok(recs.length > 0, `${label}: events were stored`);
    const visitors = new Set(recs.map((r) => r.visitor));
    assert.equal(visitors.size, 1, `${label}: one visitor id for all of the visitor's events: ${[...visitors]}`);
    for (const r of recs) {
      assert.equal(r.site, label, "the site");
      if (r.type === "identify") continue;
      for (const k of ["browser", "os", "device"]) assert.ok(r[k], `${label}: ${k} is filled from the user agent: ${JSON.stringify(r)}`);
      assert.match(r.host || "", /^127\.0\.0\.1(:\d+)?$/, `${label}: host`);
    }
  }
  assert.notEqual(shop[0].visitor, oth[0].visitor, "the first-party visitor id differs from the cookieless one");
  // The server derives the first-party visitor from the tracker's vid
  // (crates/server/src/identity.rs: SHA-256("cairn-first-party\0" site "\0" vid), 64 bits LE).
  const fp = createHash("sha256").update(`cairn-first-party\0other.example\0${vid}`).digest();
  assert.equal(oth[0].visitor, Buffer.from(fp.subarray(0, 8)).reverse().toString("hex"), "the visitor id comes from the vid");
  compare("shop.example", shop, steps);
  compare("other.example", oth, osteps);
  compare("captures.example", caps, csteps);
  compare("builds.example", builds, bsteps);
  // Numbers stay numbers in the store.
  const nl = caps.find((r) => r.name === "newsletter");
  assert.ok(nl.props.price === 189 && nl.props.neg === -2.5 && nl.props.code === "007", `typed props: ${JSON.stringify(nl.props)}`);

  // Details the signatures leave out.
  const first = shop.filter((r) => r.name === "pageview").sort((a, b) => Date.parse(a.ts) - Date.parse(b.ts));
  assert.equal(first[0].referrer, "https://www.google.com/", "the first pageview keeps document.referrer");
  assert.match(first[0].source || "", /google/i, "…and its source is classified");
  assert.ok(!first[1].referrer, "an SPA pageview has no referrer");
  assert.ok(!first[1].channel && !first[1].source, "internal navigation keeps no acquisition fields");
  assert.ok(shop.some((r) => r.type === "identify" && r.user === "lead-7" && r.visitor === shop[0].visitor), "identify links the visitor to lead-7");
  for (const r of [...shop, ...oth]) if (r.name) assert.ok(r.screen && r.language, `screen and language are stored: ${JSON.stringify(r)}`);
  for (const r of [...shop, ...oth]) if (r.path) assert.ok(!/dnt/.test(r.path), "nothing from the DNT page");
  assert.ok(!oth.some((r) => r.name === "while_opted_out"), "nothing while opted out");

  log(
    `ok: ${shop.length} shop.example, ${oth.length} other.example, ${caps.length} captures.example and ${builds.length} builds.example records as expected`,
  );
}

/** FNV-1a, 32 bits, over UTF-16 code units: the tracker's experiment hash. */
function fnv1a(s) {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

await test.run(main);
