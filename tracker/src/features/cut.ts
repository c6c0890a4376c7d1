// Property values taken from the page (URLs, a search query, attribute values) made
// acceptable to the server, which refuses a request whose strings have control
// characters or are longer than 512 bytes.

/** `s` without control characters, cut to at most 512 bytes of UTF-8 between code points. */
export function cut(s: string): string {
  let a = Array.from(s.replace(/[\0-\x1f\x7f-\x9f]/g, "")).slice(0, 512);
  while (new Blob([(s = a.join(""))]).size > 512) a.length -= 8;
  return s;
}
