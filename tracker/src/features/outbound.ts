// Outbound links: a click (or middle click) on a link to another host.
import { L, cut, feature, track } from "../api";
import { links } from "./links";

feature("outbound", () =>
  links((_, u) => {
    const out = u.host != L.host && /^https?:$/.test(u.protocol);
    if (out) track("outbound_click", { url: cut(u.href) });
    return out;
  }),
);
