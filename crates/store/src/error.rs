use std::io;
use std::path::PathBuf;

use cairn_model::ValidationError;

/// Errors of the event store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// An I/O operation on a file of the store failed.
    #[error("I/O error on {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// A file failed its checksum or does not parse: it is never read as data.
    #[error("corrupted file {path}: {detail}")]
    Corrupted {
        /// The damaged file.
        path: PathBuf,
        /// What is wrong, where.
        detail: String,
    },
    /// The data directory is damaged: the store does not open until each problem is
    /// mended (restore the file from a snapshot, or `Store::repair`).
    #[error("{}", damaged_text(.0))]
    Damaged(Vec<crate::recovery::Problem>),
    /// A file was written by an unknown format version.
    #[error("{path} has format version {found}; this build reads version {supported}")]
    Incompatible {
        /// The file.
        path: PathBuf,
        /// Version found in the file.
        found: u32,
        /// Version this build reads.
        supported: u32,
    },
    /// An earlier fsync or write failed; the store refuses further writes until reopened,
    /// because the kernel may have dropped dirty pages (see the USENIX ATC '20 fsync study).
    #[error(
        "the store refuses writes after an earlier I/O failure; restart to recover from the log"
    )]
    Poisoned,
    /// Another process holds the store's lock.
    #[error("the data directory {0} is in use by another process")]
    Locked(PathBuf),
    /// A record failed validation.
    #[error("invalid record: {0}")]
    Invalid(#[from] ValidationError),
    /// The store was closed.
    #[error("the store is closed")]
    Closed,
}

impl From<StoreError> for cairn_timeline::SourceError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Corrupted { .. }
            | StoreError::Damaged(_)
            | StoreError::Incompatible { .. }
            | StoreError::Closed => cairn_timeline::SourceError::Unavailable(Box::new(e)),
            e => cairn_timeline::SourceError::Failed(Box::new(e)),
        }
    }
}

/// Result alias for the store.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

pub(crate) trait IoContext<T> {
    fn at(self, path: impl Into<PathBuf>) -> Result<T>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn at(self, path: impl Into<PathBuf>) -> Result<T> {
        self.map_err(|source| StoreError::Io {
            path: path.into(),
            source,
        })
    }
}

pub(crate) fn corrupted(path: impl Into<PathBuf>, detail: impl Into<String>) -> StoreError {
    StoreError::Corrupted {
        path: path.into(),
        detail: detail.into(),
    }
}

fn damaged_text(problems: &[crate::recovery::Problem]) -> String {
    let mut t = format!("the store is damaged ({} problem(s)):", problems.len());
    for p in problems {
        t.push_str(&format!("\n  {}: {}", p.path.display(), p.detail));
    }
    t
}
