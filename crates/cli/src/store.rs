//! Opening the store with messages that say what to do.

use std::path::Path;

use anyhow::{Result, bail};
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
    if mode == Open::Existing {
        require_existing(dir)?;
    }
    let store = Store::open(dir, opts).map_err(|e| explain(dir, e))?;
    report_recovery(&store);
    Ok(store)
}

/// Says what recovery did when the store was opened.
fn report_recovery(store: &Store) {
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
}

/// Fails unless `dir` holds a store (or what is left of one: store files without a
/// manifest are reported by the store itself).
pub fn require_existing(dir: &Path) -> Result<()> {
    let has_files =
        |sub: &str| std::fs::read_dir(dir.join(sub)).is_ok_and(|mut d| d.next().is_some());
    if !dir.join("MANIFEST").is_file() && !has_files("segments") && !has_files("wal") {
        bail!(
            "there is no Cairn store in {}: create one with `cairn import FILE` or `cairn demo`, or point --data (or CAIRN_DATA) at an existing one",
            dir.display()
        );
    }
    Ok(())
}

/// A store error with what to do about it.
pub fn explain(dir: &Path, e: StoreError) -> anyhow::Error {
    match e {
        StoreError::Locked(d) => anyhow::anyhow!(
            "another cairn process holds the store in {}; stop it (or wait for it to finish), or use another --data directory",
            d.display()
        ),
        e @ (StoreError::Damaged(_) | StoreError::Corrupted { .. }) => anyhow::anyhow!(
            "cannot open the store in {}: {e}\nnothing was changed. `cairn --data {} verify` lists every problem; restore the named files from a snapshot, or run `cairn --data {} repair` to drop what is damaged (it says what it drops)",
            dir.display(),
            dir.display(),
            dir.display()
        ),
        e => anyhow::Error::new(e).context(format!("cannot open the store in {}", dir.display())),
    }
}

/// A store opened for reading: the store itself or, while another process holds it (a
/// running server), a consistent copy taken for this command in `DIR/.read-<pid>` (hard
/// links: no data is copied but the log) and removed when it is dropped.
pub struct ReadStore {
    store: Option<Store>,
    copy: Option<std::path::PathBuf>,
}

impl std::ops::Deref for ReadStore {
    type Target = Store;
    fn deref(&self) -> &Store {
        self.store.as_ref().expect("open until dropped")
    }
}

impl Drop for ReadStore {
    fn drop(&mut self) {
        drop(self.store.take());
        if let Some(c) = &self.copy {
            let _ = std::fs::remove_dir_all(c);
        }
    }
}

/// Opens the store in `dir` to read it, also while a server runs on it.
pub fn open_read(dir: &Path) -> Result<ReadStore> {
    require_existing(dir)?;
    let opts = Options {
        background: false,
        ..Options::default()
    };
    match Store::open(dir, opts.clone()) {
        Ok(s) => {
            report_recovery(&s);
            Ok(ReadStore {
                store: Some(s),
                copy: None,
            })
        }
        Err(StoreError::Locked(_)) => {
            let copy = shared_copy(dir)?;
            let mut rs = ReadStore {
                store: None,
                copy: Some(copy.clone()),
            };
            rs.store = Some(Store::open(&copy, opts).map_err(|e| explain(dir, e))?);
            Ok(rs)
        }
        Err(e) => Err(explain(dir, e)),
    }
}

/// A consistent copy of a store another process holds, in `DIR/.read-<pid>`.
pub fn shared_copy(dir: &Path) -> Result<std::path::PathBuf> {
    let copy = dir.join(format!(".read-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&copy);
    Store::snapshot_shared(dir, &copy).map_err(|e| explain(dir, e))?;
    eprintln!(
        "note: another process (a running server?) holds the store: reading a consistent copy taken now"
    );
    Ok(copy)
}
