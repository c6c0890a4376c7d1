// Cairn's browser tracker: the core's entry point (bundled by build.mjs into
// dist/core.js; the served script is the chunks of the features a site asked for, then
// this, in one function: build.mjs `assemble`).
//
//   <script defer data-site="shop.example" src="https://analytics.example.com/cairn.js"></script>
//
// See ../README.md for the options and the events it sends.
import { D, leaveHooks, listen, pageHooks, run, start, track } from "./core";
import { cut } from "./cut";

try {
  const s = (D.currentScript || D.querySelector("script[data-site]")) as HTMLScriptElement | null;
  if (start(s)) {
    // The features first, in the order of their chunks: the search feature hooks into
    // the first pageview, and the click listeners go share, downloads, outbound, CTA
    // (a click one counted, a later one leaves alone; see core.ts). Each feature
    // checks data-exclude itself (src/api.ts), so that the core alone has no code for it.
    try {
      for (const init of cairnF) init(s!, [track, listen, cut, pageHooks, leaveHooks]);
    } catch (x) {}
    run();
  }
} catch (x) {}
