// The one link listener behind `outbound` and `downloads` (a download is not also an
// outbound click). A click already counted as a share is neither; a click counted here
// is marked, so that it is not also a CTA click.
import { D, listen, up } from "../core";
import { download } from "./downloads";
import { outbound } from "./outbound";

export function links(downloads: boolean, outbounds: boolean): void {
  const click = (e: MouseEvent) => {
    // auxclick: the middle button only (not the context menu's).
    if (e.type != "click" && e.button != 1) return;
    const a = up(e.target, "a[href]");
    if (!a || (e as any)._cairn) return;
    const u = new URL(a.getAttribute("href")!, D.baseURI);
    if ((__DOWNLOADS__ && downloads && download(a, u)) || (__OUTBOUND__ && outbounds && outbound(u)))
      (e as any)._cairn = 1;
  };
  listen(D, "click", click, true);
  listen(D, "auxclick", click, true);
}
