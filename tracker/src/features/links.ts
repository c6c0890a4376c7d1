// The link listener behind `downloads` and `outbound` (each feature has one of its own:
// downloads' comes first, so that a download is not also an outbound click). A click
// already counted (a share, a download) is left alone; a click counted here is marked,
// so that it is not also an outbound or a CTA click.
import { D, listen, up } from "../api";

/** `count`: sends the link's event and returns true when the link is one to count. */
export function links(count: (a: Element, u: URL) => boolean): void {
  const click = (e: MouseEvent) => {
    // auxclick: the middle button only (not the context menu's).
    if (e.type != "click" && e.button != 1) return;
    const a = up(e.target, "a[href]");
    if (!a || (e as any)._cairn) return;
    if (count(a, new URL(a.getAttribute("href")!, D.baseURI))) (e as any)._cairn = 1;
  };
  listen(D, "click", click, true);
  listen(D, "auxclick", click, true);
}
