//! Background refresh against the test provider (short-lived, rotating tokens) and the real
//! Secret Service: single flight in one process and across processes, faults, Needs
//! reconnect and Reconnect, and the headless agent.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::{World, short_lived, wait_for};
use latchkey_core::{ErrorCode, PresetId, RedirectMode, Status};
use secrecy::ExposeSecret;
use tokio_util::sync::CancellationToken;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_refresher_keeps_a_connection_alive_across_rotations() {
    let w = short_lived("rememberizer", "4");
    let c = w.connect(PresetId::Rememberizer, RedirectMode::DeepLink, "read offline_access", "alice").await;
    let first = w.tokens(&c.id).unwrap();
    let cancel = CancellationToken::new();
    let task = tokio::spawn(latchkey_core::refresh::run(w.lk.clone(), cancel.clone()));
    wait_for("three rotations", 30, async || w.refreshes().await >= 3).await;
    cancel.cancel();
    task.await.unwrap();
    let now = w.tokens(&c.id).unwrap();
    assert_ne!(
        now.refresh_token.as_ref().unwrap().expose_secret(),
        first.refresh_token.as_ref().unwrap().expose_secret()
    );
    assert!(!w.provider.is_active(first.refresh_token.unwrap().expose_secret()).await, "rotated away");
    w.assert_tokens_work(&c.id).await;
    let v = &w.lk.list_connections().unwrap()[0];
    assert_eq!(v.status, Status::Connected);
    assert!(v.last_refresh_at.is_some() && v.next_refresh_at.unwrap() > v.last_refresh_at.unwrap());
    assert!(w.lk.load().unwrap().connections[0].refresh_log.iter().all(|e| e.ok));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_concurrent_token_requests_make_one_refresh() {
    let w = short_lived("textmaster", "3600");
    let c = w.connect(PresetId::Textmaster, RedirectMode::DeepLink, "public user:read user:email", "alice").await;
    let old = w.tokens(&c.id).unwrap();
    // Ask for a token valid for longer than it lives: every caller wants a refresh.
    let calls: Vec<_> = (0..100)
        .map(|_| {
            let lk = w.lk.clone();
            let id = c.id.clone();
            tokio::spawn(async move { lk.access_token(&id, 7200).await.map(|t| t.expose_secret().to_owned()) })
        })
        .collect();
    let mut tokens = vec![];
    for h in calls {
        tokens.push(h.await.unwrap().unwrap_or_else(|e| panic!("{e} ({})", e.code())));
    }
    assert_eq!(w.refreshes().await, 1, "exactly one refresh at the provider");
    tokens.dedup();
    assert_eq!(tokens.len(), 1, "every caller got the same new token");
    assert_ne!(tokens[0], old.access_token.expose_secret());
    assert_eq!(tokens[0], w.tokens(&c.id).unwrap().access_token.expose_secret());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_faults_are_retried_and_lose_nothing() {
    let w = short_lived("rememberizer", "4");
    let c = w.connect(PresetId::Rememberizer, RedirectMode::DeepLink, "read offline_access", "alice").await;
    // The connection dropped under the request, once: the request is sent again on a new one,
    // and the refresh succeeds.
    let sent = w.refreshes().await;
    w.provider.control("/__test/fault", serde_json::json!({"route": "token", "drop": true, "count": 1})).await;
    w.lk.refresh(&c.id).await.unwrap();
    assert_eq!(w.refreshes().await, sent + 2, "the dropped request and the one sent again");
    assert!(w.lk.list_connections().unwrap()[0].last_error.is_none());
    // Dropped twice in a row: a network error, the connection stays usable and unchanged.
    let before = w.tokens(&c.id).unwrap();
    w.provider.control("/__test/fault", serde_json::json!({"route": "token", "drop": true, "count": 2})).await;
    let err = w.lk.refresh(&c.id).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::Network, "{err}");
    let v = &w.lk.list_connections().unwrap()[0];
    assert_eq!(v.status, Status::Connected);
    assert!(v.last_error.is_some());
    assert_eq!(
        w.tokens(&c.id).unwrap().refresh_token.unwrap().expose_secret(),
        before.refresh_token.as_ref().unwrap().expose_secret()
    );
    // 503 with Retry-After twice, then the refresher succeeds.
    w.provider
        .control("/__test/fault", serde_json::json!({"route": "token", "status": 503, "count": 2, "retryAfter": 1}))
        .await;
    let start = w.refreshes().await;
    let cancel = CancellationToken::new();
    let task = tokio::spawn(latchkey_core::refresh::run(w.lk.clone(), cancel.clone()));
    wait_for("recovery after two 503s", 30, async || {
        w.refreshes().await >= start + 3 && w.lk.list_connections().unwrap()[0].last_error.is_none()
    })
    .await;
    cancel.cancel();
    task.await.unwrap();
    let log = &w.lk.load().unwrap().connections[0].refresh_log;
    assert!(log.iter().filter(|e| !e.ok).count() >= 3, "{log:?}");
    assert!(log.last().unwrap().ok);
    w.assert_tokens_work(&c.id).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_refresh_token_means_needs_reconnect_and_reconnect_repairs_it() {
    for (profile, preset, mode, scopes) in [
        ("generic", PresetId::Generic, RedirectMode::DeepLink, "read"),
        ("fusio", PresetId::Fusio, RedirectMode::Paste, "consumer"),
    ] {
        let w = short_lived(profile, "3600");
        let c = w.connect(preset, mode, scopes, "alice").await;
        w.provider.control("/__test/expire-refresh-tokens", serde_json::json!({})).await;
        let err = w.lk.refresh(&c.id).await.unwrap_err();
        assert_eq!(err.code(), ErrorCode::NeedsReconnect, "{profile}: {err}");
        let v = &w.lk.list_connections().unwrap()[0];
        assert_eq!(v.status, Status::NeedsReconnect, "{profile}");
        assert!(
            v.last_error.as_deref().unwrap().contains("no longer accepts")
                || v.last_error.as_deref().unwrap().contains("refresh token"),
            "{:?}",
            v.last_error
        );
        assert!(w.tokens(&c.id).is_some(), "{profile}: never deleted");
        // Token requests say so instead of failing obscurely.
        assert_eq!(w.lk.access_token(&c.id, 99999).await.unwrap_err().code(), ErrorCode::NeedsReconnect);
        // Reconnect: the same account, the same row, Connected again.
        let app = &w.lk.list_apps().unwrap()[0];
        let start = w.lk.start_connect(&app.id, Some(&c.id)).await.unwrap();
        let answer = w.provider.sign_in(&start.authorize_url, "alice", true).await;
        let again = match mode {
            RedirectMode::Paste => w.lk.submit_code(&start.flow_id, answer["code"].as_str().unwrap()).await.unwrap(),
            _ => w.lk.handle_callback(answer["location"].as_str().unwrap()).await.unwrap(),
        };
        assert_eq!(again.id, c.id);
        assert_eq!(again.status, Status::Connected);
        assert!(again.last_error.is_none());
        w.lk.refresh(&c.id).await.unwrap();
        w.assert_tokens_work(&c.id).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_that_does_not_answer_in_time_is_a_network_error_and_loses_nothing() {
    let w = short_lived("generic", "3600");
    let c = w.connect(PresetId::Generic, RedirectMode::DeepLink, "read", "alice").await;
    let before = w.tokens(&c.id).unwrap();
    w.provider
        .control("/__test/fault", serde_json::json!({"route": "token", "delayMs": 4000, "status": 200, "count": 1}))
        .await;
    let o = Command::new(env!("CARGO_BIN_EXE_latchkey-cli"))
        .args(["refresh", &c.id])
        .envs(w.child_env())
        .env("LATCHKEY_HTTP_TIMEOUT_SECS", "1")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(5), "{}", String::from_utf8_lossy(&o.stderr));
    let v = &w.lk.list_connections().unwrap()[0];
    assert_eq!(v.status, Status::Connected);
    assert!(v.last_error.as_deref().unwrap().contains("could not reach"), "{:?}", v.last_error);
    assert_eq!(
        w.tokens(&c.id).unwrap().refresh_token.unwrap().expose_secret(),
        before.refresh_token.unwrap().expose_secret()
    );
    // The next attempt goes through.
    tokio::time::sleep(Duration::from_secs(4)).await;
    w.lk.refresh(&c.id).await.unwrap();
    w.assert_tokens_work(&c.id).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn app_and_agent_together_refresh_each_due_connection_once() {
    let w = short_lived("rememberizer", "6");
    let c = w.connect(PresetId::Rememberizer, RedirectMode::DeepLink, "read offline_access", "alice").await;
    // The agent, and a second refresher in this process (as an app would run if it ignored
    // the instance lock): single flight still allows one refresh per due time.
    let mut a = agent(&w);
    let cancel = CancellationToken::new();
    let task = tokio::spawn(latchkey_core::refresh::run(w.lk.clone(), cancel.clone()));
    let start = std::time::Instant::now();
    tokio::time::sleep(Duration::from_secs(13)).await;
    cancel.cancel();
    task.await.unwrap();
    a.kill().unwrap();
    a.wait().unwrap();
    let elapsed = start.elapsed().as_secs_f64();
    let n = w.refreshes().await;
    // 6-second tokens are refreshed at half-life: one refresh per 3 s at most.
    assert!(n >= 2, "refreshed: {n}");
    assert!((n as f64) <= elapsed / 3.0 + 1.0, "{n} refreshes in {elapsed:.1} s: some were doubled");
    assert_eq!(w.lk.list_connections().unwrap()[0].status, Status::Connected);
    w.assert_tokens_work(&c.id).await;
}

fn agent(w: &World) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_latchkey-agent"))
        .envs(w.child_env())
        .env("LATCHKEY_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("agent")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agent_alone_keeps_connections_alive_and_a_second_agent_exits() {
    let w = short_lived("fusio", "4");
    let c = w.connect(PresetId::Fusio, RedirectMode::Paste, "consumer", "alice").await;
    let mut a1 = agent(&w);
    wait_for("agent refreshes", 30, async || w.refreshes().await >= 2).await;
    // Exactly one refresher: a second agent sees the instance lock and leaves.
    let status =
        Command::new(env!("CARGO_BIN_EXE_latchkey-agent")).envs(w.child_env()).stderr(Stdio::null()).status().unwrap();
    assert!(status.success());
    // Kill the agent (mid-work or not) and start it again: nothing is lost.
    a1.kill().unwrap();
    a1.wait().unwrap();
    let n = w.refreshes().await;
    let mut a2 = agent(&w);
    wait_for("the restarted agent refreshes", 30, async || w.refreshes().await >= n + 2).await;
    a2.kill().unwrap();
    a2.wait().unwrap();
    let v = &w.lk.list_connections().unwrap()[0];
    assert_eq!(v.id, c.id);
    assert_ne!(v.status, Status::NeedsReconnect, "{:?}", v.last_error);
    // Killed mid-refresh, a connection is left "Refreshing": recovery puts it right.
    w.lk.recover_interrupted_refreshes().await.unwrap();
    assert_eq!(w.lk.list_connections().unwrap()[0].status, Status::Connected);
    w.lk.refresh(&c.id).await.unwrap();
    w.assert_tokens_work(&c.id).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_refreshing_one_connection_make_one_refresh() {
    let w = short_lived("generic", "3600");
    let c = w.connect(PresetId::Generic, RedirectMode::DeepLink, "read", "alice").await;
    let cli = env!("CARGO_BIN_EXE_latchkey-cli");
    // Hold the connection's refresh lock here, as a refreshing app would.
    let path = w.lk.lock_path(&c.id);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let guard = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(&path).unwrap();
    guard.lock().unwrap();
    let spawn = || {
        Command::new(cli)
            .args(["token", &c.id, "--min-valid", "99999"])
            .envs(w.child_env())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (p1, p2) = (spawn(), spawn());
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(w.refreshes().await, 0, "both processes wait for the lock");
    drop(guard);
    let (o1, o2) = (p1.wait_with_output().unwrap(), p2.wait_with_output().unwrap());
    assert!(o1.status.success() && o2.status.success());
    // Both wanted a refresh; the second found the first one's result.
    assert_eq!(w.refreshes().await, 1, "one refresh at the provider");
    let stored = w.tokens(&c.id).unwrap();
    assert_eq!(String::from_utf8(o1.stdout).unwrap().trim(), stored.access_token.expose_secret());
    assert_eq!(String::from_utf8(o2.stdout).unwrap().trim(), stored.access_token.expose_secret());
}

#[test]
fn the_agent_registers_itself_to_start_at_login() {
    let home = latchkey_harness::temp_dir("autostart-home");
    let agent = env!("CARGO_BIN_EXE_latchkey-agent");
    let run = |arg: &str| Command::new(agent).args(["--autostart", arg]).env("HOME", &home).status().unwrap();
    assert!(run("on").success());
    let desktop = home.join(".config/autostart/latchkey-agent.desktop");
    let text = std::fs::read_to_string(&desktop).expect("XDG autostart entry");
    assert!(text.contains(agent), "{text}");
    assert!(run("off").success());
    assert!(!desktop.exists());
    assert_eq!(run("sideways").code(), Some(2));
}
