// HTML5 video: video_play on the first play, video_progress at 25, 50 and 75 % and when
// it ends (100). Media events do not bubble: listened to on the document, in capture.
import { D, feature, listen, pageHooks, track } from "../api";

/** Per video of the current page view: the milestones sent (0 = play). */
let seen = new WeakMap<Element, { [p: number]: 1 }>();

feature("video", () => {
  pageHooks.push(() => (seen = new WeakMap()));
  const on = (e: Event) => {
    const v = e.target as HTMLVideoElement;
    if (v.tagName != "VIDEO") return;
    let s = seen.get(v);
    if (!s) seen.set(v, (s = {}));
    const video_id = v.id || v.currentSrc.split(/[?#]/)[0].split("/").pop() || "";
    const mark = (p: number) => {
      if (!s![p]) {
        s![p] = 1;
        track(p ? "video_progress" : "video_play", p ? { video_id, percent: p } : { video_id });
      }
    };
    const end = e.type == "ended";
    if (e.type == "play") mark(0);
    const pct = end ? 100 : (v.currentTime / v.duration) * 100;
    for (const p of [25, 50, 75]) if (pct >= p) mark(p);
    if (end) mark(100);
  };
  for (const t of ["play", "timeupdate", "ended"]) listen(D, t, on, true);
});
