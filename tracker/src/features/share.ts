// Sharing: a click on [data-cairn-share="network"] sends `share` {network}; a click on
// [data-cairn-copy], or a copy (clipboard) inside one, sends `copy` {target}.
import { D, listen, track, up } from "../core";

export function share(): void {
  let last = 0;
  const copy = (el: Element | null) => {
    const t = Date.now();
    // A copy button that copies with execCommand fires both a click and a copy event.
    if (el && t - last > 500) {
      last = t;
      track("copy", { target: el.getAttribute("data-cairn-copy") || "" });
    }
  };
  listen(
    D,
    "click",
    (e: Event) => {
      const el = up(e.target, "[data-cairn-share]");
      if (el) track("share", { network: el.getAttribute("data-cairn-share") || "" });
      copy(up(e.target, "[data-cairn-copy]"));
    },
    true,
  );
  listen(
    D,
    "copy",
    (e: Event) => {
      const sel = getSelection();
      copy(up(e.target, "[data-cairn-copy]") || up(sel && sel.anchorNode, "[data-cairn-copy]"));
    },
    true,
  );
}
