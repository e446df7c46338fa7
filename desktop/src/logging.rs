//! The one log setup of Latchkey's long-running programs, the app and the agent: a file
//! `<data dir>/logs/<name>.log` (the directory 0700, the file 0600), and stderr too when that is
//! a terminal (run by hand; the app starts the agent with stderr on /dev/null). Only Latchkey's
//! own targets (`latchkey*`) at [`Config::log_level`] (`LATCHKEY_LOG`); panics are logged.
//! Never a token: core logs connection ids and error codes only.
//!
//! Built on `fern` (level, target filter, format, one line to several outputs). fern rotates
//! files only by date; the rule here is by size — at [`LOG_CAP`] the file becomes `<name>.log.1`
//! (the one older generation kept) and a new one starts — so the file output is the small
//! writer below, called by fern once per whole line (a line never straddles two generations).

use std::fs::{File, OpenOptions};
use std::io::{IsTerminal as _, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use latchkey_core::{Clock, Config};

/// Size of one log generation.
pub const LOG_CAP: u64 = 1024 * 1024;

/// Sets up the log of the program `name` (`latchkey`, `latchkey-agent`) from `config`: the
/// file `<data dir>/logs/<name>.log`, stderr when it is a terminal, the level
/// [`Config::log_level`], and a panic hook that logs the panic before the default one runs.
/// A second call logs nothing twice (the first logger stays); a log file that cannot be opened
/// is skipped.
pub fn init(name: &str, config: &Config) {
    let level = config.log_level;
    let file = Mutex::new(FileLog::open(&config.data_dir.join("logs"), &format!("{name}.log")));
    let mut dispatch = fern::Dispatch::new()
        .level(level)
        .filter(|m| m.target().starts_with("latchkey"))
        .format(|out, message, record| {
            out.finish(format_args!("{} {} {message}", utc(Clock::system().now()), record.level()));
        })
        .chain(fern::Output::call(move |record| {
            if let Ok(mut f) = file.lock() {
                f.write_line(&format!("{}\n", record.args()));
            }
        }));
    if std::io::stderr().is_terminal() {
        let prefix = format!("[{name}]");
        dispatch = dispatch.chain(
            fern::Dispatch::new()
                .format(move |out, message, _| out.finish(format_args!("{prefix} {message}")))
                .chain(std::io::stderr()),
        );
    }
    let _ = dispatch.apply();
    let name = name.to_owned();
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        log::error!("{name} panicked: {info}");
        default_hook(info);
    }));
}

/// The log file, rotated by size: past [`LOG_CAP`] bytes it is renamed to `<file>.1` (replacing
/// the older one) and a new file starts.
struct FileLog {
    dir: PathBuf,
    name: String,
    file: Option<File>,
    written: u64,
}

impl FileLog {
    fn open(dir: &Path, name: &str) -> Self {
        let mut log = Self { dir: dir.to_owned(), name: name.to_owned(), file: None, written: 0 };
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
        let mut opts = OpenOptions::new();
        opts.create(true).append(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        self.file = opts.open(self.dir.join(&self.name)).ok();
        self.written = self.file.as_ref().and_then(|f| f.metadata().ok()).map_or(0, |m| m.len());
    }

    fn write_line(&mut self, line: &str) {
        if self.written + line.len() as u64 > LOG_CAP && self.written > 0 {
            self.file = None;
            let _ = std::fs::rename(self.dir.join(&self.name), self.dir.join(format!("{}.1", self.name)));
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
        let dir = std::env::temp_dir().join(format!("latchkey-log-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut log = super::FileLog::open(&dir, "t.log");
        let line = format!("{}\n", "x".repeat(1023));
        for _ in 0..(super::LOG_CAP / 1024 + 10) {
            log.write_line(&line);
        }
        let cur = std::fs::metadata(dir.join("t.log")).unwrap().len();
        let old = std::fs::metadata(dir.join("t.log.1")).unwrap().len();
        assert_eq!(cur, 10 * 1024);
        assert!(old <= super::LOG_CAP && old > super::LOG_CAP - 1024, "{old}");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&dir), 0o700);
            assert_eq!(mode(&dir.join("t.log")), 0o600);
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
