//! A connection's refresh lock: an async mutex within the process and an advisory file lock
//! across processes (the app, the agent, the command line), with a bounded wait.

use std::fs::File;
use std::sync::Arc;
use std::time::Duration;

use crate::Latchkey;
use crate::error::{Error, Result};
use crate::lockfile::{self, LockFile};

/// How long a caller waits for another process's hold on a connection's lock before giving
/// up with "busy".
pub const LOCK_WAIT: Duration = Duration::from_secs(10);
/// How long a caller waits for its own process's callers ahead of it (they are doing real
/// work, each bounded by the HTTP timeout and [`LOCK_WAIT`]).
pub(crate) const LOCAL_WAIT: Duration = Duration::from_secs(90);

/// Held while a connection is being refreshed; dropping it releases both locks. `file` is
/// `None` when this process already holds the file lock for a set waiting to be saved.
pub(crate) struct FlightGuard {
    _local: tokio::sync::OwnedMutexGuard<()>,
    pub(crate) file: Option<File>,
}

impl Latchkey {
    /// The path of a connection's cross-process lock file.
    pub fn lock_path(&self, connection_id: &str) -> std::path::PathBuf {
        self.inner.store.dir().join("locks").join(format!("{connection_id}.lock"))
    }

    /// Takes the connection's refresh lock (in this process and across processes), waiting at
    /// most [`LOCK_WAIT`]; held until the returned guard is dropped.
    pub(crate) async fn hold_refresh_lock(&self, connection_id: &str) -> Result<impl Sized + use<>> {
        self.flight(connection_id).await
    }

    pub(crate) async fn flight(&self, connection_id: &str) -> Result<FlightGuard> {
        let local = {
            let mut locks = self.inner.refresh_locks.lock().expect("refresh locks");
            locks.entry(connection_id.to_owned()).or_default().clone()
        };
        let local = tokio::time::timeout(LOCAL_WAIT, local.lock_owned()).await.map_err(|_| busy())?;
        let deadline = tokio::time::Instant::now() + self.lock_wait();
        if self.inner.pending.lock().expect("pending").contains_key(connection_id) {
            return Ok(FlightGuard { _local: local, file: None });
        }
        let path = self.lock_path(connection_id);
        let lock = tokio::task::spawn_blocking(move || LockFile::open(&path, "the connection's refresh lock"))
            .await
            .map_err(|e| Error::Internal(e.to_string()))??;
        match lock.lock_until(deadline).await? {
            Some(file) => Ok(FlightGuard { _local: local, file: Some(file) }),
            None => Err(busy()),
        }
    }

    pub(crate) async fn lock_is_free(&self, connection_id: &str) -> Result<bool> {
        let path = self.lock_path(connection_id);
        tokio::task::spawn_blocking(move || lockfile::is_free(&path)).await.map_err(|e| Error::Internal(e.to_string()))
    }
}

pub(crate) fn busy() -> Error {
    Error::Busy(
        "another Latchkey process is refreshing this connection and has not finished (it may be stopped or waiting for the keychain); try again shortly"
            .into(),
    )
}

/// Keeps the lock map from growing without bound.
pub(crate) fn forget_lock(lk: &Latchkey, connection_id: &str) {
    let mut locks = lk.inner.refresh_locks.lock().expect("refresh locks");
    if locks.get(connection_id).is_some_and(|l| Arc::strong_count(l) == 1) {
        locks.remove(connection_id);
    }
}
