//! The orchestration of connect and revoke with the in-memory vault, a manual clock and a
//! scripted loopback provider (`support::script`): what is sent, in which order things are
//! stored, and every revoke outcome. No Node, no keychain.

mod support;

use std::sync::Arc;
use std::sync::atomic::Ordering;

use latchkey_core::clock::Clock;
use latchkey_core::store::Store;
use latchkey_core::vault::{MemoryVault, Vault, connection_key};
use latchkey_core::{AppInput, ErrorCode, Latchkey, Status};
use serde_json::json;
use support::script;
use url::Url;

const START: i64 = 1_700_000_000;
const TOKENS: &str = r#"{"access_token":"at-1","token_type":"Bearer","expires_in":3600,"refresh_token":"rt-1"}"#;
const ME: &str = r#"{"sub":"1001","name":"Alice Example","email":"alice@example.com"}"#;

struct World {
    lk: Latchkey,
    vault: Arc<MemoryVault>,
    _dir: std::path::PathBuf,
}

fn world() -> World {
    let dir = latchkey_harness::temp_dir("orchestration");
    let (clock, _) = Clock::manual(START);
    let vault = Arc::new(MemoryVault::default());
    let lk = Latchkey::with_parts(Store::open(&dir).unwrap(), vault.clone(), clock, "t").unwrap();
    World { lk, vault, _dir: dir }
}

/// A Generic app whose endpoints are the script's (no base URL: nothing is discovered).
async fn generic_app(w: &World, base: &Url, revocation: Option<&str>) -> String {
    let input: AppInput = serde_json::from_value(json!({
        "preset": "generic", "clientId": "latchkey", "clientSecret": "s3cret", "scopes": "read",
        "authorizeUrl": base.join("/authorize").unwrap(), "tokenUrl": base.join("/token").unwrap(),
        "userinfoUrl": base.join("/me").unwrap(),
        "revocationUrl": revocation.map(|p| base.join(p).unwrap()),
    }))
    .unwrap();
    w.lk.save_app(input).await.unwrap().id
}

/// Starts a sign-in and answers it the way the provider's redirect would.
async fn sign_in(w: &World, app_id: &str) -> latchkey_core::Result<latchkey_core::ConnectionView> {
    let start = w.lk.start_connect(app_id, None).await.unwrap();
    let state = latchkey_harness::query(&start.authorize_url, "state").unwrap();
    let redirect = start.redirect_uri.unwrap();
    w.lk.handle_callback(&format!("{redirect}?code=c-1&state={state}")).await
}

#[tokio::test]
async fn connect_exchanges_the_code_reads_the_profile_and_stores_tokens_before_metadata() {
    let w = world();
    let (base, seen) = script(vec![(200, TOKENS), (200, ME)]).await;
    let app = generic_app(&w, &base, None).await;
    let c = sign_in(&w, &app).await.unwrap();
    assert_eq!((c.email.as_deref(), c.status), (Some("alice@example.com"), Status::Connected));
    assert_eq!(c.last_verified_at, Some(START));
    assert_eq!(c.expires_at, Some(START + 3600 - 5), "receipt time + expires_in − skew allowance");
    let stored = w.vault.get(&connection_key(&c.id)).unwrap().expect("tokens in the vault");
    assert!(secrecy::ExposeSecret::expose_secret(&stored).contains("rt-1"));
    let seen = seen.await.unwrap();
    assert_eq!(seen[0].path, "/token");
    assert!(seen[0].form().iter().any(|(k, v)| k == "redirect_uri" && v.starts_with("app.latchkey:/oauth/callback/")));
    assert_eq!((seen[1].method.as_str(), seen[1].path.as_str()), ("GET", "/me"));
    assert_eq!(seen[1].headers["authorization"], "Bearer at-1");
}

#[tokio::test]
async fn a_locked_keychain_at_connect_leaves_no_row_without_tokens() {
    let w = world();
    let (base, _seen) = script(vec![(200, TOKENS), (200, ME)]).await;
    let app = generic_app(&w, &base, None).await;
    let start = w.lk.start_connect(&app, None).await.unwrap();
    w.vault.locked.store(true, Ordering::SeqCst);
    let state = latchkey_harness::query(&start.authorize_url, "state").unwrap();
    let err = w.lk.handle_callback(&format!("{}?code=c&state={state}", start.redirect_uri.unwrap())).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::KeychainUnavailable, "{err}");
    assert!(
        w.lk.list_connections().unwrap().is_empty(),
        "the metadata is written only after the keychain took the tokens"
    );
}

#[tokio::test]
async fn every_revoke_outcome() {
    // Revoked at the provider: refresh token, then access token; the row and tokens go.
    let w = world();
    let (base, seen) = script(vec![(200, TOKENS), (200, ME), (200, "{}"), (200, "{}")]).await;
    let app = generic_app(&w, &base, Some("/revoke")).await;
    let c = sign_in(&w, &app).await.unwrap();
    let out = w.lk.revoke_connection(&c.id, false).await.unwrap();
    assert!(out.revoked_at_provider && !out.pending, "{out:?}");
    assert!(w.vault.get(&connection_key(&c.id)).unwrap().is_none());
    assert!(w.lk.list_connections().unwrap().is_empty());
    assert_eq!(seen.await.unwrap().iter().filter(|r| r.path == "/revoke").count(), 2);

    // No revocation endpoint: removed here, said so, nothing sent.
    let w = world();
    let (base, seen) = script(vec![(200, TOKENS), (200, ME)]).await;
    let app = generic_app(&w, &base, None).await;
    let c = sign_in(&w, &app).await.unwrap();
    let out = w.lk.revoke_connection(&c.id, false).await.unwrap();
    assert!(!out.revoked_at_provider && !out.pending);
    assert!(out.message.contains("offers apps no way to revoke"), "{}", out.message);
    assert_eq!(seen.await.unwrap().len(), 2);
    assert!(w.lk.list_connections().unwrap().is_empty());

    // The provider cannot be reached: kept, "revocation pending", tokens kept, no refresh.
    let w = world();
    let (base, _seen) = script(vec![(200, TOKENS), (200, ME)]).await;
    let app = generic_app(&w, &base, Some("/revoke")).await;
    let c = sign_in(&w, &app).await.unwrap();
    // The script served its two answers and closed: the revocation request finds no listener.
    let out = w.lk.revoke_connection(&c.id, false).await.unwrap();
    assert!(out.pending && !out.revoked_at_provider, "{out:?}");
    let row = w.lk.list_connections().unwrap().remove(0);
    assert_eq!(row.status, Status::RevocationPending);
    assert!(w.vault.get(&connection_key(&c.id)).unwrap().is_some(), "kept for the retry");
    assert_eq!(w.lk.access_token(&c.id, 60).await.unwrap_err().code(), ErrorCode::InvalidInput);

    // "Remove here only": nothing sent, gone here.
    let out = w.lk.revoke_connection(&c.id, true).await.unwrap();
    assert!(!out.revoked_at_provider && !out.pending);
    assert!(out.message.starts_with("Removed from Latchkey only"), "{}", out.message);
    assert!(w.vault.get(&connection_key(&c.id)).unwrap().is_none());

    // A provider that refuses the revocation (not transient): an error, and nothing removed.
    let w = world();
    let (base, _seen) = script(vec![(200, TOKENS), (200, ME), (400, r#"{"error":"invalid_request"}"#)]).await;
    let app = generic_app(&w, &base, Some("/revoke")).await;
    let c = sign_in(&w, &app).await.unwrap();
    assert!(w.lk.revoke_connection(&c.id, false).await.is_err());
    assert_eq!(w.lk.list_connections().unwrap().len(), 1);
    assert!(w.vault.get(&connection_key(&c.id)).unwrap().is_some());
}

#[tokio::test]
async fn a_dead_refresh_token_asks_the_shells_to_notify_once() {
    let w = world();
    let dead = r#"{"error":"invalid_grant","error_description":"expired"}"#;
    let (base, _seen) = script(vec![(200, TOKENS), (200, ME), (400, dead)]).await;
    let app = generic_app(&w, &base, None).await;
    let c = sign_in(&w, &app).await.unwrap();
    let mut events = w.lk.subscribe();
    let err = w.lk.refresh(&c.id).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::NeedsReconnect);
    let mut told = vec![];
    while let Ok(e) = events.try_recv() {
        if let latchkey_core::Event::Notify(n) = e {
            told.push(n);
        }
    }
    assert_eq!(
        told,
        [latchkey_core::Notification::NeedsReconnect {
            connection_id: c.id.clone(),
            who: "alice@example.com".into(),
            reason: err.to_string(),
        }]
    );
    // Already broken: asking again tells nobody again.
    let mut events = w.lk.subscribe();
    assert!(w.lk.refresh(&c.id).await.is_err());
    assert!(!std::iter::from_fn(|| events.try_recv().ok()).any(|e| matches!(e, latchkey_core::Event::Notify(_))));
}

/// The pending flow owns its loopback listener: cancelling the flow closes the port, and the
/// flow is gone (its answer would change nothing).
#[tokio::test]
async fn cancelling_a_loopback_sign_in_closes_its_port() {
    let w = world();
    let (base, _seen) = script(vec![]).await;
    let input: AppInput = serde_json::from_value(json!({
        "preset": "generic", "clientId": "latchkey", "redirectMode": "loopback",
        "authorizeUrl": base.join("/authorize").unwrap(), "tokenUrl": base.join("/token").unwrap(),
    }))
    .unwrap();
    let app = w.lk.save_app(input).await.unwrap().id;
    let start = w.lk.start_connect(&app, None).await.unwrap();
    let redirect = Url::parse(&start.redirect_uri.unwrap()).unwrap();
    let addr = format!("127.0.0.1:{}", redirect.port().unwrap());
    assert!(tokio::net::TcpStream::connect(&addr).await.is_ok(), "listening while the sign-in waits");
    assert!(w.lk.cancel_connect(&start.flow_id));
    let mut closed = false;
    for _ in 0..50 {
        if tokio::net::TcpStream::connect(&addr).await.is_err() {
            closed = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(closed, "the port closes with the flow");
    assert!(!w.lk.cancel_connect(&start.flow_id), "the flow is gone");
}
