//! Injected failures, for tests of what the store does when the disk fails. [`Faults`]
//! says what fails; the store writes through a fault-injecting [`Fs`] (`FaultFs`) that
//! wraps the disk and asks it before every change: a write can fail as on a full disk, a
//! sync can fail (and lose what was written since the file's last sync, as when the
//! kernel drops dirty pages), a write can be torn (only its first sectors reach the
//! disk) after which the machine is down: every later change fails, until the test drops
//! the store and reopens the directory.
//!
//! Production code never arms any; while nothing is armed a change costs one atomic load
//! more.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use crate::fs::{Fs, StdFs, WriteFile};

/// The files an injected failure hits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FileKind {
    /// Log files (`wal/N.wal`, and `wal/N.wal.tmp` while one is created).
    Log,
    /// Segment files (`segments/N.seg.tmp` while one is written).
    Segment,
    /// The manifest (`MANIFEST.tmp` while a new one is written).
    Manifest,
    /// Identity link files (`identities-N.tmp`).
    UserLinks,
    /// Directories: their fsync makes renames, creations and removals durable.
    Directory,
    /// Every file and directory.
    Any,
}

impl FileKind {
    fn of_file(path: &Path) -> FileKind {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default();
        if name.ends_with(".wal") || name.ends_with(".wal.tmp") {
            FileKind::Log
        } else if name.ends_with(".seg") || name.ends_with(".seg.tmp") {
            FileKind::Segment
        } else if name.starts_with("identities-") {
            FileKind::UserLinks
        } else {
            FileKind::Manifest
        }
    }

    fn hits(self, other: FileKind) -> bool {
        self == FileKind::Any || self == other
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    /// Creating a file.
    Create,
    /// A write to a file.
    Write,
    /// A sync of a file or a directory.
    Sync,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    /// Fail without writing anything (a write), or fail and lose the unsynced writes (a sync).
    Fail,
    /// Write the whole sectors of the first `keep` bytes, fail, and go down.
    Tear { keep: usize },
}

#[derive(Debug, Clone)]
struct Rule {
    op: Op,
    kind: FileKind,
    /// Matching operations to let through first.
    skip: u32,
    /// Matching operations to fail after that.
    times: u32,
    action: Action,
    /// Set by `fail_log_writes` / `fail_segment_writes`, which replace their own rule.
    legacy: bool,
}

#[derive(Debug, Default)]
struct Plan {
    rules: Vec<Rule>,
}

#[derive(Debug, Default)]
struct Shared {
    /// Whether any rule is armed or the machine is down: the fast path reads only this.
    armed: AtomicBool,
    down: AtomicBool,
    plan: Mutex<Plan>,
}

/// Failures to inject (shared by clones): pass it in `Options::faults`, keep a clone,
/// and arm failures while the store runs.
#[derive(Debug, Clone, Default)]
pub struct Faults(Arc<Shared>);

/// The size of the unit a disk writes atomically: a torn write keeps whole sectors.
const SECTOR: u64 = 512;

impl Faults {
    /// The next `n` writes to log files fail before writing anything, as on a full disk
    /// (a group commit is one write). Replaces an earlier `fail_log_writes`.
    pub fn fail_log_writes(&self, n: u32) {
        self.legacy(Op::Write, FileKind::Log, n);
    }

    /// The next `n` segment files fail to be created, as on a full disk. Replaces an
    /// earlier `fail_segment_writes`.
    pub fn fail_segment_writes(&self, n: u32) {
        self.legacy(Op::Create, FileKind::Segment, n);
    }

    /// The `nth` write from now (1: the next) to a file of `kind` fails without writing
    /// anything, as on a full disk.
    pub fn fail_write(&self, kind: FileKind, nth: u32) {
        self.arm(Op::Write, kind, nth, Action::Fail);
    }

    /// The `nth` sync from now (1: the next) of a file of `kind` (an fsync or fdatasync;
    /// [`FileKind::Directory`]: of a directory) fails, and what that file's handle wrote
    /// since its last good sync is lost (zeroed), as when the kernel drops the dirty pages
    /// of a failed writeback.
    pub fn fail_sync(&self, kind: FileKind, nth: u32) {
        self.arm(Op::Sync, kind, nth, Action::Fail);
    }

    /// The `nth` write from now (1: the next) to a file of `kind` is torn: only the whole
    /// 512-byte sectors (of the file) within its first `keep` bytes reach the disk, the
    /// write fails, and the machine is down: every later change fails (see
    /// [`Faults::is_down`]) until the store is dropped and the directory reopened.
    pub fn tear_write(&self, kind: FileKind, nth: u32, keep: usize) {
        self.arm(Op::Write, kind, nth, Action::Tear { keep });
    }

    /// The machine goes down now: every later change fails.
    pub fn go_down(&self) {
        let _p = self.plan();
        self.0.down.store(true, Ordering::SeqCst);
        self.0.armed.store(true, Ordering::SeqCst);
    }

    /// Whether the machine is down (after [`Faults::tear_write`] or [`Faults::go_down`]).
    pub fn is_down(&self) -> bool {
        self.0.down.load(Ordering::SeqCst)
    }

    /// Disarms every failure and brings the machine up again.
    pub fn clear(&self) {
        let mut p = self.plan();
        p.rules.clear();
        self.0.down.store(false, Ordering::SeqCst);
        self.0.armed.store(false, Ordering::SeqCst);
    }

    /// The fault-injecting file system over the disk.
    pub(crate) fn fs(&self) -> Arc<dyn Fs> {
        Arc::new(FaultFs {
            disk: StdFs,
            faults: self.clone(),
        })
    }

    fn plan(&self) -> std::sync::MutexGuard<'_, Plan> {
        self.0.plan.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn legacy(&self, op: Op, kind: FileKind, n: u32) {
        let mut p = self.plan();
        p.rules
            .retain(|r| !(r.legacy && r.op == op && r.kind == kind));
        if n > 0 {
            p.rules.push(Rule {
                op,
                kind,
                skip: 0,
                times: n,
                action: Action::Fail,
                legacy: true,
            });
        }
        self.0
            .armed
            .store(!p.rules.is_empty() || self.is_down(), Ordering::SeqCst);
    }

    fn arm(&self, op: Op, kind: FileKind, nth: u32, action: Action) {
        let mut p = self.plan();
        p.rules.push(Rule {
            op,
            kind,
            skip: nth.saturating_sub(1),
            times: 1,
            action,
            legacy: false,
        });
        self.0.armed.store(true, Ordering::SeqCst);
    }

    /// `Err` when the machine is down.
    fn up(&self, path: &Path) -> io::Result<()> {
        if self.0.armed.load(Ordering::Acquire) && self.is_down() {
            return Err(injected(io::ErrorKind::Other, "the machine is down", path));
        }
        Ok(())
    }

    /// What happens to this operation: `Err` when the machine is down, the action of the
    /// first rule that fires otherwise. Every matching rule counts the operation.
    fn check(&self, op: Op, kind: FileKind, path: &Path) -> io::Result<Option<Action>> {
        if !self.0.armed.load(Ordering::Acquire) {
            return Ok(None);
        }
        self.up(path)?;
        let mut p = self.plan();
        let mut fired = None;
        for r in p
            .rules
            .iter_mut()
            .filter(|r| r.op == op && r.kind.hits(kind))
        {
            if r.skip > 0 {
                r.skip -= 1;
            } else if r.times > 0 {
                r.times -= 1;
                fired = fired.or(Some(r.action));
            }
        }
        p.rules.retain(|r| r.times > 0);
        if p.rules.is_empty() && !self.is_down() {
            self.0.armed.store(false, Ordering::SeqCst);
        }
        Ok(fired)
    }
}

fn injected(kind: io::ErrorKind, what: &str, path: &Path) -> io::Error {
    io::Error::new(kind, format!("injected: {what} ({})", path.display()))
}

fn no_space(path: &Path) -> io::Error {
    injected(io::ErrorKind::StorageFull, "no space left on device", path)
}

/// The disk, with the failures [`Faults`] arms.
#[derive(Debug)]
struct FaultFs {
    disk: StdFs,
    faults: Faults,
}

impl FaultFs {
    /// Renames and removals fail only when the machine is down.
    fn alive(&self, path: &Path) -> io::Result<()> {
        self.faults.up(path)
    }

    fn wrap(&self, path: &Path, file: Box<dyn WriteFile>) -> Box<dyn WriteFile> {
        Box::new(FaultFile {
            file,
            path: path.to_path_buf(),
            kind: FileKind::of_file(path),
            faults: self.faults.clone(),
            pos: 0,
            unsynced: Vec::new(),
        })
    }
}

impl Fs for FaultFs {
    fn create(&self, path: &Path) -> io::Result<Box<dyn WriteFile>> {
        if self
            .faults
            .check(Op::Create, FileKind::of_file(path), path)?
            .is_some()
        {
            return Err(no_space(path));
        }
        let f = self.disk.create(path)?;
        Ok(self.wrap(path, f))
    }

    fn open_write(&self, path: &Path) -> io::Result<Box<dyn WriteFile>> {
        self.alive(path)?;
        let f = self.disk.open_write(path)?;
        Ok(self.wrap(path, f))
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.alive(to)?;
        self.disk.rename(from, to)
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        self.alive(path)?;
        self.disk.remove_file(path)
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        match self.faults.check(Op::Sync, FileKind::Directory, dir)? {
            Some(_) => Err(injected(io::ErrorKind::Other, "fsync failed (EIO)", dir)),
            None => self.disk.sync_dir(dir),
        }
    }
}

/// A file written through [`FaultFs`]: remembers what it wrote since its last good sync,
/// so that a failed sync can lose it.
struct FaultFile {
    file: Box<dyn WriteFile>,
    path: PathBuf,
    kind: FileKind,
    faults: Faults,
    /// Where the next sequential write goes.
    pos: u64,
    /// Byte ranges (start, end) written since the last good sync.
    unsynced: Vec<(u64, u64)>,
}

impl FaultFile {
    fn write_at_checked(&mut self, buf: &[u8], offset: u64, sequential: bool) -> io::Result<()> {
        match self.faults.check(Op::Write, self.kind, &self.path)? {
            None => {}
            Some(Action::Fail) => return Err(no_space(&self.path)),
            Some(Action::Tear { keep }) => {
                let end = offset + keep.min(buf.len()) as u64;
                let cut = (end - end % SECTOR).max(offset);
                let n = (cut - offset) as usize;
                if n > 0 {
                    self.file.write_all_at(&buf[..n], offset)?;
                    self.file.sync_data()?;
                }
                self.faults.go_down();
                return Err(injected(
                    io::ErrorKind::Other,
                    &format!("torn write ({n} of {} bytes)", buf.len()),
                    &self.path,
                ));
            }
        }
        if sequential {
            self.file.write_all(buf)?;
        } else {
            self.file.write_all_at(buf, offset)?;
        }
        let end = offset + buf.len() as u64;
        match self.unsynced.last_mut() {
            Some(last) if last.1 == offset => last.1 = end,
            _ => self.unsynced.push((offset, end)),
        }
        Ok(())
    }

    fn sync_checked(&mut self, all: bool) -> io::Result<()> {
        if self
            .faults
            .check(Op::Sync, self.kind, &self.path)?
            .is_some()
        {
            // The dirty pages are gone: the disk keeps what it had (zeros, as every
            // file the store writes in place was zeros there, or a new file).
            for (a, b) in std::mem::take(&mut self.unsynced) {
                let zeros = vec![0u8; (b - a) as usize];
                self.file.write_all_at(&zeros, a)?;
            }
            self.file.sync_data()?;
            return Err(injected(
                io::ErrorKind::Other,
                "fsync failed (EIO)",
                &self.path,
            ));
        }
        if all {
            self.file.sync_all()?;
        } else {
            self.file.sync_data()?;
        }
        self.unsynced.clear();
        Ok(())
    }
}

impl WriteFile for FaultFile {
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        let at = self.pos;
        self.write_at_checked(buf, at, true)?;
        self.pos += buf.len() as u64;
        Ok(())
    }

    fn write_all_at(&mut self, buf: &[u8], offset: u64) -> io::Result<()> {
        self.write_at_checked(buf, offset, false)
    }

    fn set_len(&mut self, len: u64) -> io::Result<()> {
        self.faults.up(&self.path)?;
        self.file.set_len(len)
    }

    fn sync_all(&mut self) -> io::Result<()> {
        self.sync_checked(true)
    }

    fn sync_data(&mut self) -> io::Result<()> {
        self.sync_checked(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_fire_on_the_nth_matching_operation() {
        let f = Faults::default();
        let p = Path::new("/x/wal/0000000000000001.wal");
        f.fail_write(FileKind::Log, 2);
        assert_eq!(f.check(Op::Write, FileKind::Segment, p).unwrap(), None);
        assert_eq!(f.check(Op::Write, FileKind::Log, p).unwrap(), None);
        assert_eq!(
            f.check(Op::Write, FileKind::Log, p).unwrap(),
            Some(Action::Fail)
        );
        assert_eq!(f.check(Op::Write, FileKind::Log, p).unwrap(), None);
        assert!(!f.0.armed.load(Ordering::SeqCst), "disarmed once spent");
        f.fail_log_writes(2);
        f.fail_log_writes(1);
        assert!(f.check(Op::Write, FileKind::Log, p).unwrap().is_some());
        assert!(f.check(Op::Write, FileKind::Log, p).unwrap().is_none());
        f.go_down();
        assert!(f.check(Op::Sync, FileKind::Manifest, p).is_err());
        f.clear();
        assert!(f.check(Op::Sync, FileKind::Manifest, p).unwrap().is_none());
    }

    #[test]
    fn a_torn_write_keeps_whole_sectors_and_a_failed_sync_loses_unsynced_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let f = Faults::default();
        let fs = f.fs();
        let path = dir.path().join("0000000000000001.wal");
        let mut w = fs.create(&path).unwrap();
        w.set_len(4096).unwrap();
        w.write_all_at(&[1u8; 100], 0).unwrap();
        w.sync_data().unwrap();
        // A failed sync loses the second write, not the first.
        w.write_all_at(&[2u8; 100], 100).unwrap();
        f.fail_sync(FileKind::Log, 1);
        assert!(w.sync_data().is_err());
        let b = std::fs::read(&path).unwrap();
        assert!(b[..100].iter().all(|&x| x == 1) && b[100..].iter().all(|&x| x == 0));
        // A torn write keeps the sectors within its first 700 bytes: 100..512.
        f.tear_write(FileKind::Log, 1, 700);
        assert!(w.write_all_at(&[3u8; 1000], 100).is_err());
        let b = std::fs::read(&path).unwrap();
        assert!(b[100..512].iter().all(|&x| x == 3) && b[512..].iter().all(|&x| x == 0));
        assert!(f.is_down());
        assert!(fs.remove_file(&path).is_err() && w.sync_data().is_err());
    }
}
