//! `shop.example`: an e-commerce site. Home, category, product and search pages;
//! `view_item`, `search`, `add_to_wishlist`, `add_to_cart`, `begin_checkout`,
//! `checkout_step` (1 shipping, 2 payment, 3 review) and `purchase` with revenue.
//! Carts survive between sessions, so a visitor may buy days after adding to cart.
//!
//! Four secondary actions carry planted effects, so the `influence` report has a
//! known answer (`crates/conformance/tests/it/planted.rs` checks it):
//!
//! * `video_play` (a product video, on product pages; the same chance on every device
//!   and channel) has a real effect: from the watch on, the visitor's propensity to
//!   add to cart and to go to checkout is multiplied by `VIDEO_LIFT` (1.8), which about
//!   doubles a watcher's chance to buy. The report's lift (about ×3.5, adjusted too) is
//!   larger than that: visitors who see more product pages have more chances both to
//!   watch and to add to cart, a confounding by engagement that device and channel do
//!   not remove (without the effect the video would show about ×2, as `add_to_wishlist`
//!   does with none).
//! * `newsletter_signup` (the footer form, on the first page of a visitor's first
//!   session) is confounded: desktop visitors and those arriving from an email or a
//!   referring site, who buy more anyway, sign up far more often (desktop about 9×
//!   phones; email 5×, referral 2×, social ½× the other channels), but signing up
//!   changes nothing within a device and channel.
//! * `share` (on the first page of the first session) is null: the same chance for
//!   everyone, no effect.
//! * `write_review` comes mostly after a purchase: on the thank-you page or at the
//!   start of a later session (the review reminder); rarely before one, on the first
//!   page of the first session (a customer of an earlier order), by the same chance for
//!   everyone. Counted only before the purchase, it has no association.
//!
//! And one A/B test, so the `experiment` report has a known answer: `sticky_cart`
//! (a sticky add-to-cart button on product pages) assigns each visitor to `control` or
//! `sticky` by a hash of its id (as the tracker does, stable across sessions), exposes it
//! on the first page of each session, and in `sticky` multiplies the chance to
//! add a product to the cart by `STICKY_LIFT` (1.2). Purchases follow carts, so they
//! rise too, by less and with fewer conversions to show it: the micro goal decides
//! first.

use cairn_model::Revenue;

use crate::data::{Device, Land};
use crate::visitor::{V, adjust, prop_num, prop_str};

/// Most pages in one session.
const MAX_PAGES: u32 = 80;

/// Chance of watching the product video on a product page (any device, any channel).
const VIDEO_P: f64 = 0.05;
/// Multiplier of the add-to-cart and go-to-checkout propensities once a visitor has
/// watched a product video: the planted real effect.
const VIDEO_LIFT: f64 = 1.8;
/// The planted experiment's key and its effect on adding to cart in the `sticky`
/// variant.
pub(crate) const EXPERIMENT: &str = "sticky_cart";
const STICKY_LIFT: f64 = 1.2;

/// The variant of the planted experiment, as the tracker picks it with a persistent
/// id: FNV-1a (32 bits) of the id and the key, modulo the two variants.
fn sticky(v: &V) -> bool {
    let h = format!("{}{EXPERIMENT}", v.id)
        .bytes()
        .fold(0x811c_9dc5u32, |h, b| {
            (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
        });
    h % 2 == 1
}

/// Chance of signing up for the newsletter on the first page of the first session, by
/// device and channel: desktop visitors and those who came from an email (a forwarded
/// issue) or a deal-comparison site sign up far more often, and they buy more anyway.
/// A confounder: signing up changes nothing.
fn newsletter_p(d: Device, channel: &str) -> f64 {
    let device = match d {
        Device::Desktop => 0.07,
        Device::Mobile => 0.008,
        Device::Tablet => 0.025,
    };
    let channel = match channel {
        "email" => 5.0,
        "referral" => 2.0,
        "social" => 0.5,
        _ => 1.0,
    };
    device * channel
}
/// Chance of sharing the first page of the first session: no cause, no effect.
const SHARE_P: f64 = 0.03;
/// Chance that a visitor writes a review (of an earlier order) on the first page of
/// their first session: reviews before a purchase are rare.
const REVIEW_BEFORE_P: f64 = 0.004;
/// Chance of rating the order on the thank-you page.
const REVIEW_THANKS_P: f64 = 0.15;
/// Chance that a later session of a buyer with an unreviewed order starts with a review.
const REVIEW_LATER_P: f64 = 0.35;

/// What a visitor carries between sessions.
#[derive(Debug, Default)]
pub(crate) struct State {
    cart: Vec<usize>,
    cart_id: String,
    /// Watched a product video: buys more from then on.
    watched: bool,
    /// A product of the last order, not yet reviewed.
    to_review: Option<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Page {
    Home,
    Cat(usize),
    Prod(usize),
    Search(usize),
    Cart,
}

/// Checkout completion by device: begin → shipping, shipping → payment,
/// payment → review, review → purchase. Phones drop most at payment.
fn step_completion(d: Device) -> [f64; 4] {
    match d {
        Device::Desktop => [0.90, 0.82, 0.80, 0.90],
        Device::Mobile => [0.84, 0.70, 0.58, 0.84],
        Device::Tablet => [0.88, 0.78, 0.72, 0.88],
    }
}

const STEPS: [(&str, &str); 3] = [
    ("shipping", "/checkout/shipping"),
    ("payment", "/checkout/payment"),
    ("review", "/checkout/review"),
];

fn popular_product(v: &mut V, cat: usize) -> usize {
    let products = &v.t.shop.cats[cat].products;
    products[v.rng.popular(products.len())]
}

fn popular_cat(v: &mut V) -> usize {
    v.rng.weighted(&v.t.shop.cat_weights)
}

fn focus_cat(v: &mut V) -> usize {
    let focus = v.focus();
    match v.t.shop.cats.iter().position(|c| c.slug == focus) {
        Some(c) => c,
        None => popular_cat(v),
    }
}

fn landing(v: &mut V, st: &State) -> Page {
    match v.land {
        Land::Home if !st.cart.is_empty() && v.rng.chance(0.3) => Page::Cart,
        Land::Home => Page::Home,
        Land::Hub => Page::Cat(popular_cat(v)),
        Land::Deep => {
            let cat = if v.focus().is_empty() {
                popular_cat(v)
            } else {
                focus_cat(v)
            };
            Page::Prod(popular_product(v, cat))
        }
        Land::Special if v.focus() == "cart" => match st.cart.last() {
            Some(&p) => Page::Prod(p),
            None => Page::Prod(popular_product(v, 0)),
        },
        Land::Special => Page::Cat(focus_cat(v)),
    }
}

fn next(v: &mut V, page: Page, st: &State) -> Page {
    let has_cart = !st.cart.is_empty();
    let cart_w = if has_cart { 1 } else { 0 };
    let t = v.t;
    let cat_of = |p: usize| t.shop.products[p].cat;
    let choice = |v: &mut V, w: [u32; 5]| v.rng.weighted(&w);
    // weights: product, category, search, home, cart
    let (w, cat) = match page {
        Page::Home => ([22, 50, 20, 0, 8 * cart_w], None),
        Page::Cat(c) => ([68, 10, 10, 7, 5 * cart_w], Some(c)),
        Page::Prod(p) => ([35, 25, 12, 8, 20 * cart_w], Some(cat_of(p))),
        Page::Search(q) => ([75, 10, 15, 0, 0], Some(t.shop.queries[q].cat)),
        Page::Cart => ([50, 20, 0, 30, 0], st.cart.last().map(|&p| cat_of(p))),
    };
    match choice(v, w) {
        0 => {
            let c = match cat {
                Some(c) => c,
                None => popular_cat(v),
            };
            Page::Prod(popular_product(v, c))
        }
        1 => match (page, cat) {
            (Page::Prod(_), Some(c)) => Page::Cat(c),
            _ => Page::Cat(popular_cat(v)),
        },
        2 => Page::Search(v.rng.below(t.shop.queries.len())),
        3 => Page::Home,
        _ => Page::Cart,
    }
}

/// One session on the shop.
pub(crate) fn session(v: &mut V, st: &mut State) {
    let t = v.t;
    let dev_cart = match v.prof.device {
        Device::Desktop => 1.0,
        Device::Mobile => 0.85,
        Device::Tablet => 0.95,
    };
    let conv = v.intent * v.acq.conv * dev_cart * if v.session_no > 0 { 1.3 } else { 1.0 };
    // The planted effect: a watched video raises the propensity from then on.
    let boost = |st: &State| if st.watched { VIDEO_LIFT } else { 1.0 };
    let sticky = sticky(v);
    let cart_lift = if sticky { STICKY_LIFT } else { 1.0 };
    let mut page = landing(v, st);
    let mut gap = 1;
    for i in 0..MAX_PAGES {
        match page {
            Page::Home => {
                v.pageview(gap, "/", "");
            }
            Page::Cat(c) => {
                v.pageview(gap, &t.shop.cats[c].path, "");
            }
            Page::Search(q) => {
                let query = &t.shop.queries[q];
                v.pageview(gap, "/search", &query.qs);
                let d = v.ms(200, 900);
                if let Some(e) = v.event(d, "search") {
                    prop_str(e, "query", query.text);
                }
            }
            Page::Cart => {
                v.pageview(gap, "/cart", "");
            }
            Page::Prod(p) => {
                let prod = &t.shop.products[p];
                v.pageview(gap, &prod.path, "");
                let d = v.ms(300, 1500);
                if let Some(e) = v.event(d, "view_item") {
                    prop_str(e, "category", t.shop.cats[prod.cat].slug);
                    prop_num(e, "price", prod.price);
                    prop_str(e, "product_id", &prod.id);
                }

                if v.rng.chance(if v.mobile() { 0.035 } else { 0.025 }) {
                    let d = v.think(2.0, 15.0);
                    if let Some(e) = v.event(d, "add_to_wishlist") {
                        prop_str(e, "product_id", &prod.id);
                    }
                }
                if v.rng.chance(VIDEO_P) {
                    let d = v.think(3.0, 10.0);
                    if let Some(e) = v.event(d, "video_play") {
                        prop_str(e, "product_id", &prod.id);
                        st.watched = true;
                    }
                }
                if !st.cart.contains(&p)
                    && v.rng.chance((0.07 * conv * boost(st) * cart_lift).min(0.6))
                {
                    if st.cart.is_empty() {
                        st.cart_id = format!("cart-{:012x}", v.rng.next_u64() >> 16);
                    }
                    let d = v.think(4.0, 30.0);
                    if let Some(e) = v.event(d, "add_to_cart") {
                        prop_str(e, "cart_id", &st.cart_id);
                        prop_num(e, "price", prod.price);
                        prop_str(e, "product_id", &prod.id);
                        st.cart.push(p);
                    }
                }
            }
        }
        if i == 0 {
            // The site-wide script runs the experiment on every page; the tracker sends
            // one exposure per page view, kept here to the session's first.
            if let Some(e) = v.event(1, "experiment_exposure") {
                prop_str(e, "experiment", EXPERIMENT);
                prop_str(e, "variant", if sticky { "sticky" } else { "control" });
            }
            first_page(v, st);
        }
        if v.done {
            return;
        }
        if !st.cart.is_empty() {
            let p = if page == Page::Cart { 0.6 } else { 0.12 };
            if v.rng.chance((p * conv * boost(st)).min(0.85)) {
                checkout(v, st, page == Page::Cart);
                return;
            }
        }
        if !v.rng.chance(v.cont) {
            return;
        }
        page = next(v, page, st);
        gap = v.think(2.0, if v.mobile() { 25.0 } else { 35.0 });
    }
}

/// The secondary actions of a session's first page: in the first session the
/// newsletter form, sharing and (rarely) a review of an earlier order; in a later
/// session of a buyer, the review the reminder asked for.
fn first_page(v: &mut V, st: &mut State) {
    if v.session_no == 0 {
        if v.rng.chance(newsletter_p(v.prof.device, v.acq.channel)) {
            let d = v.think(5.0, 20.0);
            v.event(d, "newsletter_signup");
        }
        if v.rng.chance(SHARE_P) {
            let d = v.think(2.0, 10.0);
            let network = *v.rng.weighted_pick(NETWORKS);
            if let Some(e) = v.event(d, "share") {
                prop_str(e, "network", network);
            }
        }
        if v.rng.chance(REVIEW_BEFORE_P) {
            let cat = popular_cat(v);
            let p = popular_product(v, cat);
            review(v, p);
        }
    } else if let Some(p) = st.to_review
        && v.rng.chance(REVIEW_LATER_P)
        && review(v, p)
    {
        st.to_review = None;
    }
}

/// Networks a page is shared on, by share.
const NETWORKS: &[(&str, u32)] = &[
    ("whatsapp", 40),
    ("facebook", 25),
    ("pinterest", 20),
    ("email", 15),
];

/// Writes a review of product `p` on the current page; false when it could not be sent.
fn review(v: &mut V, p: usize) -> bool {
    let d = v.think(20.0, 60.0);
    let rating = 5 - v.rng.weighted(&[55, 25, 10, 5, 5]);
    let t = v.t;
    let id = &t.shop.products[p].id;
    match v.event(d, "write_review") {
        Some(e) => {
            prop_str(e, "product_id", id);
            prop_num(e, "rating", rating as f64);
            true
        }
        None => false,
    }
}

fn checkout(v: &mut V, st: &mut State, on_cart: bool) {
    if !on_cart {
        let d = v.think(2.0, 20.0);
        if !v.pageview(d, "/cart", "") {
            return;
        }
    }
    let items = st.cart.len() as f64;
    let micros: i64 = st
        .cart
        .iter()
        .map(|&p| v.t.shop.products[p].price_micros)
        .sum();
    let d = v.think(3.0, 20.0);
    v.pageview(d, "/checkout", "");
    let d = v.ms(200, 800);
    if let Some(e) = v.event(d, "begin_checkout") {
        prop_str(e, "cart_id", &st.cart_id);
        prop_num(e, "items", items);
        prop_num(e, "value", micros as f64 / 1e6);
    }
    let complete = step_completion(v.prof.device);
    let m = v.acq.conv * if v.intent > 1.5 { 1.3 } else { 1.0 };
    if !v.rng.chance(adjust(complete[0], m)) {
        return;
    }
    // Time spent filling in each step's form before moving on.
    let fill = [(15.0, 45.0), (10.0, 40.0), (5.0, 20.0)];
    let mut gap = v.think(3.0, 10.0);
    for (i, &(name, path)) in STEPS.iter().enumerate() {
        v.pageview(gap, path, "");
        let d = v.ms(300, 900);
        if let Some(e) = v.event(d, "checkout_step") {
            prop_num(e, "step", (i + 1) as f64);
            prop_str(e, "step_name", name);
        }
        if v.done || !v.rng.chance(adjust(complete[i + 1], m)) {
            return;
        }
        gap = v.think(fill[i].0, fill[i].1);
    }
    v.pageview(gap, "/checkout/thanks", "");
    let d = v.ms(300, 1200);
    let order = format!("ord-{:010}", v.rng.next_u64() % 10_000_000_000);
    if let Some(e) = v.event(d, "purchase") {
        prop_str(e, "cart_id", &st.cart_id);
        prop_num(e, "items", items);
        prop_str(e, "order_id", &order);
        e.revenue = Some(Revenue {
            micros,
            currency: "EUR".to_owned(),
        });
        st.to_review = st.cart.first().copied();
        st.cart.clear();
    } else {
        return;
    }
    if let Some(p) = st.to_review
        && v.rng.chance(REVIEW_THANKS_P)
        && review(v, p)
    {
        st.to_review = None;
    }
}
