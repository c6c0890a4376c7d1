//! `saas.example`: B2B lead generation. Home, pricing, features, blog, whitepapers,
//! webinars, demo, trial sign-up and contact pages; forms report `form_start`,
//! `form_field` (per completed field) and `form_submit`, followed by the conversion
//! (`whitepaper_download`, `webinar_signup`, `demo_request`, `trial_signup`,
//! `callback_request`). The first submitted form identifies the visitor as a lead
//! (`lead-<n>`); later events carry that user id.

use crate::data::{Device, Land};
use crate::visitor::{V, prop_str};

const MAX_PAGES: u32 = 60;

/// What a visitor carries between sessions.
#[derive(Debug, Default)]
pub(crate) struct State {
    demo: bool,
    trial: bool,
    webinar: bool,
    callback: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Page {
    Home,
    Pricing,
    Features,
    Feature(usize),
    BlogIndex,
    Blog(usize),
    Resource(usize),
    Webinar(usize),
    Demo,
    Signup,
    Contact,
    Customers,
    About,
    Careers,
    Lp,
    Login,
}

/// Page kinds in the order of the transition weights below.
const KINDS: [Page; 14] = [
    Page::Home,
    Page::Pricing,
    Page::Features,
    Page::Feature(0),
    Page::BlogIndex,
    Page::Blog(0),
    Page::Resource(0),
    Page::Webinar(0),
    Page::Demo,
    Page::Signup,
    Page::Contact,
    Page::Customers,
    Page::About,
    Page::Careers,
];

/// Where visitors go next, by current page:
/// home, pricing, features, feature, blog index, blog post, whitepaper, webinar,
/// demo, signup, contact, customers, about, careers.
fn transitions(page: Page) -> [u32; 14] {
    match page {
        Page::Home | Page::Login => [0, 20, 14, 8, 6, 9, 5, 4, 8, 8, 4, 8, 4, 2],
        Page::Pricing => [8, 0, 10, 8, 0, 3, 3, 2, 20, 22, 10, 12, 1, 1],
        Page::Features | Page::Feature(_) => [7, 25, 3, 27, 1, 4, 5, 3, 10, 8, 2, 10, 1, 0],
        Page::BlogIndex => [8, 2, 0, 0, 0, 80, 10, 0, 0, 0, 0, 0, 0, 0],
        Page::Blog(_) => [12, 10, 5, 7, 5, 35, 15, 6, 2, 3, 0, 0, 0, 0],
        Page::Resource(_) => [10, 20, 10, 10, 0, 25, 15, 10, 0, 0, 0, 0, 0, 0],
        Page::Webinar(_) => [20, 20, 10, 15, 0, 20, 15, 0, 0, 0, 0, 0, 0, 0],
        Page::Customers => [15, 30, 5, 15, 0, 0, 0, 0, 20, 15, 0, 0, 0, 0],
        Page::Demo | Page::Signup | Page::Contact | Page::Lp => {
            [20, 30, 10, 20, 0, 0, 0, 0, 0, 0, 0, 20, 0, 0]
        }
        Page::About | Page::Careers => [60, 5, 0, 0, 0, 15, 0, 0, 0, 0, 5, 0, 0, 15],
    }
}

/// Resolves a page kind to a concrete page.
fn concrete(v: &mut V, kind: Page) -> Page {
    let s = &v.t.saas;
    match kind {
        Page::Feature(_) => Page::Feature(v.rng.popular(s.features.len())),
        Page::Blog(_) => Page::Blog(v.rng.popular(s.blog.len())),
        Page::Resource(_) => Page::Resource(v.rng.popular(s.whitepapers.len())),
        Page::Webinar(_) => Page::Webinar(v.rng.popular(s.webinars.len())),
        other => other,
    }
}

fn landing(v: &mut V, st: &State) -> Page {
    match v.land {
        Land::Home if st.trial && v.acq.channel == "direct" && v.rng.chance(0.5) => Page::Login,
        Land::Home => Page::Home,
        Land::Deep => concrete(v, Page::Blog(0)),
        Land::Hub => {
            if v.rng.chance(0.5) {
                Page::Pricing
            } else {
                Page::Features
            }
        }
        Land::Special => match v.focus() {
            "lp" => Page::Lp,
            "webinar" => Page::Webinar(0),
            "whitepaper" => Page::Resource(0),
            "pricing" => Page::Pricing,
            _ => Page::Demo,
        },
    }
}

/// A form: its id, its fields, and the conversion event its submission reports.
struct Form {
    id: &'static str,
    fields: &'static [&'static str],
    conversion: &'static str,
}

const WHITEPAPER: Form = Form {
    id: "whitepaper",
    fields: &["email", "company", "job_title"],
    conversion: "whitepaper_download",
};
const WEBINAR: Form = Form {
    id: "webinar",
    fields: &["name", "email", "company"],
    conversion: "webinar_signup",
};
const DEMO: Form = Form {
    id: "demo",
    fields: &["name", "email", "company", "company_size", "phone"],
    conversion: "demo_request",
};
const TRIAL: Form = Form {
    id: "trial",
    fields: &["email", "password", "company"],
    conversion: "trial_signup",
};
const CONTACT: Form = Form {
    id: "contact",
    fields: &["name", "email", "company", "message"],
    conversion: "",
};
const CALLBACK: Form = Form {
    id: "callback",
    fields: &["name", "phone"],
    conversion: "callback_request",
};

/// Fills in a form field by field (each completed field reports `form_field`), maybe
/// abandoning it. On submission, identifies the visitor (first time) and reports the
/// conversion. Returns whether it was submitted.
fn fill(v: &mut V, form: &Form, title: &'static str) -> bool {
    let keep = match v.prof.device {
        Device::Desktop => 0.93,
        Device::Mobile => 0.80,
        Device::Tablet => 0.88,
    };
    let d = v.think(2.0, 8.0);
    match v.event(d, "form_start") {
        Some(e) => prop_str(e, "form_id", form.id),
        None => return false,
    }
    for &field in form.fields {
        let d = v.think(2.0, if field == "message" { 40.0 } else { 6.0 });
        if let Some(e) = v.event(d, "form_field") {
            prop_str(e, "field", field);
            prop_str(e, "form_id", form.id);
        }
        if v.done || !v.rng.chance(keep) {
            return false;
        }
    }
    let d = v.think(1.0, 4.0);
    match v.event(d, "form_submit") {
        Some(e) => prop_str(e, "form_id", form.id),
        None => return false,
    }
    if v.user.is_none() {
        let lead = format!("lead-{}", 100_000 + v.index);
        v.identify(lead);
    }
    if !form.conversion.is_empty() {
        let d = v.ms(200, 1500);
        if let Some(e) = v.event(d, form.conversion) {
            match form.id {
                "whitepaper" | "webinar" => prop_str(e, "title", title),
                "demo" => {
                    let size = ["1-10", "11-50", "51-200", "201-1000", "1000+"];
                    let i = (e.ts as usize / 7) % size.len();
                    prop_str(e, "company_size", size[i]);
                }
                "trial" => prop_str(e, "plan", if e.ts % 3 == 0 { "team" } else { "pro" }),
                _ => {}
            }
        }
    }
    true
}

/// One session on the SaaS site.
pub(crate) fn session(v: &mut V, st: &mut State) {
    let t = v.t;
    let s = &t.saas;
    let dev = match v.prof.device {
        Device::Desktop => 1.0,
        Device::Mobile => 0.55,
        Device::Tablet => 0.8,
    };
    // Business buyers come back several times; later visits convert more.
    let conv = v.intent * v.acq.conv * dev * (1.0 + 0.25 * f64::from(v.session_no.min(4)));
    let p = |base: f64| (base * conv).min(0.9);
    let mut page = landing(v, st);
    let mut gap = 1;
    for _ in 0..MAX_PAGES {
        let path: &str = match page {
            Page::Home => "/",
            Page::Pricing => "/pricing",
            Page::Features => "/features",
            Page::Feature(i) => &s.features[i].path,
            Page::BlogIndex => "/blog",
            Page::Blog(i) => &s.blog[i],
            Page::Resource(i) => &s.whitepapers[i].path,
            Page::Webinar(i) => &s.webinars[i].path,
            Page::Demo => "/demo",
            Page::Signup => "/signup",
            Page::Contact => "/contact",
            Page::Customers => "/customers",
            Page::About => "/about",
            Page::Careers => "/careers",
            Page::Lp => "/lp/crm-software",
            Page::Login => "/login",
        };
        if !v.pageview(gap, path, "") {
            return;
        }
        match page {
            Page::Login => return, // an existing user going to the app
            Page::Resource(i) if v.rng.chance(p(0.15)) => {
                fill(v, &WHITEPAPER, s.whitepapers[i].title);
            }
            Page::Webinar(i) if !st.webinar && v.rng.chance(p(0.12)) => {
                st.webinar = fill(v, &WEBINAR, s.webinars[i].title);
            }
            // Guards fill in the form; the arm runs when it was submitted.
            Page::Demo | Page::Lp if !st.demo && v.rng.chance(p(0.22)) && fill(v, &DEMO, "") => {
                st.demo = true;
                let d = v.think(1.0, 2.0);
                v.pageview(d, "/demo/thank-you", "");
            }
            Page::Signup if !st.trial && v.rng.chance(p(0.22)) && fill(v, &TRIAL, "") => {
                st.trial = true;
                let d = v.think(1.0, 2.0);
                v.pageview(d, "/welcome", "");
                return; // off to the product
            }
            Page::Contact if v.rng.chance(p(0.25)) => {
                if !st.callback && v.rng.chance(0.35) {
                    st.callback = fill(v, &CALLBACK, "");
                } else {
                    fill(v, &CONTACT, "");
                }
            }
            _ => {}
        }
        if v.done || !v.rng.chance(v.cont) {
            return;
        }
        let kind = KINDS[v.rng.weighted(&transitions(page))];
        page = concrete(v, kind);
        let mean = match page {
            Page::Blog(_) => 90.0,
            _ => 40.0,
        };
        gap = v.think(3.0, mean);
    }
}
