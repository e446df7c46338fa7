//! A hook for `make bench` (bench/): when `LATCHKEY_BENCH_READY_FILE` is set, the UI's first
//! rendered connection list is recorded in that file (wall-clock nanoseconds since the Unix
//! epoch), so start-up to an interactive list can be measured from outside. Without the
//! variable the command does nothing.

use std::time::{SystemTime, UNIX_EPOCH};

/// Called once by the UI after it has rendered the connection list for the first time.
#[tauri::command]
pub fn ui_ready() {
    if let Some(path) = std::env::var_os("LATCHKEY_BENCH_READY_FILE") {
        let ns = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
        let path = std::path::PathBuf::from(path);
        let tmp = path.with_extension("tmp");
        // Written whole, then renamed: the reader never sees a half-written number.
        if std::fs::write(&tmp, ns.to_string()).is_ok() {
            let _ = std::fs::rename(&tmp, &path);
        }
    }
}
