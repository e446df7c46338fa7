//! The processes around the app under test: a private X server (Xvfb), tauri-driver (which
//! starts WebKitWebDriver, which starts the app), and second launches of the app binary that
//! deliver a redirect the way Linux does. Every one is killed when its guard drops, also when
//! a test panics.

use std::io::{BufRead, BufReader};
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// A free TCP port on loopback (free when asked; good enough for a test).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

fn kill_pid(pid: u32, signal: &str) {
    let _ = Command::new("kill").args([signal, &pid.to_string()]).stderr(Stdio::null()).status();
}

fn kill_group(pgid: u32, signal: &str) {
    let _ = Command::new("kill").args([signal, "--", &format!("-{pgid}")]).stderr(Stdio::null()).status();
}

/// A private X server on a display it chose itself (`-displayfd`).
#[derive(Debug)]
pub struct Xvfb {
    child: Child,
    /// `:N`.
    pub display: String,
}

impl Xvfb {
    pub fn start() -> Self {
        let mut child = Command::new("Xvfb")
            .args(["-displayfd", "1", "-screen", "0", "1280x800x24", "-nolisten", "tcp", "-noreset"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start Xvfb: {e} (apt-get install xvfb, or `make deps`)"));
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("Xvfb display number");
        let n: u32 = line.trim().parse().unwrap_or_else(|_| panic!("Xvfb said {line:?}"));
        Self { child, display: format!(":{n}") }
    }
}

impl Drop for Xvfb {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Where `tauri-driver` is: on `PATH`, else in Cargo's bin directory.
pub fn tauri_driver_path() -> PathBuf {
    let mut candidates: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).map(|d| d.join("tauri-driver")).collect())
        .unwrap_or_default();
    if let Some(c) = std::env::var_os("CARGO_HOME") {
        candidates.push(Path::new(&c).join("bin/tauri-driver"));
    }
    if let Some(h) = std::env::var_os("HOME") {
        candidates.push(Path::new(&h).join(".cargo/bin/tauri-driver"));
    }
    candidates
        .into_iter()
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("tauri-driver not found: run `cargo install tauri-driver --locked` (or `make deps`)"))
}

/// A running tauri-driver in its own process group, with WebKitWebDriver and the app below it.
#[derive(Debug)]
pub struct TauriDriver {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// A marker in the environment of every process it starts (to find leftovers).
    marker: (String, String),
    stopped: bool,
}

impl TauriDriver {
    /// Starts tauri-driver with `env` (which the app inherits) and waits until it listens.
    pub fn start(env: &[(String, String)], log: &Path, marker: (String, String)) -> Self {
        let port = free_port();
        let native_port = free_port();
        let log = std::fs::File::create(log).expect("driver log");
        let child = Command::new(tauri_driver_path())
            .args(["--port", &port.to_string(), "--native-port", &native_port.to_string()])
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start tauri-driver: {e}"));
        let mut d = Self { child, url: format!("http://127.0.0.1:{port}"), marker, stopped: false };
        let deadline = Instant::now() + Duration::from_secs(15);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(st)) = d.child.try_wait() {
                panic!("tauri-driver exited early: {st}");
            }
            assert!(Instant::now() < deadline, "tauri-driver did not listen on {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
        // WebKitWebDriver starts beside it; give it the same chance.
        let deadline = Instant::now() + Duration::from_secs(15);
        while TcpStream::connect(("127.0.0.1", native_port)).is_err() {
            assert!(Instant::now() < deadline, "WebKitWebDriver did not listen on {native_port}");
            std::thread::sleep(Duration::from_millis(50));
        }
        d
    }

    /// Processes (other than ours) that carry this driver's marker: the app and its WebKit
    /// helpers, WebKitWebDriver.
    pub fn marked_pids(&self) -> Vec<u32> {
        marked_pids(&self.marker)
    }

    /// Kills everything this driver started and waits until it is gone.
    pub fn stop(&mut self) {
        if std::mem::replace(&mut self.stopped, true) {
            return;
        }
        let pgid = self.child.id();
        kill_group(pgid, "-TERM");
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let left = self.marked_pids();
            if left.is_empty() && matches!(self.child.try_wait(), Ok(Some(_))) {
                break;
            }
            if Instant::now() > deadline {
                kill_group(pgid, "-KILL");
                for pid in left {
                    kill_pid(pid, "-KILL");
                }
                let _ = self.child.kill();
                let _ = self.child.wait();
                std::thread::sleep(Duration::from_millis(200));
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for TauriDriver {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Pids of processes whose environment holds `key=value` (read from `/proc`).
pub fn marked_pids((key, value): &(String, String)) -> Vec<u32> {
    let needle = format!("{key}={value}");
    let me = std::process::id();
    let Ok(dir) = std::fs::read_dir("/proc") else { return vec![] };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| pid != me)
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/environ"))
                .map(|env| env.split(|&b| b == 0).any(|kv| kv == needle.as_bytes()))
                .unwrap_or(false)
        })
        .collect()
}

/// Launches `exe url` with `env` (the second launch a browser causes on Linux) and waits for it
/// to hand the URL to the running instance and exit.
pub fn second_launch(exe: &Path, url: &str, env: &[(String, String)], log: &Path) -> ExitStatus {
    let log = std::fs::OpenOptions::new().create(true).append(true).open(log).expect("log");
    let mut child = Command::new(exe)
        .arg(url)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("log"))
        .stderr(log)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot launch {}: {e}", exe.display()));
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(st) = child.try_wait().expect("wait") {
            return st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the second launch did not exit within 20 s (did single-instance not find the first?)");
        }
        std::thread::sleep(Duration::from_millis(25));
    }
}
