//! Opening the store with messages that say what to do.

use std::path::Path;

use anyhow::{Context, Result, bail};
use cairn_store::{Options, Store, StoreError};

/// Whether a command may create a new store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Open {
    /// Create the store if the directory holds none (import, demo).
    Create,
    /// The store must exist already (reading and maintenance commands).
    Existing,
}

/// Opens the store in `dir`, without the background thread: each command flushes and
/// compacts explicitly.
pub fn open(dir: &Path, mode: Open) -> Result<Store> {
    open_with(dir, mode, Options::default().import_batch)
}

/// [`open`], with `import_batch` events per sorted run of [`Store::import`].
pub fn open_with(dir: &Path, mode: Open, import_batch: usize) -> Result<Store> {
    open_opts(
        dir,
        mode,
        Options {
            background: false,
            import_batch: import_batch.max(1),
            ..Options::default()
        },
    )
}

/// Opens the store with the given options (the server keeps the background thread).
pub fn open_opts(dir: &Path, mode: Open, opts: Options) -> Result<Store> {
    if mode == Open::Existing && !dir.join("MANIFEST").is_file() {
        bail!(
            "there is no Cairn store in {}: create one with `cairn import FILE` or `cairn demo`, or point --data (or CAIRN_DATA) at an existing one",
            dir.display()
        );
    }
    let store = match Store::open(dir, opts) {
        Ok(s) => s,
        Err(StoreError::Locked(d)) => bail!(
            "another cairn process holds the store in {}; stop it (or wait for it to finish), or use another --data directory",
            d.display()
        ),
        Err(e) => {
            return Err(e).with_context(|| format!("cannot open the store in {}", dir.display()));
        }
    };
    let rec = store.recovery();
    if let Some(t) = &rec.torn_tail {
        eprintln!(
            "note: recovery cut {} bytes off the end of {} (a write that was never acknowledged)",
            t.bytes,
            t.path.display()
        );
    }
    if !rec.removed_leftovers.is_empty() {
        eprintln!(
            "note: recovery removed {} leftover file(s) of an interrupted write",
            rec.removed_leftovers.len()
        );
    }
    Ok(store)
}
