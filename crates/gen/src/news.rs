//! `news.example`: a content site. Home, section and article pages (`/a/<slug>`);
//! `scroll` (depth 25/50/75/100), `video_play` and `video_progress`
//! (25/50/75/100), `share` (network), `comment` and `newsletter_signup`.

use crate::data::{Device, Land};
use crate::visitor::{V, prop_num, prop_str};

const MAX_PAGES: u32 = 60;

/// What a visitor carries between sessions.
#[derive(Debug, Default)]
pub(crate) struct State {
    subscribed: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Page {
    Home,
    Section(usize),
    Article(usize),
    Newsletter,
}

const NETWORKS_DESKTOP: &[(&str, u32)] = &[
    ("facebook", 30),
    ("x", 30),
    ("linkedin", 20),
    ("email", 10),
    ("copy_link", 10),
];
const NETWORKS_MOBILE: &[(&str, u32)] = &[
    ("whatsapp", 40),
    ("facebook", 25),
    ("x", 15),
    ("copy_link", 10),
    ("email", 5),
    ("linkedin", 5),
];

/// Today's trending article: popularity shifts as news ages.
fn trending(v: &mut V) -> usize {
    let n = v.t.news.articles.len();
    (v.rng.popular(n) + v.day as usize * 37) % n
}

fn in_section(v: &mut V, section: usize) -> usize {
    let list = &v.t.news.by_section[section];
    let shift = v.day as usize * 5;
    list[(v.rng.popular(list.len()) + shift) % list.len()]
}

fn landing(v: &mut V) -> Page {
    match v.land {
        Land::Home => Page::Home,
        Land::Deep => Page::Article(trending(v)),
        Land::Hub => Page::Section(v.rng.below(v.t.news.sections.len())),
        Land::Special => Page::Newsletter,
    }
}

fn signup(v: &mut V, st: &mut State, placement: &str) {
    let d = v.think(5.0, 10.0);
    if let Some(e) = v.event(d, "newsletter_signup") {
        prop_str(
            e,
            "list",
            if e.ts % 4 == 0 {
                "weekend_reads"
            } else {
                "daily_briefing"
            },
        );
        prop_str(e, "placement", placement);
        st.subscribed = true;
    }
}

/// One session on the news site.
pub(crate) fn session(v: &mut V, st: &mut State) {
    let t = v.t;
    let n = &t.news;
    let conv = v.intent * v.acq.conv;
    let mut page = landing(v);
    let mut gap = 1;
    for _ in 0..MAX_PAGES {
        match page {
            Page::Home => {
                v.pageview(gap, "/", "");
            }
            Page::Section(s) => {
                v.pageview(gap, &n.sections[s].path, "");
            }
            Page::Newsletter => {
                v.pageview(gap, "/newsletter", "");
                if !st.subscribed && v.rng.chance((0.2 * conv).min(0.9)) {
                    signup(v, st, "page");
                }
            }
            Page::Article(a) => article(v, st, a, conv, gap),
        }
        if v.done || !v.rng.chance(v.cont) {
            return;
        }
        let section = match page {
            Page::Article(a) => n.articles[a].section,
            Page::Section(s) => s,
            _ => v.rng.below(n.sections.len()),
        };
        page = match v.rng.weighted(&[31, 31, 22, 14, 2]) {
            0 => Page::Article(in_section(v, section)),
            1 => Page::Article(trending(v)),
            2 => Page::Home,
            3 => Page::Section(v.rng.below(n.sections.len())),
            _ => Page::Newsletter,
        };
        gap = v.think(2.0, 15.0);
    }
}

fn article(v: &mut V, st: &mut State, a: usize, conv: f64, gap: i64) {
    let art = &v.t.news.articles[a];
    if !v.pageview(gap, &art.path, "") {
        return;
    }
    let reach = if v.prof.device == Device::Mobile {
        [0.72, 0.64, 0.54, 0.45]
    } else {
        [0.70, 0.66, 0.58, 0.50]
    };
    let mut video_done = art.video.is_none();
    for (i, depth) in [25.0, 50.0, 75.0, 100.0].into_iter().enumerate() {
        if !v.rng.chance(reach[i]) {
            break;
        }
        let d = v.think(4.0, 20.0);
        if let Some(e) = v.event(d, "scroll") {
            prop_num(e, "depth", depth);
        }
        if !video_done {
            video_done = true;
            if let Some((id, len_s)) = &art.video
                && v.rng.chance(0.35)
            {
                video(v, id, *len_s);
            }
        }
    }
    if v.rng.chance((0.02 * conv).min(0.5)) {
        let networks = if v.prof.device == Device::Desktop {
            NETWORKS_DESKTOP
        } else {
            NETWORKS_MOBILE
        };
        let network = *v.rng.weighted_pick(networks);
        let d = v.think(2.0, 10.0);
        if let Some(e) = v.event(d, "share") {
            prop_str(e, "network", network);
        }
    }
    if v.rng.chance((0.006 * conv).min(0.2)) {
        let d = v.think(30.0, 90.0);
        v.event(d, "comment");
    }
    if !st.subscribed && v.rng.chance((0.006 * conv).min(0.6)) {
        signup(v, st, "inline");
    }
}

fn video(v: &mut V, id: &str, len_s: u32) {
    let d = v.think(1.0, 5.0);
    match v.event(d, "video_play") {
        Some(e) => prop_str(e, "video_id", id),
        None => return,
    }
    let quarter_ms = i64::from(len_s) * 250;
    for (i, pct) in [25.0, 50.0, 75.0, 100.0].into_iter().enumerate() {
        if !v.rng.chance([0.72, 0.75, 0.8, 0.85][i]) {
            return;
        }
        let d = quarter_ms + v.ms(0, 2000);
        if let Some(e) = v.event(d, "video_progress") {
            prop_num(e, "percent", pct);
            prop_str(e, "video_id", id);
        }
    }
}
