// The tracker's core: sending, pageviews (with SPA navigation), engagement and scroll
// depth at page leave, custom events, identify, opt-out and experiments. Autocapture
// features (src/features/, each built into a chunk of its own) plug in through `listen`,
// `track`, `cut` and the two hook lists, which cairn.ts hands them (src/api.ts).
// Features that listen to the same click mark the event (`e._cairn = 1`) when they
// send something for it, so that a later one does not send a second event for that
// click: share, then downloads, then outbound, then CTA clicks (the assembled script has
// their chunks in that order, build.mjs `ORDER`, and cairn.ts starts them in it;
// listeners on one target run in registration order).
//
// Size matters (the core must stay under 2 KiB gzipped): module-level variables rather
// than objects (the minifier renames them), no classes, no dependencies.
import { cut } from "./cut";

/** A property value the server accepts. */
export type Val = string | number | boolean;
/** Event properties. */
export type Props = { [key: string]: Val };

/** One record of the tracker protocol (`POST /api/v1/event`). */
interface Rec {
  type?: string;
  site: string;
  name?: string;
  user?: string;
  url: string;
  referrer?: string;
  props?: Props;
  revenue?: unknown;
  screen?: string;
  language?: string;
  vid?: string;
  age?: number;
}

export const W = window;
export const D = document;
export const L = location;
export const N = navigator;

/** Most records in one request (the server's limit). */
const MAX = 50;

let site = "";
let endpoint = "";
/** The first-party id (`data-persist`), else undefined. */
export let vid: string | undefined;
/** Do-not-track: nothing is sent at all. */
let dnt = false;

/** Auto events waiting for the end of the current task, with the time each was made. */
let buf: [Rec, number][] = [];

/**
 * Called after each pageview (e.g. the search feature), with 1 when the view comes from
 * the history (back/forward: `popstate`, `hashchange`, a page restored from the
 * back/forward cache) rather than a new navigation.
 */
export const pageHooks: ((back?: 1) => void)[] = [];
/** Called on page leave with the URL being left, before the leave batch is sent. */
export const leaveHooks: ((url: string) => void)[] = [];

// The current page view.
let cur = "";
let curPath = "";
let first = true;
let left = false;
let engaged = 0;
let since = 0;
let depth = 0;
let exposed: { [key: string]: 1 } = {};

const noop = () => {};

/** `addEventListener` whose listener never throws into the page. */
export function listen(
  target: EventTarget,
  type: string,
  fn: (e: any) => void,
  opts?: boolean | AddEventListenerOptions,
): void {
  target.addEventListener(
    type,
    (e) => {
      try {
        fn(e);
      } catch (x) {}
    },
    opts,
  );
}

/** Calls each hook, so that one failing does not stop the others. */
const each = <A>(hooks: ((a: A) => void)[], a: A) => {
  for (const h of hooks)
    try {
      h(a);
    } catch (x) {}
};

/** A storage (local or session), or null where the browser refuses it. */
const store = (session?: 1): Storage | null => {
  try {
    return session ? sessionStorage : localStorage;
  } catch (x) {
    return null;
  }
};
const get = (k: string, session?: 1) => {
  try {
    return store(session)!.getItem(k);
  } catch (x) {
    return null;
  }
};
const set = (k: string, v: string | null, session?: 1) => {
  try {
    v == null ? store(session)!.removeItem(k) : store(session)!.setItem(k, v);
  } catch (x) {}
};

const optedOut = () => dnt || get("cairn_optout") == "1";

function post(recs: Rec[]): void {
  const body = JSON.stringify(recs.length > 1 ? recs : recs[0]);
  try {
    // text/plain: a "simple" request, no CORS preflight.
    if (N.sendBeacon(endpoint, new Blob([body], { type: "text/plain" }))) return;
  } catch (x) {}
  try {
    fetch(endpoint, {
      method: "POST",
      body,
      keepalive: true,
      headers: { "Content-Type": "text/plain" },
      credentials: "omit",
    }).catch(noop);
  } catch (x) {}
}

/** Sends the buffered records now (at most 50 a request). */
function flush(): void {
  const now = Date.now();
  const recs = buf.map(([r, t]) => {
    if (now > t) r.age = now - t;
    return r;
  });
  buf = [];
  if (!optedOut()) while (recs.length) post(recs.splice(0, MAX));
}

function queue(r: Rec): void {
  if (!buf.length) Promise.resolve().then(flush);
  buf.push([r, Date.now()]);
}

function base(): Rec {
  const r: Rec = { site, url: L.href };
  if (vid) r.vid = vid;
  return r;
}

/**
 * Records an event. Auto events are batched until the end of the current task (one
 * request for a pageview and what follows it); `alone` (the page's own calls) sends
 * everything pending and then the event in a request of its own, so that an invalid
 * custom event cannot make the server refuse automatic ones.
 */
export function track(name: string, props?: Props, more?: Partial<Rec>, alone?: boolean): void {
  if (optedOut() || !name) return;
  const r = base();
  r.name = name;
  r.screen = screen.width + "x" + screen.height;
  r.language = N.language;
  if (props) r.props = props;
  Object.assign(r, more);
  if (alone) {
    flush();
    post([r]);
  } else queue(r);
}

const visible = () => D.visibilityState == "visible";

/** The deepest scroll so far, in percent of the document's height. */
function measure(): void {
  const h = Math.max(D.documentElement.scrollHeight, D.body ? D.body.scrollHeight : 0);
  const p = Math.min(100, Math.round(((W.scrollY + W.innerHeight) / h) * 100)) || 0;
  if (p > depth) depth = p;
}

function pageview(back?: 1): void {
  // An SPA pageview's referrer is the in-app page before it, as for a full navigation:
  // the server sees internal navigation and keeps the session's source.
  const prev = cur;
  cur = L.href;
  curPath = L.pathname;
  left = false;
  engaged = depth = 0;
  since = visible() ? Date.now() : 0;
  exposed = {};
  const title = cut(D.title);
  track("pageview", title ? { title } : undefined, { referrer: first ? D.referrer : prev });
  first = false;
  each(pageHooks, back);
}

/**
 * The page view ends: engagement, scroll depth and the features' leave events, once.
 * Sent at once when the page goes away (`now`); on an SPA navigation they go in one
 * request with the next pageview.
 */
function leave(now?: any): void {
  if (left || !cur) return;
  left = true;
  if (since) engaged += Date.now() - since;
  since = 0;
  measure();
  const url = { url: cur };
  track("engagement", { engaged_ms: Math.round(engaged) }, url);
  track("scroll", { depth }, url);
  each(leaveHooks, cur);
  if (now) flush();
}

/**
 * A navigation inside the page (SPA): a new page view when the URL changed; `back`:
 * through the history.
 */
function nav(replace?: boolean, back?: 1): void {
  if (L.href == cur || (replace && L.pathname == curPath)) return;
  leave();
  pageview(back);
}

/** FNV-1a (32 bits) over UTF-16 code units. */
export function hash(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

function experiment(key: string, variants: string[], cb?: (v: string) => void): void {
  const n = variants.length;
  if (!n) return;
  let v: string;
  if (vid) v = variants[hash(vid + key) % n];
  else {
    const k = "cairn_exp_" + key;
    const s = get(k, 1);
    v = variants.indexOf(s!) < 0 ? variants[(Math.random() * n) | 0] : s!;
    set(k, v, 1);
  }
  if (!exposed[key]) {
    exposed[key] = 1;
    track("experiment_exposure", { experiment: key, variant: v });
  }
  if (cb) cb(v);
}

/** `window.cairn(command, ...)`. */
function api(cmd: string, a?: any, b?: any, c?: any): void {
  try {
    if (cmd == "event") track(a, b && b.props, b && b.revenue ? { revenue: b.revenue } : {}, true);
    else if (cmd == "identify") {
      if (a && !optedOut()) {
        const r = base();
        r.type = "identify";
        r.user = "" + a;
        flush();
        post([r]);
      }
    } else if (cmd == "optout") set("cairn_optout", "1");
    else if (cmd == "optin") set("cairn_optout", null);
    else if (cmd == "experiment") experiment(a, b, c);
  } catch (x) {}
}

/**
 * Starts the tracker for a script tag: returns whether it started (false without
 * `data-site`, or when the tracker is already running in this page).
 */
export function start(s: HTMLScriptElement | null): boolean {
  const w = W as any;
  const attr = (k: string) => s!.getAttribute("data-" + k);
  if (!s || w._cairn || !(site = attr("site") || "")) return false;
  w._cairn = 1;
  endpoint = (attr("api") || new URL(s.src, L.href).origin).replace(/\/+$/, "") + "/api/v1/event";
  const n = N as any;
  dnt = attr("respect-dnt") != null && (n.doNotTrack == "1" || n.globalPrivacyControl === true);
  if (attr("persist") != null && !optedOut()) {
    vid = get("cairn_id") || undefined;
    if (!vid) {
      vid = "";
      for (const b of Array.from(crypto.getRandomValues(new Uint8Array(12))))
        vid += (256 | b).toString(16).slice(1);
      set("cairn_id", vid);
    }
  }
  const h = history as any;
  ["pushState", "replaceState"].forEach((m, i) => {
    const orig = h[m];
    h[m] = function (this: History) {
      const r = orig.apply(this, arguments);
      try {
        nav(!!i);
      } catch (x) {}
      return r;
    };
  });
  listen(W, "popstate", () => nav(false, 1));
  listen(W, "hashchange", () => nav(false, 1));
  listen(W, "scroll", measure, { passive: true });
  listen(D, "visibilitychange", () => {
    if (visible()) since = since || Date.now();
    else {
      if (since) engaged += Date.now() - since;
      since = 0;
      leave(1);
    }
  });
  listen(W, "pagehide", () => leave(1));
  // Back from the back/forward cache: a new view of the page.
  listen(W, "pageshow", (e: PageTransitionEvent) => e.persisted && pageview(1));
  return true;
}

/** The first pageview, then the commands the page queued before the script loaded. */
export function run(): void {
  const w = W as any;
  const q: IArguments[] = (w.cairn && w.cairn.q) || [];
  const go = () => {
    pageview();
    for (const args of q) api.apply(null, args as any);
    w.cairn = api;
  };
  if ((D as any).prerendering) {
    // A prerendered page counts once the visitor actually opens it; until then the
    // page's calls keep queueing.
    w.cairn = function () {
      q.push(arguments);
    };
    listen(D, "prerenderingchange", go, { once: true });
  } else go();
}
