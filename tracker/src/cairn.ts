// Cairn's browser tracker: the entry point (bundled by build.mjs into dist/cairn.js).
//
//   <script defer data-site="shop.example" src="https://analytics.example.com/cairn.js"></script>
//
// See ../README.md for the options and the events it sends.
import { D, run, start } from "./core";
import { cta } from "./features/cta";
import { formsFeature } from "./features/forms";
import { links } from "./features/links";
import { searchParams } from "./features/params";
import { search } from "./features/search";
import { share } from "./features/share";
import { video } from "./features/video";

try {
  const s = (D.currentScript || D.querySelector("script[data-site]")) as HTMLScriptElement | null;
  if (start(s)) {
    try {
      // The features first: the search feature hooks into the first pageview. The click
      // listeners in this order: share, links, CTA (a click one counted, a later one
      // leaves alone; see core.ts).
      const off = (s!.getAttribute("data-exclude") || "").toLowerCase().split(/[\s,]+/);
      const on = (f: string) => off.indexOf(f) < 0;
      if (__SHARE__ && on("share")) share();
      if ((__OUTBOUND__ && on("outbound")) || (__DOWNLOADS__ && on("downloads")))
        links(on("downloads"), on("outbound"));
      if (__CTA__ && on("cta")) cta(s!.getAttribute("data-cta"));
      if (__FORMS__ && on("forms")) formsFeature(searchParams(s!));
      if (__VIDEO__ && on("video")) video();
      if (__SEARCH__ && on("search")) search(searchParams(s!));
    } catch (x) {}
    run();
  }
} catch (x) {}
