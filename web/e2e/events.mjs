// The Events page in the browser test (issue 19, item 4), called from e2e.mjs once signed
// in: the explorer's names and counts as the API gives them for the same spec; an event's
// properties and top values; a value clicked into a filter that changes the figures; the
// live view with an event sent now and a bot's event shown as ignored with its reason; a
// property offered and applied as a breakdown; the funnel builder's event names and its
// warning on an unknown one; screenshots at 1440 and 390 px, light and dark.
import assert from "node:assert/strict";

const fmt = (n) => new Intl.NumberFormat("en-US").format(n);
const HEADLESS = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/126.0 Safari/537.36";

/** `t`: page, url(hash), shot(name), origin, apiQuery(spec), apiGet(path), specs, log, site. */
export async function eventsE2E(t) {
  const { page, url, shot, origin, apiQuery, apiGet, specs, log, site } = t;
  const eventsSpec = (pred = () => true) => specs.filter((s) => s.analysis.type === "events" && s.analysis.values === 10 && pred(s)).pop();
  const shownNames = () => page.$$eval("#event-names tbody tr", (trs) => trs.map((tr) => [tr.dataset.event, ...[1, 3, 4].map((i) => tr.children[i].textContent)]));
  const wantNames = (r) => r.names.map((n) => [n.name, fmt(n.events), fmt(n.visitors), fmt(n.sessions)]);
  const ready = '#events[aria-busy="false"] #event-names tbody tr[data-event]';
  const noSideways = async (what) => assert.ok(await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth) <= 0, `${what}: no sideways scrolling on a phone`);
  const fourShots = async (name, sel) => {
    for (const scheme of ["light", "dark"]) {
      await page.emulateMedia({ colorScheme: scheme });
      await page.setViewportSize({ width: 1440, height: 900 });
      await page.waitForSelector(sel);
      await page.waitForTimeout(150);
      await shot(`${name}-${scheme}-desktop`);
      await page.setViewportSize({ width: 390, height: 844 });
      await page.waitForTimeout(150);
      await shot(`${name}-${scheme}-phone`);
      await noSideways(`${name} (${scheme})`);
    }
    await page.emulateMedia({ colorScheme: "light" });
    await page.setViewportSize({ width: 1280, height: 900 });
  };

  // --- The explorer: every name with its events, visitors and sessions, as the API.
  await page.goto(url(`/events?site=${site}&range=30d`));
  await page.waitForSelector(ready);
  const spec = eventsSpec();
  assert.ok(spec, "the explorer posted an events query");
  assert.equal(spec.site, site);
  const r = await apiQuery(spec);
  assert.deepEqual(await shownNames(), wantNames(r), "the explorer lists the API's names and counts");
  for (const n of ["pageview", "search", "share", "add_to_cart"]) assert.ok(r.names.some((x) => x.name === n), `the demo shop has ${n} events`);
  assert.ok(await page.locator("#event-names tbody .spark").count() > 0, "trends are drawn");
  log(`events explorer matches the API: ${r.names.length} names, ${r.names.slice(0, 3).map((x) => `${x.name} ${x.events}`).join(", ")}`);

  // --- An event's properties: its keys and their top values, as the API; kept in the URL.
  await page.click('#event-names tr[data-event="search"] th button');
  await page.waitForFunction(() => location.hash.includes("event=search"));
  await page.waitForSelector('#event-props [data-key="query"] tbody tr');
  const pspec = eventsSpec((s) => s.analysis.event === "search");
  assert.ok(pspec, "the properties of search were asked for");
  const pr = await apiQuery(pspec);
  const query = pr.properties.find((k) => k.key === "query");
  assert.ok(query && query.values.length > 0, "search events carry a query");
  const shownValues = await page.$$eval('#event-props [data-key="query"] tbody tr', (trs) => trs.map((tr) => [tr.children[0].textContent, tr.children[1].textContent]));
  assert.deepEqual(shownValues.slice(0, query.values.length), query.values.map((v) => [String(v.value), fmt(v.events)]), "the top values of props.query as the API");
  assert.deepEqual(await page.$$eval("#event-props [data-key]", (els) => els.map((e) => e.dataset.key)), pr.properties.map((k) => k.key), "every key of search");
  await page.reload();
  await page.waitForSelector('#event-names tr.selected[data-event="search"]');
  await page.waitForSelector('#event-props [data-key="query"]');
  log(`search's properties: ${pr.properties.map((k) => `${k.key} (${k.distinct} values)`).join(", ")}; the event is kept in the URL`);
  await fourShots("events", '#event-props [data-key="query"] tbody tr');

  // --- A value clicked: the filter chip, and the figures of that value.
  const top = query.values[0];
  await page.click(`#event-props [data-key="query"] tbody tr:first-child th button`);
  await page.waitForFunction((v) => document.querySelector(".chips")?.textContent.includes(`props.query = ${v}`), String(top.value));
  await page.waitForSelector('#events[aria-busy="false"] #event-names tr[data-event="search"]');
  const fspec = eventsSpec((s) => s.filters.some((f) => f.field === "props.query"));
  assert.deepEqual(fspec.filters, [{ field: "props.query", value: top.value }], "the filter is in the query");
  const fr = await apiQuery(fspec);
  assert.deepEqual(await shownNames(), wantNames(fr), "the filtered explorer as the API");
  assert.equal(fr.names.find((x) => x.name === "search")?.events, top.events, "search events with that query: the value's count");
  assert.ok(fr.names.reduce((a, x) => a + x.events, 0) < r.names.reduce((a, x) => a + x.events, 0), "the filter narrows the events");
  log(`props.query = ${top.value} filters to ${top.events} search events`);
  // The name itself as a filter.
  await page.click("#filter-event");
  await page.waitForFunction(() => document.querySelector(".chips")?.textContent.includes("name = search"));
  await page.waitForSelector('#events[aria-busy="false"] #event-names tbody tr');

  // --- Live: the last events; one sent now, and a bot's shown as ignored with its reason.
  await page.goto(url(`/events?site=${site}&range=30d&view=live`));
  await page.waitForSelector('#live[aria-busy="false"]');
  const before = await apiGet(`/api/v1/sites/${site}/live?limit=200`);
  if (!before.events.length) {
    await page.waitForSelector("#live-empty");
    assert.match(await page.textContent("#live-empty"), /Setup/);
    await shot("events-live-empty-light-desktop");
  }
  const sent = await page.evaluate(async (s) => (await fetch("/api/v1/event", { method: "POST", headers: { "content-type": "text/plain" }, body: JSON.stringify({ site: s, name: "e2e_live", url: `https://${s}/live-check?x=1`, props: { plan: "pro", seats: 3 } }) })).status, site);
  assert.equal(sent, 202, "the event is acknowledged");
  const bot = await fetch(`${origin}/api/v1/event`, { method: "POST", headers: { "content-type": "text/plain", "user-agent": HEADLESS }, body: JSON.stringify({ site, name: "pageview", url: `https://${site}/bot-check` }) });
  assert.equal(bot.status, 202, "a bot's event is answered");
  await page.waitForSelector('#live-table tbody tr:has-text("e2e_live")', { timeout: 15000 });
  await page.waitForSelector('#live-table tbody tr.ignored:has-text("/bot-check")', { timeout: 15000 });
  const mine = page.locator('#live-table tbody tr:has-text("e2e_live")').first();
  assert.match(await mine.textContent(), /\/live-check/, "its path");
  assert.match(await mine.textContent(), /plan=pro/, "its properties");
  assert.match(await mine.textContent(), /seats=3/);
  assert.match(await mine.textContent(), /stored/);
  assert.match(await page.locator("#live-table tbody tr.ignored .ua").first().textContent(), /^no: bot \(.*HeadlessChrome/, "the reason and the user agent");
  const ignored = page.locator('#live-table tbody tr.ignored:has-text("/bot-check")').first();
  assert.equal(await ignored.locator(".badge.ignored").textContent(), "ignored: bot", "the bot's event is marked ignored");
  assert.match(await ignored.locator(".badge.ignored").getAttribute("title"), /HeadlessChrome/, "with the user agent as the reason's detail");
  const live = await apiGet(`/api/v1/sites/${site}/live?limit=100`);
  assert.equal(live.events[0].ignored?.reason, "bot", "newest first: the bot's event");
  assert.equal(await page.locator("#live-table tbody tr").count(), live.events.length, "one row per live event");
  log(`live view: e2e_live shown, the headless browser's pageview ignored as a bot (${live.events.length} live events)`);
  await fourShots("events-live", '#live-table tbody tr.ignored');
  // Polling stops once the page changes: no live request after leaving.
  let polled = 0;
  const onReq = (req) => req.url().includes("/live?") && polled++;
  await page.goto(url(`/overview?site=${site}&range=30d`));
  await page.waitForSelector('.kpis[data-ready="1"]');
  page.on("request", onReq);
  await page.waitForTimeout(3500);
  page.off("request", onReq);
  assert.equal(polled, 0, "the live view stops polling when left");

  // --- Property breakdowns: the goal's "by" offers the site's properties.
  const goal = (await apiGet(`/api/v1/sites/${site}/goals`))[0].name;
  await page.goto(url(`/goals?site=${site}&range=30d&goal=${encodeURIComponent(goal)}`));
  await page.waitForSelector('#breakdown-by optgroup option[value="props.category"]', { state: "attached" });
  await page.selectOption("#breakdown-by", "props.category");
  await page.waitForFunction(() => location.hash.includes("by=props.category"));
  await page.waitForSelector("#breakdown-table tbody tr");
  const bspec = specs.filter((s) => s.analysis.type === "goals" && s.analysis.breakdown?.by === "props.category").pop();
  const brows = (await apiQuery(bspec)).breakdown;
  assert.ok(brows.length > 1, "rows by props.category");
  assert.deepEqual(await page.$$eval("#breakdown-table tbody tr > :first-child", (els) => els.map((e) => e.textContent)), brows.map((x) => x.value), "the breakdown by a property as the API");
  assert.equal(await page.inputValue("#breakdown-by"), "props.category", "the property stays chosen");
  log(`${goal} by props.category: ${brows.map((x) => x.value).join(", ")}`);

  // --- The funnel builder: event names suggested; an unknown one flagged.
  await page.goto(url(`/funnels?site=${site}&range=30d&funnel=new`));
  await page.waitForSelector('#event-names option[value="search"]', { state: "attached" });
  assert.ok(await page.locator('#f-by optgroup option[value="props.query"]').count(), "the funnel's breakdown offers properties");
  await page.fill('[aria-label="Step 1 event name"]', "search");
  await page.fill('[aria-label="Step 2 event name"]', "no_such_event_e2e");
  assert.equal(await page.getAttribute('[aria-label="Step 1 event name"]', "list"), "event-names");
  assert.ok(await page.isHidden("#funnel-steps-editor li:nth-child(1) .step-warn"), "a known name is not flagged");
  assert.equal(await page.textContent("#funnel-steps-editor li:nth-child(2) .step-warn:visible"), "no such event in this range", "an unknown name is flagged");
  log("funnel builder: event names suggested, an unknown one flagged");
}
