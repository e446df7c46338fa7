//! Sign-in on another device (RFC 8628) from `latchkey-cli connect --device`, against the
//! test provider's device flow (oidc-provider) and the real Secret Service: the happy path,
//! `slow_down` (+5 s), `expired_token`, the code's own deadline, and `access_denied`.

mod common;

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{World, world_full};
use latchkey_core::{Clock, PresetId, RedirectMode};
use serde_json::{Value, json};

const CLI: &str = env!("CARGO_BIN_EXE_latchkey-cli");

async fn world() -> (World, String) {
    let w = world_full("generic", Clock::system(), &["--access-ttl", "3600"]);
    let app = w.lk.save_app(common::app_input(&w, PresetId::Generic, RedirectMode::DeepLink, "read")).await.unwrap();
    assert!(app.device_authorization_url.is_some(), "discovery found the device endpoint");
    (w, app.id)
}

/// Starts `connect APP --device --json` and returns it with its first line (the code to show).
fn start(w: &World, app: &str) -> (Child, BufReader<std::process::ChildStdout>, Value) {
    let (child, out, line) = w.spawn_cli(CLI, &["connect", app, "--device", "--json"], Stdio::null(), Stdio::piped());
    let shown: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line:?}"));
    (child, out, shown)
}

fn finish(mut child: Child, mut out: BufReader<std::process::ChildStdout>) -> (Option<i32>, String, String) {
    let status = child.wait().unwrap();
    let (mut o, mut e) = (String::new(), String::new());
    out.read_to_string(&mut o).unwrap();
    child.stderr.take().unwrap().read_to_string(&mut e).unwrap();
    (status.code(), o, e)
}

fn gaps(polls: &[Value]) -> Vec<i64> {
    polls.windows(2).map(|p| p[1]["at"].as_i64().unwrap() - p[0]["at"].as_i64().unwrap()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn device_sign_in_connects_like_any_other() {
    let (w, app) = world().await;
    let t0 = Instant::now();
    let (child, out, shown) = start(&w, &app);
    assert!(shown["userCode"].as_str().unwrap().len() >= 8, "{shown}");
    assert_eq!(shown["verificationUri"], format!("{}/device", w.provider.url));
    assert!(shown["verificationUriComplete"].as_str().unwrap().contains("user_code="));
    assert_eq!(shown["interval"], 1);
    assert!(shown.get("deviceCode").is_none() && !shown.to_string().contains("device_code"), "never shown");
    // The person takes a moment: the device polls (pending) meanwhile.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let approved = w.provider.approve_device(shown["userCode"].as_str().unwrap(), "alice", true).await;
    assert_eq!(approved["approved"], true, "{approved}");
    let (code, stdout, stderr) = finish(child, out);
    assert_eq!(code, Some(0), "{stderr}");
    let conn: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(conn["email"], "alice@example.com");
    assert_eq!(conn["status"], "connected");
    w.assert_tokens_work(conn["id"].as_str().unwrap()).await;
    assert!(t0.elapsed() < Duration::from_secs(10));
    let polls = w.provider.device_polls().await;
    assert!(polls.len() >= 2, "{polls:?}");
    assert_eq!(polls.last().unwrap()["answer"], "tokens");
    assert!(polls[..polls.len() - 1].iter().all(|p| p["answer"] == "authorization_pending"), "{polls:?}");
    for g in gaps(&polls) {
        assert!(g >= 900, "polled faster than the interval: {g} ms");
    }
    // Signing in again with the same account updates the same connection.
    let (child, out, shown) = start(&w, &app);
    w.provider.approve_device(shown["userCode"].as_str().unwrap(), "alice", true).await;
    let (code, stdout, _) = finish(child, out);
    assert_eq!(code, Some(0));
    assert_eq!(serde_json::from_str::<Value>(&stdout).unwrap()["id"], conn["id"]);
    assert_eq!(w.lk.list_connections().unwrap().len(), 1);
    // The human form names the URI and the code.
    let mut child = Command::new(CLI)
        .args(["connect", &app, "--device"])
        .envs(w.child_env())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let (mut l1, mut l2) = (String::new(), String::new());
    out.read_line(&mut l1).unwrap();
    out.read_line(&mut l2).unwrap();
    assert!(l1.contains(&format!("{}/device", w.provider.url)), "{l1}");
    let code = l2.trim().rsplit(' ').next().unwrap().to_owned();
    w.provider.approve_device(&code, "alice", true).await;
    assert!(child.wait().unwrap().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_down_adds_five_seconds() {
    let (w, app) = world().await;
    w.provider.device_behaviour(json!({"answer": "slow_down", "count": 1})).await;
    let (child, out, shown) = start(&w, &app);
    // Approve after the slowed-down poll has been answered.
    common::wait_for("the slow_down answer", 10, async || !w.provider.device_polls().await.is_empty()).await;
    w.provider.approve_device(shown["userCode"].as_str().unwrap(), "alice", true).await;
    let (code, _, stderr) = finish(child, out);
    assert_eq!(code, Some(0), "{stderr}");
    let polls = w.provider.device_polls().await;
    assert_eq!(polls[0]["answer"], "slow_down");
    assert_eq!(polls.last().unwrap()["answer"], "tokens");
    let g = gaps(&polls)[0];
    assert!(g >= 5_900, "after slow_down the interval is 1 + 5 s, not {g} ms");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_and_denied_sign_ins_end_with_their_own_words_and_codes() {
    let (w, app) = world().await;
    // The provider says the code expired.
    w.provider.device_behaviour(json!({"answer": "expired_token"})).await;
    let (child, out, _) = start(&w, &app);
    let (code, stdout, stderr) = finish(child, out);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("expired") && stdout.is_empty(), "{stderr}");
    // The provider denies on the device's behalf (forced) — and a real denial at the page.
    w.provider.device_behaviour(json!({"answer": "access_denied"})).await;
    let (child, out, _) = start(&w, &app);
    let (code, _, stderr) = finish(child, out);
    assert_eq!(code, Some(7), "{stderr}");
    assert!(stderr.contains("declined"), "{stderr}");
    let (child, out, shown) = start(&w, &app);
    let r = w.provider.approve_device(shown["userCode"].as_str().unwrap(), "alice", false).await;
    assert_eq!(r["approved"], false, "{r}");
    let (code, _, stderr) = finish(child, out);
    assert_eq!(code, Some(7), "{stderr}");
    assert!(stderr.contains("access_denied"), "{stderr}");
    // Nobody approves: the code's own expires_in ends the wait.
    w.provider.device_behaviour(json!({"expiresIn": 3})).await;
    let t0 = Instant::now();
    let (child, out, shown) = start(&w, &app);
    assert!(shown["expiresAt"].as_i64().is_some());
    let (code, _, stderr) = finish(child, out);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("expired"), "{stderr}");
    assert!(t0.elapsed() < Duration::from_secs(8), "{:?}", t0.elapsed());
    assert!(w.lk.list_connections().unwrap().is_empty(), "nothing stored");
    // An app without a device endpoint says so (usage).
    let mut input = common::app_input(&w, PresetId::Rememberizer, RedirectMode::DeepLink, "read");
    input.name = "No device".into();
    let other = w.lk.save_app(input).await.unwrap();
    let o = Command::new(CLI).args(["connect", &other.id, "--device"]).envs(w.child_env()).output().unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stderr).contains("another device"));
}
