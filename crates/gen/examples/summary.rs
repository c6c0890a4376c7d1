//! Prints a summary of generated data and the generation rate:
//! `cargo run --release -p cairn-gen --example summary -- [EVENTS] [SEED]`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Instant;

use cairn_gen::{GenConfig, generate};
use cairn_model::{Dim, Record};

fn main() {
    let mut args = std::env::args().skip(1);
    let events = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let seed = args.next().and_then(|a| a.parse().ok()).unwrap_or(1);
    let cfg = GenConfig {
        seed,
        events,
        ..GenConfig::default()
    };

    // Rate: generate and drop.
    let t0 = Instant::now();
    let n = generate(&cfg).count();
    let secs = t0.elapsed().as_secs_f64();
    println!(
        "{n} records in {secs:.2} s: {:.2} M events/s",
        events as f64 / secs / 1e6
    );

    let mut by_site: BTreeMap<String, u64> = BTreeMap::new();
    let mut by_name: BTreeMap<(String, String), u64> = BTreeMap::new();
    let mut by_channel: BTreeMap<String, u64> = BTreeMap::new();
    let mut by_campaign: BTreeMap<String, u64> = BTreeMap::new();
    let mut visitors: HashMap<u64, (String, HashSet<i64>, u32)> = HashMap::new();
    let mut identifies = 0;
    let mut revenue = 0i64;
    let mut sessions = 0u64;
    let mut session_pages: BTreeMap<u32, u64> = BTreeMap::new();
    let mut last: Option<(u64, i64)> = None;
    let mut pages = 0u32;
    for r in generate(&cfg) {
        let e = match r {
            Record::Identify(_) => {
                identifies += 1;
                continue;
            }
            Record::Event(e) => e,
        };
        *by_site.entry(e.site.clone()).or_default() += 1;
        *by_name
            .entry((e.site.clone(), e.name().to_string()))
            .or_default() += 1;
        let new_session = match last {
            Some((v, ts)) => v != e.visitor || e.ts - ts >= 30 * 60 * 1000,
            None => true,
        };
        if new_session {
            if sessions > 0 {
                *session_pages.entry(pages.min(20)).or_default() += 1;
            }
            sessions += 1;
            pages = 0;
            *by_channel
                .entry(e.dim(Dim::Channel).to_string())
                .or_default() += 1;
            if !e.dim(Dim::UtmCampaign).is_empty() {
                *by_campaign
                    .entry(e.dim(Dim::UtmCampaign).to_string())
                    .or_default() += 1;
            }
        }
        if e.name() == "pageview" {
            pages += 1;
        }
        last = Some((e.visitor, e.ts));
        if let Some(r) = &e.revenue {
            revenue += r.micros;
        }
        let day = (e.ts - cfg.start_ms) / 86_400_000;
        let ent = visitors
            .entry(e.visitor)
            .or_insert_with(|| (e.site.clone(), HashSet::new(), 0));
        ent.1.insert(day);
        ent.2 += 1;
    }
    println!("sites: {by_site:?}");
    let mut site_visitors: BTreeMap<String, u64> = BTreeMap::new();
    for (site, _, _) in visitors.values() {
        *site_visitors.entry(site.clone()).or_default() += 1;
    }
    println!("visitors by site: {site_visitors:?}");
    println!(
        "visitors {}, sessions {sessions}, identifies {identifies}, revenue {:.2} EUR",
        visitors.len(),
        revenue as f64 / 1e6
    );
    let multi_day = visitors.values().filter(|v| v.1.len() >= 2).count();
    println!("visitors on >= 2 days: {multi_day}");
    println!("pageviews per session (20 = 20+): {session_pages:?}");
    println!("landing channels: {by_channel:?}");
    println!("campaign sessions: {by_campaign:?}");
    // Shop funnel per visitor: view_item → add_to_cart → begin_checkout → purchase,
    // by device and by the campaign (or channel) of the visitor's first session.
    let steps = ["view_item", "add_to_cart", "begin_checkout", "purchase"];
    let mut funnel: BTreeMap<String, [u64; 5]> = BTreeMap::new();
    let mut cur: Option<(u64, String, String, usize)> = None;
    let flush = |c: &Option<(u64, String, String, usize)>,
                 funnel: &mut BTreeMap<String, [u64; 5]>| {
        if let Some((_, dev, first, reached)) = c {
            for key in [format!("device {dev}"), format!("first {first}")] {
                let row = funnel.entry(key).or_default();
                row[0] += 1;
                for r in row.iter_mut().skip(1).take(*reached) {
                    *r += 1;
                }
            }
        }
    };
    for r in generate(&cfg) {
        let Record::Event(e) = r else { continue };
        if e.site != "shop.example" {
            continue;
        }
        if cur.as_ref().map(|c| c.0) != Some(e.visitor) {
            flush(&cur, &mut funnel);
            let first = if e.dim(Dim::UtmCampaign).is_empty() {
                e.dim(Dim::Channel).to_string()
            } else {
                e.dim(Dim::UtmCampaign).to_string()
            };
            cur = Some((e.visitor, e.dim(Dim::Device).to_string(), first, 0));
        }
        if let Some(c) = cur.as_mut()
            && c.3 < steps.len()
            && e.name() == steps[c.3]
        {
            c.3 += 1;
        }
    }
    flush(&cur, &mut funnel);
    println!("shop funnel per visitor: visitors, {steps:?}, purchase/visitor, purchase/checkout");
    for (k, row) in &funnel {
        println!(
            "  {k:28} {row:?} {:.2}% {:.0}%",
            100.0 * row[4] as f64 / row[0] as f64,
            100.0 * row[4] as f64 / row[3].max(1) as f64
        );
    }
    for ((site, name), n) in &by_name {
        println!("  {site:14} {name:22} {n}");
    }
}
