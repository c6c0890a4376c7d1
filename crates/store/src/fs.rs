//! The file-system calls that change the store's files, behind a small trait: [`StdFs`]
//! is the disk; `faults::FaultFs` wraps it to fail writes and syncs or tear a write in
//! tests. Every write, sync, rename and removal of the log, segments, manifest and
//! user-link files goes through an [`Fs`]; reads go to `std::fs` directly (there is
//! nothing to inject there, and a fault-injecting `Fs` writes through to the disk).
//!
//! Also the durable file operations built on it: write to a temporary name in the same
//! directory, sync, rename, then sync the directory so the rename itself survives a crash.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;

use crate::error::{IoContext, Result};

/// The operations that change files.
pub(crate) trait Fs: Send + Sync + std::fmt::Debug {
    /// Creates (or truncates) a file for writing.
    fn create(&self, path: &Path) -> io::Result<Box<dyn WriteFile>>;
    /// Opens an existing file for writing in place.
    fn open_write(&self, path: &Path) -> io::Result<Box<dyn WriteFile>>;
    /// Renames a file (atomically replacing `to`).
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// Removes a file.
    fn remove_file(&self, path: &Path) -> io::Result<()>;
    /// Fsyncs a directory, making renames, creations and removals in it durable.
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;
}

/// A file open for writing.
pub(crate) trait WriteFile: Send {
    /// Writes all of `buf` after what this handle wrote so far.
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()>;
    /// Writes all of `buf` at `offset`.
    fn write_all_at(&mut self, buf: &[u8], offset: u64) -> io::Result<()>;
    /// Sets the file's length.
    fn set_len(&mut self, len: u64) -> io::Result<()>;
    /// Fsyncs data and metadata.
    fn sync_all(&mut self) -> io::Result<()>;
    /// Fdatasyncs.
    fn sync_data(&mut self) -> io::Result<()>;
}

/// The disk, through `std::fs`.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct StdFs;

struct StdFile(File);

impl Fs for StdFs {
    fn create(&self, path: &Path) -> io::Result<Box<dyn WriteFile>> {
        Ok(Box::new(StdFile(File::create(path)?)))
    }

    fn open_write(&self, path: &Path) -> io::Result<Box<dyn WriteFile>> {
        Ok(Box::new(StdFile(
            OpenOptions::new().write(true).open(path)?,
        )))
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        fs::rename(from, to)
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        fs::remove_file(path)
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        File::open(dir)?.sync_all()
    }
}

impl WriteFile for StdFile {
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.0.write_all(buf)
    }

    fn write_all_at(&mut self, buf: &[u8], offset: u64) -> io::Result<()> {
        self.0.write_all_at(buf, offset)
    }

    fn set_len(&mut self, len: u64) -> io::Result<()> {
        self.0.set_len(len)
    }

    fn sync_all(&mut self) -> io::Result<()> {
        self.0.sync_all()
    }

    fn sync_data(&mut self) -> io::Result<()> {
        self.0.sync_data()
    }
}

/// A [`WriteFile`] as an [`io::Write`] (for a `BufWriter`).
pub(crate) struct Sequential(pub Box<dyn WriteFile>);

impl Write for Sequential {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write_all(buf)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Fsyncs a directory, making renames and creations in it durable.
pub(crate) fn sync_dir(fs: &dyn Fs, dir: &Path) -> Result<()> {
    fs.sync_dir(dir).at(dir)
}

/// Atomically replaces `path` with `bytes`.
pub(crate) fn write_atomic(fs: &dyn Fs, path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = path.with_extension("tmp");
    {
        let mut f = fs.create(&tmp).at(&tmp)?;
        f.write_all(bytes).at(&tmp)?;
        f.sync_all().at(&tmp)?;
    }
    fs.rename(&tmp, path).at(path)?;
    sync_dir(fs, dir)
}
