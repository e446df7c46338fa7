//! `latchkey-cli` against the test provider and the real Secret Service: connect (loopback
//! and paste), tokens for scripts, single flight across processes, revoke, exit codes.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::{World, world_full};
use latchkey_core::{Clock, PresetId, RedirectMode, Status};
use secrecy::ExposeSecret;

const CLI: &str = env!("CARGO_BIN_EXE_latchkey-cli");

fn cli(w: &World, args: &[&str]) -> Output {
    Command::new(CLI).args(args).envs(w.child_env()).stdin(Stdio::null()).output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

/// Starts `latchkey-cli connect`, plays the browser, and returns the finished process.
async fn connect_via_cli(w: &World, app: &str, flag: &str) -> Output {
    let (mut child, mut out, url) =
        w.spawn_cli(CLI, &["connect", app, flag, "--no-browser", "--json"], Stdio::piped(), Stdio::inherit());
    let answer = w.provider.sign_in(url.trim(), "alice", true).await;
    if flag == "--paste" {
        writeln!(child.stdin.take().unwrap(), "{}", answer["code"].as_str().unwrap()).unwrap();
    } else {
        let location = answer["location"].as_str().unwrap();
        assert!(location.starts_with("http://127.0.0.1:"), "{answer}");
        let page = latchkey_harness::client().get(location).send().await.unwrap();
        assert_eq!(page.status(), 200);
    }
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut out, &mut rest).unwrap();
    let status = child.wait().unwrap();
    Output { status, stdout: rest.into_bytes(), stderr: vec![] }
}

async fn setup(profile: &str, preset: PresetId, mode: RedirectMode, scopes: &str, ttl: &str) -> (World, String) {
    let w = world_full(profile, Clock::system(), &["--access-ttl", ttl]);
    let app = w.lk.save_app(common::app_input(&w, preset, mode, scopes)).await.unwrap();
    (w, app.id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_with_loopback_and_paste_then_list_and_apps() {
    let (w, app) =
        setup("textmaster", PresetId::Textmaster, RedirectMode::DeepLink, "public user:read user:email", "3600").await;
    let o = connect_via_cli(&w, &app, "--loopback").await;
    assert!(o.status.success());
    let conn: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(conn["email"], "alice@example.com");
    // Same account through paste: same connection, updated.
    let o = connect_via_cli(&w, "Test textmaster", "--paste").await;
    assert!(o.status.success());
    let again: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(again["id"], conn["id"]);
    let list = cli(&w, &["list", "--json"]);
    assert!(list.status.success());
    let list: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 1);
    let table = stdout(&cli(&w, &["list"]));
    assert!(table.contains("alice@example.com") && table.contains("connected"), "{table}");
    let apps: serde_json::Value = serde_json::from_slice(&cli(&w, &["apps", "--json"]).stdout).unwrap();
    assert_eq!(apps[0]["connectionCount"], 1);
    // The library sees what the command line did.
    assert_eq!(w.lk.list_connections().unwrap().len(), 1);
    w.assert_tokens_work(conn["id"].as_str().unwrap()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_prints_the_stored_token_then_a_refreshed_one() {
    let (w, _) =
        setup("rememberizer", PresetId::Rememberizer, RedirectMode::DeepLink, "read offline_access", "3600").await;
    let c = w.connect(PresetId::Rememberizer, RedirectMode::DeepLink, "read", "alice").await;
    let o = cli(&w, &["token", "alice@example.com"]);
    assert!(o.status.success());
    let stored = w.tokens(&c.id).unwrap();
    assert_eq!(stdout(&o), format!("{}\n", stored.access_token.expose_secret()), "only the token on stdout");
    assert_eq!(w.refreshes().await, 0);
    // It expires within the margin the caller asks for: refreshed first.
    let o = cli(&w, &["token", &c.id, "--min-valid", "7200"]);
    assert!(o.status.success());
    let fresh = w.tokens(&c.id).unwrap();
    assert_ne!(fresh.access_token.expose_secret(), stored.access_token.expose_secret());
    assert_eq!(stdout(&o).trim(), fresh.access_token.expose_secret());
    assert_eq!(w.refreshes().await, 1);
    assert!(w.provider.is_active(stdout(&o).trim()).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_concurrent_processes_make_one_refresh() {
    let (w, _) = setup("generic", PresetId::Generic, RedirectMode::DeepLink, "read", "8").await;
    let c = w.connect(PresetId::Generic, RedirectMode::DeepLink, "read", "alice").await;
    // Wait until the token expires within 5 s, then 20 scripts ask for one valid for 5 s.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let children: Vec<_> = (0..20)
        .map(|_| {
            Command::new(CLI)
                .args(["token", &c.id, "--min-valid", "5"])
                .envs(w.child_env())
                .stdout(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let outs: Vec<String> = children.into_iter().map(|ch| stdout(&ch.wait_with_output().unwrap())).collect();
    assert_eq!(w.refreshes().await, 1, "exactly one refresh at the provider");
    let stored = w.tokens(&c.id).unwrap();
    for o in &outs {
        assert_eq!(o.trim(), stored.access_token.expose_secret(), "every process printed the new token");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_waits_while_the_app_holds_the_refresh_lock() {
    let (w, _) = setup("fusio", PresetId::Fusio, RedirectMode::Paste, "consumer", "3600").await;
    let c = w.connect(PresetId::Fusio, RedirectMode::Paste, "consumer", "alice").await;
    let path = w.lk.lock_path(&c.id);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let lock = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(&path).unwrap();
    lock.lock().unwrap();
    let child = Command::new(CLI)
        .args(["token", &c.id, "--min-valid", "999999"])
        .envs(w.child_env())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(w.refreshes().await, 0, "waiting for the lock, not refreshing beside the app");
    // The app refreshes while holding the lock, then lets go.
    let refreshed = {
        let lk = w.lk.clone();
        let id = c.id.clone();
        drop(lock);
        tokio::spawn(async move { lk.refresh(&id).await }).await.unwrap().unwrap()
    };
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success());
    assert!(refreshed.last_refresh_at.is_some());
    assert!(w.refreshes().await <= 2);
    assert_eq!(stdout(&o).trim(), w.tokens(&c.id).unwrap().access_token.expose_secret());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoke_from_the_command_line() {
    let (w, _) = setup("generic", PresetId::Generic, RedirectMode::DeepLink, "read", "3600").await;
    let c = w.connect(PresetId::Generic, RedirectMode::DeepLink, "read", "alice").await;
    let t = w.tokens(&c.id).unwrap();
    let o = cli(&w, &["revoke", "alice@example.com"]);
    assert!(o.status.success());
    assert!(stdout(&o).contains("revoked"), "{}", stdout(&o));
    assert!(!w.provider.is_active(t.access_token.expose_secret()).await);
    assert!(w.tokens(&c.id).is_none());
    assert!(w.lk.list_connections().unwrap().is_empty());
    assert_eq!(cli(&w, &["revoke", &c.id]).status.code(), Some(3), "a second revoke: not found, harmless");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_exit_code() {
    let (w, app) = setup("generic", PresetId::Generic, RedirectMode::DeepLink, "read", "3600").await;
    let c = w.connect(PresetId::Generic, RedirectMode::DeepLink, "read", "alice").await;
    assert_eq!(cli(&w, &["list"]).status.code(), Some(0));
    assert_eq!(cli(&w, &["frobnicate"]).status.code(), Some(2), "bad usage");
    assert_eq!(cli(&w, &["token"]).status.code(), Some(2), "bad usage");
    assert_eq!(cli(&w, &["token", "nobody@example.com"]).status.code(), Some(3), "not found");
    // Provider unreachable.
    w.provider.fault("token", 503, 1).await;
    let o = cli(&w, &["refresh", &c.id]);
    assert_eq!(o.status.code(), Some(5), "{}", String::from_utf8_lossy(&o.stderr));
    // Keychain unavailable: no Secret Service on the bus this process is given.
    let o = Command::new(CLI)
        .args(["token", &c.id])
        .envs(w.child_env())
        .env("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/bus")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(6), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(o.stdout.is_empty());
    // Provider rejected: a pasted code the provider never issued.
    let mut child = Command::new(CLI)
        .args(["connect", &app, "--paste", "--no-browser"])
        .envs(w.child_env())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    writeln!(child.stdin.take().unwrap(), "not-a-real-code").unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(7), "provider rejected");
    // Needs reconnect.
    w.provider.control("/__test/expire-refresh-tokens", serde_json::json!({})).await;
    let o = cli(&w, &["refresh", &c.id]);
    assert_eq!(o.status.code(), Some(4), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stderr).contains("Reconnect"));
    assert_eq!(w.lk.list_connections().unwrap()[0].status, Status::NeedsReconnect);
    assert_eq!(cli(&w, &["token", &c.id]).status.code(), Some(4));
    // Anything else failing locally: a flow that cannot start (no secret for the app's
    // keychain entry is fine; an unreadable data directory is not).
    let blocked = w.data_dir.join("not-a-dir");
    std::fs::write(&blocked, b"").unwrap();
    let o = Command::new(CLI).args(["list"]).envs(w.child_env()).env("LATCHKEY_DATA_DIR", &blocked).output().unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", String::from_utf8_lossy(&o.stderr));
    // A damaged metadata file has a code of its own (and is left as it is).
    std::fs::write(w.data_dir.join("latchkey.json"), b"{damaged").unwrap();
    let o = cli(&w, &["list"]);
    assert_eq!(o.status.code(), Some(8), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stderr).contains("damaged"));
    assert_eq!(std::fs::read(w.data_dir.join("latchkey.json")).unwrap(), b"{damaged");
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn damaged_files(w: &World) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(&w.data_dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("latchkey.json.damaged-"))
        .collect()
}

/// A damaged data file: every command says so with exit code 8 and changes nothing;
/// `restore` brings back the last good copy (the connection and its token work again) and
/// keeps the damaged file aside; `restore --start-empty` is the other way back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_data_file_is_recovered_from_the_command_line() {
    let (w, _) = setup("generic", PresetId::Generic, RedirectMode::DeepLink, "read", "3600").await;
    let c = w.connect(PresetId::Generic, RedirectMode::DeepLink, "read", "alice").await;
    // One more write: the last good copy now holds the connection.
    assert!(cli(&w, &["label", &c.id, "work"]).status.success());
    let file = w.data_dir.join("latchkey.json");
    let damaged = br#"{"format":1,"apps":[{"id":"#;
    std::fs::write(&file, damaged).unwrap();
    for args in [
        &["list"][..],
        &["apps"],
        &["token", "alice@example.com"],
        &["refresh", &c.id],
        &["revoke", &c.id],
        &["label", &c.id, "x"],
    ] {
        let o = cli(&w, args);
        assert_eq!(o.status.code(), Some(8), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains("is damaged") && stderr(&o).contains("latchkey-cli restore"), "{}", stderr(&o));
        assert!(o.stdout.is_empty(), "{args:?}");
    }
    assert_eq!(std::fs::read(&file).unwrap(), damaged, "nothing overwrote the damaged file");
    assert!(w.tokens(&c.id).is_some(), "the keychain entry is untouched");

    let o = cli(&w, &["restore", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let done: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(done["restored"], true);
    let kept = std::path::PathBuf::from(done["keptAt"].as_str().unwrap());
    assert_eq!(std::fs::read(&kept).unwrap(), damaged, "the damaged file is kept aside");
    assert_eq!(damaged_files(&w), vec![kept.clone()]);
    let list: serde_json::Value = serde_json::from_slice(&cli(&w, &["list", "--json"]).stdout).unwrap();
    assert_eq!(list[0]["id"].as_str(), Some(c.id.as_str()), "{list}");
    let o = cli(&w, &["token", "alice@example.com"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o).trim(), w.tokens(&c.id).unwrap().access_token.expose_secret());
    let o = cli(&w, &["restore"]);
    assert_eq!(o.status.code(), Some(2), "nothing to restore: {}", stderr(&o));

    // No last good copy: restore refuses (changing nothing) and points at --start-empty.
    std::fs::write(&file, b"\0\0\0").unwrap();
    std::fs::remove_file(w.data_dir.join("latchkey.json.bak")).unwrap();
    let o = cli(&w, &["restore"]);
    assert_eq!(o.status.code(), Some(8), "{}", stderr(&o));
    assert!(stderr(&o).contains("--start-empty"), "{}", stderr(&o));
    assert_eq!(std::fs::read(&file).unwrap(), b"\0\0\0");
    let o = cli(&w, &["restore", "--start-empty"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("kept at"), "{}", stderr(&o));
    assert_eq!(damaged_files(&w).len(), 2);
    let o = cli(&w, &["list", "--json"]);
    assert!(o.status.success());
    assert_eq!(serde_json::from_slice::<serde_json::Value>(&o.stdout).unwrap(), serde_json::json!([]));
}

/// The agent on a damaged data file: it says so once in its log file (in the data
/// directory's `logs/`), not on every re-check, and looks again when the file changes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agent_reports_damaged_data_once_in_its_log_and_waits_for_a_change() {
    let (w, _) = setup("generic", PresetId::Generic, RedirectMode::DeepLink, "read", "3600").await;
    let file = w.data_dir.join("latchkey.json");
    std::fs::write(&file, b"{damaged").unwrap();
    /// Stops the agent however the test ends.
    struct Agent(std::process::Child);
    impl Drop for Agent {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut agent = Agent(
        Command::new(env!("CARGO_BIN_EXE_latchkey-agent"))
            .envs(w.child_env())
            .env("LATCHKEY_NO_NOTIFICATIONS", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let log = w.data_dir.join("logs/latchkey-agent.log");
    let reports = || {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains("Background refresh waits"))
            .count()
    };
    let wait_for = async |n: usize| {
        for _ in 0..100 {
            if reports() >= n {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("expected {n} reports in {}:\n{}", log.display(), std::fs::read_to_string(&log).unwrap_or_default());
    };
    wait_for(1).await;
    // The same damage written again wakes the refresher (the store watch), but it is not
    // reported again.
    // Replaced in one step (a plain write passes through an empty file, a damage of its own).
    let replace = |bytes: &[u8]| {
        let tmp = file.with_extension("tmp");
        std::fs::write(&tmp, bytes).unwrap();
        std::fs::rename(&tmp, &file).unwrap();
    };
    replace(b"{damaged");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(reports(), 1, "{}", std::fs::read_to_string(&log).unwrap());
    // Another damage: the watch wakes the refresher, which says so again.
    replace(b"[still damaged]");
    wait_for(2).await;
    assert!(agent.0.try_wait().unwrap().is_none(), "the agent keeps running");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn labels_name_connections() {
    let (w, _) = setup("generic", PresetId::Generic, RedirectMode::DeepLink, "read", "3600").await;
    let alice = w.connect(PresetId::Generic, RedirectMode::DeepLink, "read", "alice").await;
    let bob = w.connect(PresetId::Generic, RedirectMode::DeepLink, "read", "bob").await;
    assert!(cli(&w, &["label", "alice@example.com", "work"]).status.success());
    assert_eq!(cli(&w, &["label", &bob.id, "work"]).status.code(), Some(2), "labels are unique");
    let o = cli(&w, &["token", "work"]);
    assert!(o.status.success());
    assert_eq!(stdout(&o).trim(), w.tokens(&alice.id).unwrap().access_token.expose_secret());
    assert_eq!(
        w.lk.list_connections().unwrap().iter().find(|c| c.id == alice.id).unwrap().label.as_deref(),
        Some("work")
    );
    assert!(cli(&w, &["label", "work", ""]).status.success());
    assert_eq!(cli(&w, &["token", "work"]).status.code(), Some(3));
}

/// `GET target` on a loopback port; returns the HTTP status.
fn loopback_status(port: u16, target: &str) -> u16 {
    use std::io::Read;
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(s, "GET {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0)
}

/// Waits for a child for at most `secs` seconds.
fn wait_at_most(child: &mut std::process::Child, secs: u64) -> Option<std::process::ExitStatus> {
    let deadline = std::time::Instant::now() + Duration::from_secs(secs);
    while std::time::Instant::now() < deadline {
        if let Some(st) = child.try_wait().unwrap() {
            return Some(st);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_loopback_survives_a_wrong_state_and_idle_connections() {
    let (w, app) = setup("rememberizer", PresetId::Rememberizer, RedirectMode::DeepLink, "read", "3600").await;
    let mut child = Command::new(CLI)
        .args(["connect", &app, "--loopback", "--no-browser", "--json"])
        .envs(w.child_env())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut url = String::new();
    out.read_line(&mut url).unwrap();
    let redirect = url::Url::parse(&latchkey_harness::query(url.trim(), "redirect_uri").unwrap()).unwrap();
    let (port, path) = (redirect.port().unwrap(), redirect.path().to_owned());
    assert!(path.starts_with("/oauth/callback/"), "its own path: {path}");
    let t0 = std::time::Instant::now();
    let idle: Vec<_> = (0..20).map(|_| std::net::TcpStream::connect(("127.0.0.1", port)).unwrap()).collect();
    let answer = w.provider.sign_in(url.trim(), "alice", true).await;
    let location = answer["location"].as_str().unwrap().to_owned();
    let state = latchkey_harness::query(&location, "state").unwrap();
    let real = location[location.find(&path).unwrap()..].to_owned();
    let forged = real.replace(&state, "forged-state");
    let (f, p) = (forged.clone(), path.clone());
    let statuses = tokio::task::spawn_blocking(move || {
        [loopback_status(port, &f), loopback_status(port, &format!("{p}?code=x")), loopback_status(port, "/")]
    })
    .await
    .unwrap();
    assert_eq!(statuses, [400, 400, 404]);
    assert!(child.try_wait().unwrap().is_none(), "still waiting for the browser");
    let page = latchkey_harness::client().get(&location).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let status = tokio::task::spawn_blocking(move || wait_at_most(&mut child, 30)).await.unwrap();
    assert_eq!(status.and_then(|s| s.code()), Some(0));
    // Idle connections cost about one read timeout (3 s), not one each.
    assert!(t0.elapsed() < Duration::from_secs(12), "{:?}", t0.elapsed());
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut out, &mut rest).unwrap();
    let conn: serde_json::Value = serde_json::from_str(&rest).unwrap();
    assert_eq!(conn["email"], "alice@example.com");
    w.assert_tokens_work(conn["id"].as_str().unwrap()).await;
    drop(idle);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_loopback_times_out_as_it_says() {
    let (w, app) = setup("rememberizer", PresetId::Rememberizer, RedirectMode::DeepLink, "read", "3600").await;
    let mut child = Command::new(CLI)
        .args(["connect", &app, "--loopback", "--no-browser"])
        .envs(w.child_env())
        .env("LATCHKEY_FLOW_TIMEOUT_SECS", "3")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut url = String::new();
    out.read_line(&mut url).unwrap();
    let redirect = url::Url::parse(&latchkey_harness::query(url.trim(), "redirect_uri").unwrap()).unwrap();
    // A stray request (it used to end the listener, and with it the timeout).
    assert_eq!(loopback_status(redirect.port().unwrap(), &format!("{}?code=x&state=y", redirect.path())), 400);
    let started = std::time::Instant::now();
    let status = wait_at_most(&mut child, 20).expect("latchkey-cli connect ended by itself");
    assert!(started.elapsed() < Duration::from_secs(7), "{:?}", started.elapsed());
    assert_eq!(status.code(), Some(1), "the documented exit code of a failed sign-in");
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert!(err.contains("up to 3 seconds"), "{err}");
    assert!(err.contains("not completed within 3 seconds"), "{err}");
    assert!(w.lk.list_connections().unwrap().is_empty());
    // A nonsense timeout is bad usage.
    let o = Command::new(CLI)
        .args(["list"])
        .envs(w.child_env())
        .env("LATCHKEY_FLOW_TIMEOUT_SECS", "soon")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", String::from_utf8_lossy(&o.stderr));
}
