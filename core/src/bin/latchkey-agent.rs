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
    init_log(&config.data_dir.join("logs"), config.log_level);
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
                        Ok(latchkey_core::Event::Notify(n)) => latchkey_core::desktop::show_notification(&n),
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

/// The agent's log file in the app's log directory (`<data dir>/logs/`), never a token: the
/// core logs connection ids and error codes only. When it passes [`LOG_CAP`] bytes it becomes
/// `latchkey-agent.log.1` (the one older generation kept) and a new file starts.
const LOG_NAME: &str = "latchkey-agent.log";
/// Size of one log generation.
const LOG_CAP: u64 = 1024 * 1024;

struct FileLog {
    dir: std::path::PathBuf,
    file: Option<std::fs::File>,
    written: u64,
}

impl FileLog {
    fn open(dir: &std::path::Path) -> Self {
        let mut log = Self { dir: dir.to_owned(), file: None, written: 0 };
        log.reopen();
        log
    }

    fn reopen(&mut self) {
        let _ = std::fs::create_dir_all(&self.dir);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(&self.dir, std::fs::Permissions::from_mode(0o700));
        }
        let mut opts = std::fs::OpenOptions::new();
        opts.create(true).append(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        self.file = opts.open(self.dir.join(LOG_NAME)).ok();
        self.written = self.file.as_ref().and_then(|f| f.metadata().ok()).map_or(0, |m| m.len());
    }

    fn write_line(&mut self, line: &str) {
        use std::io::Write;
        if self.written + line.len() as u64 > LOG_CAP && self.written > 0 {
            self.file = None;
            let _ = std::fs::rename(self.dir.join(LOG_NAME), self.dir.join(format!("{LOG_NAME}.1")));
            self.reopen();
        }
        if let Some(f) = self.file.as_mut()
            && f.write_all(line.as_bytes()).is_ok()
        {
            self.written += line.len() as u64;
        }
    }
}

/// `YYYY-MM-DDTHH:MM:SSZ` for a Unix time (the civil-from-days algorithm; no date crate).
fn utc(secs: i64) -> String {
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem / 60 % 60, rem % 60)
}

/// Logs at `level` ([`Config::log_level`]) to the log file, and to stderr when that is a
/// terminal (the app starts the agent with stderr on /dev/null). Panics are logged too.
fn init_log(dir: &std::path::Path, level: log::LevelFilter) {
    struct Logger {
        level: log::LevelFilter,
        file: std::sync::Mutex<FileLog>,
        stderr: bool,
    }
    impl log::Log for Logger {
        fn enabled(&self, m: &log::Metadata<'_>) -> bool {
            m.level() <= self.level && m.target().starts_with("latchkey")
        }
        fn log(&self, r: &log::Record<'_>) {
            if self.enabled(r.metadata()) {
                let now = latchkey_core::clock::Clock::system().now();
                let line = format!("{} {} {}\n", utc(now), r.level(), r.args());
                if let Ok(mut f) = self.file.lock() {
                    f.write_line(&line);
                }
                if self.stderr {
                    eprint!("[latchkey-agent] {line}");
                }
            }
        }
        fn flush(&self) {}
    }
    use std::io::IsTerminal as _;
    let logger =
        Logger { level, file: std::sync::Mutex::new(FileLog::open(dir)), stderr: std::io::stderr().is_terminal() };
    if log::set_boxed_logger(Box::new(logger)).is_ok() {
        log::set_max_level(level);
    }
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        log::error!("latchkey-agent panicked: {info}");
        default_hook(info);
    }));
}

#[cfg(test)]
mod tests {
    #[test]
    fn utc_dates() {
        assert_eq!(super::utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(super::utc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(super::utc(1_700_000_000), "2023-11-14T22:13:20Z");
    }

    #[test]
    fn the_log_rotates_at_its_cap_keeping_one_older_generation() {
        let dir = std::env::temp_dir().join(format!("latchkey-agent-log-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut log = super::FileLog::open(&dir);
        let line = format!("{}\n", "x".repeat(1023));
        for _ in 0..(super::LOG_CAP / 1024 + 10) {
            log.write_line(&line);
        }
        let cur = std::fs::metadata(dir.join(super::LOG_NAME)).unwrap().len();
        let old = std::fs::metadata(dir.join(format!("{}.1", super::LOG_NAME))).unwrap().len();
        assert_eq!(cur, 10 * 1024);
        assert!(old <= super::LOG_CAP && old > super::LOG_CAP - 1024, "{old}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
