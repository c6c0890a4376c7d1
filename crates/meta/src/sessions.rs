//! Login sessions: a random token (kept in the browser's cookie, stored only as its
//! SHA-256 hash) with a CSRF token, lasting [`SESSION_MS`]. A login checks the password
//! (see `users`) and then opens a session.

use rusqlite::{OptionalExtension, params};

use crate::{Credentials, Meta, Result, User, check_password, hash, now_ms, random_hex};

/// How long a login lasts.
pub const SESSION_MS: i64 = 14 * 86_400_000;

impl Meta {
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_log_in_and_out() {
        let dir = tempfile::tempdir().unwrap();
        let mut m = Meta::open(dir.path()).unwrap();
        let ann = m
            .add_user("Ann@Example.com", "correct horse", false)
            .unwrap();
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
    }
}
