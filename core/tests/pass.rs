//! A pass of the background refresher over many due connections, with the in-memory vault
//! and a loopback provider: the metadata is read and rewritten a constant number of times
//! (not once per connection), the app's client secret is read from the keychain once, each
//! connection's tokens once, and every connection ends refreshed, described by its new token set.

mod support;

use std::sync::Arc;
use std::time::Duration;

use latchkey_core::clock::Clock;
use latchkey_core::store::{Connection, Store};
use latchkey_core::token::parse_token_response;
use latchkey_core::vault::{MemoryVault, Vault, app_secret_key, connection_key};
use latchkey_core::{AppInput, Latchkey, Status};
use serde_json::json;
use tokio_util::sync::CancellationToken;

const N: usize = 24;
const TOKENS: &str = r#"{"access_token":"at-2","token_type":"Bearer","expires_in":3600,"refresh_token":"rt-2"}"#;
const ME: &str = r#"{"sub":"1001","name":"Alice Example"}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_pass_writes_its_outcomes_together_and_reads_the_secret_once() {
    let (base, seen) = support::routes(&[("/token", 200, TOKENS), ("/me", 200, ME)]).await;
    let dir = latchkey_harness::temp_dir("pass");
    let store = Store::open(&dir).unwrap();
    let vault = Arc::new(MemoryVault::default());
    let now = Clock::system().now();
    let lk = Latchkey::with_parts(store.clone(), vault.clone(), Clock::system(), "t").unwrap();
    let input: AppInput = serde_json::from_value(json!({
        "preset": "generic", "clientId": "latchkey", "clientSecret": "s3cret",
        "authorizeUrl": base.join("/authorize").unwrap(), "tokenUrl": base.join("/token").unwrap(),
        "userinfoUrl": base.join("/me").unwrap(),
    }))
    .unwrap();
    let app = lk.save_app(input).await.unwrap().id;
    // N connections, all due: their tokens (generation 1) expired a minute ago.
    let old = r#"{"access_token":"at-1","expires_in":60,"refresh_token":"rt-1"}"#;
    let mut set = parse_token_response(old.as_bytes(), now - 120).unwrap();
    set.generation = 1;
    let ids: Vec<String> = (0..N).map(|i| format!("c{i:02}")).collect();
    for id in &ids {
        vault.set(&connection_key(id), &set.to_vault_string()).unwrap();
    }
    let rows = ids.clone();
    store
        .update(move |d| {
            for id in rows {
                let mut c = Connection::new(&id, &app, &id, now - 120);
                (c.token_generation, c.issued_at, c.expires_at, c.next_refresh_at) =
                    (1, Some(now - 120), Some(now - 60), Some(now - 90));
                d.connections.push(c);
            }
            Ok(())
        })
        .unwrap();
    let app_id = lk.list_apps().unwrap()[0].id.clone();
    let (writes_before, secret_reads_before) = (store.writes(), vault.reads(&app_secret_key(&app_id)));

    let cancel = CancellationToken::new();
    let task = tokio::spawn(latchkey_core::refresh::run(lk.clone(), cancel.clone()));
    let refreshed =
        |lk: &Latchkey| lk.load().unwrap().connections.iter().filter(|c: &&Connection| c.token_generation == 2).count();
    for _ in 0..200 {
        if refreshed(&lk) == N {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    cancel.cancel();
    task.await.unwrap();

    let tokens = seen.lock().unwrap().iter().filter(|s| s.path == "/token").count();
    assert_eq!(tokens, N, "one refresh per connection");
    assert_eq!(refreshed(&lk), N, "every row describes its new set");
    let data = lk.load().unwrap();
    assert!(data.connections.iter().all(|c| c.status == Status::Connected && c.last_refresh_at.is_some()));
    let writes = store.writes() - writes_before;
    assert!(
        writes <= 2,
        "the pass's {N} outcomes in {writes} metadata writes (one per pass, plus one if it ran past the deferral bound)"
    );
    assert_eq!(vault.reads(&app_secret_key(&app_id)) - secret_reads_before, 1, "the client secret once per pass");
    // The refresher's start checks no entry its first pass refreshes (the refresh reads it).
    for id in &ids {
        assert_eq!(vault.reads(&connection_key(id)), 1, "{id}: its tokens were read once");
    }
}
