//! The floor of this stack, for `make bench`: a blank Tauri window built from this package with
//! the same plugins as Latchkey (single-instance with deep links, deep-link, opener), the same
//! log setup (`latchkey_desktop::logging`: `<data dir>/logs/blank.log`) and an empty page
//! (`examples/blank/dist`). Its page reports when it has loaded through the same `ui_ready` hook
//! as the app (`LATCHKEY_BENCH_READY_FILE`).
//!
//! `cargo build --release --example blank` → `target/release/examples/blank`.

// Keeps a console window from opening beside it on Windows release builds, as the app does.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

use std::time::{SystemTime, UNIX_EPOCH};

/// The page has loaded: record the wall-clock time (ns) where the benchmark asked, and the
/// page's marks beside it (as the app's `ui_ready` does).
#[tauri::command]
fn ui_ready(marks: Option<serde_json::Value>) {
    if let Some(path) = std::env::var_os("LATCHKEY_BENCH_READY_FILE") {
        let ns = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
        let path = std::path::PathBuf::from(path);
        if let Some(marks) = marks {
            let _ = std::fs::write(path.with_extension("marks"), marks.to_string());
        }
        let tmp = path.with_extension("tmp");
        if std::fs::write(&tmp, ns.to_string()).is_ok() {
            let _ = std::fs::rename(&tmp, &path);
        }
    }
}

fn main() {
    if let Ok(config) = latchkey_core::Config::from_env() {
        latchkey_desktop::logging::init("blank", &config);
    }
    tauri::Builder::default()
        .plugin(tauri_plugin_single_instance::init(|_app, _argv, _cwd| {}))
        .plugin(tauri_plugin_deep_link::init())
        .plugin(tauri_plugin_opener::init())
        .invoke_handler(tauri::generate_handler![ui_ready])
        .run(tauri::generate_context!("examples/blank/tauri.conf.json"))
        .expect("error while running the blank window");
}
