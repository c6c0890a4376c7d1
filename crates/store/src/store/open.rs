//! Opening a store: the directory's lock, a new store, and recovery. `crate::recovery`
//! reads the directory without changing it; here the store removes the provable
//! leftovers it found, cuts a torn log tail, replays the log into the buffer and applies
//! logged erasures to segments again.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::{Arc, Condvar, Mutex, RwLock};
use std::time::{Duration, Instant};

use super::{Inner, Options, Recovery, State, Store, lock};
use crate::error::{IoContext, Result, StoreError, corrupted};
use crate::fs::{Fs, sync_dir};
use crate::manifest::{self, Manifest};
use crate::memtable::Memtable;
use crate::recovery::{self, Found};
use crate::user_links::UserLinks;
use crate::wal::{self, Entry, LogWriter, TornTail};

/// Takes the data directory's lock, waiting a little for a process that is just closing.
pub(crate) fn lock_dir(dir: &Path) -> Result<File> {
    let lock_path = dir.join("LOCK");
    let lock_file = File::create(&lock_path).at(&lock_path)?;
    // A process that just closed the store, or a child forked by this process
    // that has not reached exec yet, may hold the lock for a moment: wait a little.
    let deadline = Instant::now() + Duration::from_secs(2);
    while let Err(e) = lock_file.try_lock() {
        match e {
            std::fs::TryLockError::WouldBlock if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(20));
            }
            std::fs::TryLockError::WouldBlock => {
                return Err(StoreError::Locked(dir.to_path_buf()));
            }
            std::fs::TryLockError::Error(e) => {
                return Err(StoreError::Io {
                    path: lock_path,
                    source: e,
                });
            }
        }
    }
    Ok(lock_file)
}

/// Loads the manifest, or makes a new store when the directory holds no store files at
/// all. Store files without a manifest are refused, never overwritten.
fn load_or_create(disk: &dyn Fs, dir: &Path) -> Result<Manifest> {
    if let Some(m) = Manifest::load(dir)? {
        return Ok(m);
    }
    let orphans = recovery::orphans(dir)?;
    if let Some(first) = orphans.first() {
        return Err(corrupted(
            dir.join(manifest::FILE),
            format!(
                "missing, but the directory holds {} store file(s) ({}{}): Cairn will not start an empty store over them; restore MANIFEST (and the store) from a snapshot",
                orphans.len(),
                first.display(),
                if orphans.len() > 1 { ", …" } else { "" }
            ),
        ));
    }
    // A new store, or a creation cut short (empty log files, temporary files): start over.
    let waldir = dir.join("wal");
    for n in wal::list(&waldir)? {
        let p = wal::wal_path(&waldir, n);
        disk.remove_file(&p).at(&p)?;
    }
    wal::create_empty(disk, &waldir, 0)?;
    let m = Manifest::new();
    m.store(disk, dir)?;
    Ok(m)
}

/// [`Store::open`].
pub(super) fn open(dir: &Path, opts: Options) -> Result<Store> {
    let dir = dir.to_path_buf();
    for d in [dir.clone(), dir.join("wal"), dir.join("segments")] {
        fs::create_dir_all(&d).at(&d)?;
    }
    let lock_file = lock_dir(&dir)?;
    let manifest = load_or_create(&*opts.faults.fs(), &dir)?;
    let found = recovery::inspect(&dir, manifest)?;
    if !found.problems.is_empty() {
        return Err(StoreError::Damaged(found.problems));
    }
    Store::start(dir, opts, lock_file, found)
}

impl Store {
    /// Builds the store from an inspected directory: removes the provable leftovers,
    /// cuts the torn tail and replays the log. `found` has no problems, or a repair has
    /// taken them out of it.
    pub(crate) fn start(
        dir: PathBuf,
        opts: Options,
        lock_file: File,
        found: Found,
    ) -> Result<Store> {
        let disk = opts.faults.fs();
        let mut recovery = Recovery::default();
        let waldir = dir.join("wal");
        for p in &found.leftovers {
            disk.remove_file(p).at(p)?;
            recovery.removed_leftovers.push(p.clone());
        }
        if !found.leftovers.is_empty() {
            for d in [&dir, &waldir, &dir.join("segments")] {
                sync_dir(&*disk, d)?;
            }
            tracing::warn!(files = ?found.leftovers, "removed leftovers of interrupted writes");
        }
        let Found {
            manifest,
            segments: readers,
            logs,
            torn,
            ..
        } = found;
        let current = logs
            .last()
            .ok_or_else(|| corrupted(&waldir, "no log file to write to"))?;
        if let Some(d) = &torn {
            wal::zero(&*disk, &waldir, current.number, d.offset, d.dirty_end)?;
            let t = TornTail {
                path: wal::wal_path(&waldir, current.number),
                offset: d.offset,
                bytes: d.dirty_end - d.offset,
            };
            tracing::warn!(torn = ?t, "cut off a torn log tail (never acknowledged)");
            recovery.torn_tail = Some(t);
        }
        let writer = LogWriter::resume(Arc::clone(&disk), &waldir, current)?;
        let user_links = match &manifest.identities {
            Some(f) => UserLinks::load(&dir.join(f))?,
            None => UserLinks::default(),
        };
        let segments = readers
            .into_iter()
            .map(|(id, r)| (id, Arc::new(r)))
            .collect();
        let mut state = State {
            manifest,
            segments,
            active: Memtable::default(),
            frozen: Vec::new(),
            user_links,
        };
        let mut erasures = Vec::new();
        for scan in logs {
            for (_, entry) in scan.frames {
                recovery.replayed += entry.records();
                if let Entry::Erase(e) = &entry {
                    erasures.push(e.clone());
                }
                state.apply(entry);
            }
        }
        let cache = crate::chunk_cache::ChunkCache::new(opts.chunk_cache);
        let scan_bufs = Arc::new(crate::scan::ScanBufs::new(Arc::new(cache)));
        let inner = Arc::new(Inner {
            dir,
            opts,
            fs: disk,
            _lock: lock_file,
            wal: Mutex::new(Default::default()),
            log: Mutex::new(writer),
            synced: AtomicU64::new(0),
            state: RwLock::new(state),
            maint: Mutex::new(()),
            poisoned: AtomicBool::new(false),
            stop: Mutex::new(false),
            wake: Condvar::new(),
            waiters: Mutex::default(),
            waiters_cv: Condvar::new(),
            scan_bufs,
        });
        // Erasures logged but perhaps not yet applied to segments: apply again (idempotent).
        for e in &erasures {
            let _m = lock(&inner.maint);
            inner.erase_in_segments(&e.site, &e.visitors)?;
        }
        let bg = inner.spawn_background()?;
        Ok(Store {
            inner,
            bg: Mutex::new(bg),
            committer: Mutex::new(None),
            recovery,
        })
    }
}
