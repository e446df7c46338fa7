//! Advisory file locks, the one way processes (the app, the agent, the command line) keep out
//! of each other's way: the metadata store's lock, each connection's refresh lock, and the
//! agent's instance lock all go through here.
//!
//! Built on std's advisory lock (flock on Unix, LockFileEx on Windows, stable since Rust
//! 1.89): a well-kept implementation with no extra crate. The lock belongs to the open file,
//! so it is released when the file is closed — also when the process is killed.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::Path;
use std::time::Duration;

use crate::error::{Error, Result};

/// An open lock file, not yet locked. `what` names it in errors ("the metadata store").
#[derive(Debug)]
pub struct LockFile {
    file: File,
    what: &'static str,
}

impl LockFile {
    /// Opens (creating it and its directory if needed) the lock file at `path`; never
    /// truncates, so opening it does not disturb a holder.
    ///
    /// # Errors
    /// The directory or the file cannot be created or opened.
    pub fn open(path: &Path, what: &'static str) -> Result<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(format!("cannot create {}", dir.display()), e))?;
        }
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .map_err(|e| Error::io(format!("cannot open {}", path.display()), e))?;
        Ok(Self { file, what })
    }

    /// Takes the lock if nobody holds it: `Ok(Some(file))` (locked until the file is dropped),
    /// `Ok(None)` when another holder has it.
    ///
    /// # Errors
    /// The lock cannot be taken for another reason than a holder (I/O error).
    pub fn try_lock(self) -> Result<Option<File>> {
        match self.file.try_lock() {
            Ok(()) => Ok(Some(self.file)),
            Err(TryLockError::WouldBlock) => Ok(None),
            Err(TryLockError::Error(e)) => Err(Error::io(format!("cannot lock {}", self.what), e)),
        }
    }

    /// Waits as long as it takes for the lock. Blocking: for short critical sections (the
    /// store's read-modify-write) and for a process that has nothing else to do meanwhile.
    ///
    /// # Errors
    /// An I/O error from the lock call.
    pub fn lock(self) -> Result<File> {
        self.file.lock().map_err(|e| Error::io(format!("cannot lock {}", self.what), e))?;
        Ok(self.file)
    }

    /// Waits at most until `deadline`, polling with a growing pause (20 ms to 250 ms), so the
    /// wait is bounded: a holder that was stopped (Ctrl-Z, a keychain prompt) must not stall
    /// the caller. `Ok(None)` when the deadline passed.
    ///
    /// # Errors
    /// An I/O error from the lock call.
    pub async fn lock_until(self, deadline: tokio::time::Instant) -> Result<Option<File>> {
        let mut pause = Duration::from_millis(20);
        loop {
            match self.file.try_lock() {
                Ok(()) => return Ok(Some(self.file)),
                Err(TryLockError::WouldBlock) => {}
                Err(TryLockError::Error(e)) => return Err(Error::io(format!("cannot lock {}", self.what), e)),
            }
            if tokio::time::Instant::now() + pause > deadline {
                return Ok(None);
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(250));
        }
    }
}

/// Whether nobody holds the lock at `path` (a file that cannot be opened counts as free: there
/// is no holder to wait for).
pub fn is_free(path: &Path) -> bool {
    match LockFile::open(path, "a lock file") {
        Ok(l) => !matches!(l.try_lock(), Ok(None)),
        Err(_) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn one_holder_at_a_time_and_a_bounded_wait() {
        let dir = std::env::temp_dir().join(format!("latchkey-lockfile-{}", std::process::id()));
        let path = dir.join("sub").join("x.lock");
        let held = LockFile::open(&path, "x").unwrap().try_lock().unwrap().expect("free at first");
        assert!(!is_free(&path));
        assert!(LockFile::open(&path, "x").unwrap().try_lock().unwrap().is_none(), "second holder");
        let soon = tokio::time::Instant::now() + Duration::from_millis(100);
        assert!(LockFile::open(&path, "x").unwrap().lock_until(soon).await.unwrap().is_none(), "waits, then gives up");
        drop(held);
        assert!(is_free(&path));
        let far = tokio::time::Instant::now() + Duration::from_secs(5);
        assert!(LockFile::open(&path, "x").unwrap().lock_until(far).await.unwrap().is_some());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
