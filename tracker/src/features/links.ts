// The one link listener behind `outbound` and `downloads` (a download is not also an
// outbound click).
import { D, listen, up } from "../core";
import { download } from "./downloads";
import { outbound } from "./outbound";

export function links(downloads: boolean, outbounds: boolean): void {
  const click = (e: MouseEvent) => {
    // auxclick: the middle button only (not the context menu's).
    if (e.type != "click" && e.button != 1) return;
    const a = up(e.target, "a[href]");
    if (!a) return;
    const u = new URL(a.getAttribute("href")!, D.baseURI);
    if (__DOWNLOADS__ && downloads && download(a, u)) return;
    if (__OUTBOUND__ && outbounds) outbound(u);
  };
  listen(D, "click", click, true);
  listen(D, "auxclick", click, true);
}
