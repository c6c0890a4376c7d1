// Calls to action. A click on an element (or inside one) with data-cairn-event="name"
// sends that event, with properties from its data-cairn-prop-* attributes (numbers for
// plain decimals, see `val`). Otherwise a click on a button or link matching the
// selector (data-cta; default `DEFAULT`) sends `cta_click` {text}: its visible text —
// but not for a form's submit button (forms has form_submit) nor for a click another
// feature already counted (a download, an outbound link, a share, a copy).
import { D, cut, feature, listen, track, up, type Props, type Val } from "../api";

const DEFAULT = "button,[role=button],a.btn,a.cta,.button";

/**
 * An attribute's value as a property: a number when it is a plain decimal (an optional
 * minus, no leading zero, an optional fraction, no exponent; 15 characters at most, so
 * that it reads back the same), else the string.
 */
const val = (v: string): Val => (/^-?(0|[1-9]\d*)(\.\d+)?$/.test(v) && v.length < 16 ? +v : cut(v));

// data-cta: the selector (none: the default; "": no automatic CTA clicks).
feature("cta", (s) => {
  let sel = s.getAttribute("data-cta");
  if (sel == null) sel = DEFAULT;
  listen(
    D,
    "click",
    (e: Event) => {
      const el = up(e.target, "[data-cairn-event]");
      if (el) {
        const props: Props = {};
        for (const a of Array.from(el.attributes))
          if (a.name.indexOf("data-cairn-prop-") == 0 && a.name[16]) props[a.name.slice(16)] = val(a.value);
        return track(el.getAttribute("data-cairn-event")!, props);
      }
      const b = sel && !(e as any)._cairn && (up(e.target, sel) as any);
      if (b && !(b.form && b.type == "submit"))
        track("cta_click", {
          text: cut(("" + (b.innerText || b.getAttribute("aria-label") || b.value || b.title || "")).replace(/\s+/g, " ").trim(), 100),
        });
    },
    true,
  );
});
