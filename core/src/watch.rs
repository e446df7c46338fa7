//! Watching the metadata store for other processes' changes (the agent, the app and the
//! command line share it), so lists update live and the refresher re-plans.

use notify::{RecursiveMode, Watcher};

use crate::error::{Error, Result};
use crate::{Event, Latchkey};

/// A running watch; dropping it stops watching.
pub struct StoreWatch {
    _watcher: notify::RecommendedWatcher,
}

impl std::fmt::Debug for StoreWatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StoreWatch")
    }
}

impl Latchkey {
    /// Emits [`Event::ConnectionsChanged`] whenever the metadata file is replaced (by any
    /// process). Uses the OS's file notifications (inotify, FSEvents, ReadDirectoryChangesW).
    ///
    /// # Errors
    /// The data directory cannot be watched.
    pub fn watch_store(&self) -> Result<StoreWatch> {
        let lk = self.clone();
        let file = self.inner.store.path();
        let file_name = file.file_name().map(|n| n.to_owned());
        let mut watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
            if let Ok(ev) = res {
                let ours = ev.paths.iter().any(|p| p.file_name() == file_name.as_deref());
                let relevant = matches!(
                    ev.kind,
                    notify::EventKind::Create(_) | notify::EventKind::Modify(_) | notify::EventKind::Remove(_)
                );
                if ours && relevant {
                    lk.emit(Event::ConnectionsChanged);
                }
            }
        })
        .map_err(|e| Error::Internal(format!("cannot watch the data directory: {e}")))?;
        watcher
            .watch(self.inner.store.dir(), RecursiveMode::NonRecursive)
            .map_err(|e| Error::Internal(format!("cannot watch the data directory: {e}")))?;
        Ok(StoreWatch { _watcher: watcher })
    }
}
