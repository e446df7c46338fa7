//! `latchkey-cli` as a complete front door, against the test provider and the real Secret
//! Service: provider apps from a script (`apps add | edit | remove`, the secret never on the
//! command line or on disk), `status`, `doctor`, connect's exit codes and paste hint,
//! completions and the man page.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{World, files_under, world_full};
use latchkey_core::vault::{Vault, app_secret_key};
use latchkey_core::{Clock, PresetId, RedirectMode};
use secrecy::ExposeSecret;
use serde_json::Value;

const CLI: &str = env!("CARGO_BIN_EXE_latchkey-cli");

fn cli_env(w: &World, args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(CLI).args(args).envs(w.child_env()).envs(env.iter().copied()).stdin(Stdio::null()).output().unwrap()
}

fn cli(w: &World, args: &[&str]) -> Output {
    cli_env(w, args, &[])
}

fn json(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}\n{}", String::from_utf8_lossy(&o.stdout), stderr(o)))
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn world(profile: &str) -> World {
    world_full(profile, Clock::system(), &["--access-ttl", "3600"])
}

const SECRET: &str = "latchkey-test-secret";

/// `apps add` with the secret on standard input: while the process waits for it, its command
/// line (what `ps` shows) holds no secret; afterwards the secret is in the keychain and in no
/// file.
fn add_with_stdin(w: &World, args: &[&str], secret: &str) -> Output {
    let mut child = Command::new(CLI)
        .args(args)
        .envs(w.child_env())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let cmdline = std::fs::read(format!("/proc/{}/cmdline", child.id())).unwrap();
    assert!(!cmdline.is_empty(), "the process is still waiting on stdin");
    assert!(!String::from_utf8_lossy(&cmdline).contains(secret), "the secret is not on the command line");
    assert!(String::from_utf8_lossy(&cmdline).contains("--client-secret-stdin"));
    let mut stdin = child.stdin.take().unwrap();
    writeln!(stdin, "{secret}").unwrap();
    drop(stdin);
    child.wait_with_output().unwrap()
}

fn no_secret_on_disk(w: &World, secret: &str) {
    for (path, bytes) in files_under(&w.data_dir) {
        assert!(!String::from_utf8_lossy(&bytes).contains(secret), "the secret is in {}", path.display());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_apps_from_a_script_add_edit_remove() {
    let w = world("generic");
    let url = w.provider.url.clone();
    let o = add_with_stdin(
        &w,
        &[
            "apps",
            "add",
            "--preset",
            "generic",
            "--name",
            "Gen",
            "--base-url",
            &url,
            "--client-id",
            "latchkey-test",
            "--scopes",
            "read",
            "--redirect",
            "loopback",
            "--auth-method",
            "client_secret_post",
            "--client-secret-stdin",
            "--json",
        ],
        SECRET,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let app = json(&o);
    let id = app["id"].as_str().unwrap().to_owned();
    assert_eq!(app["name"], "Gen");
    assert_eq!(app["hasSecret"], true);
    assert_eq!(app["authMethod"], "client_secret_post");
    assert_eq!(app["redirectMode"], "loopback");
    assert_eq!(app["scopes"], "read");
    // Discovery ran as it does for the window: endpoints and the device endpoint found.
    assert_eq!(app["tokenUrl"], format!("{url}/oauth/token"));
    assert_eq!(app["deviceAuthorizationUrl"], format!("{url}/device/auth"));
    assert!(app["redirectUri"].as_str().unwrap().starts_with("http://127.0.0.1/oauth/callback/"));
    assert_eq!(w.vault.get(&app_secret_key(&id)).unwrap().unwrap().expose_secret(), SECRET);
    no_secret_on_disk(&w, SECRET);
    // The secret works: a sign-in through the app completes.
    let o = connect_loopback(&w, "Gen").await;
    assert!(o.status.success(), "{}", stderr(&o));
    let c = w.lk.list_connections().unwrap().remove(0);
    w.assert_tokens_work(&c.id).await;

    // Edit: only what is given changes; the secret from an environment variable.
    let o = cli_env(
        &w,
        &[
            "apps",
            "edit",
            "Gen",
            "--scopes",
            "read write",
            "--loopback-port",
            "48123",
            "--client-secret-env",
            "NEW_SECRET",
            "--json",
        ],
        &[("NEW_SECRET", "a-new-secret")],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let edited = json(&o);
    assert_eq!(edited["id"], id.as_str());
    assert_eq!(edited["scopes"], "read write");
    assert_eq!(edited["loopbackPort"], 48123);
    assert_eq!(edited["name"], "Gen");
    assert_eq!(edited["tokenUrl"], app["tokenUrl"]);
    assert_eq!(edited["authMethod"], "client_secret_post");
    assert_eq!(w.vault.get(&app_secret_key(&id)).unwrap().unwrap().expose_secret(), "a-new-secret");
    no_secret_on_disk(&w, "a-new-secret");
    // Bad input: a clear error, exit 2, nothing changed.
    let o = cli(&w, &["apps", "edit", &id, "--loopback-port", "80"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("Loopback port"), "{}", stderr(&o));
    let o = cli(&w, &["apps", "edit", &id, "--client-secret-env", "NOT_SET_ANYWHERE"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let o = cli(&w, &["apps", "add", "--preset", "fusio", "--client-id", "x"]);
    assert_eq!(o.status.code(), Some(2), "Fusio needs a base URL: {}", stderr(&o));
    let o = cli(&w, &["apps", "add", "--preset", "generic", "--client-id", "x", "--client-secret", "s"]);
    assert_eq!(o.status.code(), Some(2), "no secret on the command line: {}", stderr(&o));
    let list = json(&cli(&w, &["apps", "list", "--json"]));
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["scopes"], "read write");
    assert_eq!(list, json(&cli(&w, &["apps", "--json"])), "`apps` alone lists");
    // Back to the working secret (edit keeps everything else).
    let o = cli_env(&w, &["apps", "edit", &id, "--client-secret-env", "S"], &[("S", SECRET)]);
    assert!(o.status.success(), "{}", stderr(&o));

    // Remove: with a connection and no TTY, the question needs an answer on the command line.
    let o = cli(&w, &["apps", "remove", "Gen"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("--revoke") && stderr(&o).contains("--keep"), "{}", stderr(&o));
    assert_eq!(w.lk.list_apps().unwrap().len(), 1, "nothing removed");
    let tokens = w.tokens(&c.id).unwrap();
    let o = cli(&w, &["apps", "remove", "Gen", "--revoke", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(json(&o)["connectionsRevoked"], true);
    assert!(w.lk.list_apps().unwrap().is_empty());
    assert!(w.lk.list_connections().unwrap().is_empty());
    assert!(!w.provider.is_active(tokens.access_token.expose_secret()).await, "revoked at the provider");
    assert!(w.vault.get(&app_secret_key(&id)).unwrap().is_none(), "the secret left the keychain");

    // --keep: the connection stays.
    let o = cli_env(
        &w,
        &[
            "apps",
            "add",
            "--preset",
            "generic",
            "--base-url",
            &url,
            "--client-id",
            "latchkey-test",
            "--scopes",
            "read",
            "--client-secret-env",
            "S",
        ],
        &[("S", SECRET)],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let id2 = String::from_utf8(o.stdout).unwrap().trim().to_owned();
    let c2 = w.connect(PresetId::Generic, RedirectMode::DeepLink, "read", "bob").await;
    let o = cli(&w, &["apps", "remove", &id2, "--keep"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(w.lk.list_connections().unwrap()[0].id, c2.id);
    assert!(w.provider.is_active(w.tokens(&c2.id).unwrap().access_token.expose_secret()).await);
    assert_eq!(cli(&w, &["apps", "remove", &id2, "--keep"]).status.code(), Some(3), "gone");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_reports_health_and_exits_by_the_worst_problem() {
    let w = world("generic");
    assert_eq!(cli(&w, &["status"]).status.code(), Some(3), "no connections: nothing to be healthy");
    let c = w.connect(PresetId::Generic, RedirectMode::DeepLink, "read", "alice").await;
    let o = cli(&w, &["status", "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let s = json(&o);
    assert_eq!(s["ok"], true);
    assert_eq!(s["exitCode"], 0);
    assert_eq!(s["keychain"]["reachable"], true);
    assert_eq!(s["keychain"]["unlocked"], true);
    assert_eq!(s["keychain"]["service"], w.service.as_str());
    assert_eq!(s["agent"]["running"], false);
    assert!(s["agent"]["pid"].is_null());
    let conn = &s["connections"][0];
    assert_eq!(conn["id"], c.id.as_str());
    assert_eq!(conn["account"], "alice@example.com");
    assert_eq!(conn["appName"], "Test generic");
    assert_eq!(conn["status"], "connected");
    assert_eq!(conn["hasRefreshToken"], true);
    assert_eq!(conn["scopesGranted"], serde_json::json!(["read"]));
    assert!(conn["expiresIn"].as_i64().unwrap() > 3000);
    assert!(conn["nextRefreshAt"].as_i64().unwrap() > conn["expiresAt"].as_i64().unwrap() - 3600);
    assert!(conn["lastError"].is_null());
    assert_eq!(conn["attention"], serde_json::json!([]));
    assert!(conn["check"].is_null());
    let t = w.tokens(&c.id).unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(!text.contains(t.access_token.expose_secret()) && !text.contains(t.refresh_token.unwrap().expose_secret()));
    let human = cli(&w, &["status"]);
    let out = String::from_utf8_lossy(&human.stdout);
    assert!(out.contains("alice@example.com") && out.contains("refresh token: held"), "{out}");

    // The agent (here: this test holding its instance lock) is found with its pid.
    let lock = latchkey_core::agent::InstanceLock::try_acquire(&w.data_dir).unwrap().unwrap();
    let s = json(&cli(&w, &["status", "--json", "alice@example.com"]));
    assert_eq!(s["agent"]["running"], true);
    assert_eq!(s["agent"]["pid"], std::process::id());
    drop(lock);

    // --check: one authenticated request proves the token; a provider down exits 5.
    let s = json(&cli(&w, &["status", "--check", "--json"]));
    assert_eq!(s["connections"][0]["check"]["ok"], true, "{s}");
    w.provider.fault("resource", 503, 1).await;
    let o = cli(&w, &["status", "--check", "--json"]);
    assert_eq!(o.status.code(), Some(5), "{}", stderr(&o));
    assert_eq!(json(&o)["connections"][0]["check"]["ok"], false);

    // Needs reconnect: exit 4, with what to do.
    w.provider.control("/__test/expire-refresh-tokens", serde_json::json!({})).await;
    assert!(w.lk.refresh(&c.id).await.is_err());
    let o = cli(&w, &["status", "--json"]);
    assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
    let s = json(&o);
    assert_eq!(s["ok"], false);
    assert_eq!(s["exitCode"], 4);
    assert_eq!(s["connections"][0]["status"], "needs-reconnect");
    assert!(s["connections"][0]["lastError"].as_str().is_some());
    assert!(s["connections"][0]["attention"][0].as_str().unwrap().contains("reconnect"));
    assert_eq!(cli(&w, &["status"]).status.code(), Some(4));
    assert_eq!(cli(&w, &["status", "nobody@example.com"]).status.code(), Some(3));
}

fn checks(o: &Output) -> Vec<(String, String)> {
    let v = json(o);
    v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["id"].as_str().unwrap().to_owned(), c["verdict"].as_str().unwrap().to_owned()))
        .collect()
}

fn verdict(o: &Output, id: &str) -> String {
    checks(o).into_iter().find(|(i, _)| i == id).unwrap_or_else(|| panic!("no check {id}")).1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_runs_every_check() {
    let w = world("generic");
    w.connect(PresetId::Generic, RedirectMode::DeepLink, "read", "alice").await;
    let home = latchkey_harness::temp_dir("doctor-home");
    let (config, data) = (home.join("config"), home.join("data"));
    std::fs::create_dir_all(config.join("autostart")).unwrap();
    std::fs::create_dir_all(data.join("applications")).unwrap();
    let env = |extra: &[(&'static str, String)]| {
        let mut v: Vec<(&'static str, String)> = vec![
            ("XDG_CONFIG_HOME", config.display().to_string()),
            ("XDG_DATA_HOME", data.display().to_string()),
            ("XDG_DATA_DIRS", data.display().to_string()),
        ];
        v.extend(extra.iter().cloned());
        v
    };
    let doctor = |extra: &[(&'static str, String)]| {
        Command::new(CLI)
            .args(["doctor", "--json"])
            .envs(w.child_env())
            .envs(env(extra))
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    let o = doctor(&[]);
    let all = checks(&o);
    let ids: Vec<&str> = all.iter().map(|(i, _)| i.as_str()).collect();
    assert_eq!(
        ids,
        [
            "session-bus",
            "secret-service",
            "notifications",
            "scheme-handler",
            "agent-autostart",
            "agent-running",
            "data-file",
            "data-permissions",
            "clock"
        ]
    );
    for (id, v) in &all {
        assert!(["pass", "warn", "fail"].contains(&v.as_str()), "{id}: {v}");
    }
    for c in json(&o)["checks"].as_array().unwrap() {
        assert!(!c["detail"].as_str().unwrap().is_empty());
        assert_eq!(c["fix"].is_null(), c["verdict"] == "pass", "a fix for every WARN and FAIL: {c}");
    }
    assert_eq!(verdict(&o, "session-bus"), "pass");
    assert_eq!(verdict(&o, "secret-service"), "pass");
    assert_eq!(verdict(&o, "data-file"), "pass");
    assert_eq!(verdict(&o, "data-permissions"), "pass");
    assert_eq!(verdict(&o, "clock"), "pass", "the test provider sends a Date header");
    assert_eq!(verdict(&o, "agent-running"), "warn");
    assert_eq!(verdict(&o, "agent-autostart"), "warn", "no login entry in this HOME");
    assert_eq!(verdict(&o, "scheme-handler"), "warn", "no handler registered in this HOME");
    assert_eq!(o.status.code(), Some(0), "warnings only");

    // A login entry and a URL handler pointing at programs that exist: PASS; that do not: FAIL.
    let entry = config.join("autostart/latchkey-agent.desktop");
    std::fs::write(&entry, "[Desktop Entry]\nType=Application\nName=latchkey-agent\nExec=/bin/true\n").unwrap();
    std::fs::write(
        data.join("applications/latchkey-handler.desktop"),
        "[Desktop Entry]\nType=Application\nName=Latchkey\nExec=\"/bin/true\" %u\nMimeType=x-scheme-handler/app.latchkey;\n",
    )
    .unwrap();
    std::fs::write(
        config.join("mimeapps.list"),
        "[Default Applications]\nx-scheme-handler/app.latchkey=latchkey-handler.desktop\n",
    )
    .unwrap();
    let lock = latchkey_core::agent::InstanceLock::try_acquire(&w.data_dir).unwrap().unwrap();
    let o = doctor(&[]);
    assert_eq!(verdict(&o, "agent-autostart"), "pass", "{}", String::from_utf8_lossy(&o.stdout));
    assert_eq!(verdict(&o, "scheme-handler"), "pass", "{}", String::from_utf8_lossy(&o.stdout));
    assert_eq!(verdict(&o, "agent-running"), "pass");
    drop(lock);
    std::fs::write(
        &entry,
        "[Desktop Entry]\nType=Application\nName=latchkey-agent\nExec=/nonexistent/latchkey-agent\n",
    )
    .unwrap();
    std::fs::write(
        data.join("applications/latchkey-handler.desktop"),
        "[Desktop Entry]\nType=Application\nName=Latchkey\nExec=/nonexistent/latchkey %u\nMimeType=x-scheme-handler/app.latchkey;\n",
    )
    .unwrap();
    let o = doctor(&[]);
    assert_eq!(verdict(&o, "agent-autostart"), "fail");
    assert_eq!(verdict(&o, "scheme-handler"), "fail");
    assert_eq!(o.status.code(), Some(1), "a FAIL exits 1");

    // Loose permissions: WARN with the chmod to run.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&w.data_dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let o = doctor(&[]);
    assert_eq!(verdict(&o, "data-permissions"), "warn");
    std::fs::set_permissions(&w.data_dir, std::fs::Permissions::from_mode(0o700)).unwrap();

    // No session bus: the bus and the keychain FAIL, with what to do.
    let o = doctor(&[("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/bus".into())]);
    assert_eq!(verdict(&o, "session-bus"), "fail");
    assert_eq!(verdict(&o, "secret-service"), "fail");
    assert_eq!(o.status.code(), Some(1));

    // A damaged data file: doctor still runs and says how to recover.
    std::fs::write(w.data_dir.join("latchkey.json"), b"{damaged").unwrap();
    let o = doctor(&[]);
    assert_eq!(verdict(&o, "data-file"), "fail");
    assert!(String::from_utf8_lossy(&o.stdout).contains("latchkey-cli restore"));
    let human = Command::new(CLI).arg("doctor").envs(w.child_env()).envs(env(&[])).output().unwrap();
    let text = String::from_utf8_lossy(&human.stdout);
    assert!(text.contains("FAIL  Data file readable") && text.contains("PASS  D-Bus session bus"), "{text}");
}

/// Starts `connect --loopback`, plays the browser, and returns the finished process.
async fn connect_loopback(w: &World, app: &str) -> Output {
    let (mut child, _out, url) =
        w.spawn_cli(CLI, &["connect", app, "--loopback", "--no-browser"], Stdio::null(), Stdio::piped());
    let answer = w.provider.sign_in(url.trim(), "alice", true).await;
    let location = answer["location"].as_str().unwrap().to_owned();
    let _ = latchkey_harness::client().get(location).send().await;
    let status = child.wait().unwrap();
    let mut err = String::new();
    child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    Output { status, stdout: vec![], stderr: err.into_bytes() }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_exits_with_the_code_of_its_error() {
    // A missing scope (TextMaster's profile needs a user:* scope): 7, not 1.
    let w = world("textmaster");
    let app =
        w.lk.save_app(common::app_input(&w, PresetId::Textmaster, RedirectMode::Loopback, "public")).await.unwrap();
    let o = connect_loopback(&w, &app.id).await;
    assert_eq!(o.status.code(), Some(7), "{}", stderr(&o));
    assert!(stderr(&o).contains("user:read"), "the missing scope is named: {}", stderr(&o));
    // The provider failing the code exchange: 5.
    let w = world("generic");
    let app = w.lk.save_app(common::app_input(&w, PresetId::Generic, RedirectMode::Loopback, "read")).await.unwrap();
    w.provider.fault("token", 503, 1).await;
    let o = connect_loopback(&w, &app.id).await;
    assert_eq!(o.status.code(), Some(5), "{}", stderr(&o));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_paste_hints_after_a_while_without_input() {
    let w = world("textmaster");
    let app =
        w.lk.save_app(common::app_input(&w, PresetId::Textmaster, RedirectMode::Paste, "public user:read user:email"))
            .await
            .unwrap();
    let mut child = Command::new(CLI)
        .args(["connect", &app.id, "--paste", "--no-browser", "--json"])
        .envs(w.child_env())
        .env("LATCHKEY_PASTE_HINT_SECS", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut url = String::new();
    out.read_line(&mut url).unwrap();
    let answer = w.provider.sign_in(url.trim(), "alice", true).await;
    let started = Instant::now();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    writeln!(child.stdin.take().unwrap(), "{}", answer["code"].as_str().unwrap()).unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("error page instead of a code") && err.contains("Ctrl-C"), "{err}");
    assert!(started.elapsed() >= Duration::from_secs(2));
    let mut rest = String::new();
    out.read_to_string(&mut rest).unwrap();
    let conn: Value = serde_json::from_str(&rest).unwrap();
    assert_eq!(conn["email"], "alice@example.com");
    assert_eq!(w.lk.list_connections().unwrap().len(), 1);
}

#[test]
fn completions_and_man_page_come_from_the_definitions() {
    let run = |args: &[&str]| Command::new(CLI).args(args).output().unwrap();
    let bash = run(&["completions", "bash"]);
    assert!(bash.status.success());
    let script = latchkey_harness::temp_dir("completions").join("latchkey-cli.bash");
    std::fs::write(&script, &bash.stdout).unwrap();
    let o = Command::new("bash")
        .args(["-c", &format!("source {}; complete -p latchkey-cli", script.display())])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("latchkey-cli"));
    let text = String::from_utf8_lossy(&bash.stdout);
    for word in ["apps", "status", "doctor", "--client-secret-stdin", "--device"] {
        assert!(text.contains(word), "bash completion knows {word}");
    }
    assert!(String::from_utf8_lossy(&run(&["completions", "zsh"]).stdout).starts_with("#compdef latchkey-cli"));
    assert!(String::from_utf8_lossy(&run(&["completions", "fish"]).stdout).contains("complete -c latchkey-cli"));
    assert_eq!(run(&["completions", "tcsh"]).status.code(), Some(2));
    let man = run(&["man"]);
    assert!(man.status.success());
    let man = String::from_utf8_lossy(&man.stdout);
    assert!(man.contains(".TH latchkey-cli") && man.contains("status") && man.contains("doctor"), "{man}");
}
