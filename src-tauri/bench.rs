//! A hook for `make bench` (bench/): in builds with the `test-hooks` feature and
//! `LATCHKEY_BENCH_READY_FILE` set, the moment the UI's first list is on screen (its `ui_ready`
//! call) is recorded in that file (wall-clock nanoseconds since the Unix epoch), so start-up to
//! an interactive list can be measured from outside, and the page's own start-up marks (ms
//! since its time origin, `ui/src/lib/marks.ts`) beside it in `<file>.marks` (JSON).
//! Otherwise it does nothing.

/// Records the first list on screen where the benchmark asked.
pub fn record_ready(lk: &latchkey_core::Latchkey, marks: Option<serde_json::Value>) {
    #[cfg(feature = "test-hooks")]
    if let Some(path) = lk.config().shell.bench_ready_file.clone() {
        use std::time::{SystemTime, UNIX_EPOCH};
        let ns = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
        if let Some(marks) = marks {
            let _ = std::fs::write(path.with_extension("marks"), marks.to_string());
        }
        let tmp = path.with_extension("tmp");
        // Written whole, then renamed: the reader never sees a half-written number.
        if std::fs::write(&tmp, ns.to_string()).is_ok() {
            let _ = std::fs::rename(&tmp, &path);
        }
    }
    #[cfg(not(feature = "test-hooks"))]
    let _ = (lk, marks);
}
