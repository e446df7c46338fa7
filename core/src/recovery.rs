//! A damaged metadata file: what the window, the command line and the agent show, and the
//! two ways back — restore the last good copy, or start empty — both keeping the damaged
//! file aside (see [`crate::store`]).

use std::sync::Mutex;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::{Event, Latchkey};

/// The state of the metadata file, for the window's recovery screen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub struct DataHealth {
    /// The file cannot be read.
    pub damaged: bool,
    /// The metadata file.
    pub path: String,
    /// A readable last good copy is there to restore.
    pub backup_available: bool,
    /// What is wrong, in plain words.
    pub detail: Option<String>,
}

/// What a recovery did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub struct Recovered {
    /// The last good copy was restored (otherwise Latchkey starts empty).
    pub restored: bool,
    /// Where the damaged file is kept.
    pub kept_at: String,
    /// Plain words for the person.
    pub message: String,
}

impl Latchkey {
    /// Whether the metadata file is damaged, and whether a last good copy exists.
    pub fn data_health(&self) -> DataHealth {
        let store = &self.inner.store;
        let damage = store.damage();
        DataHealth {
            damaged: damage.is_some(),
            path: store.path().display().to_string(),
            backup_available: damage.as_ref().is_some_and(|(_, b)| *b),
            detail: damage.map(|(d, _)| d),
        }
    }

    /// Restores the last good copy of a damaged metadata file, keeping the damaged file aside.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] when the file is not damaged; [`Error::DamagedData`] when there
    /// is no readable last good copy. Either way nothing changes.
    pub async fn restore_backup(&self) -> Result<Recovered> {
        let store = self.inner.store.clone();
        let aside = tokio::task::spawn_blocking(move || store.restore_backup())
            .await
            .map_err(|e| Error::Internal(e.to_string()))??;
        log::warn!("restored the last good copy of the metadata; the damaged file is kept at {}", aside.display());
        self.emit(Event::ConnectionsChanged);
        Ok(Recovered {
            restored: true,
            message: format!("The last good copy was restored. The damaged file is kept at {}.", aside.display()),
            kept_at: aside.display().to_string(),
        })
    }

    /// Moves a damaged metadata file aside and starts with no provider apps or connections
    /// (tokens already in the keychain stay there).
    ///
    /// # Errors
    /// [`Error::InvalidInput`] when the file is not damaged (nothing changes).
    pub async fn start_empty(&self) -> Result<Recovered> {
        let store = self.inner.store.clone();
        let aside = tokio::task::spawn_blocking(move || store.start_empty())
            .await
            .map_err(|e| Error::Internal(e.to_string()))??;
        log::warn!("started with empty metadata; the damaged file is kept at {}", aside.display());
        self.emit(Event::ConnectionsChanged);
        Ok(Recovered {
            restored: false,
            message: format!("Latchkey starts empty. The damaged file is kept at {}.", aside.display()),
            kept_at: aside.display().to_string(),
        })
    }
}

/// The damaged file last reported: its path and a hash of its content.
static REPORTED: Mutex<Option<(std::path::PathBuf, u64)>> = Mutex::new(None);

/// For background refreshers that find the metadata damaged: logs it and shows one desktop
/// notification — once per damaged file (a new damage is reported again), however often it
/// is re-checked. Returns whether this call reported it.
pub fn report_damaged(e: &Error) -> bool {
    let Error::DamagedData { path, .. } = e else {
        log::error!("cannot read the metadata: {e}");
        return true;
    };
    let mut hasher = std::hash::DefaultHasher::new();
    std::hash::Hash::hash(&std::fs::read(path).unwrap_or_default(), &mut hasher);
    let key = (path.clone(), std::hash::Hasher::finish(&hasher));
    let mut last = REPORTED.lock().unwrap_or_else(|p| p.into_inner());
    if last.as_ref() == Some(&key) {
        return false;
    }
    *last = Some(key);
    drop(last);
    log::error!("{e} Background refresh waits until it is fixed (open Latchkey, or run `latchkey-cli restore`).");
    true
}
