//! Checking a data directory without changing it ([`Store::verify_dir`], `cairn verify`)
//! and mending it on request ([`Store::repair`], `cairn repair`).

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use crate::error::{IoContext, Result, StoreError, corrupted};
use crate::fs::{StdFs, sync_dir};
use crate::manifest::{self, Manifest};
use crate::recovery::{self, Problem, seg_path};
use crate::store::{Options, Store, lock_dir};
use crate::wal::{self, Entry, LogWriter, TornTail};

/// What [`Store::verify_dir`] found. Nothing was changed.
#[derive(Debug, Default)]
pub struct Verified {
    /// Everything that stops the store from opening; empty when the store is sound.
    pub problems: Vec<Problem>,
    /// Segments whose every chunk was read and checked.
    pub segments: u64,
    /// Events in those segments.
    pub events: u64,
    /// Bytes of those segments.
    pub bytes: u64,
    /// Records in the log, waiting for the next flush.
    pub log_records: u64,
    /// A torn log tail that opening would cut: a write the crash interrupted, never
    /// acknowledged. Harmless.
    pub torn_tail: Option<TornTail>,
    /// Leftovers of interrupted writes that opening would delete. Harmless.
    pub leftovers: Vec<PathBuf>,
}

/// What [`Store::repair`] did.
#[derive(Debug, Default)]
pub struct Repaired {
    /// The problems it found and mended.
    pub problems: Vec<Problem>,
    /// Segments it dropped from the store (moved to `lost+found`), with their events.
    pub dropped_segments: Vec<(PathBuf, u64)>,
    /// Log frames (appends) it could not read: missing from the sequence or damaged.
    pub lost_frames: u64,
    /// Log files whose frames could not be read at all (their header is damaged).
    pub lost_logs: Vec<PathBuf>,
    /// Records it kept from the log (written to segments).
    pub kept_records: u64,
    /// Where it put the files it took out of the store, untouched, for a closer look.
    pub lost_found: Option<PathBuf>,
}

impl Store {
    /// Checks the store in `dir` without changing a byte: the manifest, every listed
    /// segment against it and every chunk of it, files the manifest does not list, the
    /// user links and every log file. Takes the directory's lock.
    pub fn verify_dir(dir: impl AsRef<Path>) -> Result<Verified> {
        let dir = dir.as_ref();
        let _lock = lock_dir(dir)?;
        let mut v = Verified::default();
        let manifest = match Manifest::load(dir) {
            Ok(Some(m)) => m,
            Ok(None) => {
                let orphans = recovery::orphans(dir)?;
                let detail = if orphans.is_empty() {
                    "missing: there is no store here".to_string()
                } else {
                    format!(
                        "missing, but the directory holds {} store file(s): restore MANIFEST from a snapshot",
                        orphans.len()
                    )
                };
                v.problems
                    .push(Problem::new(dir.join(manifest::FILE), detail));
                return Ok(v);
            }
            Err(StoreError::Corrupted { path, detail }) => {
                v.problems.push(Problem::new(path, detail));
                return Ok(v);
            }
            Err(e) => return Err(e),
        };
        let found = recovery::inspect(dir, manifest)?;
        v.problems = found.problems;
        for (id, r) in &found.segments {
            match r.verify() {
                Ok(()) => {
                    v.segments += 1;
                    v.events += r.footer.rows;
                    v.bytes += r.len;
                }
                Err(StoreError::Corrupted { path, detail }) => {
                    let mut p = Problem::new(path, detail);
                    p.events = Some(r.footer.rows);
                    v.problems.push(p);
                    let _ = id;
                }
                Err(e) => return Err(e),
            }
        }
        v.log_records = found
            .logs
            .iter()
            .flat_map(|s| &s.frames)
            .map(|(_, e)| e.records())
            .sum();
        if let (Some(d), Some(cur)) = (&found.torn, found.logs.last()) {
            v.torn_tail = Some(TornTail {
                path: wal::wal_path(&dir.join("wal"), cur.number),
                offset: d.offset,
                bytes: d.dirty_end - d.offset,
            });
        }
        v.leftovers = found.leftovers;
        Ok(v)
    }

    /// Mends a damaged store, saying what it discards: listed segments that are missing,
    /// damaged or another file are dropped; files the manifest does not list are moved
    /// aside; every readable frame of the log is kept (written to segments) and damaged
    /// frames are dropped; a damaged user-link file is dropped (links come back from the
    /// log and new events). Everything taken out is moved, untouched, to
    /// `DIR/lost+found/<time>/`. A missing or damaged manifest is not repaired: restore
    /// it from a snapshot. Returns what it did; a sound store is left as it is.
    pub fn repair(dir: impl AsRef<Path>, opts: Options) -> Result<Repaired> {
        let dir = dir.as_ref().to_path_buf();
        let lock_file = lock_dir(&dir)?;
        let disk = opts.faults.fs();
        let manifest = Manifest::load(&dir)?.ok_or_else(|| {
            corrupted(
                dir.join(manifest::FILE),
                "missing: repair cannot rebuild it; restore the store from a snapshot",
            )
        })?;
        let mut found = recovery::inspect(&dir, manifest)?;
        let mut out = Repaired::default();
        if found.problems.is_empty() {
            return Ok(out);
        }
        out.problems = std::mem::take(&mut found.problems);
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let lf = dir.join("lost+found").join(stamp.to_string());
        fs::create_dir_all(&lf).at(&lf)?;
        let move_aside = |p: &Path| -> Result<()> {
            if p.exists() {
                let to = lf.join(p.file_name().unwrap_or_default());
                disk.rename(p, &to).at(p)?;
            }
            Ok(())
        };
        // Segments: drop the bad ones, move the unlisted ones aside.
        for id in &found.bad_segments {
            let path = seg_path(&dir, *id);
            let rows = found
                .manifest
                .segments
                .iter()
                .find(|s| s.id == *id)
                .map_or(0, |s| s.rows);
            move_aside(&path)?;
            out.dropped_segments.push((path, rows));
        }
        let bad = found.bad_segments.clone();
        found.manifest.segments.retain(|s| !bad.contains(&s.id));
        for p in &found.strays {
            move_aside(p)?;
        }
        // The user links, when their file is damaged.
        if let Some(name) = found.manifest.identities.clone() {
            let path = dir.join(&name);
            if out.problems.iter().any(|p| p.path == path) {
                move_aside(&path)?;
                found.manifest.identities = None;
            }
        }
        // The log: every readable frame, in order; the files themselves are copied aside
        // and retired by the flush below.
        let waldir = dir.join("wal");
        let mut frames: BTreeMap<u64, Entry> = BTreeMap::new();
        let (mut first, mut last) = (u64::MAX, None::<u64>);
        for scan in std::mem::take(&mut found.logs) {
            first = first.min(scan.first_seq);
            if let Some((s, _)) = scan.frames.last() {
                last = last.max(Some(*s));
            }
            frames.extend(scan.frames);
            if let Some(d) = scan.damage {
                // The damaged frame itself was written: it counts as lost unless a copy
                // of its number turns up later.
                last = last.max(Some(d.seq));
                if let Some((s, _)) = d.after.last() {
                    last = last.max(Some(*s));
                }
                frames.extend(d.after);
            }
        }
        for n in wal::list(&waldir)?
            .into_iter()
            .filter(|&n| n >= found.manifest.wal_start)
        {
            let p = wal::wal_path(&waldir, n);
            fs::copy(&p, lf.join(p.file_name().unwrap_or_default())).at(&p)?;
            if found.bad_logs.contains(&n) {
                out.lost_logs.push(p);
            }
        }
        if let Some(last) = last {
            out.lost_frames = (last + 1 - first.min(last)) - frames.len() as u64;
        }
        out.kept_records = frames.values().map(Entry::records).sum();
        // A new, empty log file after every other one; the salvaged entries are replayed
        // from it as if it held them, then flushed to segments.
        let next = wal::list(&waldir)?.last().map_or(0, |n| n + 1);
        drop(LogWriter::create(
            std::sync::Arc::clone(&disk),
            &waldir,
            next,
            0,
        )?);
        let mut scan = wal::scan(&waldir, next)?;
        scan.frames = frames.into_iter().collect();
        found.logs = vec![scan];
        found.torn = None;
        let store = Store::start(
            dir,
            Options {
                background: false,
                ..opts
            },
            lock_file,
            found,
        )?;
        store.inner.flush_forced()?;
        store.close()?;
        out.lost_found = Some(lf);
        Ok(out)
    }
}

impl Store {
    /// Writes a consistent copy of the store in `dir` to `dest` (a new or empty
    /// directory) **while another process holds it** (a running server): segments are
    /// hard-linked (or copied), the user-link file and the log files still needed are
    /// copied, and the copy of the newest log ends at its last whole frame. Everything
    /// acknowledged before the call is in the copy. A change the other process commits
    /// meanwhile (a flush, a compaction) makes it start over, a few times at most.
    pub fn snapshot_shared(dir: impl AsRef<Path>, dest: impl AsRef<Path>) -> Result<()> {
        let (dir, dest) = (dir.as_ref(), dest.as_ref());
        if dest.exists() && fs::read_dir(dest).at(dest)?.next().is_some() {
            return Err(StoreError::Io {
                path: dest.to_path_buf(),
                source: std::io::Error::new(
                    std::io::ErrorKind::AlreadyExists,
                    "snapshot target is not empty",
                ),
            });
        }
        let mut last = None;
        for _ in 0..20 {
            match copy_once(dir, dest) {
                Ok(true) => return Ok(()),
                Ok(false) => {}
                Err(e) => last = Some(e),
            }
            // Start over from an empty target.
            let _ = fs::remove_dir_all(dest);
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        Err(last.unwrap_or_else(|| {
            corrupted(
                dir.join(manifest::FILE),
                "the store kept changing while it was copied; try again",
            )
        }))
    }
}

/// One attempt of [`Store::snapshot_shared`]: `Ok(false)` when the manifest changed
/// meanwhile (or a file went away), so the copy may not be consistent.
fn copy_once(dir: &Path, dest: &Path) -> Result<bool> {
    let gone = |e: &std::io::Error| e.kind() == std::io::ErrorKind::NotFound;
    let before = fs::read(dir.join(manifest::FILE)).at(dir.join(manifest::FILE))?;
    let Some(m) = Manifest::load(dir)? else {
        return Err(corrupted(dir.join(manifest::FILE), "missing"));
    };
    for d in [dest.to_path_buf(), dest.join("wal"), dest.join("segments")] {
        fs::create_dir_all(&d).at(&d)?;
    }
    for s in &m.segments {
        let (src, dst) = (seg_path(dir, s.id), seg_path(dest, s.id));
        if let Err(e) = fs::hard_link(&src, &dst) {
            if gone(&e) {
                return Ok(false);
            }
            match fs::copy(&src, &dst) {
                Ok(_) => {}
                Err(e) if gone(&e) => return Ok(false),
                Err(e) => {
                    return Err(StoreError::Io {
                        path: dst,
                        source: e,
                    });
                }
            }
        }
    }
    if let Some(f) = &m.identities {
        match fs::copy(dir.join(f), dest.join(f)) {
            Ok(_) => {}
            Err(e) if gone(&e) => return Ok(false),
            Err(e) => {
                return Err(StoreError::Io {
                    path: dest.join(f),
                    source: e,
                });
            }
        }
    }
    let (waldir, destwal) = (dir.join("wal"), dest.join("wal"));
    let logs: Vec<u64> = wal::list(&waldir)?
        .into_iter()
        .filter(|&n| n >= m.wal_start)
        .collect();
    for &n in &logs {
        let (src, dst) = (wal::wal_path(&waldir, n), wal::wal_path(&destwal, n));
        match fs::copy(&src, &dst) {
            Ok(_) => {}
            Err(e) if gone(&e) => return Ok(false),
            Err(e) => {
                return Err(StoreError::Io {
                    path: dst,
                    source: e,
                });
            }
        }
    }
    let after = fs::read(dir.join(manifest::FILE)).at(dir.join(manifest::FILE))?;
    if after != before {
        return Ok(false);
    }
    // Each copied log ends at its last whole frame: what follows was being written while
    // it was copied (never acknowledged before the call). The newest loses its seal too:
    // the file that seal names was made after the listing and was not copied.
    let Some(&newest) = logs.last() else {
        return Ok(false);
    };
    for &n in &logs {
        let scan = wal::scan(&destwal, n)?;
        let (from, to) = match (&scan.damage, scan.seal_at) {
            (Some(d), _) => (scan.end, d.dirty_end),
            (None, Some(at)) if n == newest => (at, scan.end),
            _ => continue,
        };
        wal::zero(&StdFs, &destwal, n, from, to)?;
    }
    let mut copy = m.clone();
    copy.retired.clear();
    sync_dir(&StdFs, &dest.join("segments"))?;
    sync_dir(&StdFs, &destwal)?;
    copy.store(&StdFs, dest)?;
    // The copy must open as it is; a change caught half-way makes it start over.
    let found = recovery::inspect(dest, copy)?;
    Ok(found.problems.is_empty())
}
