//! Hand-worked behaviour flow cases: the examples of `docs/paths.md`, number for number.

#![allow(clippy::type_complexity)]

use cairn_engine::RunOptions;
use cairn_model::Dim;
use cairn_model::query::result::{NodeUnits, PathNode, PathNodeKind, QueryResult};
use cairn_model::query::*;

use crate::world::*;

/// The shop of docs/paths.md: four visitors, one session each.
fn shop() -> World {
    let pages = |v: u64, paths: &[&str]| -> Vec<cairn_model::Event> {
        paths
            .iter()
            .enumerate()
            .map(|(i, p)| {
                if p.starts_with('/') {
                    pv(v, i as i64 * MIN, p)
                } else {
                    ev(v, i as i64 * MIN, p)
                }
            })
            .collect()
    };
    let mut evs = pages(1, &["/", "/product/1", "/product/2", "/cart"]);
    evs[0].set(Dim::Source, "Google");
    evs.extend(pages(
        2,
        &[
            "/",
            "/product/3",
            "/cart",
            "add_to_cart",
            "/checkout",
            "purchase",
        ],
    ));
    evs.extend(pages(3, &["/blog/hello", "/product/1", "/pricing"]));
    evs.extend(pages(4, &["/", "/pricing"]));
    World::of(evs)
}

fn rules() -> Vec<PageGroup> {
    vec![
        PageGroup {
            name: "Product page".into(),
            pattern: "/product/*".into(),
            kind: GroupMatch::Wildcard,
        },
        PageGroup {
            name: "Blog".into(),
            pattern: "/blog/:slug".into(),
            kind: GroupMatch::Wildcard,
        },
    ]
}

fn run(w: &World, analysis: Analysis) -> QueryResult {
    let q = Query {
        site: SITE.into(),
        from: TimeSpec::Ms(T0 - DAY),
        to: TimeSpec::Ms(T0 + DAY),
        timezone: "UTC".into(),
        filters: Vec::new(),
        goals: Vec::new(),
        funnels: Default::default(),
        experiments: Default::default(),
        page_groups: rules(),
        spend: Vec::new(),
        session_gap: Duration::from_ms(30 * MIN),
        analysis,
    };
    let got = w
        .run(
            &q,
            &RunOptions {
                threads: 2,
                ..RunOptions::default()
            },
        )
        .unwrap();
    assert_eq!(
        got,
        crate::reference::run(&q, &w.data),
        "engine and reference differ"
    );
    got
}

fn page(name: &str) -> PathNode {
    PathNode {
        kind: PathNodeKind::Page,
        name: name.into(),
    }
}

fn node(kind: PathNodeKind, name: &str) -> PathNode {
    PathNode {
        kind,
        name: name.into(),
    }
}

fn rows(l: &[NodeUnits]) -> Vec<(String, u64)> {
    l.iter().map(|n| (n.node.name.clone(), n.count)).collect()
}

fn paths_spec() -> PathsSpec {
    serde_json::from_str(r#"{"steps": 3, "limit": 2}"#).unwrap()
}

#[test]
fn paths_forward_add_up_step_by_step() {
    let QueryResult::Paths(p) = run(&shop(), Analysis::Paths(paths_spec())) else {
        panic!()
    };
    assert_eq!((p.units, p.followed, p.beyond), (4, 4, 1));
    let s: Vec<(u64, u64, Vec<(String, u64)>)> = p
        .steps
        .iter()
        .map(|s| (s.units, s.ended, rows(&s.nodes)))
        .collect();
    assert_eq!(
        s,
        vec![
            (4, 0, vec![("/".into(), 3), ("Blog".into(), 1)]),
            (
                4,
                0,
                vec![("Product page".into(), 3), ("/pricing".into(), 1)]
            ),
            (3, 1, vec![("/cart".into(), 2), ("/pricing".into(), 1)]),
        ]
    );
    let links: Vec<(usize, String, String, u64)> = p
        .links
        .iter()
        .map(|l| (l.step, l.from.name.clone(), l.to.name.clone(), l.units))
        .collect();
    assert_eq!(
        links,
        vec![
            (1, "/".into(), "Product page".into(), 2),
            (1, "/".into(), "/pricing".into(), 1),
            (1, "Blog".into(), "Product page".into(), 1),
            (2, "Product page".into(), "/cart".into(), 2),
            (2, "/pricing".into(), "(exit)".into(), 1),
            (2, "Product page".into(), "/pricing".into(), 1),
        ]
    );
    let seqs: Vec<(Vec<String>, bool, u64)> = p
        .sequences
        .iter()
        .map(|s| {
            (
                s.nodes.iter().map(|n| n.name.clone()).collect(),
                s.complete,
                s.units,
            )
        })
        .collect();
    assert_eq!(
        seqs,
        vec![
            (vec!["/".into(), "/pricing".into()], true, 1),
            (
                vec!["/".into(), "Product page".into(), "/cart".into()],
                true,
                1
            ),
            (
                vec!["/".into(), "Product page".into(), "/cart".into()],
                false,
                1
            ),
            (
                vec!["Blog".into(), "Product page".into(), "/pricing".into()],
                true,
                1
            ),
        ]
    );
    // Three minutes from the landing page to the cart (the two product pages are one
    // node).
    assert_eq!(p.sequences[1].median_ms, 3 * MIN);
}

#[test]
fn paths_backward_to_a_purchase_end_at_the_entrance() {
    let mut spec = paths_spec();
    spec.end = Some(Box::new(Step::event("purchase")));
    spec.steps = 4;
    let QueryResult::Paths(p) = run(&shop(), Analysis::Paths(spec)) else {
        panic!()
    };
    assert_eq!(p.direction, "backward");
    let names: Vec<Vec<(String, u64)>> = p.steps.iter().map(|s| rows(&s.nodes)).collect();
    assert_eq!(
        names,
        vec![
            vec![("purchase".into(), 1)],
            vec![("/checkout".into(), 1)],
            vec![("/cart".into(), 1)],
            vec![("Product page".into(), 1)],
        ]
    );
    // The landing page is one step further back.
    assert_eq!(p.beyond, 1);
    assert!(!p.sequences[0].complete);
    assert_eq!(p.sequences[0].nodes[0], page("Product page"));
}

#[test]
fn transitions_sum_to_the_occurrences() {
    let t = |n: &str| {
        let spec = TransitionsSpec {
            node: Some(NodeRef {
                kind: NodeKind::Page,
                name: n.into(),
            }),
            ..serde_json::from_str(r#"{}"#).unwrap()
        };
        match run(&shop(), Analysis::Transitions(spec)) {
            QueryResult::Transitions(t) => t,
            _ => panic!(),
        }
    };
    let pp = t("Product page");
    assert_eq!(pp.occurrences, 3);
    assert_eq!(
        rows(&pp.previous),
        vec![("/".into(), 2), ("Blog".into(), 1)]
    );
    assert_eq!(
        rows(&pp.next),
        vec![("/cart".into(), 2), ("/pricing".into(), 1)]
    );
    let home = t("/");
    assert_eq!(
        home.previous
            .iter()
            .map(|n| (n.node.clone(), n.count))
            .collect::<Vec<_>>(),
        vec![
            (node(PathNodeKind::Entrance, "(direct)"), 2),
            (node(PathNodeKind::Entrance, "Google"), 1)
        ]
    );
    assert_eq!(
        rows(&home.next),
        vec![("Product page".into(), 2), ("/pricing".into(), 1)]
    );
}

#[test]
fn a_funnels_flow_shows_where_droppers_went_and_what_converters_did() {
    let f: FunnelSpec = serde_json::from_str(
        r#"{"steps": [
              {"event": "pageview", "where": [{"field": "page", "value": "Product page"}],
               "label": "Product page"},
              {"path": "/cart"},
              {"event": "purchase"}],
            "flow": true}"#,
    )
    .unwrap();
    let QueryResult::Funnel(r) = run(&shop(), Analysis::Funnel(f)) else {
        panic!()
    };
    assert_eq!(
        r.steps.iter().map(|s| s.count).collect::<Vec<_>>(),
        vec![3, 2, 1]
    );
    let flow = r.flow.unwrap();
    assert_eq!(
        flow.dropped_next
            .iter()
            .map(|l| rows(l))
            .collect::<Vec<_>>(),
        vec![
            vec![],
            vec![("/pricing".into(), 1)],
            vec![("(exit)".into(), 1)]
        ]
    );
    assert_eq!(
        (flow.converters, flow.reached_before.clone(), flow.in_order),
        (1, vec![1, 1, 1], 1)
    );
    assert_eq!(flow.between.len(), 2);
    assert!(flow.between[0].nodes.is_empty());
    assert_eq!(
        flow.between[1]
            .nodes
            .iter()
            .map(|n| n.node.clone())
            .collect::<Vec<_>>(),
        vec![page("/checkout"), node(PathNodeKind::Event, "add_to_cart")]
    );
    assert_eq!(
        flow.suggested
            .iter()
            .map(|s| s.node.name.as_str())
            .collect::<Vec<_>>(),
        vec!["/", "Product page", "/cart", "/checkout"]
    );
}

#[test]
fn between_two_steps_leaves_out_events_of_the_steps() {
    // a, b, x, b, c: the chain's b is the first; the second b matches step 2, so only x
    // sits between steps 2 and 3.
    let w = World::of(vec![
        ev(1, 0, "a"),
        ev(1, MIN, "b"),
        ev(1, 2 * MIN, "x"),
        ev(1, 3 * MIN, "b"),
        ev(1, 4 * MIN, "c"),
    ]);
    let mut f = FunnelSpec::new(vec![Step::event("a"), Step::event("b"), Step::event("c")]);
    f.flow = true;
    let QueryResult::Funnel(r) = run(&w, Analysis::Funnel(f)) else {
        panic!()
    };
    let flow = r.flow.unwrap();
    assert!(flow.between[0].nodes.is_empty());
    assert_eq!(rows(&flow.between[1].nodes), vec![("x".into(), 1)]);
}
