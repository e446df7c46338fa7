//! The background agent's pieces that the app shares: the instance lock ("exactly one
//! refresher at a time") and starting the agent binary.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

const LOCK: &str = "agent.lock";

/// Held by the one process that runs the refresher.
#[derive(Debug)]
pub struct InstanceLock {
    _file: File,
}

fn open(dir: &Path) -> Result<File> {
    let path = dir.join(LOCK);
    OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| Error::io(format!("cannot open {}", path.display()), e))
}

impl InstanceLock {
    /// Takes the lock if nobody holds it; `Ok(None)` when another process does.
    ///
    /// # Errors
    /// The data directory or its lock file cannot be opened.
    pub fn try_acquire(data_dir: &Path) -> Result<Option<Self>> {
        let f = open(data_dir)?;
        match f.try_lock() {
            Ok(()) => Ok(Some(Self { _file: f })),
            Err(TryLockError::WouldBlock) => Ok(None),
            Err(TryLockError::Error(e)) => Err(Error::io("cannot lock the agent's instance lock", e)),
        }
    }

    /// Waits until the lock is free (the agent exited), then takes it. Blocking.
    ///
    /// # Errors
    /// The data directory or its lock file cannot be opened.
    pub fn acquire_blocking(data_dir: &Path) -> Result<Self> {
        let f = open(data_dir)?;
        f.lock().map_err(|e| Error::io("cannot lock the agent's instance lock", e))?;
        Ok(Self { _file: f })
    }
}

/// Whether an agent (or an app refreshing by itself) holds the instance lock.
pub fn is_running(data_dir: &Path) -> bool {
    matches!(InstanceLock::try_acquire(data_dir), Ok(None))
}

/// The agent binary next to the current executable.
pub fn agent_binary() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let name = if cfg!(windows) { "latchkey-agent.exe" } else { "latchkey-agent" };
    let candidate = exe.parent()?.join(name);
    candidate.exists().then_some(candidate)
}

/// Starts the agent in the background (detached; it outlives the caller). Returns whether
/// it was started.
pub fn spawn_agent() -> bool {
    let Some(bin) = agent_binary() else { return false };
    std::process::Command::new(bin)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .is_ok()
}
