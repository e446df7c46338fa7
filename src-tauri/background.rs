//! Background refresh from the app's side: start `latchkey-agent` when it is not running,
//! and refresh in-process only while no agent holds the instance lock (exactly one refresher).

use latchkey_core::Latchkey;
use latchkey_core::agent::{self, InstanceLock};
use tokio_util::sync::CancellationToken;

pub fn start(lk: &Latchkey) {
    let dir = lk.data_dir().to_owned();
    let started = !lk.config().shell.no_agent && !agent::is_running(&dir) && agent::spawn_agent();
    if started {
        log::info!("started latchkey-agent for background refresh");
    }
    let lk = lk.clone();
    tauri::async_runtime::spawn(async move {
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
