// The query parameters that hold a site search (data-search-params): read by the search
// feature (which sends `search`) and by forms (which leave search forms out).

/** The names in `data-search-params`, default q, s, query, search. */
export const searchParams = (s: HTMLScriptElement): string[] =>
  (s.getAttribute("data-search-params") || "q,s,query,search").split(/[\s,]+/).filter(Boolean);
