//! Every setting that comes from the environment, read in one place: where data lives, the
//! refresh engine's tuning, and the switches tests, demos and packagers use (`LATCHKEY_*`).
//! Nothing else in Latchkey reads a `LATCHKEY_*` variable.

use std::path::PathBuf;

use crate::connect::flow::FLOW_TTL_SECS;
use crate::error::{Error, Result};

/// The identifier the app is registered under; the default keychain service and data folder.
pub const APP_ID: &str = "app.latchkey.desktop";

/// The default of [`Config::min_refresh_interval_secs`].
pub const MIN_REFRESH_INTERVAL_SECS: i64 = 30;

/// The default of [`Config::http_timeout_secs`].
pub const HTTP_TIMEOUT_SECS: u64 = 30;

/// Where data lives, the refresh engine's tuning, and the environment's switches.
#[derive(Debug, Clone)]
pub struct Config {
    /// The metadata directory (`LATCHKEY_DATA_DIR`; else `~/.local/share/app.latchkey.desktop`).
    pub data_dir: PathBuf,
    /// The keychain service name (`LATCHKEY_KEYRING_SERVICE`; else `app.latchkey.desktop`).
    pub keyring_service: String,
    /// The shortest time between two refreshes of one connection by the refresher, whatever
    /// the provider says about lifetimes (30 s; `LATCHKEY_MIN_REFRESH_INTERVAL_SECS` for tests
    /// and demos with seconds-long tokens).
    pub min_refresh_interval_secs: i64,
    /// How long a sign-in waits for its answer, in seconds (10 minutes;
    /// `LATCHKEY_FLOW_TIMEOUT_SECS` shortens it for tests).
    pub flow_timeout_secs: i64,
    /// The time limit of one request to a provider (30 s; `LATCHKEY_HTTP_TIMEOUT_SECS`).
    pub http_timeout_secs: u64,
    /// Whether desktop notifications may be shown (`LATCHKEY_NO_NOTIFICATIONS` turns them off).
    pub notifications: bool,
    /// Whether this build may register the agent to start at login: release builds, unless
    /// `LATCHKEY_NO_AUTOSTART` is set; development builds only with `LATCHKEY_AUTOSTART=1` (so
    /// `make demo` never leaves a login item pointing into `target/`).
    pub autostart_allowed: bool,
    /// How much the app and the agent log (`LATCHKEY_LOG`: error, warn, info, debug, trace; info).
    pub log_level: log::LevelFilter,
    /// `latchkey-cli connect --paste`: seconds without a code before the hint (30;
    /// `LATCHKEY_PASTE_HINT_SECS`).
    pub paste_hint_secs: u64,
    /// The app shell's switches for tests, demos and benchmarks.
    pub shell: ShellSwitches,
}

/// The app shell's switches. The test hooks (`open_url_log`, `demo_provider`,
/// `bench_ready_file`) are read only in builds with the `test-hooks` feature.
#[derive(Debug, Clone, Default)]
pub struct ShellSwitches {
    /// `LATCHKEY_OPEN_URL_LOG`: URLs to open are appended here instead (the e2e plays the browser).
    pub open_url_log: Option<PathBuf>,
    /// `LATCHKEY_NO_AGENT`: the app does not start `latchkey-agent`.
    pub no_agent: bool,
    /// `LATCHKEY_DEMO_PROVIDER` / `LATCHKEY_DEMO_PROFILE`: `make demo` registers this provider.
    pub demo_provider: Option<(String, String)>,
    /// `LATCHKEY_NO_SCHEME_REGISTRATION`: the app leaves the `app.latchkey` handler alone.
    pub no_scheme_registration: bool,
    /// `LATCHKEY_BENCH_READY_FILE`: `make bench` learns here when the list is on screen.
    pub bench_ready_file: Option<PathBuf>,
}

impl Config {
    /// The defaults for a data directory and keychain service, with no environment read (tests,
    /// benchmarks).
    pub fn new(data_dir: impl Into<PathBuf>, keyring_service: &str) -> Self {
        Self {
            data_dir: data_dir.into(),
            keyring_service: keyring_service.to_owned(),
            min_refresh_interval_secs: MIN_REFRESH_INTERVAL_SECS,
            flow_timeout_secs: FLOW_TTL_SECS,
            http_timeout_secs: HTTP_TIMEOUT_SECS,
            notifications: true,
            autostart_allowed: !cfg!(debug_assertions),
            log_level: log::LevelFilter::Info,
            paste_hint_secs: 30,
            shell: ShellSwitches::default(),
        }
    }

    /// From the `LATCHKEY_*` variables, else the platform defaults (see each field).
    ///
    /// # Errors
    /// No data directory on this system; a `LATCHKEY_FLOW_TIMEOUT_SECS` out of range.
    pub fn from_env() -> Result<Self> {
        Self::from_vars(|name| std::env::var_os(name).and_then(|v| v.into_string().ok()))
    }

    /// [`Config::from_env`] with the variables from `var` (tests).
    ///
    /// # Errors
    /// As [`Config::from_env`].
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let set = |name: &str| var(name).filter(|v| !v.is_empty());
        let number = |name: &str| set(name).and_then(|v| v.trim().parse::<i64>().ok());
        let data_dir = match set("LATCHKEY_DATA_DIR") {
            Some(d) => PathBuf::from(d),
            None => {
                dirs::data_dir().ok_or_else(|| Error::Internal("no data directory on this system".into()))?.join(APP_ID)
            }
        };
        let mut c = Self::new(data_dir, &set("LATCHKEY_KEYRING_SERVICE").unwrap_or_else(|| APP_ID.to_owned()));
        if let Some(s) = number("LATCHKEY_MIN_REFRESH_INTERVAL_SECS") {
            c.min_refresh_interval_secs = s.clamp(1, 86_400);
        }
        if let Some(v) = var("LATCHKEY_FLOW_TIMEOUT_SECS") {
            c.flow_timeout_secs =
                v.trim().parse::<i64>().ok().filter(|s| (1..=FLOW_TTL_SECS).contains(s)).ok_or_else(|| {
                    Error::InvalidInput(format!(
                        "LATCHKEY_FLOW_TIMEOUT_SECS must be a number of seconds from 1 to {FLOW_TTL_SECS}, not {v:?}"
                    ))
                })?;
        }
        if let Some(s) = number("LATCHKEY_HTTP_TIMEOUT_SECS") {
            c.http_timeout_secs = s.clamp(1, 600) as u64;
        }
        c.notifications = var("LATCHKEY_NO_NOTIFICATIONS").is_none();
        c.autostart_allowed = var("LATCHKEY_NO_AUTOSTART").is_none()
            && (!cfg!(debug_assertions) || var("LATCHKEY_AUTOSTART").is_some_and(|v| v == "1"));
        if let Some(l) = set("LATCHKEY_LOG").and_then(|l| l.parse().ok()) {
            c.log_level = l;
        }
        if let Some(s) = number("LATCHKEY_PASTE_HINT_SECS") {
            c.paste_hint_secs = s.clamp(1, 3600) as u64;
        }
        c.shell.no_agent = var("LATCHKEY_NO_AGENT").is_some();
        c.shell.no_scheme_registration = var("LATCHKEY_NO_SCHEME_REGISTRATION").is_some();
        // The test hooks' variables are read only in builds with the hooks (never packaged).
        #[cfg(feature = "test-hooks")]
        {
            c.shell.open_url_log = set("LATCHKEY_OPEN_URL_LOG").map(PathBuf::from);
            c.shell.demo_provider =
                set("LATCHKEY_DEMO_PROVIDER").map(|u| (u, var("LATCHKEY_DEMO_PROFILE").unwrap_or_default()));
            c.shell.bench_ready_file = set("LATCHKEY_BENCH_READY_FILE").map(PathBuf::from);
        }
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: std::collections::HashMap<String, String> =
            pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn every_variable_is_read_here() {
        let c = Config::from_vars(vars(&[
            ("LATCHKEY_DATA_DIR", "/tmp/d"),
            ("LATCHKEY_KEYRING_SERVICE", "svc"),
            ("LATCHKEY_MIN_REFRESH_INTERVAL_SECS", "0"),
            ("LATCHKEY_FLOW_TIMEOUT_SECS", "5"),
            ("LATCHKEY_HTTP_TIMEOUT_SECS", "7"),
            ("LATCHKEY_NO_NOTIFICATIONS", "1"),
            ("LATCHKEY_NO_AUTOSTART", "1"),
            ("LATCHKEY_LOG", "debug"),
            ("LATCHKEY_PASTE_HINT_SECS", "2"),
            ("LATCHKEY_DEMO_PROVIDER", "http://127.0.0.1:1"),
            ("LATCHKEY_DEMO_PROFILE", "fusio"),
            ("LATCHKEY_NO_AGENT", "1"),
        ]))
        .unwrap();
        assert_eq!(c.data_dir, PathBuf::from("/tmp/d"));
        assert_eq!(c.keyring_service, "svc");
        assert_eq!(c.min_refresh_interval_secs, 1, "clamped");
        assert_eq!((c.flow_timeout_secs, c.http_timeout_secs, c.paste_hint_secs), (5, 7, 2));
        assert!(!c.notifications && !c.autostart_allowed && c.shell.no_agent);
        assert_eq!(c.log_level, log::LevelFilter::Debug);
        let hooks = cfg!(feature = "test-hooks");
        assert_eq!(c.shell.demo_provider.is_some(), hooks, "the test hooks' variables only with the hooks");
        let d = Config::from_vars(vars(&[("LATCHKEY_DATA_DIR", "/tmp/d")])).unwrap();
        assert_eq!((d.keyring_service.as_str(), d.min_refresh_interval_secs), (APP_ID, MIN_REFRESH_INTERVAL_SECS));
        assert!(d.notifications);
        let bad = Config::from_vars(vars(&[("LATCHKEY_DATA_DIR", "/d"), ("LATCHKEY_FLOW_TIMEOUT_SECS", "0")]));
        assert!(bad.unwrap_err().to_string().contains("LATCHKEY_FLOW_TIMEOUT_SECS"));
    }
}
