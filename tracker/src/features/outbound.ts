// Outbound links: a click (or middle click) on a link to another host.
import { L, track } from "../core";
import { cut } from "./cut";

/** Sends `outbound_click` when `u` (an http(s) link's URL) leaves this host. */
export function outbound(u: URL): void {
  if (u.host != L.host && /^https?:$/.test(u.protocol)) track("outbound_click", { url: cut(u.href) });
}
