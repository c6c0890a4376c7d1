//! Reading a data directory before it is opened: what the manifest lists, whether every
//! file is the one it lists, what the log holds, and which files are provably leftovers.
//!
//! [`inspect`] changes nothing. `Store::open` refuses a directory with any [`Problem`]
//! and otherwise deletes the leftovers, cuts a torn tail and replays the log;
//! `Store::verify_dir` reports everything; `Store::repair` fixes what it found, saying
//! what it discards.
//!
//! A file is a leftover only when this can be proven from names and the manifest alone:
//! a temporary name (`*.seg.tmp`, `*.wal.tmp`, `MANIFEST.tmp`, `identities-N.tmp`), a
//! segment or user-link file numbered at or above the manifest's `next_id` (allocated after
//! the last commit, so no manifest ever listed it), a file the last commit retired, a log
//! file below `wal_start` (its frames are in segments), or an empty log file after an
//! unsealed one (a rotation cut short). Anything else the manifest does not list is a
//! problem, never deleted.

use std::fs;
use std::path::{Path, PathBuf};

use crate::error::{IoContext, Result, StoreError};
use crate::manifest::{self, Manifest};
use crate::segment::reader::SegmentReader;
use crate::wal::{self, Damage, FileScan};

/// Something wrong with a data directory: the store will not open until it is mended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The file.
    pub path: PathBuf,
    /// What is wrong with it.
    pub detail: String,
    /// Events lost if an explicit repair drops or cuts it, when known.
    pub events: Option<u64>,
}

impl Problem {
    pub(crate) fn new(path: impl Into<PathBuf>, detail: impl Into<String>) -> Problem {
        Problem {
            path: path.into(),
            detail: detail.into(),
            events: None,
        }
    }
}

/// What [`inspect`] found.
pub(crate) struct Found {
    pub manifest: Manifest,
    /// Readers of the listed segments that opened and match the manifest.
    pub segments: Vec<(u64, SegmentReader)>,
    /// Listed segments that are missing, damaged or not the listed file.
    pub bad_segments: Vec<u64>,
    pub problems: Vec<Problem>,
    pub leftovers: Vec<PathBuf>,
    /// Files not listed and not provably leftovers.
    pub strays: Vec<PathBuf>,
    /// The log files from `wal_start` on, in order, up to the current one.
    pub logs: Vec<FileScan>,
    /// Log files that could not be read (header damaged) or were resized.
    pub bad_logs: Vec<u64>,
    /// The torn tail of the current log file, safe to cut.
    pub torn: Option<Damage>,
}

pub(crate) fn seg_path(dir: &Path, id: u64) -> PathBuf {
    dir.join("segments").join(format!("{id:016}.seg"))
}

/// What a data directory without a manifest holds besides what a store creation cut
/// short leaves (empty log files, temporary files). Empty: it is a new store.
pub(crate) fn orphans(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let segdir = dir.join("segments");
    if segdir.is_dir() {
        for ent in fs::read_dir(&segdir).at(&segdir)? {
            out.push(ent.at(&segdir)?.path());
        }
    }
    let waldir = dir.join("wal");
    if waldir.is_dir() {
        for n in wal::list(&waldir)? {
            let empty = wal::scan(&waldir, n).is_ok_and(|s| s.is_empty());
            if !empty {
                out.push(wal::wal_path(&waldir, n));
            }
        }
    }
    for ent in fs::read_dir(dir).at(dir)? {
        let ent = ent.at(dir)?;
        let name = ent.file_name().to_string_lossy().into_owned();
        if name.starts_with("identities-") && !name.ends_with(".tmp") {
            out.push(ent.path());
        }
    }
    out.sort();
    Ok(out)
}

/// Reads the store in `dir` (which has a manifest) without changing anything.
pub(crate) fn inspect(dir: &Path, manifest: Manifest) -> Result<Found> {
    let mut f = Found {
        manifest,
        segments: Vec::new(),
        bad_segments: Vec::new(),
        problems: Vec::new(),
        leftovers: Vec::new(),
        strays: Vec::new(),
        logs: Vec::new(),
        bad_logs: Vec::new(),
        torn: None,
    };
    check_segments(dir, &mut f)?;
    check_other_files(dir, &mut f)?;
    check_logs(dir, &mut f)?;
    Ok(f)
}

fn retired(m: &Manifest, dir: &Path, path: &Path) -> bool {
    path.strip_prefix(dir)
        .is_ok_and(|rel| m.retired.iter().any(|r| Path::new(r) == rel))
}

fn check_segments(dir: &Path, f: &mut Found) -> Result<()> {
    let m = &f.manifest;
    for s in &m.segments {
        let path = seg_path(dir, s.id);
        let r = match SegmentReader::open(&path) {
            Ok(r) => r,
            Err(StoreError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                let mut p = Problem::new(&path, "missing: the manifest lists it");
                p.events = Some(s.rows);
                f.problems.push(p);
                f.bad_segments.push(s.id);
                continue;
            }
            Err(StoreError::Corrupted { path, detail }) => {
                let mut p = Problem::new(path, detail);
                p.events = Some(s.rows);
                f.problems.push(p);
                f.bad_segments.push(s.id);
                continue;
            }
            Err(e) => return Err(e),
        };
        let ft = &r.footer;
        let mut diffs = Vec::new();
        if (ft.partition, ft.days) != (s.partition, s.days) {
            diffs.push(format!(
                "partition {}+{}d (listed {}+{}d)",
                ft.partition, ft.days, s.partition, s.days
            ));
        }
        if ft.rows != s.rows {
            diffs.push(format!("{} events (listed {})", ft.rows, s.rows));
        }
        if r.len != s.bytes {
            diffs.push(format!("{} bytes (listed {})", r.len, s.bytes));
        }
        if (ft.min_ts, ft.max_ts) != (s.min_ts, s.max_ts) || ft.sites != s.sites {
            diffs.push("other times or sites".into());
        }
        if r.footer_crc != s.footer_crc {
            diffs.push(format!(
                "footer checksum {:08x} (listed {:08x})",
                r.footer_crc, s.footer_crc
            ));
        }
        if diffs.is_empty() {
            f.segments.push((s.id, r));
        } else {
            let mut p = Problem::new(
                &path,
                format!(
                    "not the segment the manifest lists (copied over or replaced?): {}",
                    diffs.join(", ")
                ),
            );
            p.events = Some(s.rows);
            f.problems.push(p);
            f.bad_segments.push(s.id);
        }
    }
    // Files in segments/ that the manifest does not list.
    let segdir = dir.join("segments");
    for ent in fs::read_dir(&segdir).at(&segdir)? {
        let path = ent.at(&segdir)?.path();
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if let Some(id) = name
            .strip_suffix(".seg.tmp")
            .and_then(|s| s.parse::<u64>().ok())
        {
            // A segment is renamed from its temporary name only once complete.
            let _ = id;
            f.leftovers.push(path);
        } else if let Some(id) = name
            .strip_suffix(".seg")
            .and_then(|s| s.parse::<u64>().ok())
        {
            if f.manifest.segments.iter().any(|s| s.id == id) {
                continue;
            }
            if id >= f.manifest.next_id || retired(&f.manifest, dir, &path) {
                f.leftovers.push(path);
            } else {
                f.problems.push(Problem::new(
                    &path,
                    "a segment the manifest does not list (from another store, or an older manifest?): move it away to open the store",
                ));
                f.strays.push(path);
            }
        }
    }
    Ok(())
}

fn check_other_files(dir: &Path, f: &mut Found) -> Result<()> {
    for ent in fs::read_dir(dir).at(dir)? {
        let ent = ent.at(dir)?;
        let path = ent.path();
        let name = ent.file_name().to_string_lossy().into_owned();
        if name == format!("{}.tmp", manifest::FILE) {
            f.leftovers.push(path);
            continue;
        }
        let Some(rest) = name.strip_prefix("identities-") else {
            continue;
        };
        if Some(&name) == f.manifest.identities.as_ref() {
            continue;
        }
        let (num, tmp) = match rest.strip_suffix(".tmp") {
            Some(n) => (n, true),
            None => (rest, false),
        };
        let Ok(n) = num.parse::<u64>() else {
            continue;
        };
        if tmp || n >= f.manifest.next_id || retired(&f.manifest, dir, &path) {
            f.leftovers.push(path);
        } else {
            f.problems.push(Problem::new(
                &path,
                "a user-link file the manifest does not list: move it away to open the store",
            ));
            f.strays.push(path);
        }
    }
    if let Some(name) = &f.manifest.identities
        && let Err(e) = crate::user_links::UserLinks::load(&dir.join(name))
    {
        f.problems.push(Problem::new(dir.join(name), e.to_string()));
    }
    Ok(())
}

fn check_logs(dir: &Path, f: &mut Found) -> Result<()> {
    let waldir = dir.join("wal");
    f.leftovers.extend(wal::unfinished(&waldir)?);
    let files = wal::list(&waldir)?;
    let start = f.manifest.wal_start;
    for &n in files.iter().filter(|&&n| n < start) {
        f.leftovers.push(wal::wal_path(&waldir, n));
    }
    let live: Vec<u64> = files.into_iter().filter(|&n| n >= start).collect();
    if live.first() != Some(&start) {
        f.problems.push(Problem::new(
            wal::wal_path(&waldir, start),
            "missing: the manifest says the log starts with it (acknowledged events may be lost)",
        ));
    }
    for pair in live.windows(2) {
        if pair[1] != pair[0] + 1 {
            f.problems.push(Problem::new(
                wal::wal_path(&waldir, pair[0] + 1),
                format!(
                    "missing: log files {} and {} exist (acknowledged events may be lost)",
                    pair[0], pair[1]
                ),
            ));
        }
    }
    let mut scans = Vec::new();
    for &n in &live {
        match wal::scan(&waldir, n) {
            Ok(s) => {
                if let Some(why) = &s.resized {
                    f.problems
                        .push(Problem::new(wal::wal_path(&waldir, n), why));
                    f.bad_logs.push(n);
                }
                scans.push(s);
            }
            Err(StoreError::Corrupted { path, detail }) => {
                f.problems.push(Problem::new(path, detail));
                f.bad_logs.push(n);
            }
            Err(e) => return Err(e),
        }
    }
    if !f.bad_logs.is_empty() || f.problems.iter().any(|p| p.path.starts_with(&waldir)) {
        // Keep what was read for a repair; nothing below makes sense across a gap.
        f.logs = scans;
        return Ok(());
    }
    // Follow the seals: every file but the current one is sealed and names the next.
    let mut i = 0;
    while i < scans.len() {
        let s = &scans[i];
        let path = wal::wal_path(&waldir, s.number);
        if let Some(d) = &s.damage {
            let newest_data = scans[i + 1..].iter().all(FileScan::is_empty);
            if d.torn && newest_data {
                f.torn = Some(d.clone());
            } else {
                let mut p = Problem::new(
                    &path,
                    format!(
                        "bad log frame at byte {}: {} (acknowledged events may be lost; `cairn repair` drops it)",
                        d.offset, d.why
                    ),
                );
                p.events = None;
                f.problems.push(p);
            }
        }
        let Some(next) = s.sealed else { break };
        match scans.get(i + 1) {
            None => {
                f.problems.push(Problem::new(
                    wal::wal_path(&waldir, next),
                    format!(
                        "missing: log {} is sealed and names it as the next",
                        s.number
                    ),
                ));
                break;
            }
            Some(t) if t.number != next || t.first_seq != s.next_seq => {
                f.problems.push(Problem::new(
                    wal::wal_path(&waldir, t.number),
                    format!(
                        "does not continue log {} (expected log {next} from frame {}, found log {} from frame {})",
                        s.number, s.next_seq, t.number, t.first_seq
                    ),
                ));
                break;
            }
            Some(_) => i += 1,
        }
    }
    // Files after the current (unsealed) one: a rotation cut short left them empty.
    let current = i.min(scans.len().saturating_sub(1));
    for s in scans.drain(current + 1..) {
        let path = wal::wal_path(&waldir, s.number);
        if s.is_empty() {
            f.leftovers.push(path);
        } else {
            f.problems.push(Problem::new(
                &path,
                format!(
                    "holds frames, but log {} before it is not sealed: its end is missing (acknowledged events may be lost)",
                    s.number - 1
                ),
            ));
        }
    }
    f.logs = scans;
    Ok(())
}
