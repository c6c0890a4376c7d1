//! What the server's test files share.

use std::path::Path;
use std::sync::Arc;

use cairn_meta::Meta;
use cairn_store::{Faults, Options, Store};

/// A store (no background thread: tests flush when they choose) and a site registry in
/// `dir`.
pub fn open(dir: &Path) -> (Arc<Store>, Meta) {
    open_with_faults(dir, Faults::default())
}

/// [`open`], with writes that fail when `faults` says so.
pub fn open_with_faults(dir: &Path, faults: Faults) -> (Arc<Store>, Meta) {
    let store = Store::open(
        dir,
        Options {
            background: false,
            faults,
            ..Options::default()
        },
    )
    .unwrap();
    (Arc::new(store), Meta::open(dir).unwrap())
}
