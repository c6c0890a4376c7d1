//! Cairn's metadata, kept in SQLite next to the event store (`DIR/meta.sqlite`): the
//! registered sites and their API keys, the daily salts for cookieless visitor ids,
//! dashboard users with their sessions, and each site's goals and funnels. Events for a
//! site that is not registered are refused by the ingestion server; its write keys
//! authenticate server-side senders.
//!
//! This module holds the [`Meta`] handle: opening the database, its schema and
//! migrations, snapshots and checks, and the errors. Each concept has its own module:
//! `sites`, `keys`, `salts`, `users` (with password hashing), `sessions` and
//! `definitions`; their items are re-exported here.
//!
//! The schema evolves through numbered migrations, applied in order inside a
//! transaction when the database is opened; `PRAGMA user_version` records the last one.

use std::path::{Path, PathBuf};

use rand::RngCore;
use rusqlite::{Connection, params};
use sha2::{Digest, Sha256};

mod definitions;
mod keys;
mod salts;
mod sessions;
mod sites;
mod spend;
mod users;

pub use keys::{KeyInfo, Scope};
pub use sessions::SESSION_MS;
pub use sites::{DOMAIN_MAX, Site, VisitorIdMode, check_domain};
pub use users::{Credentials, NewUser, PASSWORD_MIN, Role, User, check_password, warm_up_logins};

/// The database file's name in the data directory.
pub const FILE: &str = "meta.sqlite";

/// Why a metadata operation failed.
#[derive(Debug, thiserror::Error)]
pub enum MetaError {
    /// The domain is not acceptable.
    #[error("`{domain}` is not a site domain: {why}")]
    BadDomain {
        /// What was given.
        domain: String,
        /// What is wrong.
        why: &'static str,
    },
    /// The time zone is not an IANA name.
    #[error("unknown time zone `{0}`: use an IANA name such as Europe/Berlin")]
    BadTimeZone(String),
    /// The site exists already.
    #[error("site {0} is registered already")]
    SiteExists(String),
    /// No such site.
    #[error("no site {0} is registered: add it with `cairn site add {0}`")]
    NoSuchSite(String),
    /// A user could not be added or found.
    #[error("{0}")]
    BadUser(String),
    /// Spend in another currency than the site's.
    #[error(
        "this site's spend is kept in {kept}, not {given}: import it in {kept}, converting at the rates you give"
    )]
    SpendCurrency {
        /// The currency the site's spend is kept in.
        kept: String,
        /// The one given.
        given: String,
    },
    /// The database was written by a newer Cairn.
    #[error(
        "{path} has schema version {found}, newer than this Cairn knows ({known}): upgrade Cairn"
    )]
    TooNew {
        /// The file.
        path: PathBuf,
        /// Its version.
        found: i64,
        /// The newest this build knows.
        known: i64,
    },
    /// The directory could not be created.
    #[error("{path}: {source}")]
    Io {
        /// The directory.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// SQLite failed.
    #[error("{path}: {source}")]
    Sqlite {
        /// The file.
        path: PathBuf,
        /// The error.
        source: rusqlite::Error,
    },
}

/// Result of metadata operations.
pub type Result<T> = std::result::Result<T, MetaError>;

/// The migrations, in order; migration i brings the schema to version i + 1.
const MIGRATIONS: &[&str] = &[
    // 1: sites and API keys.
    "CREATE TABLE sites (
        id INTEGER PRIMARY KEY,
        domain TEXT NOT NULL UNIQUE,
        timezone TEXT NOT NULL DEFAULT 'UTC',
        created_ms INTEGER NOT NULL
    );
    CREATE TABLE api_keys (
        id INTEGER PRIMARY KEY,
        site_id INTEGER NOT NULL REFERENCES sites(id) ON DELETE CASCADE,
        scope TEXT NOT NULL CHECK (scope IN ('write', 'read')),
        prefix TEXT NOT NULL,
        hash BLOB NOT NULL UNIQUE,
        created_ms INTEGER NOT NULL
    );",
    // 2: visitor identity per site; daily salts for cookieless visitor ids.
    "ALTER TABLE sites ADD COLUMN identity TEXT NOT NULL DEFAULT 'cookieless'
        CHECK (identity IN ('cookieless', 'first-party'));
    CREATE TABLE salts (
        day INTEGER PRIMARY KEY,
        salt BLOB NOT NULL
    );",
    // 3: dashboard users, their roles per site, login sessions; goals and funnels kept
    // per site.
    "CREATE TABLE users (
        id INTEGER PRIMARY KEY,
        email TEXT NOT NULL UNIQUE,
        password TEXT NOT NULL,
        superuser INTEGER NOT NULL DEFAULT 0,
        created_ms INTEGER NOT NULL
    );
    CREATE TABLE grants (
        user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        site_id INTEGER NOT NULL REFERENCES sites(id) ON DELETE CASCADE,
        role TEXT NOT NULL CHECK (role IN ('admin', 'viewer')),
        PRIMARY KEY (user_id, site_id)
    );
    CREATE TABLE sessions (
        token_hash BLOB PRIMARY KEY,
        user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        csrf TEXT NOT NULL,
        expires_ms INTEGER NOT NULL
    );
    CREATE TABLE definitions (
        site_id INTEGER PRIMARY KEY REFERENCES sites(id) ON DELETE CASCADE,
        json TEXT NOT NULL,
        updated_ms INTEGER NOT NULL
    );",
    // 4: campaign spend per day, source, medium and campaign, in one currency per site.
    "CREATE TABLE spend (
        site_id INTEGER NOT NULL REFERENCES sites(id) ON DELETE CASCADE,
        day TEXT NOT NULL,
        source TEXT NOT NULL,
        medium TEXT NOT NULL,
        campaign TEXT NOT NULL,
        cost REAL NOT NULL,
        currency TEXT NOT NULL,
        imported_ms INTEGER NOT NULL,
        PRIMARY KEY (site_id, day, source, medium, campaign)
    );",
];

/// The metadata database.
pub struct Meta {
    conn: Connection,
    path: PathBuf,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// SHA-256 of a secret (an API key, a session token): what is stored instead of it.
fn hash(key: &str) -> Vec<u8> {
    Sha256::digest(key.as_bytes()).to_vec()
}

/// `bytes` random bytes, in hex.
fn random_hex(bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    rand::rngs::OsRng.fill_bytes(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

impl Meta {
    /// Opens (creating if needed) the database in the data directory `dir`, and brings
    /// its schema up to date.
    pub fn open(dir: impl AsRef<Path>) -> Result<Meta> {
        let path = dir.as_ref().join(FILE);
        let err = |source| MetaError::Sqlite {
            path: path.clone(),
            source,
        };
        std::fs::create_dir_all(dir.as_ref()).map_err(|source| MetaError::Io {
            path: dir.as_ref().to_path_buf(),
            source,
        })?;
        let mut conn = Connection::open(&path).map_err(err)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(err)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(err)?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(err)?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(err)?;
        // Deleted rows (salts, keys) are overwritten, not left in free pages.
        conn.pragma_update(None, "secure_delete", "ON")
            .map_err(err)?;
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(err)?;
        let known = MIGRATIONS.len() as i64;
        if version > known {
            return Err(MetaError::TooNew {
                path,
                found: version,
                known,
            });
        }
        for (i, m) in MIGRATIONS.iter().enumerate().skip(version as usize) {
            let tx = conn.transaction().map_err(err)?;
            tx.execute_batch(m).map_err(err)?;
            tx.pragma_update(None, "user_version", i as i64 + 1)
                .map_err(err)?;
            tx.commit().map_err(err)?;
        }
        Ok(Meta { conn, path })
    }

    fn err(&self, source: rusqlite::Error) -> MetaError {
        MetaError::Sqlite {
            path: self.path.clone(),
            source,
        }
    }

    /// Writes a consistent copy of the database into directory `dest` (SQLite's
    /// `VACUUM INTO`), for snapshots. The copy holds no salt: a snapshot cannot be used
    /// to recompute visitor ids.
    pub fn copy_into(&self, dest: impl AsRef<Path>) -> Result<()> {
        let path = dest.as_ref().join(FILE);
        let target = path.to_str().ok_or_else(|| MetaError::Io {
            path: path.clone(),
            source: std::io::Error::other("the path is not UTF-8"),
        })?;
        self.conn
            .execute("VACUUM INTO ?1", params![target])
            .map_err(|e| self.err(e))?;
        let err = |source| MetaError::Sqlite {
            path: path.clone(),
            source,
        };
        let copy = Connection::open(&path).map_err(err)?;
        copy.pragma_update(None, "secure_delete", "ON")
            .map_err(err)?;
        copy.execute("DELETE FROM salts", []).map_err(err)?;
        copy.execute_batch("VACUUM").map_err(err)?;
        Ok(())
    }

    /// Checks the database in `dir` without changing it (`PRAGMA integrity_check`, read
    /// only): the problems found, none when it is sound.
    pub fn check(dir: impl AsRef<Path>) -> Vec<String> {
        use rusqlite::OpenFlags;
        let path = dir.as_ref().join(FILE);
        let conn = match Connection::open_with_flags(&path, OpenFlags::SQLITE_OPEN_READ_ONLY) {
            Ok(c) => c,
            Err(e) => return vec![e.to_string()],
        };
        let rows = conn.prepare("PRAGMA integrity_check").and_then(|mut st| {
            st.query_map([], |r| r.get::<_, String>(0))?
                .collect::<rusqlite::Result<Vec<String>>>()
        });
        match rows {
            Ok(v) if v == ["ok"] => Vec::new(),
            Ok(v) => v,
            Err(e) => vec![e.to_string()],
        }
    }

    /// Whether a data directory holds a metadata database.
    pub fn exists(dir: impl AsRef<Path>) -> bool {
        dir.as_ref().join(FILE).is_file()
    }

    /// A second connection to the same registry (for reads beside a writer: SQLite in
    /// WAL mode lets them run at once).
    pub fn reopen(&self) -> Result<Meta> {
        match self.path.parent() {
            Some(dir) => Meta::open(dir),
            None => Meta::open("."),
        }
    }

    /// The schema version.
    pub fn schema_version(&self) -> Result<i64> {
        self.conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(|e| self.err(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_open_with_the_same_sites() {
        let dir = tempfile::tempdir().unwrap();
        let mut m = Meta::open(dir.path()).unwrap();
        let (_, key) = m.add_site("shop.example", "UTC").unwrap();
        m.salt(20_000).unwrap();
        let dest = tempfile::tempdir().unwrap();
        m.copy_into(dest.path()).unwrap();
        let c = Meta::open(dest.path()).unwrap();
        assert_eq!(c.salt_count().unwrap(), 0, "snapshots carry no salt");
        let salt = m.salt(20_000).unwrap().unwrap();
        let bytes = std::fs::read(dest.path().join(FILE)).unwrap();
        assert!(!bytes.windows(32).any(|w| w == salt), "nor its bytes");
        assert_eq!(c.sites().unwrap().len(), 1);
        assert!(c.check_key(&key).unwrap().is_some());
    }

    #[test]
    fn version_1_databases_are_migrated() {
        let dir = tempfile::tempdir().unwrap();
        {
            let c = Connection::open(dir.path().join(FILE)).unwrap();
            c.execute_batch(MIGRATIONS[0]).unwrap();
            c.execute(
                "INSERT INTO sites (domain, timezone, created_ms) VALUES ('old.example', 'UTC', 1)",
                [],
            )
            .unwrap();
            c.pragma_update(None, "user_version", 1).unwrap();
        }
        let m = Meta::open(dir.path()).unwrap();
        assert_eq!(m.schema_version().unwrap(), MIGRATIONS.len() as i64);
        let s = m.site("old.example").unwrap().unwrap();
        assert_eq!(s.identity, VisitorIdMode::Cookieless);
    }

    #[test]
    fn a_newer_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        drop(Meta::open(dir.path()).unwrap());
        let c = Connection::open(dir.path().join(FILE)).unwrap();
        c.pragma_update(None, "user_version", 99).unwrap();
        drop(c);
        let e = Meta::open(dir.path()).err().unwrap().to_string();
        assert!(
            e.contains("schema version 99") && e.contains("upgrade Cairn"),
            "{e}"
        );
    }
}
