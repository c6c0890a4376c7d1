// What a feature (src/features/) uses of the core. Each feature is built into a chunk of
// its own, without the core (build.mjs; a feature that imported core.ts would carry a
// copy of it): the chunk registers the feature with `feature`, and the core, which comes
// after the chunks in the assembled script, hands its functions over when it starts the
// feature, before the first pageview (src/cairn.ts).
import type * as Core from "./core";

export type { Props, Val } from "./core";

// The core's, set when the feature starts (see `Api`).
export let track: typeof Core.track;
export let listen: typeof Core.listen;
export let cut: typeof import("./cut").cut;
export let pageHooks: typeof Core.pageHooks;
export let leaveHooks: typeof Core.leaveHooks;

/** What the core hands a feature when it starts it, in this order. */
export type Api = [typeof track, typeof listen, typeof cut, typeof pageHooks, typeof leaveHooks];
/** A registered feature's start: the script tag, the core's functions. */
export type Init = (s: HTMLScriptElement, api: Api) => void;

export const D = document;
export const L = location;
export const N = navigator;
export const noop = () => {};

/** The nearest element at or above `n` (an element, or a text node) matching `sel`. */
export const up = (n: any, sel: string): Element | null =>
  n ? (n.closest ? n.closest(sel) : up(n.parentNode, sel)) : null;

/**
 * Registers the feature `name` (its `data-exclude` name): when the core starts the
 * features, `start` runs with the script tag unless the tag's `data-exclude` names it.
 */
export function feature(name: string, start: (s: HTMLScriptElement) => void): void {
  cairnF.push((s, api) => {
    [track, listen, cut, pageHooks, leaveHooks] = api;
    if ((s.getAttribute("data-exclude") || "").toLowerCase().split(/[\s,]+/).indexOf(name) < 0) start(s);
  });
}
