//! `GET /cairn.js?f=…`: the tracker with the features a site asks for, assembled from the
//! committed chunks (`tracker/dist/`); lists normalised (one script and ETag per set of
//! features), unknown names refused, gzip, ETags and caching as for the full script.
//! See: issue 19, item 10.

mod common;

use std::io::Read;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode, header};
use cairn_server::{AppState, Settings, router};
use http_body_util::BodyExt;
use tower::ServiceExt;

const FULL: &str = include_str!("../../../tracker/dist/cairn.js");
const CORE: &str = include_str!("../../../tracker/dist/core.js");
/// The features, in the order of an assembled script.
const NAMES: [&str; 7] = [
    "share",
    "downloads",
    "outbound",
    "cta",
    "forms",
    "video",
    "search",
];

/// Each feature's chunk as `tracker/build.mjs` wrote it, in [`NAMES`]' order.
fn chunks() -> Vec<(&'static str, String)> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tracker/dist/features");
    NAMES
        .iter()
        .map(|n| {
            (
                *n,
                std::fs::read_to_string(format!("{dir}/{n}.js")).unwrap(),
            )
        })
        .collect()
}

struct Got {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Got {
    fn text(&self) -> &str {
        std::str::from_utf8(&self.body).unwrap()
    }
}

async fn get(state: &Arc<AppState>, path: &str, extra: &[(header::HeaderName, &str)]) -> Got {
    let mut req = Request::get(path);
    for (k, v) in extra {
        req = req.header(k, *v);
    }
    let resp = router(Arc::clone(state))
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .unwrap();
    Got {
        status: resp.status(),
        headers: resp.headers().clone(),
        body: resp
            .into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec(),
    }
}

fn inflate(gz: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(gz)
        .read_to_end(&mut out)
        .unwrap();
    out
}

#[tokio::test]
async fn a_site_gets_the_core_and_the_features_it_asks_for() {
    let dir = tempfile::tempdir().unwrap();
    let (store, meta) = common::open(dir.path());
    let state = AppState::with_settings(store, meta, Settings::default()).unwrap();
    let st = &state;

    // Without f: every feature, the committed script, as before.
    let full = get(st, "/cairn.js", &[]).await;
    assert_eq!(full.status, StatusCode::OK);
    assert_eq!(full.text(), FULL);
    assert_eq!(get(st, "/cairn.js?v=3", &[]).await.text(), FULL);

    // The core and the features named, in the script's order whatever the list's;
    // repeats, case, spaces, `core` and several f parameters change nothing: the same
    // bytes and ETag.
    let forms_video = get(st, "/cairn.js?f=forms,video", &[]).await;
    assert_eq!(forms_video.status, StatusCode::OK);
    let text = forms_video.text();
    let chunks = chunks();
    for (name, chunk) in &chunks {
        assert_eq!(
            text.contains(chunk.as_str()),
            *name == "forms" || *name == "video",
            "{name}"
        );
    }
    assert!(text.find(&chunks[4].1) < text.find(&chunks[5].1));
    assert!(text.contains(CORE) && text.ends_with(&format!("{CORE}}})([]);\n")));
    let etag = forms_video.headers[header::ETAG].clone();
    for same in [
        "/cairn.js?f=video,forms",
        "/cairn.js?f=video,forms,video",
        "/cairn.js?f=Forms+video",
        "/cairn.js?f=core,video%2Cforms",
        "/cairn.js?f=video&f=forms",
    ] {
        let r = get(st, same, &[]).await;
        assert_eq!(r.status, StatusCode::OK, "{same}");
        assert_eq!(r.body, forms_video.body, "{same}");
        assert_eq!(r.headers[header::ETAG], etag, "{same}");
    }
    // Every feature listed is the full script.
    let all: Vec<&str> = NAMES.iter().rev().copied().collect();
    let listed = get(st, &format!("/cairn.js?f={}", all.join(",")), &[]).await;
    assert_eq!(listed.text(), FULL);
    assert_eq!(listed.headers[header::ETAG], full.headers[header::ETAG]);

    // The core alone: ?f= or ?f=core; under 2 KiB once compressed, as served.
    let core = get(st, "/cairn.js?f=", &[]).await;
    assert_eq!(core.status, StatusCode::OK);
    assert_eq!(get(st, "/cairn.js?f=core", &[]).await.body, core.body);
    assert!(
        chunks
            .iter()
            .all(|(_, c)| !core.text().contains(c.as_str()))
    );
    assert!(core.text().contains(CORE));
    let gz = get(st, "/cairn.js?f=core", &[(header::ACCEPT_ENCODING, "gzip")]).await;
    assert_eq!(gz.headers[header::CONTENT_ENCODING], "gzip");
    assert_eq!(inflate(&gz.body), core.body);
    assert!(
        gz.body.len() < 2048,
        "the core is {} bytes gzipped",
        gz.body.len()
    );

    // Each build: gzip when taken, an ETag of its own, cached like the full script,
    // 304 for the ETag the browser has.
    let gz = get(
        st,
        "/cairn.js?f=video,forms",
        &[(header::ACCEPT_ENCODING, "br, gzip")],
    )
    .await;
    assert_eq!(gz.status, StatusCode::OK);
    assert_eq!(gz.headers[header::CONTENT_ENCODING], "gzip");
    assert_eq!(gz.headers[header::VARY], "accept-encoding");
    assert_eq!(gz.headers[header::ETAG], etag);
    assert_eq!(inflate(&gz.body), forms_video.body);
    for r in [&forms_video, &core, &gz] {
        assert!(
            r.headers[header::CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with("text/javascript")
        );
        assert_eq!(r.headers[header::CACHE_CONTROL], "public, max-age=3600");
        assert_eq!(r.headers[header::ACCESS_CONTROL_ALLOW_ORIGIN], "*");
    }
    assert_ne!(core.headers[header::ETAG], etag);
    assert_ne!(full.headers[header::ETAG], etag);
    let etag = etag.to_str().unwrap();
    let r = get(
        st,
        "/cairn.js?f=forms,video",
        &[(header::IF_NONE_MATCH, etag)],
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_MODIFIED);
    let r = get(st, "/cairn.js?f=forms", &[(header::IF_NONE_MATCH, etag)]).await;
    assert_eq!(r.status, StatusCode::OK, "another build, another ETag");

    // An unknown feature: 400, naming it and the known ones.
    for bad in ["/cairn.js?f=forms,vidoe", "/cairn.js?f=forms&f=vidoe"] {
        let r = get(st, bad, &[]).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}");
        let t = r.text();
        assert!(t.contains("\"vidoe\""), "{t}");
        for name in NAMES {
            assert!(t.contains(name), "{t}");
        }
    }
}
