//! `latchkey-agent`: refreshes tokens in the background while the window is closed. Headless
//! (no webview, no GTK): built from `latchkey-core` only. Exactly one runs per data
//! directory; a second start exits at once.

use latchkey_core::agent::InstanceLock;
use latchkey_core::{Config, Latchkey};
use tokio_util::sync::CancellationToken;

fn main() -> std::process::ExitCode {
    if std::env::args().any(|a| a == "--version") {
        println!("latchkey-agent {}", env!("CARGO_PKG_VERSION"));
        return std::process::ExitCode::SUCCESS;
    }
    env_logger_lite();
    // `--autostart on|off`: register or remove the login item (the app does this from its
    // settings; packagers and people without the window can do it here).
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--autostart") {
        let on = match args.get(i + 1).map(String::as_str) {
            Some("on") => true,
            Some("off") => false,
            _ => {
                eprintln!("usage: latchkey-agent --autostart on|off");
                return std::process::ExitCode::from(2);
            }
        };
        return match latchkey_core::desktop::set_autostart(on) {
            Ok(()) => std::process::ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("latchkey-agent: {e}");
                std::process::ExitCode::from(1)
            }
        };
    }
    let config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("latchkey-agent: {e}");
            return std::process::ExitCode::from(1);
        }
    };
    let lock = match std::fs::create_dir_all(&config.data_dir)
        .map_err(|e| e.to_string())
        .and_then(|()| InstanceLock::try_acquire(&config.data_dir).map_err(|e| e.to_string()))
    {
        Ok(Some(l)) => l,
        Ok(None) => {
            eprintln!("latchkey-agent: already running for {}", config.data_dir.display());
            return std::process::ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("latchkey-agent: {e}");
            return std::process::ExitCode::from(1);
        }
    };
    // A small runtime: the agent does little, and rarely.
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime");
    let code = rt.block_on(async move {
        let lk = match Latchkey::open(&config) {
            Ok(lk) => lk,
            Err(e) => {
                eprintln!("latchkey-agent: {e}");
                return 1;
            }
        };
        let _watch = lk.watch_store().map_err(|e| log::warn!("{e}")).ok();
        let cancel = CancellationToken::new();
        let stop = cancel.clone();
        tokio::spawn(async move {
            shutdown_signal().await;
            stop.cancel();
        });
        latchkey_core::refresher::run(lk, cancel).await;
        0
    });
    drop(lock);
    std::process::ExitCode::from(code)
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}

/// Logs to stderr at `LATCHKEY_LOG` level (default info). Never a token: the core logs
/// connection ids and error codes only.
fn env_logger_lite() {
    struct Stderr(log::LevelFilter);
    impl log::Log for Stderr {
        fn enabled(&self, m: &log::Metadata<'_>) -> bool {
            m.level() <= self.0 && m.target().starts_with("latchkey")
        }
        fn log(&self, r: &log::Record<'_>) {
            if self.enabled(r.metadata()) {
                eprintln!("[latchkey-agent] {} {}", r.level(), r.args());
            }
        }
        fn flush(&self) {}
    }
    let level = std::env::var("LATCHKEY_LOG").ok().and_then(|l| l.parse().ok()).unwrap_or(log::LevelFilter::Info);
    if log::set_boxed_logger(Box::new(Stderr(level))).is_ok() {
        log::set_max_level(level);
    }
}
