// Site search: a pageview whose URL has a search parameter (data-search-params, default
// q, s, query, search) with a value is followed by `search` {query}.
import { L, pageHooks, track } from "../core";
import { cut } from "./cut";

export function search(params: string | null): void {
  const names = (params || "q,s,query,search").split(/[\s,]+/);
  pageHooks.push(() => {
    const q = new URLSearchParams(L.search);
    for (const n of names) {
      const query = (q.get(n) || "").trim();
      if (n && query) return track("search", { query: cut(query) });
    }
  });
}
