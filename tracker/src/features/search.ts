// Site search: a pageview whose URL has a search parameter (data-search-params, default
// q, s, query, search) with a value is followed by `search` {query} — once per page
// load and path + query: not again when the visitor comes back to it through the
// history (back/forward in the page, a page restored from the back/forward cache, a
// hash change), nor on a page loaded by back/forward (its search was sent when it was
// first loaded).
import { L, cut, feature, pageHooks, track } from "../api";
import { searchParams } from "./params";

feature("search", (s) => {
  /** The search parameters' names. */
  const names = searchParams(s);
  const seen: { [pathQuery: string]: 1 } = {};
  let nav = performance.getEntriesByType("navigation")[0] as PerformanceNavigationTiming | undefined;
  pageHooks.push((back) => {
    const k = L.pathname + L.search;
    // The first pageview: the page's own navigation type.
    const again = nav ? nav.type == "back_forward" : back && seen[k];
    nav = undefined;
    seen[k] = 1;
    if (again) return;
    const q = new URLSearchParams(L.search);
    for (const n of names) {
      const query = (q.get(n) || "").trim();
      if (query) return track("search", { query: cut(query) });
    }
  });
});
