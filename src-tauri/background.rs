//! Background refresh from the app's side: start `latchkey-agent` when it is not running,
//! and refresh in-process only while no agent holds the instance lock (exactly one refresher).

use latchkey_core::Latchkey;
use latchkey_core::agent::{self, InstanceLock};
use tokio_util::sync::CancellationToken;

/// Set once the window's first list is on screen (the page's `ui_ready` call).
#[derive(Default)]
pub struct FirstPaint(tokio::sync::Notify);

impl FirstPaint {
    pub fn done(&self) {
        // A permit is kept when nobody waits yet.
        self.0.notify_one();
    }
}

/// The longest background work waits for the window's first list (a window that never reports
/// it — hidden, or a page that failed — must not stop refreshing).
const AT_MOST_AFTER_START: std::time::Duration = std::time::Duration::from_secs(3);

/// Starts background refresh once the window's first list is on screen (or after
/// [`AT_MOST_AFTER_START`]): its start reads every connection's tokens from the keychain to
/// repair interrupted refreshes, and the agent it may start does the same — work that would
/// otherwise compete with the window's start for the CPU (`make bench`, start-up with 50
/// connections). A refresh that is due waits a few seconds at most.
pub fn start(lk: &Latchkey, first_paint: std::sync::Arc<FirstPaint>) {
    let lk = lk.clone();
    tauri::async_runtime::spawn(async move {
        let _ = tokio::time::timeout(AT_MOST_AFTER_START, first_paint.0.notified()).await;
        let dir = lk.data_dir().to_owned();
        let started = !lk.config().shell.no_agent && !agent::is_running(&dir) && agent::spawn_agent();
        if started {
            log::info!("started latchkey-agent for background refresh");
        }
        // Give a just-started agent a moment to take the lock; then wait for the lock (it is
        // free at once when no agent runs, or when the agent exits).
        if started {
            tokio::time::sleep(std::time::Duration::from_secs(2)).await;
        }
        let lock = tokio::task::spawn_blocking(move || InstanceLock::acquire_blocking(&dir)).await;
        match lock {
            Ok(Ok(lock)) => {
                log::info!("no agent running: the app refreshes by itself");
                latchkey_core::refresh::run(lk, CancellationToken::new()).await;
                drop(lock);
            }
            Ok(Err(e)) => log::warn!("background refresh unavailable: {e}"),
            Err(e) => log::warn!("background refresh unavailable: {e}"),
        }
    });
}
