//! The background agent's pieces that the app shares: the instance lock ("exactly one
//! refresher at a time") and starting the agent binary.

use std::fs::File;
use std::path::{Path, PathBuf};

use crate::error::Result;
use crate::lockfile::LockFile;

const LOCK: &str = "agent.lock";

/// Held by the one process that runs the refresher.
#[derive(Debug)]
pub struct InstanceLock {
    _file: File,
}

fn open(dir: &Path) -> Result<LockFile> {
    LockFile::open(&dir.join(LOCK), "the agent's instance lock")
}

impl InstanceLock {
    /// Takes the lock if nobody holds it; `Ok(None)` when another process does.
    ///
    /// # Errors
    /// The data directory or its lock file cannot be opened.
    pub fn try_acquire(data_dir: &Path) -> Result<Option<Self>> {
        Ok(open(data_dir)?.try_lock()?.map(|f| Self { _file: f }))
    }

    /// Waits until the lock is free (the agent exited), then takes it. Blocking.
    ///
    /// # Errors
    /// The data directory or its lock file cannot be opened.
    pub fn acquire_blocking(data_dir: &Path) -> Result<Self> {
        Ok(Self { _file: open(data_dir)?.lock()? })
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
