//! The server's daily salts for cookieless visitor ids ([`Meta::salt`]): one random
//! 256-bit salt per UTC day, created on first use; older salts are deleted when a new
//! day's salt is made, so yesterday's visitor ids can never be recomputed. Snapshots
//! carry no salt ([`Meta::copy_into`]).

use rand::RngCore;
use rusqlite::params;

use crate::{Meta, MetaError, Result};

impl Meta {
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
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
