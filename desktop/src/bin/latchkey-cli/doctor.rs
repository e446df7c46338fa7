//! `latchkey-cli doctor`: the checks a support engineer would ask for, each PASS, WARN or
//! FAIL with what to do. Exit 0 unless a check FAILs (then 1). Reads, and changes nothing but
//! what opening the data directory always does (it is made private, 0700).

use std::path::{Path, PathBuf};

use clap::Args;
use latchkey_core::Config;
use serde::Serialize;

use crate::{Failure, exit, print_json};

#[derive(Args)]
pub(crate) struct DoctorArgs {
    /// Machine-readable output.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
enum Verdict {
    Pass,
    Warn,
    Fail,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Finding {
    /// Stable id (`session-bus`, `secret-service`, …).
    id: &'static str,
    title: &'static str,
    verdict: Verdict,
    detail: String,
    /// What to do (empty when it passed).
    fix: Option<String>,
}

fn pass(id: &'static str, title: &'static str, detail: impl Into<String>) -> Finding {
    Finding { id, title, verdict: Verdict::Pass, detail: detail.into(), fix: None }
}
fn warn(id: &'static str, title: &'static str, detail: impl Into<String>, fix: impl Into<String>) -> Finding {
    Finding { id, title, verdict: Verdict::Warn, detail: detail.into(), fix: Some(fix.into()) }
}
fn fail(id: &'static str, title: &'static str, detail: impl Into<String>, fix: impl Into<String>) -> Finding {
    Finding { id, title, verdict: Verdict::Fail, detail: detail.into(), fix: Some(fix.into()) }
}

/// Whether a well-known name is on the bus now or can be started by it.
fn name_available(bus: &zbus::blocking::Connection, name: &str) -> Result<(bool, bool), String> {
    let dbus = zbus::blocking::fdo::DBusProxy::new(bus).map_err(|e| e.to_string())?;
    let wk = zbus::names::BusName::try_from(name).map_err(|e| e.to_string())?;
    let owned = dbus.name_has_owner(wk).map_err(|e| e.to_string())?;
    let activatable = dbus.list_activatable_names().map_err(|e| e.to_string())?.iter().any(|n| n.as_str() == name);
    Ok((owned, activatable))
}

const BUS: (&str, &str) = ("session-bus", "D-Bus session bus");
const SECRETS: (&str, &str) = ("secret-service", "Keychain (Secret Service)");
const NOTIFY: (&str, &str) = ("notifications", "Desktop notifications");

/// Session bus, Secret Service and notification service: blocking D-Bus calls.
fn dbus_checks(service: &str) -> Vec<Finding> {
    let bus = match std::env::var("DBUS_SESSION_BUS_ADDRESS") {
        Err(_) => Err("DBUS_SESSION_BUS_ADDRESS is not set".to_owned()),
        Ok(_) => zbus::blocking::Connection::session().map_err(|e| e.to_string()),
    };
    let bus = match bus {
        Ok(b) => b,
        Err(e) => {
            let fix = "Run inside a desktop session, or start one for this shell: `dbus-run-session -- bash`, then \
                       unlock a keyring (`echo -n PASSWORD | gnome-keyring-daemon --unlock --components=secrets`)";
            return vec![
                fail(BUS.0, BUS.1, format!("no session bus: {e}"), fix),
                fail(SECRETS.0, SECRETS.1, "not reachable without a session bus", fix),
                warn(NOTIFY.0, NOTIFY.1, "not reachable without a session bus", "needs a desktop session"),
            ];
        }
    };
    let mut out = vec![pass(BUS.0, BUS.1, "connected")];
    out.push(match name_available(&bus, "org.freedesktop.secrets") {
        Ok((false, false)) => fail(
            SECRETS.0,
            SECRETS.1,
            "no Secret Service on the session bus (org.freedesktop.secrets)",
            "Install and start a keyring: `apt install gnome-keyring`, then log in again (or \
             `echo -n PASSWORD | gnome-keyring-daemon --unlock --components=secrets`)",
        ),
        Err(e) => fail(SECRETS.0, SECRETS.1, format!("cannot ask the bus: {e}"), "check the session bus"),
        Ok(_) => match latchkey_core::vault::platform_vault(service).is_locked() {
            Some(false) => pass(SECRETS.0, SECRETS.1, format!("reachable, default collection unlocked (service {service})")),
            Some(true) => fail(
                SECRETS.0,
                SECRETS.1,
                "reachable, but the default collection is LOCKED: tokens can be neither read nor saved",
                "Unlock your keyring (log in to the desktop, or open Passwords and Keys / Seahorse and unlock \"Login\")",
            ),
            None => warn(
                SECRETS.0,
                SECRETS.1,
                "reachable, but its lock state could not be read (no default collection?)",
                "Create a default keyring (Passwords and Keys / Seahorse), then run doctor again",
            ),
        },
    });
    out.push(match name_available(&bus, "org.freedesktop.Notifications") {
        Ok((true, _)) => pass(NOTIFY.0, NOTIFY.1, "org.freedesktop.Notifications is running"),
        Ok((false, true)) => pass(NOTIFY.0, NOTIFY.1, "org.freedesktop.Notifications can be started by the bus"),
        Ok((false, false)) => warn(
            NOTIFY.0,
            NOTIFY.1,
            "no notification service: \"needs reconnect\" is shown only in the app and `latchkey-cli status`",
            "On a desktop, install a notification daemon (e.g. `dunst`, `notification-daemon`); on a server, ignore",
        ),
        Err(e) => warn(NOTIFY.0, NOTIFY.1, format!("cannot ask the bus: {e}"), "check the session bus"),
    });
    out
}

fn xdg_data_dirs() -> Vec<PathBuf> {
    let mut v = vec![];
    if let Some(h) = dirs::data_dir() {
        v.push(h);
    }
    let sys = std::env::var("XDG_DATA_DIRS").ok().filter(|s| !s.is_empty());
    for d in sys.as_deref().unwrap_or("/usr/local/share:/usr/share").split(':') {
        v.push(PathBuf::from(d));
    }
    v
}

/// The program an `Exec=` line of a desktop file starts (first word, quotes removed), and
/// whether it exists.
fn exec_of(desktop: &Path) -> Option<(String, bool)> {
    let text = std::fs::read_to_string(desktop).ok()?;
    let line = text.lines().find(|l| l.starts_with("Exec="))?;
    let rest = line["Exec=".len()..].trim();
    let prog =
        if let Some(r) = rest.strip_prefix('"') { r.split('"').next()? } else { rest.split_whitespace().next()? };
    let exists = if prog.contains('/') {
        Path::new(prog).is_file()
    } else {
        std::env::var_os("PATH").is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(prog).is_file()))
    };
    Some((prog.to_owned(), exists))
}

const SCHEME: (&str, &str) = ("scheme-handler", "app.latchkey: link handler");

fn scheme_check() -> Finding {
    let out = std::process::Command::new("xdg-mime")
        .args(["query", "default", "x-scheme-handler/app.latchkey"])
        .stderr(std::process::Stdio::null())
        .output();
    let name = match out {
        Err(_) => {
            return warn(
                SCHEME.0,
                SCHEME.1,
                "xdg-mime is not installed: cannot tell which program opens app.latchkey: links",
                "`apt install xdg-utils` (on a server without a desktop, ignore: use `connect --loopback`, `--paste` or `--device`)",
            );
        }
        Ok(o) => String::from_utf8_lossy(&o.stdout).trim().to_owned(),
    };
    if name.is_empty() {
        return warn(
            SCHEME.0,
            SCHEME.1,
            "no program is registered for app.latchkey: links: sign-ins that come back through the app link cannot reach Latchkey",
            "Start the Latchkey app once (it registers itself), or reinstall the package; the command line works without it",
        );
    }
    let Some(file) = xdg_data_dirs().into_iter().map(|d| d.join("applications").join(&name)).find(|p| p.is_file())
    else {
        return fail(
            SCHEME.0,
            SCHEME.1,
            format!("the registered handler {name} has no desktop file"),
            "Start the Latchkey app once to register it again, or reinstall the package",
        );
    };
    match exec_of(&file) {
        Some((prog, true)) => pass(SCHEME.0, SCHEME.1, format!("{name} → {prog}")),
        Some((prog, false)) => fail(
            SCHEME.0,
            SCHEME.1,
            format!("{name} starts {prog}, which does not exist"),
            format!("Start the installed Latchkey once to register it again, or remove {}", file.display()),
        ),
        None => fail(
            SCHEME.0,
            SCHEME.1,
            format!("{} has no Exec line", file.display()),
            "Reinstall the package, or start the Latchkey app once",
        ),
    }
}

const AUTOSTART: (&str, &str) = ("agent-autostart", "Agent starts at login");

fn autostart_check() -> Finding {
    let file = dirs::config_dir().map(|d| d.join("autostart").join("latchkey-agent.desktop"));
    match file.filter(|f| f.is_file()) {
        None => warn(
            AUTOSTART.0,
            AUTOSTART.1,
            "no login entry for latchkey-agent: tokens are refreshed in the background only after the app has run",
            "Turn on \"Refresh in the background at login\" in the app's Settings, or run `latchkey-agent --autostart on`",
        ),
        Some(f) => match exec_of(&f) {
            Some((prog, true)) => pass(AUTOSTART.0, AUTOSTART.1, format!("{} → {prog}", f.display())),
            Some((prog, false)) => fail(
                AUTOSTART.0,
                AUTOSTART.1,
                format!("{} starts {prog}, which does not exist", f.display()),
                "Run `latchkey-agent --autostart on` with the installed agent (or turn the setting off and on in the app)",
            ),
            None => fail(
                AUTOSTART.0,
                AUTOSTART.1,
                format!("{} has no Exec line", f.display()),
                "Run `latchkey-agent --autostart on`",
            ),
        },
    }
}

const AGENT: (&str, &str) = ("agent-running", "Agent running");

fn agent_check(data_dir: &Path) -> Finding {
    let a = crate::status::agent(data_dir);
    match (a.running, a.pid) {
        (true, Some(pid)) => {
            pass(AGENT.0, AGENT.1, format!("{} (pid {pid}) holds the refresher", a.process.unwrap_or_default()))
        }
        (true, None) => pass(AGENT.0, AGENT.1, "a process holds the refresher's lock"),
        (false, _) => warn(
            AGENT.0,
            AGENT.1,
            "no agent and no app is refreshing tokens in the background",
            "Start `latchkey-agent` (or the app); scripts still get fresh tokens from `latchkey-cli token`",
        ),
    }
}

const FILES: (&str, &str) = ("data-permissions", "Data directory and files private");

#[cfg(unix)]
fn permissions_check(dir: &Path) -> Finding {
    use std::os::unix::fs::PermissionsExt;
    let Ok(meta) = std::fs::metadata(dir) else {
        return pass(FILES.0, FILES.1, format!("{} does not exist yet (nothing saved)", dir.display()));
    };
    let mut loose = vec![];
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        loose.push(format!("{} is {mode:o} (expected 700)", dir.display()));
    }
    let files = std::fs::read_dir(dir).into_iter().flatten().flatten().map(|e| e.path());
    for f in files.filter(|p| p.is_file()) {
        let name = f.file_name().unwrap_or_default().to_string_lossy().into_owned();
        // The data file, its last good copy and damaged copies; not the empty lock file.
        if !name.starts_with("latchkey.json") || name.ends_with(".lock") {
            continue;
        }
        let m = std::fs::metadata(&f).map(|m| m.permissions().mode() & 0o777).unwrap_or(0);
        if m & 0o077 != 0 {
            loose.push(format!("{name} is {m:o} (expected 600)"));
        }
    }
    if loose.is_empty() {
        pass(FILES.0, FILES.1, format!("{} is 700, its data files 600", dir.display()))
    } else {
        warn(
            FILES.0,
            FILES.1,
            format!("readable by others: {}", loose.join("; ")),
            format!("chmod 700 {0} && chmod 600 {0}/latchkey.json*", dir.display()),
        )
    }
}

#[cfg(not(unix))]
fn permissions_check(dir: &Path) -> Finding {
    pass(FILES.0, FILES.1, format!("{} (permissions are the platform's)", dir.display()))
}

const DATA: (&str, &str) = ("data-file", "Data file readable");

fn data_check(dir: &Path) -> Finding {
    if !dir.exists() {
        return pass(DATA.0, DATA.1, format!("{} does not exist yet (nothing saved)", dir.display()));
    }
    let store = latchkey_core::store::Store::open(dir);
    match store.and_then(|s| s.load()) {
        Ok(d) => {
            pass(DATA.0, DATA.1, format!("{} provider app(s), {} connection(s)", d.apps.len(), d.connections.len()))
        }
        Err(e @ latchkey_core::Error::DamagedData { .. }) => {
            fail(DATA.0, DATA.1, e.to_string(), "`latchkey-cli restore` (or `restore --start-empty`)")
        }
        Err(e) => fail(DATA.0, DATA.1, e.to_string(), "check that the data directory can be created and written"),
    }
}

const CLOCK: (&str, &str) = ("clock", "System clock");

/// Compares the clock with a provider's `Date` header (the first provider app that answers).
async fn clock_check(dir: &Path) -> Finding {
    let data = if dir.exists() {
        latchkey_core::store::Store::open(dir).and_then(|s| s.load())
    } else {
        Err(latchkey_core::Error::NotFound(String::new()))
    };
    let Ok(data) = data else {
        return warn(
            CLOCK.0,
            CLOCK.1,
            "not checked: no provider apps could be read",
            "add a provider app, or fix the data file",
        );
    };
    let http = latchkey_core::http::client();
    for app in &data.apps {
        let Ok(e) = app.endpoints() else { continue };
        let before = latchkey_core::Clock::system().now();
        let Ok(r) = http.head(e.token.clone()).timeout(std::time::Duration::from_secs(5)).send().await else {
            continue;
        };
        let Some(date) = r.headers().get(reqwest::header::DATE).and_then(|d| d.to_str().ok()) else { continue };
        let Ok(theirs) = httpdate(date) else { continue };
        let skew = before - theirs;
        let host = e.token.host_str().unwrap_or("the provider").to_owned();
        return if skew.abs() <= 60 {
            pass(CLOCK.0, CLOCK.1, format!("within {}s of {host}", skew.abs().max(1)))
        } else if skew.abs() <= 300 {
            warn(
                CLOCK.0,
                CLOCK.1,
                format!("{} s {} {host}", skew.abs(), if skew > 0 { "ahead of" } else { "behind" }),
                "Turn on time synchronisation (`timedatectl set-ntp true`)",
            )
        } else {
            fail(
                CLOCK.0,
                CLOCK.1,
                format!(
                    "{} s {} {host}: token lifetimes and refresh times will be wrong",
                    skew.abs(),
                    if skew > 0 { "ahead of" } else { "behind" }
                ),
                "Set the clock and turn on time synchronisation (`timedatectl set-ntp true`)",
            )
        };
    }
    warn(
        CLOCK.0,
        CLOCK.1,
        "not checked: no provider answered with a Date header",
        "Run doctor again when a provider app is registered and reachable",
    )
}

/// An IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`, RFC 9110 §5.6.7) as unix seconds.
fn httpdate(s: &str) -> Result<i64, ()> {
    let p: Vec<&str> = s.split_whitespace().collect();
    let [_, day, mon, year, time, "GMT"] = p.as_slice() else { return Err(()) };
    let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let m = months.iter().position(|x| x == mon).ok_or(())? as i64 + 1;
    let (d, y): (i64, i64) = (day.parse().map_err(|_| ())?, year.parse().map_err(|_| ())?);
    let t: Vec<i64> = time.split(':').map(|x| x.parse().map_err(|_| ())).collect::<Result<_, _>>()?;
    let [h, mi, se] = t.as_slice() else { return Err(()) };
    // Days from the civil date (Howard Hinnant's algorithm).
    let (y2, m2) = if m <= 2 { (y - 1, m + 9) } else { (y, m - 3) };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let doy = (153 * m2 + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Ok(days * 86_400 + h * 3600 + mi * 60 + se)
}

pub(crate) async fn run(args: &DoctorArgs) -> Result<(), Failure> {
    let config = Config::from_env()?;
    let service = config.keyring_service.clone();
    let mut checks = tokio::task::spawn_blocking(move || dbus_checks(&service))
        .await
        .map_err(|e| Failure { code: exit::FAILED, message: Some(e.to_string()) })?;
    checks.push(scheme_check());
    checks.push(autostart_check());
    checks.push(agent_check(&config.data_dir));
    // Permissions first: opening the store (as every Latchkey process does) makes the
    // directory private again.
    let permissions = permissions_check(&config.data_dir);
    checks.push(data_check(&config.data_dir));
    checks.push(permissions);
    checks.push(clock_check(&config.data_dir).await);
    let failed = checks.iter().filter(|c| c.verdict == Verdict::Fail).count();
    if args.json {
        print_json(&serde_json::json!({ "ok": failed == 0, "checks": checks }));
    } else {
        for c in &checks {
            let v = match c.verdict {
                Verdict::Pass => "PASS",
                Verdict::Warn => "WARN",
                Verdict::Fail => "FAIL",
            };
            println!("{v}  {}: {}", c.title, c.detail);
            if let Some(fix) = &c.fix {
                println!("      → {fix}");
            }
        }
    }
    if failed == 0 {
        Ok(())
    } else {
        Err(Failure { code: exit::FAILED, message: Some(format!("{failed} check(s) failed")) })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn http_dates() {
        assert_eq!(super::httpdate("Sun, 06 Nov 1994 08:49:37 GMT"), Ok(784_111_777));
        assert_eq!(super::httpdate("Thu, 01 Jan 1970 00:00:00 GMT"), Ok(0));
        assert!(super::httpdate("yesterday").is_err());
    }
}
