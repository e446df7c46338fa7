//! Starting and stopping the programs under test, and observing their start-up.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::procfs::{self, Pid};
use crate::x11::Mapped;

/// Where a program keeps its data.
#[derive(Debug, Clone)]
pub struct Profile {
    /// LATCHKEY_DATA_DIR.
    pub data_dir: PathBuf,
    /// LATCHKEY_KEYRING_SERVICE.
    pub service: String,
    /// HOME-like directory for XDG_* (WebKit caches): kept across runs of one program, so
    /// every measured run after the warm-up finds warm caches, as a person's second start would.
    pub xdg: PathBuf,
}

/// A running program.
#[derive(Debug)]
pub struct Running {
    pub name: String,
    pub child: Child,
    pub pid: Pid,
    pub spawned_at: SystemTime,
    pub ready_file: PathBuf,
}

fn ns(t: SystemTime) -> u128 {
    t.duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0)
}

/// Starts `bin` with the benchmark's environment.
pub fn start(name: &str, bin: &Path, p: &Profile, args: &[&str], extra_env: &[(&str, &str)]) -> Running {
    let ready_file = p.xdg.join(format!("ready-{name}"));
    let _ = std::fs::remove_file(&ready_file);
    let _ = std::fs::remove_file(ready_file.with_extension("marks"));
    for sub in ["data", "config", "cache"] {
        std::fs::create_dir_all(p.xdg.join(sub)).expect("xdg dirs");
    }
    let mut cmd = Command::new(bin);
    cmd.args(args)
        .env("LATCHKEY_DATA_DIR", &p.data_dir)
        .env("LATCHKEY_KEYRING_SERVICE", &p.service)
        .env("LATCHKEY_NO_SCHEME_REGISTRATION", "1")
        .env("LATCHKEY_NO_AUTOSTART", "1")
        .env("LATCHKEY_NO_NOTIFICATIONS", "1")
        // The app refreshes by itself (no agent child): its process tree is the app and WebKit.
        .env("LATCHKEY_NO_AGENT", "1")
        .env("LATCHKEY_BENCH_READY_FILE", &ready_file)
        .env("NO_AT_BRIDGE", "1")
        .env("XDG_DATA_HOME", p.xdg.join("data"))
        .env("XDG_CONFIG_HOME", p.xdg.join("config"))
        .env("XDG_CACHE_HOME", p.xdg.join("cache"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    // Experiments: `BENCH_APP_ENV` / `BENCH_BLANK_ENV` ("K=V K2=V2") add variables to the app's
    // or the blank window's launches only (e.g. a WebKit or JavaScriptCore knob under study).
    let knob = match name {
        "latchkey" => "BENCH_APP_ENV",
        "blank" => "BENCH_BLANK_ENV",
        _ => "",
    };
    if let Ok(vars) = std::env::var(knob) {
        for (k, v) in vars.split_whitespace().filter_map(|kv| kv.split_once('=')) {
            cmd.env(k, v);
        }
    }
    let spawned_at = SystemTime::now();
    let child = cmd.spawn().unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
    let pid = child.id() as Pid;
    Running { name: name.to_owned(), child, pid, spawned_at, ready_file }
}

/// Start-up of one launch, in ms from process start.
#[derive(Debug, Clone, Copy)]
pub struct Startup {
    pub mapped_ms: f64,
    pub ready_ms: f64,
    /// The page's own marks (`ui/src/lib/marks.ts`), in ms from process start: navigation
    /// began, the bundle began to run, the first state arrived, the list was rendered (NaN
    /// for a mark the page does not make).
    pub marks: Option<[f64; 4]>,
}

/// The page's marks file beside the ready file, in ms from `spawned_ns`.
fn page_marks(ready_file: &std::path::Path, spawned_ns: u128) -> Option<[f64; 4]> {
    let text = std::fs::read_to_string(ready_file.with_extension("marks")).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    let origin_ms = v["timeOrigin"].as_f64()? - spawned_ns as f64 / 1e6;
    // A mark the page does not make (the blank page has no state or list) is NaN.
    let at = |k: &str| v[k].as_f64().map_or(f64::NAN, |t| origin_ms + t);
    Some([origin_ms, at("script"), at("state"), at("rendered")])
}

impl Running {
    /// Waits until the window is mapped and the page has reported ready.
    pub fn wait_ready(&mut self, maps: &Receiver<Mapped>, timeout: Duration) -> Result<Startup, String> {
        let deadline = Instant::now() + timeout;
        let mut mapped: Option<SystemTime> = None;
        let mut ready: Option<u128> = None;
        loop {
            while let Ok(m) = maps.try_recv() {
                if mapped.is_none() && (m.pid == self.pid || m.pid == 0) && m.at >= self.spawned_at {
                    mapped = Some(m.at);
                }
            }
            if ready.is_none() {
                ready = std::fs::read_to_string(&self.ready_file).ok().and_then(|s| s.trim().parse().ok());
            }
            if let (Some(m), Some(r)) = (mapped, ready) {
                let t0 = ns(self.spawned_at);
                return Ok(Startup {
                    mapped_ms: (ns(m).saturating_sub(t0)) as f64 / 1e6,
                    ready_ms: r.saturating_sub(t0) as f64 / 1e6,
                    marks: page_marks(&self.ready_file, t0),
                });
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("{} exited during start-up ({status})", self.name));
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "{}: no {} within {timeout:?}",
                    self.name,
                    if mapped.is_none() { "mapped window" } else { "ready report" }
                ));
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// The process and its descendants (WebKit's processes for the app).
    pub fn tree(&self) -> Vec<Pid> {
        procfs::tree(self.pid)
    }

    /// SIGTERM, then SIGKILL whatever of the tree is left after a while; waits until all of it
    /// is gone so the next measurement starts clean.
    pub fn stop(mut self) {
        let tree = self.tree();
        procfs::signal(self.pid, libc::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline && self.child.try_wait().ok().flatten().is_none() {
            std::thread::sleep(Duration::from_millis(10));
        }
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline && tree.iter().any(|&p| procfs::alive(p)) {
            std::thread::sleep(Duration::from_millis(20));
        }
        for &p in &tree {
            if procfs::alive(p) {
                procfs::signal(p, libc::SIGKILL);
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline && tree.iter().any(|&p| procfs::alive(p)) {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// goa-daemon, idle, in its own session bus (`dbus-run-session`), with an empty home.
pub struct Goa {
    runner: Child,
    pub pid: Pid,
}

impl Goa {
    pub const BINARY: &'static str = "/usr/libexec/goa-daemon";

    pub fn available() -> bool {
        Path::new(Self::BINARY).exists()
    }

    pub fn start(home: &Path) -> Result<Self, String> {
        for sub in ["data", "config", "cache"] {
            std::fs::create_dir_all(home.join(sub)).map_err(|e| e.to_string())?;
        }
        let mut runner = Command::new("dbus-run-session")
            .args(["--", Self::BINARY])
            .env("HOME", home)
            .env("XDG_DATA_HOME", home.join("data"))
            .env("XDG_CONFIG_HOME", home.join("config"))
            .env("XDG_CACHE_HOME", home.join("cache"))
            .env("NO_AT_BRIDGE", "1")
            .env_remove("DBUS_SESSION_BUS_ADDRESS")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("dbus-run-session: {e}"))?;
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let rp = runner.id() as Pid;
            if let Some(pid) = procfs::tree(rp).into_iter().find(|&p| procfs::comm(p) == "goa-daemon") {
                return Ok(Self { runner, pid });
            }
            if let Ok(Some(s)) = runner.try_wait() {
                return Err(format!("goa-daemon exited at once ({s})"));
            }
            if Instant::now() > deadline {
                let _ = runner.kill();
                return Err("goa-daemon did not start".into());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn stop(mut self) {
        let tree = procfs::tree(self.runner.id() as Pid);
        procfs::signal(self.pid, libc::SIGTERM);
        std::thread::sleep(Duration::from_millis(200));
        for &p in tree.iter().rev() {
            if procfs::alive(p) {
                procfs::signal(p, libc::SIGTERM);
            }
        }
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline && self.runner.try_wait().ok().flatten().is_none() {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.runner.kill();
        let _ = self.runner.wait();
        for &p in &tree {
            if procfs::alive(p) {
                procfs::signal(p, libc::SIGKILL);
            }
        }
    }
}
