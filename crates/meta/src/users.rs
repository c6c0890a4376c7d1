//! Dashboard users, their roles per site, and their passwords: kept only as Argon2id
//! hashes. The Argon2 work (tens of milliseconds) needs no registry: [`check_password`]
//! and [`NewUser::new`] run without it, so a server keeping the [`Meta`] behind a lock
//! that ingestion and queries wait on takes it only to read or store the hash.

use rusqlite::{OptionalExtension, params};

use crate::{Meta, MetaError, Result, now_ms, random_hex};

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

fn hash_password(password: &str) -> String {
    use argon2::password_hash::{PasswordHasher, SaltString, rand_core::OsRng};
    #[cfg(test)]
    HASHES.with(|v| v.set(v.get() + 1));
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
    /// Argon2 hashings on this thread (tests check where a new password is hashed).
    static HASHES: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
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

/// The email as stored (trimmed, in lower case), if it is an acceptable address.
fn check_email(email: &str) -> Result<String> {
    let email = email.trim().to_ascii_lowercase();
    if !email.contains('@') || email.len() > 254 || email.chars().any(char::is_whitespace) {
        return Err(MetaError::BadUser(format!(
            "`{email}` is not an email address"
        )));
    }
    Ok(email)
}

/// Refuses a password shorter than [`PASSWORD_MIN`].
fn check_new_password(password: &str) -> Result<()> {
    if password.chars().count() < PASSWORD_MIN {
        return Err(MetaError::BadUser(format!(
            "the password must have at least {PASSWORD_MIN} characters"
        )));
    }
    Ok(())
}

/// A user ready to be added: the email and password checked as [`Meta::add_user`]
/// checks them, and the password hashed. Made without the registry, so the Argon2 run
/// happens outside any lock on it; [`Meta::insert_user`] then stores the user.
#[derive(Debug, Clone)]
pub struct NewUser {
    email: String,
    hash: String,
    superuser: bool,
}

impl NewUser {
    /// Checks the email and the password (in that order, with [`Meta::add_user`]'s
    /// errors) and hashes the password.
    pub fn new(email: &str, password: &str, superuser: bool) -> Result<NewUser> {
        let email = check_email(email)?;
        check_new_password(password)?;
        Ok(NewUser {
            email,
            hash: hash_password(password),
            superuser,
        })
    }

    /// The email, as it will be stored.
    pub fn email(&self) -> &str {
        &self.email
    }
}

impl Meta {
    /// Adds a dashboard user; the password is kept only as its Argon2id hash. The hash is
    /// computed here, while `self` is borrowed: a caller holding the registry under a
    /// shared lock should make a [`NewUser`] outside it and call [`Meta::insert_user`].
    pub fn add_user(&mut self, email: &str, password: &str, superuser: bool) -> Result<User> {
        let email = check_email(email)?;
        check_new_password(password)?;
        self.store_user(email, || hash_password(password), superuser)
    }

    /// Adds a user made by [`NewUser::new`] (no Argon2 work here): as [`Meta::add_user`].
    pub fn insert_user(&mut self, user: NewUser) -> Result<User> {
        let NewUser {
            email,
            hash,
            superuser,
        } = user;
        self.store_user(email, || hash, superuser)
    }

    /// Stores a user unless the email is taken; `hash` is asked for only then.
    fn store_user(
        &mut self,
        email: String,
        hash: impl FnOnce() -> String,
        superuser: bool,
    ) -> Result<User> {
        if self.user(&email)?.is_some() {
            return Err(MetaError::BadUser(format!("user {email} exists already")));
        }
        self.conn
            .execute(
                "INSERT INTO users (email, password, superuser, created_ms) VALUES (?1, ?2, ?3, ?4)",
                params![email, hash(), superuser, now_ms()],
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
        check_new_password(password)?;
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
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn users_have_roles_per_site() {
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

    /// A new user's password can be hashed before the registry is borrowed (outside a
    /// lock on it): `insert_user` does no Argon2 work and stores what `add_user` would.
    #[test]
    fn new_users_are_hashed_without_the_registry() {
        let dir = tempfile::tempdir().unwrap();
        let mut m = Meta::open(dir.path()).unwrap();
        for (email, password, want) in [
            ("not an address", "short", "is not an email address"),
            ("x@example.com", "short", "at least 10 characters"),
        ] {
            let a = m.add_user(email, password, false).unwrap_err().to_string();
            let b = NewUser::new(email, password, false)
                .unwrap_err()
                .to_string();
            assert_eq!(a, b);
            assert!(a.contains(want), "{a}");
        }
        let new = NewUser::new(" Ann@Example.com", "correct horse", false).unwrap();
        assert_eq!(new.email(), "ann@example.com");
        HASHES.with(|v| v.set(0));
        let ann = m.insert_user(new.clone()).unwrap();
        assert_eq!(HASHES.with(|v| v.get()), 0, "no hashing under the registry");
        assert_eq!(m.user("ann@example.com").unwrap(), Some(ann.clone()));
        assert!(matches!(
            m.insert_user(new),
            Err(MetaError::BadUser(e)) if e.contains("exists already")
        ));
        let c = m.credentials("ann@example.com").unwrap();
        assert!(check_password(c.as_ref(), "correct horse"));
        assert!(!check_password(c.as_ref(), "wrong password"));
        // add_user hashes once, and not at all for a taken email.
        HASHES.with(|v| v.set(0));
        m.add_user("bob@example.com", "correct horse", false)
            .unwrap();
        assert!(
            m.add_user("bob@example.com", "correct horse", false)
                .is_err()
        );
        assert_eq!(HASHES.with(|v| v.get()), 1);
    }
}
