//! `latchkey-cli status` with the keychain locked (exit 6; no item is read, so no prompt).
//! A test binary of its own: locking the shared test keychain would fail tests beside it.

mod common;

use std::process::{Command, Stdio};

use common::{lock_keychain, unlock_keychain, world_full};
use latchkey_core::{Clock, PresetId, RedirectMode};

const CLI: &str = env!("CARGO_BIN_EXE_latchkey-cli");

struct Unlock;
impl Drop for Unlock {
    fn drop(&mut self) {
        if common::keychain_locked() == Some(true) {
            unlock_keychain();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_says_the_keychain_is_locked() {
    let w = world_full("generic", Clock::system(), &["--access-ttl", "3600"]);
    w.connect(PresetId::Generic, RedirectMode::DeepLink, "read", "alice").await;
    let _unlock = Unlock;
    lock_keychain();
    let o = Command::new(CLI).args(["status", "--json"]).envs(w.child_env()).stdin(Stdio::null()).output().unwrap();
    assert_eq!(o.status.code(), Some(6), "{}", String::from_utf8_lossy(&o.stderr));
    let s: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(s["ok"], false);
    assert_eq!(s["keychain"]["reachable"], true);
    assert_eq!(s["keychain"]["unlocked"], false);
    assert!(s["connections"][0]["hasRefreshToken"].is_null(), "not read while locked");
    assert_eq!(s["connections"][0]["status"], "connected");
    let human = Command::new(CLI).args(["status"]).envs(w.child_env()).output().unwrap();
    assert!(String::from_utf8_lossy(&human.stdout).contains("LOCKED"));
    let doctor = Command::new(CLI).args(["doctor", "--json"]).envs(w.child_env()).output().unwrap();
    let d: serde_json::Value = serde_json::from_slice(&doctor.stdout).unwrap();
    let kc = d["checks"].as_array().unwrap().iter().find(|c| c["id"] == "secret-service").unwrap().clone();
    assert_eq!(kc["verdict"], "fail", "{kc}");
    unlock_keychain();
    let o = Command::new(CLI).args(["status"]).envs(w.child_env()).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
}
