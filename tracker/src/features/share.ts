// Sharing: `share` {network} for a click on [data-cairn-share="network"] or on (or a
// middle click on) a link to a network's share page; `share` {network: "native", url}
// when the visitor shares through `navigator.share` (once its promise resolves: not
// when they cancel). A click on [data-cairn-copy], or a copy (clipboard) inside one,
// sends `copy` {target}. A click that sent `share` or `copy` is marked for the later
// listeners: a share link is not also an outbound click, a share button not a CTA click.
import { D, N, cut, feature, listen, noop, track, up, type Props } from "../api";

/** Share links (their resolved href) and the network each one shares to. */
const NETS: [RegExp, string][] = [
  [/^https?:\/\/([\w-]+\.)*facebook\.com\/(sharer|dialog\/(share|feed))/i, "facebook"],
  [/^https?:\/\/([\w-]+\.)*(twitter|x)\.com\/(intent\/(tweet|post)|share\b)/i, "x"],
  [/^https?:\/\/([\w-]+\.)*linkedin\.com\/(sharing\/share-offsite|sharearticle)/i, "linkedin"],
  // Not a chat with a given number (wa.me/4930…, send?phone=…): only ?text= first.
  [/^(https?:\/\/(wa\.me\/|(api|web)\.whatsapp\.com\/send)|whatsapp:\/\/send)\?text=/i, "whatsapp"],
  // An e-mail without a recipient: mailto:?subject=…&body=…
  [/^mailto:\?/i, "email"],
];

feature("share", () => {
  let last = 0;
  const copy = (el: Element | null) => {
    const t = Date.now();
    // A copy button that copies with execCommand fires both a click and a copy event.
    if (el && t - last > 500) {
      last = t;
      track("copy", { target: el.getAttribute("data-cairn-copy") || "" });
    }
    return el;
  };
  const click = (e: MouseEvent) => {
    let network: string | null | undefined;
    const el = up(e.target, "[data-cairn-share]");
    const a = up(e.target, "a[href]") as HTMLAnchorElement | null;
    if (e.type == "click" && el) network = el.getAttribute("data-cairn-share") || "";
    // auxclick: the middle button only (not the context menu's).
    else if (a && (e.type == "click" || e.button == 1)) for (const [re, n] of NETS) if (re.test(a.href)) network = n;
    if (network != null) track("share", { network });
    if ((e.type == "click" && copy(up(e.target, "[data-cairn-copy]"))) || network != null) (e as any)._cairn = 1;
  };
  listen(D, "click", click, true);
  listen(D, "auxclick", click, true);
  listen(
    D,
    "copy",
    (e: Event) => {
      const sel = getSelection();
      copy(up(e.target, "[data-cairn-copy]") || up(sel && sel.anchorNode, "[data-cairn-copy]"));
    },
    true,
  );
  // The Web Share API, where the browser has it.
  const n = N as any;
  const native = n.share;
  if (native)
    n.share = function (this: Navigator, data?: ShareData) {
      const p = native.apply(this, arguments);
      try {
        const url = data && data.url;
        const props: Props = url ? { network: "native", url: cut(new URL(url, D.baseURI).href) } : { network: "native" };
        p.then(() => track("share", props), noop);
      } catch (x) {}
      return p;
    };
});
