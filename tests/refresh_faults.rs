//! The refresh engine under faults, against the real test provider and the real Secret Service:
//! metadata that lags the keychain, nonsense lifetimes, a keychain locked mid-refresh, processes
//! killed mid-refresh, a lock held by a stopped process, `token --min-valid` against a provider
//! that deletes the previous access token, and rejected client credentials.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{World, cpu_time, short_lived, wait_for};
use latchkey_core::vault::{Vault, app_secret_key, connection_key};
use latchkey_core::{ErrorCode, PresetId, RedirectMode, Status};
use serde_json::json;
use tokio_util::sync::CancellationToken;

fn agent(w: &World, extra: &[(&str, &str)]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_latchkey-agent"))
        .envs(w.child_env())
        .envs(extra.iter().copied())
        .env("LATCHKEY_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("agent")
}

fn stop(mut c: Child) {
    let _ = c.kill();
    let _ = c.wait();
}

async fn rememberizer(w: &World, login: &str) -> latchkey_core::ConnectionView {
    w.connect(PresetId::Rememberizer, RedirectMode::DeepLink, "read offline_access", login).await
}

/// A crash between the keychain write and the metadata write: the metadata says due, the
/// keychain holds a newer, fresh set. The agent must not spin (it did: ~13 s of CPU in 20 s),
/// must repair the metadata, and must send nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_behind_the_keychain_is_repaired_without_spinning_or_sending() {
    let w = short_lived("rememberizer", "3600");
    let c = rememberizer(&w, "alice").await;
    let a = agent(&w, &[]);
    tokio::time::sleep(Duration::from_secs(1)).await;
    // The "crash": a newer generation reached the keychain, the metadata still says due.
    let mut newer = w.tokens(&c.id).unwrap();
    newer.generation += 1;
    newer.issued_at = w.lk.now();
    newer.expires_at = Some(w.lk.now() + 3600);
    w.vault.set(&connection_key(&c.id), &newer.to_vault_string()).unwrap();
    let data_path = w.data_dir.join("latchkey.json");
    let mut data: serde_json::Value = serde_json::from_slice(&std::fs::read(&data_path).unwrap()).unwrap();
    let past = w.lk.now() - 10;
    data["connections"][0]["nextRefreshAt"] = json!(past);
    data["connections"][0]["expiresAt"] = json!(past + 5);
    std::fs::write(&data_path, serde_json::to_vec(&data).unwrap()).unwrap();
    let before = cpu_time(a.id());
    tokio::time::sleep(Duration::from_secs(20)).await;
    let used = cpu_time(a.id()) - before;
    stop(a);
    assert!(used < Duration::from_secs(1), "the agent used {used:?} of CPU in 20 s");
    assert_eq!(w.refreshes().await, 0, "nothing was sent to the provider");
    let row = w.lk.load().unwrap().connections[0].clone();
    assert_eq!(row.token_generation, newer.generation, "repaired from the keychain");
    assert!(row.next_refresh_at.unwrap() > w.lk.now() + 1800, "{:?}", row.next_refresh_at);
}

/// `expires_in` 0, −100 and 400000000 (read as an absolute time in 1982): the lifetime is
/// unknown, not "expired now". With the agent running (default minimum interval), at most 5
/// refreshes in 30 s (it was about 2,600).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nonsense_lifetimes_do_not_storm() {
    let mut worlds = vec![];
    for value in [json!(0), json!(-100), json!(400_000_000)] {
        let w = short_lived("rememberizer", "3600");
        w.provider.control("/__test/behaviour", json!({ "expiresIn": value })).await;
        let c = rememberizer(&w, "alice").await;
        assert_eq!(w.lk.list_connections().unwrap()[0].expires_at, None, "{value}: unknown lifetime");
        // The agent with the shipped settings (no test override of the minimum interval).
        let a = agent(&w, &[("LATCHKEY_MIN_REFRESH_INTERVAL_SECS", "30")]);
        worlds.push((w, c, a, value));
    }
    tokio::time::sleep(Duration::from_secs(30)).await;
    for (w, c, a, value) in worlds {
        stop(a);
        let n = w.refreshes().await;
        assert!(n <= 5, "{value}: {n} refreshes in 30 s");
        // Still usable: a token on demand, and an explicit refresh works.
        w.lk.access_token(&c.id, 60).await.unwrap();
        w.lk.refresh(&c.id).await.unwrap();
        w.assert_tokens_work(&c.id).await;
    }
}

fn soak_trials() -> usize {
    std::env::var("SOAK_TRIALS").ok().and_then(|s| s.parse().ok()).unwrap_or(20)
}

/// SIGKILL at random moments while the agent refreshes (tokens living 2 s, refresh requests
/// slowed so kills land mid-flight). After every kill, as the next start would, interrupted
/// states are recovered: no connection is left refreshing or waiting, and one the kill broke
/// (killed after the provider rotated the refresh token, before the keychain had it) is Needs
/// reconnect with a reason — then reconnected, so the next trial kills real refreshes again.
/// At the end every connection is valid or explained, and nothing loops.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_refresh_leaves_every_connection_valid_or_explained() {
    let w = short_lived("rememberizer", "2");
    let mut conns = vec![];
    for login in ["alice", "bob"] {
        conns.push((rememberizer(&w, login).await.id, login));
    }
    let ids: Vec<String> = conns.iter().map(|(id, _)| id.clone()).collect();
    let trials = soak_trials();
    let mut rng = 0x9e37_79b9_7f4a_7c15_u64;
    let mut broken = 0;
    for trial in 0..trials {
        w.provider
            .control("/__test/fault", json!({"route": "token", "delayMs": 150, "status": null, "count": 3}))
            .await;
        let a = agent(&w, &[("LATCHKEY_LOG", "warn")]);
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        tokio::time::sleep(Duration::from_millis(300 + rng % 1700)).await;
        // SIGKILL (Child::kill): no chance to clean up.
        stop(a);
        w.provider.control("/__test/fault/clear", json!({})).await;
        w.lk.recover_interrupted_refreshes().await.unwrap();
        for (id, login) in &conns {
            let row = w.lk.load().unwrap().connection(id).unwrap().clone();
            assert!(!matches!(row.status, Status::Refreshing | Status::WaitingToSave), "{trial}: {:?}", row.status);
            // A kill may also land after the rotation: the next refresh finds out.
            if row.status != Status::NeedsReconnect && w.lk.refresh(id).await.is_ok() {
                continue;
            }
            let row = w.lk.load().unwrap().connection(id).unwrap().clone();
            assert_eq!(row.status, Status::NeedsReconnect, "{trial}: {:?}", row.last_error);
            assert!(!row.last_error.unwrap_or_default().is_empty(), "{trial}: a reason is given");
            broken += 1;
            w.reconnect(id, login).await;
        }
        if trial % 10 == 9 {
            eprintln!(
                "sigkill: {} trials, {} refreshes, {broken} broken and reconnected",
                trial + 1,
                w.refreshes().await
            );
        }
    }
    w.provider.control("/__test/fault/clear", json!({})).await;
    w.lk.recover_interrupted_refreshes().await.unwrap();
    for id in &ids {
        let row = w.lk.load().unwrap().connection(id).unwrap().clone();
        assert!(!matches!(row.status, Status::Refreshing | Status::WaitingToSave), "{id}: {:?}", row.status);
        match w.lk.refresh(id).await {
            Ok(_) => w.assert_tokens_work(id).await,
            Err(e) => {
                assert_eq!(e.code(), ErrorCode::NeedsReconnect, "{id}: {e}");
                let row = w.lk.load().unwrap().connection(id).unwrap().clone();
                assert_eq!(row.status, Status::NeedsReconnect);
                assert!(!row.last_error.unwrap_or_default().is_empty(), "{id}: a reason is given");
            }
        }
    }
    // Nothing loops: a fresh agent for 5 s refreshes at most once per token half-life each.
    let start = w.refreshes().await;
    let a = agent(&w, &[]);
    let cpu0 = cpu_time(a.id());
    tokio::time::sleep(Duration::from_secs(5)).await;
    let cpu = cpu_time(a.id()) - cpu0;
    stop(a);
    let n = w.refreshes().await - start;
    assert!(n <= 2 * 6, "{n} refreshes in 5 s");
    assert!(cpu < Duration::from_secs(1), "{cpu:?}");
    eprintln!(
        "sigkill: {trials} trials; {} refreshes in all; {broken} connections broken by a kill",
        w.refreshes().await
    );
}

/// A connection whose lock is held by a stopped process (a `latchkey-cli refresh` suspended
/// with Ctrl-Z): the others keep refreshing on time, and the stuck one is retried, not waited on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lock_held_by_a_stopped_process_delays_no_other_connection() {
    let w = short_lived("rememberizer", "4");
    let stuck = rememberizer(&w, "alice").await;
    let fine = rememberizer(&w, "bob").await;
    let path = w.lk.lock_path(&stuck.id);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    // `--no-fork`: the process that holds the lock is the one stopped and killed below (a forked
    // `sleep` would outlive the test and keep its output pipe open).
    let mut holder = Command::new("flock")
        .arg("--no-fork")
        .arg(&path)
        .args(["sleep", "600"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("flock(1)");
    tokio::time::sleep(Duration::from_millis(300)).await;
    Command::new("kill").args(["-STOP", &holder.id().to_string()]).status().unwrap();
    let g0 = (w.tokens(&stuck.id).unwrap().generation, w.tokens(&fine.id).unwrap().generation);
    let cancel = CancellationToken::new();
    let task = tokio::spawn(latchkey_core::refresh::run(w.lk.clone(), cancel.clone()));
    tokio::time::sleep(Duration::from_secs(16)).await;
    cancel.cancel();
    task.await.unwrap();
    let _ = holder.kill();
    let _ = holder.wait();
    let g1 = (w.tokens(&stuck.id).unwrap().generation, w.tokens(&fine.id).unwrap().generation);
    assert_eq!(g1.0, g0.0, "the stuck connection was not refreshed");
    assert!(g1.1 >= g0.1 + 4, "the other one kept refreshing every ~2 s: {g0:?} -> {g1:?}");
    let row = w.lk.load().unwrap().connection(&stuck.id).unwrap().clone();
    assert_eq!(row.status, Status::Connected);
    assert!(row.last_error.unwrap_or_default().contains("another Latchkey process"));
    w.assert_tokens_work(&fine.id).await;
}

/// `token --min-valid N` keeps its word with the agent running, against a provider that deletes
/// the previous access token when it rotates (django-oauth-toolkit does): the printed token
/// still works N − 1 seconds later.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_min_valid_keeps_its_word_when_rotation_deletes_the_old_token() {
    let w = short_lived("rememberizer", "20");
    w.provider.control("/__test/behaviour", json!({ "deleteAccessOnRotation": true })).await;
    let c = rememberizer(&w, "alice").await;
    // Fresh set at t0: 20 s lifetime, the agent's refresh at t0 + 10.
    let a = agent(&w, &[]);
    tokio::time::sleep(Duration::from_secs(4)).await;
    let out = Command::new(env!("CARGO_BIN_EXE_latchkey-cli"))
        .args(["token", &c.id, "--min-valid", "8"])
        .envs(w.child_env())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let token = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    tokio::time::sleep(Duration::from_secs(7)).await;
    let alive = w.provider.is_active(&token).await;
    stop(a);
    assert!(alive, "the token printed for --min-valid 8 died within 7 s");
    assert!(w.refreshes().await >= 1);
}

/// `invalid_client` on refresh: the provider app is marked (its credentials are the problem),
/// its connections are not Needs reconnect and are left alone; editing the app's secret
/// resumes refresh by itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_client_credentials_mark_the_app_not_the_connections() {
    let w = short_lived("rememberizer", "4");
    let c = rememberizer(&w, "alice").await;
    let app = w.lk.list_apps().unwrap()[0].clone();
    // The secret was rotated at the provider: Latchkey's copy is now wrong.
    w.vault.set(&app_secret_key(&app.id), &"not-the-secret".to_owned().into()).unwrap();
    let err = w.lk.refresh(&c.id).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::ProviderRejected, "{err}");
    assert!(err.to_string().contains("client secret"), "{err}");
    let v = &w.lk.list_connections().unwrap()[0];
    assert_eq!(v.status, Status::Connected);
    assert!(v.app_credentials_rejected.is_some());
    assert!(w.lk.list_apps().unwrap()[0].credentials_rejected.is_some());
    // The refresher leaves the app's connections alone meanwhile.
    let cancel = CancellationToken::new();
    let task = tokio::spawn(latchkey_core::refresh::run(w.lk.clone(), cancel.clone()));
    let n = w.refreshes().await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(w.refreshes().await, n, "no refresh with known-bad credentials");
    // The fix: edit the app with the right secret. Refresh resumes by itself.
    let mut input = common::app_input(&w, PresetId::Rememberizer, RedirectMode::DeepLink, "read offline_access");
    input.id = Some(app.id.clone());
    w.lk.save_app(input).await.unwrap();
    assert!(w.lk.list_apps().unwrap()[0].credentials_rejected.is_none());
    wait_for("refresh to resume", 15, async || w.refreshes().await >= n + 2).await;
    cancel.cancel();
    task.await.unwrap();
    w.assert_tokens_work(&c.id).await;
}

/// After a reconnect, the grant it replaced is revoked at the provider (once the new tokens are
/// stored), and the new one keeps working; a sign-in that fails after the code exchange (the
/// profile could not be read) revokes the tokens it got.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnect_revokes_the_replaced_grant_and_a_failed_connect_its_tokens() {
    use secrecy::ExposeSecret;
    let w = short_lived("generic", "3600");
    let c = w.connect(PresetId::Generic, RedirectMode::DeepLink, "read", "alice").await;
    let old = w.tokens(&c.id).unwrap();
    let again = w.reconnect(&c.id, "alice").await;
    assert_eq!(again.id, c.id);
    assert_eq!(again.status, Status::Connected);
    assert!(!w.provider.is_active(old.refresh_token.as_ref().unwrap().expose_secret()).await, "old grant revoked");
    assert!(!w.provider.is_active(old.access_token.expose_secret()).await);
    w.assert_tokens_work(&c.id).await;
    assert!(w.tokens(&c.id).unwrap().generation > old.generation);

    // A fresh app whose profile endpoint fails during the sign-in.
    let w = short_lived("generic", "3600");
    let app = w.lk.save_app(common::app_input(&w, PresetId::Generic, RedirectMode::DeepLink, "read")).await.unwrap();
    let start = w.lk.start_connect(&app.id, None).await.unwrap();
    let answer = w.provider.sign_in(&start.authorize_url, "alice", true).await;
    w.provider.fault("resource", 500, 1).await;
    let revokes = w.provider.stats().await["revoke"].as_i64().unwrap();
    assert!(w.lk.handle_callback(answer["location"].as_str().unwrap()).await.is_err());
    assert!(w.lk.list_connections().unwrap().is_empty());
    let after = w.provider.stats().await["revoke"].as_i64().unwrap();
    assert!(after > revokes, "the unused tokens were revoked: {revokes} -> {after}");
}
