//! Cairn's metadata, kept in SQLite next to the event store (`DIR/meta.sqlite`): the
//! registered sites and their API keys. Events for a site that is not registered are
//! refused by the ingestion server; its write keys authenticate server-side senders.
//!
//! The schema evolves through numbered migrations, applied in order inside a
//! transaction when the database is opened; `PRAGMA user_version` records the last one.
//!
//! API keys are random (256 bits), shown once when created, and stored only as their
//! SHA-256 hash and a short prefix that identifies them in listings.
//!
//! The server's daily salts for cookieless visitor ids live here too ([`Meta::salt`]):
//! one random 256-bit salt per UTC day, created on first use; older salts are deleted
//! when a new day's salt is made, so yesterday's visitor ids can never be recomputed.

use std::path::{Path, PathBuf};

use rand::RngCore;
use rusqlite::{Connection, OptionalExtension, params};
use sha2::{Digest, Sha256};

/// The database file's name in the data directory.
pub const FILE: &str = "meta.sqlite";

/// Longest site domain accepted.
pub const DOMAIN_MAX: usize = 253;

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

/// A registered site.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Site {
    /// Row id.
    pub id: i64,
    /// The domain, as events name it (`site` field).
    pub domain: String,
    /// IANA time zone for reports.
    pub timezone: String,
    /// When it was registered (ms).
    pub created_ms: i64,
    /// How the server identifies the site's visitors.
    pub identity: Identity,
}

/// How the ingestion server derives a visitor id for a site's browser events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Identity {
    /// A hash of a daily salt, the site, the IP address and the user agent: no cookie, no
    /// storage in the browser; a visitor is recognised within one UTC day only.
    #[default]
    Cookieless,
    /// A random id the tracker keeps in the browser's local storage (the site asks its
    /// visitors' consent), so journeys over several days are joined. Events without the
    /// id fall back to the cookieless hash.
    FirstParty,
}

impl Identity {
    /// The name used in configuration and listings.
    pub fn as_str(self) -> &'static str {
        match self {
            Identity::Cookieless => "cookieless",
            Identity::FirstParty => "first-party",
        }
    }

    /// Parses `cookieless` or `first-party`.
    pub fn parse(s: &str) -> Option<Identity> {
        match s {
            "cookieless" => Some(Identity::Cookieless),
            "first-party" => Some(Identity::FirstParty),
            _ => None,
        }
    }
}

/// What a key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Send events.
    Write,
    /// Run queries.
    Read,
}

impl Scope {
    fn as_str(self) -> &'static str {
        match self {
            Scope::Write => "write",
            Scope::Read => "read",
        }
    }

    fn parse(s: &str) -> Option<Scope> {
        match s {
            "write" => Some(Scope::Write),
            "read" => Some(Scope::Read),
            _ => None,
        }
    }
}

/// An API key as listed (never the key itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyInfo {
    /// The first characters of the key, to recognise it.
    pub prefix: String,
    /// Its scope.
    pub scope: Scope,
    /// The site.
    pub site: String,
    /// When it was created (ms).
    pub created_ms: i64,
}

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

/// Checks a site domain: lower-case letters, digits, `-` and `.` (and `:port`), no empty
/// labels.
pub fn check_domain(domain: &str) -> Result<()> {
    let bad = |why| {
        Err(MetaError::BadDomain {
            domain: domain.to_string(),
            why,
        })
    };
    if domain.is_empty() {
        return bad("it is empty");
    }
    if domain.len() > DOMAIN_MAX {
        return bad("it is longer than 253 characters");
    }
    if domain.bytes().any(|b| b.is_ascii_uppercase()) {
        return bad("write it in lower case");
    }
    let (host, port) = match domain.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (domain, None),
    };
    if let Some(p) = port
        && (p.is_empty() || p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit()))
    {
        return bad("the port must be a number");
    }
    if !host
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
    {
        return bad("use letters, digits, `-` and `.` only (no scheme or path)");
    }
    if host.split('.').any(str::is_empty) {
        return bad("it has an empty label (a leading, trailing or doubled dot)");
    }
    Ok(())
}

fn hash(key: &str) -> Vec<u8> {
    Sha256::digest(key.as_bytes()).to_vec()
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

    /// The schema version.
    pub fn schema_version(&self) -> Result<i64> {
        self.conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(|e| self.err(e))
    }

    /// Registers a site and creates its first write key, returned in full (it is not
    /// stored and cannot be shown again).
    pub fn add_site(&mut self, domain: &str, timezone: &str) -> Result<(Site, String)> {
        check_domain(domain)?;
        if timezone.parse::<chrono_tz::Tz>().is_err() {
            return Err(MetaError::BadTimeZone(timezone.to_string()));
        }
        if self.site(domain)?.is_some() {
            return Err(MetaError::SiteExists(domain.to_string()));
        }
        let created_ms = now_ms();
        let tx = self.conn.transaction().map_err(|e| MetaError::Sqlite {
            path: self.path.clone(),
            source: e,
        })?;
        let path = self.path.clone();
        let err = |source| MetaError::Sqlite {
            path: path.clone(),
            source,
        };
        tx.execute(
            "INSERT INTO sites (domain, timezone, created_ms) VALUES (?1, ?2, ?3)",
            params![domain, timezone, created_ms],
        )
        .map_err(err)?;
        let id = tx.last_insert_rowid();
        let key = new_key(Scope::Write);
        tx.execute(
            "INSERT INTO api_keys (site_id, scope, prefix, hash, created_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![id, Scope::Write.as_str(), &key[..PREFIX_LEN], hash(&key), created_ms],
        )
        .map_err(err)?;
        tx.commit().map_err(err)?;
        Ok((
            Site {
                id,
                domain: domain.to_string(),
                timezone: timezone.to_string(),
                created_ms,
                identity: Identity::Cookieless,
            },
            key,
        ))
    }

    /// Creates another key for a site.
    pub fn add_key(&mut self, domain: &str, scope: Scope) -> Result<String> {
        let site = self
            .site(domain)?
            .ok_or_else(|| MetaError::NoSuchSite(domain.to_string()))?;
        let key = new_key(scope);
        self.conn
            .execute(
                "INSERT INTO api_keys (site_id, scope, prefix, hash, created_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![site.id, scope.as_str(), &key[..PREFIX_LEN], hash(&key), now_ms()],
            )
            .map_err(|e| self.err(e))?;
        Ok(key)
    }

    /// A site by domain.
    pub fn site(&self, domain: &str) -> Result<Option<Site>> {
        self.conn
            .query_row(
                "SELECT id, domain, timezone, created_ms, identity FROM sites WHERE domain = ?1",
                params![domain],
                site_row,
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    /// Every site, by domain.
    pub fn sites(&self) -> Result<Vec<Site>> {
        let mut st = self
            .conn
            .prepare("SELECT id, domain, timezone, created_ms, identity FROM sites ORDER BY domain")
            .map_err(|e| self.err(e))?;
        let rows = st.query_map([], site_row).map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| self.err(e))
    }

    /// The keys of a site (prefixes only).
    pub fn keys(&self, domain: &str) -> Result<Vec<KeyInfo>> {
        let mut st = self
            .conn
            .prepare(
                "SELECT k.prefix, k.scope, s.domain, k.created_ms FROM api_keys k
                 JOIN sites s ON s.id = k.site_id WHERE s.domain = ?1 ORDER BY k.id",
            )
            .map_err(|e| self.err(e))?;
        let rows = st
            .query_map(params![domain], |r| {
                let scope: String = r.get(1)?;
                Ok(KeyInfo {
                    prefix: r.get(0)?,
                    scope: Scope::parse(&scope).unwrap_or(Scope::Read),
                    site: r.get(2)?,
                    created_ms: r.get(3)?,
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| self.err(e))
    }

    /// Sets how the site's visitors are identified.
    pub fn set_identity(&mut self, domain: &str, identity: Identity) -> Result<()> {
        let n = self
            .conn
            .execute(
                "UPDATE sites SET identity = ?2 WHERE domain = ?1",
                params![domain, identity.as_str()],
            )
            .map_err(|e| self.err(e))?;
        if n == 0 {
            return Err(MetaError::NoSuchSite(domain.to_string()));
        }
        Ok(())
    }

    /// Sets the site's time zone.
    pub fn set_timezone(&mut self, domain: &str, timezone: &str) -> Result<()> {
        if timezone.parse::<chrono_tz::Tz>().is_err() {
            return Err(MetaError::BadTimeZone(timezone.to_string()));
        }
        let n = self
            .conn
            .execute(
                "UPDATE sites SET timezone = ?2 WHERE domain = ?1",
                params![domain, timezone],
            )
            .map_err(|e| self.err(e))?;
        if n == 0 {
            return Err(MetaError::NoSuchSite(domain.to_string()));
        }
        Ok(())
    }

    /// The salt of UTC day `day` (days since the Unix epoch), created if this is the
    /// first use; every salt of an earlier day is deleted at the same time. Several
    /// processes agree on the salt (the first to insert it wins). A salt asked for a day
    /// older than the newest one stored is refused (`None`): it was deleted.
    pub fn salt(&mut self, day: i64) -> Result<Option<[u8; 32]>> {
        let path = self.path.clone();
        let err = |source| MetaError::Sqlite {
            path: path.clone(),
            source,
        };
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(err)?;
        let newest: Option<i64> = tx
            .query_row("SELECT max(day) FROM salts", [], |r| r.get(0))
            .map_err(err)?;
        if newest.is_some_and(|n| n > day) {
            return Ok(None);
        }
        let mut fresh = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut fresh);
        tx.execute(
            "INSERT OR IGNORE INTO salts (day, salt) VALUES (?1, ?2)",
            params![day, &fresh[..]],
        )
        .map_err(err)?;
        tx.execute("DELETE FROM salts WHERE day < ?1", params![day])
            .map_err(err)?;
        let salt: Vec<u8> = tx
            .query_row("SELECT salt FROM salts WHERE day = ?1", params![day], |r| {
                r.get(0)
            })
            .map_err(err)?;
        tx.commit().map_err(err)?;
        if newest.is_some_and(|n| n < day) {
            // The old salt's bytes may still sit in the write-ahead log: checkpoint it
            // into the (securely deleted) database file and truncate the log.
            self.conn
                .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
                .map_err(|e| self.err(e))?;
        }
        let mut out = [0u8; 32];
        if salt.len() == 32 {
            out.copy_from_slice(&salt);
        }
        Ok(Some(out))
    }

    /// How many salts are stored (one, once the server has run today).
    pub fn salt_count(&self) -> Result<i64> {
        self.conn
            .query_row("SELECT count(*) FROM salts", [], |r| r.get(0))
            .map_err(|e| self.err(e))
    }

    /// The site and scope of a key, if it is a valid key.
    pub fn check_key(&self, key: &str) -> Result<Option<(String, Scope)>> {
        self.conn
            .query_row(
                "SELECT s.domain, k.scope FROM api_keys k JOIN sites s ON s.id = k.site_id
                 WHERE k.hash = ?1",
                params![hash(key)],
                |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)),
            )
            .optional()
            .map(|o| o.and_then(|(d, s)| Scope::parse(&s).map(|s| (d, s))))
            .map_err(|e| self.err(e))
    }
}

fn site_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Site> {
    let identity: String = r.get(4)?;
    Ok(Site {
        id: r.get(0)?,
        domain: r.get(1)?,
        timezone: r.get(2)?,
        created_ms: r.get(3)?,
        identity: Identity::parse(&identity).unwrap_or_default(),
    })
}

/// A dashboard user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Row id.
    pub id: i64,
    /// Login name.
    pub email: String,
    /// May create sites and users, and administers every site.
    pub superuser: bool,
}

/// What a user may do on a site.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// Read the site's reports.
    Viewer,
    /// Also change its settings, goals, funnels and keys.
    Admin,
}

impl Role {
    /// `admin` or `viewer`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Admin => "admin",
        }
    }

    /// Parses `admin` or `viewer`.
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "viewer" => Some(Role::Viewer),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

/// Shortest password accepted.
pub const PASSWORD_MIN: usize = 10;

/// How long a login lasts.
pub const SESSION_MS: i64 = 14 * 86_400_000;

fn hash_password(password: &str) -> String {
    use argon2::password_hash::{PasswordHasher, SaltString, rand_core::OsRng};
    let salt = SaltString::generate(&mut OsRng);
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .unwrap_or_default()
}

/// A user's password hash, read for a login.
#[derive(Debug, Clone)]
pub struct Credentials {
    /// The user.
    pub user: User,
    hash: String,
}

/// Checks a password with exactly one Argon2 run, whether or not the account exists
/// (`None`: against a fixed hash, and refused), so timing does not tell which exist.
/// Needs no registry lock: call it outside.
pub fn check_password(c: Option<&Credentials>, password: &str) -> bool {
    static UNKNOWN: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    match c {
        Some(c) => verify_password(password, &c.hash),
        None => {
            let _ = verify_password(
                password,
                UNKNOWN.get_or_init(|| hash_password("no such user")),
            );
            false
        }
    }
}

/// Computes what [`check_password`] compares unknown accounts against, so that the first
/// such login costs no more than any other.
pub fn warm_up_logins() {
    check_password(None, "");
}

#[cfg(test)]
thread_local! {
    /// Argon2 verifications on this thread (tests count the work of a login).
    static VERIFIES: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

fn verify_password(password: &str, stored: &str) -> bool {
    use argon2::password_hash::{PasswordHash, PasswordVerifier};
    #[cfg(test)]
    VERIFIES.with(|v| v.set(v.get() + 1));
    PasswordHash::new(stored).is_ok_and(|h| {
        argon2::Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

fn random_hex(bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    rand::rngs::OsRng.fill_bytes(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

impl Meta {
    /// Adds a dashboard user; the password is kept only as its Argon2id hash.
    pub fn add_user(&mut self, email: &str, password: &str, superuser: bool) -> Result<User> {
        let email = email.trim().to_ascii_lowercase();
        if !email.contains('@') || email.len() > 254 || email.chars().any(char::is_whitespace) {
            return Err(MetaError::BadUser(format!(
                "`{email}` is not an email address"
            )));
        }
        if password.chars().count() < PASSWORD_MIN {
            return Err(MetaError::BadUser(format!(
                "the password must have at least {PASSWORD_MIN} characters"
            )));
        }
        if self.user(&email)?.is_some() {
            return Err(MetaError::BadUser(format!("user {email} exists already")));
        }
        self.conn
            .execute(
                "INSERT INTO users (email, password, superuser, created_ms) VALUES (?1, ?2, ?3, ?4)",
                params![email, hash_password(password), superuser, now_ms()],
            )
            .map_err(|e| self.err(e))?;
        Ok(User {
            id: self.conn.last_insert_rowid(),
            email,
            superuser,
        })
    }

    /// Sets a user's password (and ends the user's sessions).
    pub fn set_password(&mut self, email: &str, password: &str) -> Result<()> {
        if password.chars().count() < PASSWORD_MIN {
            return Err(MetaError::BadUser(format!(
                "the password must have at least {PASSWORD_MIN} characters"
            )));
        }
        let user = self
            .user(email)?
            .ok_or_else(|| MetaError::BadUser(format!("no user {email}")))?;
        self.conn
            .execute(
                "UPDATE users SET password = ?2 WHERE id = ?1",
                params![user.id, hash_password(password)],
            )
            .map_err(|e| self.err(e))?;
        self.conn
            .execute("DELETE FROM sessions WHERE user_id = ?1", params![user.id])
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// A random password of `n` hex digits.
    pub fn random_password(n: usize) -> String {
        random_hex(n.div_ceil(2))[..n].to_string()
    }

    /// A user by email.
    pub fn user(&self, email: &str) -> Result<Option<User>> {
        self.conn
            .query_row(
                "SELECT id, email, superuser FROM users WHERE email = ?1",
                params![email.trim().to_ascii_lowercase()],
                |r| {
                    Ok(User {
                        id: r.get(0)?,
                        email: r.get(1)?,
                        superuser: r.get(2)?,
                    })
                },
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    /// Every user, by email.
    pub fn users(&self) -> Result<Vec<User>> {
        let mut st = self
            .conn
            .prepare("SELECT id, email, superuser FROM users ORDER BY email")
            .map_err(|e| self.err(e))?;
        let rows = st
            .query_map([], |r| {
                Ok(User {
                    id: r.get(0)?,
                    email: r.get(1)?,
                    superuser: r.get(2)?,
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| self.err(e))
    }

    /// Sets what a user may do on a site (`None` removes the grant).
    pub fn grant(&mut self, email: &str, domain: &str, role: Option<Role>) -> Result<()> {
        let user = self
            .user(email)?
            .ok_or_else(|| MetaError::BadUser(format!("no user {email}")))?;
        let site = self
            .site(domain)?
            .ok_or_else(|| MetaError::NoSuchSite(domain.to_string()))?;
        match role {
            Some(r) => self.conn.execute(
                "INSERT INTO grants (user_id, site_id, role) VALUES (?1, ?2, ?3)
                 ON CONFLICT (user_id, site_id) DO UPDATE SET role = excluded.role",
                params![user.id, site.id, r.as_str()],
            ),
            None => self.conn.execute(
                "DELETE FROM grants WHERE user_id = ?1 AND site_id = ?2",
                params![user.id, site.id],
            ),
        }
        .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// The sites a user may see and the role on each (every site, as admin, for a
    /// superuser), by domain.
    pub fn roles(&self, user: &User) -> Result<Vec<(String, Role)>> {
        if user.superuser {
            return Ok(self
                .sites()?
                .into_iter()
                .map(|s| (s.domain, Role::Admin))
                .collect());
        }
        let mut st = self
            .conn
            .prepare(
                "SELECT s.domain, g.role FROM grants g JOIN sites s ON s.id = g.site_id
                 WHERE g.user_id = ?1 ORDER BY s.domain",
            )
            .map_err(|e| self.err(e))?;
        let rows = st
            .query_map(params![user.id], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
            })
            .map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        for row in rows {
            let (d, r) = row.map_err(|e| self.err(e))?;
            if let Some(r) = Role::parse(&r) {
                out.push((d, r));
            }
        }
        Ok(out)
    }

    /// Checks a login and opens a session: the user, the session token (for the cookie)
    /// and the CSRF token. `None` for an unknown email or a wrong password, after the
    /// same work in both cases. The server calls the three steps itself so that the
    /// Argon2 run happens outside the registry's lock.
    pub fn login(&mut self, email: &str, password: &str) -> Result<Option<(User, String, String)>> {
        let creds = self.credentials(email)?;
        match creds {
            Some(c) if check_password(Some(&c), password) => self.start_session(&c).map(Some),
            c => {
                if c.is_none() {
                    check_password(None, password);
                }
                Ok(None)
            }
        }
    }

    /// What a login checks a password against, when the email is a user's.
    pub fn credentials(&self, email: &str) -> Result<Option<Credentials>> {
        self.conn
            .query_row(
                "SELECT id, email, superuser, password FROM users WHERE email = ?1",
                params![email.trim().to_ascii_lowercase()],
                |r| {
                    Ok(Credentials {
                        user: User {
                            id: r.get(0)?,
                            email: r.get(1)?,
                            superuser: r.get(2)?,
                        },
                        hash: r.get(3)?,
                    })
                },
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    /// Opens a session for a user whose password was checked: the user, the session
    /// token and the CSRF token.
    pub fn start_session(&mut self, c: &Credentials) -> Result<(User, String, String)> {
        let token = random_hex(32);
        let csrf = random_hex(16);
        let now = now_ms();
        self.conn
            .execute("DELETE FROM sessions WHERE expires_ms < ?1", params![now])
            .map_err(|e| self.err(e))?;
        self.conn
            .execute(
                "INSERT INTO sessions (token_hash, user_id, csrf, expires_ms) VALUES (?1, ?2, ?3, ?4)",
                params![hash(&token), c.user.id, csrf, now + SESSION_MS],
            )
            .map_err(|e| self.err(e))?;
        Ok((c.user.clone(), token, csrf))
    }

    /// The user and CSRF token of a live session.
    pub fn session(&self, token: &str) -> Result<Option<(User, String)>> {
        self.conn
            .query_row(
                "SELECT u.id, u.email, u.superuser, s.csrf FROM sessions s
                 JOIN users u ON u.id = s.user_id WHERE s.token_hash = ?1 AND s.expires_ms > ?2",
                params![hash(token), now_ms()],
                |r| {
                    Ok((
                        User {
                            id: r.get(0)?,
                            email: r.get(1)?,
                            superuser: r.get(2)?,
                        },
                        r.get(3)?,
                    ))
                },
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    /// Ends a session.
    pub fn logout(&mut self, token: &str) -> Result<()> {
        self.conn
            .execute(
                "DELETE FROM sessions WHERE token_hash = ?1",
                params![hash(token)],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// The goals and funnels kept for a site (JSON of `cairn_model::query::Definitions`).
    pub fn definitions(&self, domain: &str) -> Result<Option<String>> {
        self.conn
            .query_row(
                "SELECT d.json FROM definitions d JOIN sites s ON s.id = d.site_id WHERE s.domain = ?1",
                params![domain],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    /// Replaces a site's goals and funnels.
    pub fn set_definitions(&mut self, domain: &str, json: &str) -> Result<()> {
        let site = self
            .site(domain)?
            .ok_or_else(|| MetaError::NoSuchSite(domain.to_string()))?;
        self.conn
            .execute(
                "INSERT INTO definitions (site_id, json, updated_ms) VALUES (?1, ?2, ?3)
                 ON CONFLICT (site_id) DO UPDATE SET json = excluded.json, updated_ms = excluded.updated_ms",
                params![site.id, json, now_ms()],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Revokes a site's key by its listed prefix; whether one was revoked.
    pub fn revoke_key(&mut self, domain: &str, prefix: &str) -> Result<bool> {
        let n = self
            .conn
            .execute(
                "DELETE FROM api_keys WHERE prefix = ?2 AND site_id = (SELECT id FROM sites WHERE domain = ?1)",
                params![domain, prefix],
            )
            .map_err(|e| self.err(e))?;
        Ok(n > 0)
    }
}

/// Characters of a key kept as its visible prefix (`cairn_w_` and 4 more).
const PREFIX_LEN: usize = 12;

/// A new random key: `cairn_w_` or `cairn_r_`, then 64 hex digits (256 bits).
fn new_key(scope: Scope) -> String {
    let mut b = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut b);
    let tag = match scope {
        Scope::Write => "w",
        Scope::Read => "r",
    };
    let mut s = format!("cairn_{tag}_");
    for x in b {
        s.push_str(&format!("{x:02x}"));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sites_and_keys() {
        let dir = tempfile::tempdir().unwrap();
        let mut m = Meta::open(dir.path()).unwrap();
        assert_eq!(m.schema_version().unwrap(), MIGRATIONS.len() as i64);
        let (site, key) = m.add_site("shop.example", "Europe/Berlin").unwrap();
        assert_eq!(site.domain, "shop.example");
        assert!(key.starts_with("cairn_w_") && key.len() == 8 + 64, "{key}");
        assert_eq!(
            m.check_key(&key).unwrap(),
            Some(("shop.example".to_string(), Scope::Write))
        );
        assert_eq!(m.check_key("cairn_w_00").unwrap(), None);
        assert!(matches!(
            m.add_site("shop.example", "UTC"),
            Err(MetaError::SiteExists(_))
        ));
        let read = m.add_key("shop.example", Scope::Read).unwrap();
        assert_eq!(m.check_key(&read).unwrap().unwrap().1, Scope::Read);
        let keys = m.keys("shop.example").unwrap();
        assert_eq!(keys.len(), 2);
        assert_eq!(keys[0].prefix, &key[..PREFIX_LEN]);
        assert!(matches!(
            m.add_key("nope.example", Scope::Read),
            Err(MetaError::NoSuchSite(_))
        ));
        // Reopening keeps everything and applies no migration twice.
        drop(m);
        let m = Meta::open(dir.path()).unwrap();
        assert_eq!(m.sites().unwrap().len(), 1);
        assert!(m.check_key(&key).unwrap().is_some());
    }

    #[test]
    fn domains_and_time_zones_are_checked() {
        for ok in ["shop.example", "localhost:8080", "a-b.c0.example"] {
            check_domain(ok).unwrap();
        }
        for (bad, why) in [
            ("", "empty"),
            ("Shop.example", "lower case"),
            ("https://shop.example", "port must be a number"),
            ("shop.example/path", "letters, digits"),
            ("shop..example", "empty label"),
            (".example", "empty label"),
            ("shop.example:", "port"),
        ] {
            let e = check_domain(bad).unwrap_err().to_string();
            assert!(e.contains(why), "{bad}: {e}");
        }
        let dir = tempfile::tempdir().unwrap();
        let mut m = Meta::open(dir.path()).unwrap();
        assert!(matches!(
            m.add_site("shop.example", "Mars/Base"),
            Err(MetaError::BadTimeZone(_))
        ));
        assert!(m.sites().unwrap().is_empty());
    }

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
    fn identity_and_time_zone_can_change() {
        let dir = tempfile::tempdir().unwrap();
        let mut m = Meta::open(dir.path()).unwrap();
        m.add_site("shop.example", "UTC").unwrap();
        assert_eq!(
            m.site("shop.example").unwrap().unwrap().identity,
            Identity::Cookieless
        );
        m.set_identity("shop.example", Identity::FirstParty)
            .unwrap();
        m.set_timezone("shop.example", "Europe/Berlin").unwrap();
        let s = m.site("shop.example").unwrap().unwrap();
        assert_eq!(
            (s.identity, s.timezone.as_str()),
            (Identity::FirstParty, "Europe/Berlin")
        );
        assert!(matches!(
            m.set_identity("nope.example", Identity::FirstParty),
            Err(MetaError::NoSuchSite(_))
        ));
        assert!(matches!(
            m.set_timezone("shop.example", "Nowhere/Land"),
            Err(MetaError::BadTimeZone(_))
        ));
    }

    #[test]
    fn salts_rotate_and_old_ones_are_deleted() {
        let dir = tempfile::tempdir().unwrap();
        let mut m = Meta::open(dir.path()).unwrap();
        let a = m.salt(20_000).unwrap().unwrap();
        assert_eq!(m.salt(20_000).unwrap().unwrap(), a, "stable within a day");
        // A second process sees the same salt.
        let mut other = Meta::open(dir.path()).unwrap();
        assert_eq!(other.salt(20_000).unwrap().unwrap(), a);
        let b = m.salt(20_001).unwrap().unwrap();
        assert_ne!(a, b);
        assert_eq!(m.salt_count().unwrap(), 1, "yesterday's salt is deleted");
        assert_eq!(
            m.salt(20_000).unwrap(),
            None,
            "a deleted salt never comes back"
        );
        assert_ne!(a, [0; 32]);
        // Nor do its bytes remain in the files.
        drop(other);
        for f in ["meta.sqlite", "meta.sqlite-wal"] {
            if let Ok(bytes) = std::fs::read(dir.path().join(f)) {
                assert!(
                    !bytes.windows(32).any(|w| w == a),
                    "yesterday's salt is still in {f}"
                );
            }
        }
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
        assert_eq!(s.identity, Identity::Cookieless);
    }

    #[test]
    fn users_log_in_with_roles_per_site() {
        let dir = tempfile::tempdir().unwrap();
        let mut m = Meta::open(dir.path()).unwrap();
        m.add_site("a.example", "UTC").unwrap();
        m.add_site("b.example", "UTC").unwrap();
        let ann = m
            .add_user("Ann@Example.com", "correct horse", false)
            .unwrap();
        assert_eq!(ann.email, "ann@example.com");
        assert!(matches!(
            m.add_user("x@example.com", "short", false),
            Err(MetaError::BadUser(_))
        ));
        assert!(matches!(
            m.add_user("ann@example.com", "another long one", false),
            Err(MetaError::BadUser(_))
        ));
        m.grant("ann@example.com", "a.example", Some(Role::Viewer))
            .unwrap();
        assert_eq!(
            m.roles(&ann).unwrap(),
            [("a.example".to_string(), Role::Viewer)]
        );
        m.grant("ann@example.com", "a.example", Some(Role::Admin))
            .unwrap();
        assert_eq!(m.roles(&ann).unwrap()[0].1, Role::Admin);
        assert!(
            m.login("ann@example.com", "wrong password")
                .unwrap()
                .is_none()
        );
        assert!(
            m.login("nobody@example.com", "correct horse")
                .unwrap()
                .is_none()
        );
        let (u, token, csrf) = m
            .login("ANN@example.com", "correct horse")
            .unwrap()
            .unwrap();
        assert_eq!(u, ann);
        assert_eq!(m.session(&token).unwrap(), Some((ann.clone(), csrf)));
        assert_eq!(m.session("forged").unwrap(), None);
        m.logout(&token).unwrap();
        assert_eq!(m.session(&token).unwrap(), None);
        let (_, token, _) = m
            .login("ann@example.com", "correct horse")
            .unwrap()
            .unwrap();
        m.set_password("ann@example.com", "battery staple").unwrap();
        assert_eq!(
            m.session(&token).unwrap(),
            None,
            "a new password ends the sessions"
        );
        assert!(
            m.login("ann@example.com", "correct horse")
                .unwrap()
                .is_none()
        );
        assert!(
            m.login("ann@example.com", "battery staple")
                .unwrap()
                .is_some()
        );
        assert_eq!(Meta::random_password(16).len(), 16);
        let root = m
            .add_user("root@example.com", "correct horse", true)
            .unwrap();
        assert_eq!(
            m.roles(&root).unwrap().len(),
            2,
            "a superuser administers every site"
        );
        // The password is stored only hashed.
        let stored: String = m
            .conn
            .query_row("SELECT password FROM users WHERE id = ?1", [ann.id], |r| {
                r.get(0)
            })
            .unwrap();
        assert!(stored.starts_with("$argon2id$") && !stored.contains("correct horse"));
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

    /// Hardening item 10: a login does the same Argon2 work for an unknown account as for
    /// a known one (it used to do two runs for unknown ones: timing told which exist).
    #[test]
    fn item10_unknown_and_known_accounts_cost_one_argon2_run_each() {
        let dir = tempfile::tempdir().unwrap();
        let mut m = Meta::open(dir.path()).unwrap();
        m.add_user("ann@example.com", "correct horse battery", false)
            .unwrap();
        warm_up_logins();
        for (email, password) in [
            ("ann@example.com", "correct horse battery"),
            ("ann@example.com", "wrong password"),
            ("nobody@example.com", "wrong password"),
        ] {
            VERIFIES.with(|v| v.set(0));
            let _ = m.login(email, password).unwrap();
            assert_eq!(VERIFIES.with(|v| v.get()), 1, "{email} / {password}");
        }
    }
}
