// Outbound links: a click (or middle click) on a link to another host.
import { L, track } from "../core";
import { cut } from "./cut";

/** Sends `outbound_click` when `u` (an http(s) link's URL) leaves this host; whether it did. */
export function outbound(u: URL): boolean {
  const out = u.host != L.host && /^https?:$/.test(u.protocol);
  if (out) track("outbound_click", { url: cut(u.href) });
  return out;
}
