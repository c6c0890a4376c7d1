// Calls to action: a click on an element (or inside one) with data-cairn-event="name"
// sends that event, with properties from its data-cairn-prop-* attributes (as strings).
import { D, listen, track, up, type Props } from "../core";
import { cut } from "./cut";

export function cta(): void {
  listen(
    D,
    "click",
    (e: Event) => {
      const el = up(e.target, "[data-cairn-event]");
      if (!el) return;
      const props: Props = {};
      for (const a of Array.from(el.attributes))
        if (a.name.indexOf("data-cairn-prop-") == 0 && a.name[16]) props[a.name.slice(16)] = cut(a.value);
      track(el.getAttribute("data-cairn-event")!, props);
    },
    true,
  );
}
