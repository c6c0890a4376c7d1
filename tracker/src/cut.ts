// Property values taken from the page (URLs, a search query, attribute values, texts)
// made acceptable to the server, which refuses a request whose strings have control
// characters or are longer than 512 bytes.

/**
 * `s` without control characters, cut to at most `max` code points and 512 bytes of
 * UTF-8 (between code points: never half a surrogate pair, which the server refuses).
 */
export function cut(s: string, max = 512): string {
  let a = Array.from(s.replace(/[\0-\x1f\x7f-\x9f]/g, "")).slice(0, max);
  while (new Blob([(s = a.join(""))]).size > 512) a.length -= 8;
  return s;
}
