//! A keychain locked in the middle of a refresh, against the real test provider and the real
//! Secret Service. A test binary of its own: locking the keychain would fail the tests that run
//! beside it in the same process (they share one test keychain).

mod common;

use std::time::{Duration, Instant};

use common::{World, lock_keychain, unlock_keychain, wait_for, world_full};
use latchkey_core::{Clock, Event, PresetId, RedirectMode, Status};
use secrecy::ExposeSecret;
use serde_json::json;

/// Unlocks the keychain however the test ends.
struct Unlock;
impl Drop for Unlock {
    fn drop(&mut self) {
        if common::keychain_locked() == Some(true) {
            unlock_keychain();
        }
    }
}

/// The keychain is locked while a refresh is at the provider, and unlocked 10 s later: the
/// rotated set is kept in memory and served meanwhile (state "waiting to save", not Needs
/// reconnect), saved once the keychain is unlocked, and the provider never sees the replaced
/// refresh token again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_keychain_locked_mid_refresh_loses_nothing() {
    let w: World = world_full("rememberizer", Clock::system(), &["--access-ttl", "3600"]);
    let c = w.connect(PresetId::Rememberizer, RedirectMode::DeepLink, "read offline_access", "alice").await;
    let _unlock = Unlock;
    let before = w.tokens(&c.id).unwrap();
    w.provider.control("/__test/fault", json!({"route": "token", "delayMs": 1500, "status": null, "count": 1})).await;
    let lk = w.lk.clone();
    let id = c.id.clone();
    let refresh = tokio::spawn(async move { lk.refresh(&id).await });
    tokio::time::sleep(Duration::from_millis(500)).await;
    lock_keychain();
    // Latchkey sees the lock without touching an item (the no-prompt path background retries use).
    assert_eq!(w.lk.keychain_locked().await, Some(true));
    let result = refresh.await.unwrap();
    let unlocked_at = Instant::now() + Duration::from_secs(10);
    let shown = result.unwrap_or_else(|e| panic!("the refresh itself succeeded: {e}"));
    assert_eq!(shown.status, Status::WaitingToSave);
    assert!(shown.last_error.as_deref().unwrap().contains("keychain is locked"), "{:?}", shown.last_error);
    // Served from memory meanwhile: the new access token, which the provider accepts.
    let served = w.lk.access_token(&c.id, 0).await.unwrap();
    assert_ne!(served.expose_secret(), before.access_token.expose_secret());
    assert!(w.provider.is_active(served.expose_secret()).await);
    assert_eq!(w.lk.list_connections().unwrap()[0].status, Status::WaitingToSave);
    let mut events = w.lk.subscribe();
    tokio::time::sleep_until(unlocked_at.into()).await;
    unlock_keychain();
    wait_for("the waiting set to be saved", 15, async || w.lk.unsaved_connections().is_empty()).await;
    // The good news is told like the bad: a Recovered event (the desktop notification beside it).
    let recovered = loop {
        match tokio::time::timeout(Duration::from_secs(5), events.recv()).await {
            Ok(Ok(Event::Recovered { connection_id, who, was })) => break (connection_id, who, was),
            Ok(Ok(_)) => {}
            other => panic!("no Recovered event after the keychain was unlocked: {other:?}"),
        }
    };
    assert_eq!(recovered, (c.id.clone(), "alice@example.com".to_owned(), Status::WaitingToSave));
    let v = &w.lk.list_connections().unwrap()[0];
    assert_eq!(v.status, Status::Connected, "{:?}", v.last_error);
    assert!(v.last_error.is_none());
    let saved = w.tokens(&c.id).unwrap();
    assert_eq!(saved.access_token.expose_secret(), w.lk.access_token(&c.id, 0).await.unwrap().expose_secret());
    w.assert_tokens_work(&c.id).await;
    w.lk.refresh(&c.id).await.unwrap();
    w.assert_tokens_work(&c.id).await;
    let stats = w.provider.stats().await;
    assert!(stats["tokenErrors"]["invalid_grant"].is_null(), "the provider saw a replaced token: {stats}");
}
