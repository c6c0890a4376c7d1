//! The manifest lists the live segments (each with what identifies its file: partition,
//! rows, size, footer checksum), the first log file still needed, and the files the last
//! change retired. It is replaced atomically (temporary file, fsync, rename, directory
//! fsync) on every change. Recovery deletes only files it can prove are leftovers (see
//! `recovery.rs`); any other file the manifest does not list stops the store from opening.

use std::fs;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{IoContext, Result, StoreError, corrupted};
use crate::fs::{Fs, write_atomic};

pub(crate) const FILE: &str = "MANIFEST";
/// 3 added each segment's `days`; a version 2 manifest (every segment one UTC day) is
/// read, and written back as the current version at the next change. 4 allows
/// partitions of four weeks (`days` 28), which a build that reads 3 would take for
/// segments of an older version and rewrite into one week: it refuses a version 4.
const VERSION: u32 = 4;
const OLDEST_VERSION: u32 = 2;

/// Metadata of one live segment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SegmentMeta {
    /// Segment id; the file is `segments/<id>.seg`.
    pub id: u64,
    /// First UTC day (days since the epoch) of the partition all its events are in.
    pub partition: i64,
    /// The partition's length in days: 7 (a week, Monday to Sunday), 28 (four sealed
    /// weeks, merged into one run), or 1 for segments written before partitions were
    /// weeks.
    #[serde(default = "one_day")]
    pub days: u32,
    /// The merge that wrote it (its first segment's id; 0: a flush or an import batch).
    /// The segments of one merge hold disjoint visitors.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub run: u64,
    /// Number of events.
    pub rows: u64,
    /// Earliest event time (ms).
    pub min_ts: i64,
    /// Latest event time (ms).
    pub max_ts: i64,
    /// File size.
    pub bytes: u64,
    /// Sites with events in it.
    pub sites: Vec<String>,
    /// The crc32c of its footer (which holds every chunk's checksum): the file's identity.
    pub footer_crc: u32,
    /// Light: not compressed, to be merged (an import batch): compaction merges its week
    /// even when it is the week's only segment.
    #[serde(default, skip_serializing_if = "is_false")]
    pub light: bool,
}

fn one_day() -> u32 {
    1
}

fn is_zero(x: &u64) -> bool {
    *x == 0
}

fn is_false(x: &bool) -> bool {
    !*x
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Manifest {
    pub version: u32,
    pub next_id: u64,
    /// Log files numbered below this are fully reflected in segments.
    pub wal_start: u64,
    /// Events before this time (ms) have been dropped by retention.
    pub drop_before: i64,
    pub identities: Option<String>,
    pub segments: Vec<SegmentMeta>,
    /// Files (relative to the data directory) that a committed change removed and that
    /// may still exist: recovery deletes them.
    #[serde(default)]
    pub retired: Vec<String>,
}

impl Manifest {
    pub(crate) fn new() -> Manifest {
        Manifest {
            version: VERSION,
            next_id: 1,
            wal_start: 0,
            drop_before: i64::MIN,
            identities: None,
            segments: Vec::new(),
            retired: Vec::new(),
        }
    }

    pub(crate) fn load(dir: &Path) -> Result<Option<Manifest>> {
        let path = dir.join(FILE);
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(StoreError::Io { path, source: e }),
        };
        let text = std::str::from_utf8(&bytes).map_err(|_| corrupted(&path, "not UTF-8"))?;
        let (body, crc) = text
            .trim_end()
            .rsplit_once("\n#crc32c=")
            .ok_or_else(|| corrupted(&path, "missing checksum line"))?;
        let crc =
            u32::from_str_radix(crc, 16).map_err(|_| corrupted(&path, "bad checksum line"))?;
        if crc32c::crc32c(body.as_bytes()) != crc {
            return Err(corrupted(&path, "checksum mismatch"));
        }
        let mut m: Manifest =
            serde_json::from_str(body).map_err(|e| corrupted(&path, format!("unreadable: {e}")))?;
        if !(OLDEST_VERSION..=VERSION).contains(&m.version) {
            return Err(StoreError::Incompatible {
                path,
                found: m.version,
                supported: VERSION,
            });
        }
        m.version = VERSION;
        Ok(Some(m))
    }

    pub(crate) fn store(&self, fs: &dyn Fs, dir: &Path) -> Result<()> {
        let path = dir.join(FILE);
        let body = serde_json::to_string_pretty(self)
            .map_err(std::io::Error::other)
            .at(&path)?;
        let text = format!("{body}\n#crc32c={:08x}\n", crc32c::crc32c(body.as_bytes()));
        write_atomic(fs, &path, text.as_bytes())
    }
}
