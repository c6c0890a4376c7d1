//! What the server's test files share.

use std::path::Path;
use std::sync::Arc;

use cairn_meta::Meta;
use cairn_store::{Options, Store};

/// A store (no background thread: tests flush when they choose) and a site registry in
/// `dir`.
pub fn open(dir: &Path) -> (Arc<Store>, Meta) {
    let store = Store::open(
        dir,
        Options {
            background: false,
            ..Options::default()
        },
    )
    .unwrap();
    (Arc::new(store), Meta::open(dir).unwrap())
}
