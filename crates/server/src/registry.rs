//! The site registry (`meta.sqlite`: sites, keys, users, sessions, salts, stored goals
//! and funnels) as the server reaches it: only from blocking threads, never on the async
//! runtime's workers, and reads on a connection of their own, so the look-ups of
//! ingestion and queries (keys, sessions, sites, definitions) never wait behind a write
//! (SQLite in WAL mode lets readers run beside the writer). Argon2 never runs under
//! either lock ([`crate::auth::login`]).

use std::sync::{Arc, Mutex, MutexGuard};

use cairn_meta::Meta;

use crate::error::ApiError;

/// Two connections to one registry.
pub(crate) struct Registry {
    read: Arc<Mutex<Meta>>,
    write: Arc<Mutex<Meta>>,
}

fn guard(m: &Mutex<Meta>) -> MutexGuard<'_, Meta> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Registry {
    /// Over `meta`, with a second connection for reads.
    pub(crate) fn new(meta: Meta) -> Result<Registry, String> {
        let read = meta
            .reopen()
            .map_err(|e| format!("cannot open the registry for reading: {e}"))?;
        Ok(Registry {
            read: Arc::new(Mutex::new(read)),
            write: Arc::new(Mutex::new(meta)),
        })
    }

    /// Runs `f` on the read connection, on a blocking thread.
    pub(crate) async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Meta) -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        let m = Arc::clone(&self.read);
        tokio::task::spawn_blocking(move || f(&guard(&m)))
            .await
            .map_err(|e| ApiError::internal(format!("a registry read failed: {e}")))
    }

    /// Runs `f` on the write connection, on a blocking thread.
    pub(crate) async fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Meta) -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        let m = Arc::clone(&self.write);
        tokio::task::spawn_blocking(move || f(&mut guard(&m)))
            .await
            .map_err(|e| ApiError::internal(format!("a registry write failed: {e}")))
    }

    /// The write connection, for code already on a blocking thread.
    pub(crate) fn write_blocking(&self) -> MutexGuard<'_, Meta> {
        guard(&self.write)
    }
}
