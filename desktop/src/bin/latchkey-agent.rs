//! `latchkey-agent`: refreshes tokens in the background while the window is closed. Headless
//! (no webview, no GTK): built from `latchkey-core` and this package's library. Exactly one
//! runs per data directory; a second start exits at once. Its log:
//! `<data dir>/logs/latchkey-agent.log` ([`logging`]).

use clap::{Parser, ValueEnum};
use latchkey_core::agent::InstanceLock;
use latchkey_core::{Config, Event, Latchkey};
use latchkey_desktop::autostart::set_autostart;
use latchkey_desktop::logging;
use latchkey_desktop::notify::show_notification;
use tokio_util::sync::CancellationToken;

/// Refreshes the connections' tokens in the background while Latchkey's window is closed.
#[derive(Parser)]
#[command(name = "latchkey-agent", version)]
struct Args {
    /// Register (on) or remove (off) the agent's login item, then exit.
    // The app does this from its settings; packagers and people without the window do it here.
    #[arg(long, value_name = "on|off", hide_possible_values = true)]
    autostart: Option<Switch>,
}

#[derive(Clone, Copy, ValueEnum)]
enum Switch {
    On,
    Off,
}

fn main() -> std::process::ExitCode {
    // Bad usage exits with 2, as before; `--version` prints "latchkey-agent VERSION".
    let args = Args::parse();
    if let Some(switch) = args.autostart {
        return match set_autostart(matches!(switch, Switch::On)) {
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
    logging::init("latchkey-agent", &config);
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
        // Core says what to tell; the agent shows it (while the window is closed, nobody else
        // would).
        if lk.config().notifications {
            let mut events = lk.subscribe();
            tokio::spawn(async move {
                loop {
                    match events.recv().await {
                        Ok(Event::Notify(n)) => show_notification(&n),
                        Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                        Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
                    }
                }
            });
        }
        let cancel = CancellationToken::new();
        let stop = cancel.clone();
        tokio::spawn(async move {
            shutdown_signal().await;
            stop.cancel();
        });
        latchkey_core::refresh::run(lk, cancel).await;
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
