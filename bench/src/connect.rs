//! Connect latency: redirect received → connection saved (keychain + metadata) and announced to
//! the UI (`handle_callback` returns after the ConnectFinished event), against the provider's own
//! time for the same work (the code exchange and the profile request, sent with plain reqwest).
//! Each round connects an account that is not connected (the connection is then removed here
//! only, unmeasured), then signs the same account in again: a reconnect, which also revokes the
//! sign-in it replaces. Beside them, one keychain write of a token set with plain `keyring`
//! calls: the floor of saving the tokens.

use std::time::Instant;

use latchkey_core::AppInput;
use latchkey_core::vault::connection_key;
use latchkey_core::{Config, Event, Latchkey, PresetId, RedirectMode};
use latchkey_harness::TestProvider;
use serde::Serialize;

use crate::refresh::{PROFILE, exchange, sign_in};

#[derive(Debug, Clone, Default, Serialize)]
pub struct Outcome {
    /// Redirect → saved and shown, per run (ms).
    pub latchkey_ms: Vec<f64>,
    /// Token + profile requests alone, per run (ms).
    pub provider_ms: Vec<f64>,
    /// Redirect → saved and shown when the account is already connected (ms).
    pub reconnect_ms: Vec<f64>,
    /// One keychain write of a token set (ms).
    pub keychain_write_ms: Vec<f64>,
}

/// Signs `login` in and hands the redirect to `handle_callback`: the connection and the time.
async fn connect_once(lk: &Latchkey, p: &TestProvider, app_id: &str, events: &mut Events) -> (String, f64) {
    let start = lk.start_connect(app_id, None).await.expect("start_connect");
    let answer = p.sign_in(&start.authorize_url, "alice", true).await;
    let location = answer["location"].as_str().expect("redirect location").to_owned();
    let t0 = Instant::now();
    let view = lk.handle_callback(&location).await.expect("handle_callback");
    let ms = t0.elapsed().as_secs_f64() * 1000.0;
    let mut shown = false;
    while let Ok(e) = events.try_recv() {
        shown |= matches!(e, Event::ConnectFinished { result: Ok(ref c), .. } if c.id == view.id);
    }
    assert!(shown, "the connection was announced to the UI");
    (view.id, ms)
}

type Events = tokio::sync::broadcast::Receiver<Event>;

pub async fn run(p: &TestProvider, config: &Config, runs: usize) -> Outcome {
    let lk = Latchkey::open(config).expect("open latchkey");
    let app = lk
        .save_app(AppInput {
            id: None,
            preset: PresetId::Rememberizer,
            name: "Rememberizer (bench)".into(),
            base_url: Some(p.url.clone()),
            client_id: p.client_id.clone(),
            client_secret: Some(p.client_secret.clone().into()),
            scopes: Some("read offline_access".into()),
            redirect_mode: Some(RedirectMode::DeepLink),
            authorize_url: None,
            token_url: None,
            revocation_url: None,
            userinfo_url: None,
            callback_id: None,
            auth_method: None,
            loopback_port: None,
            device_authorization_url: None,
        })
        .await
        .expect("provider app");
    let http = latchkey_harness::client();
    let mut events = lk.subscribe();
    let floor_service = format!("{}.floor", config.keyring_service);
    let mut out = Outcome::default();
    // One warm-up of each (connection pools, the keychain's collection), then alternate.
    for r in 0..=runs {
        // Latchkey: the redirect as the deep-link handler receives it, for an account not
        // connected here, then for the same account again.
        let (id, ms) = connect_once(&lk, p, &app.id, &mut events).await;
        let (again, reconnect_ms) = connect_once(&lk, p, &app.id, &mut events).await;
        assert_eq!(again, id, "a second sign-in of the account reconnects its connection");
        lk.revoke_connection(&id, true).await.expect("remove here only");
        // The provider alone: the same two requests with plain reqwest.
        let (code, verifier) = sign_in(p, "alice", &format!("c{r}")).await;
        let t0 = Instant::now();
        let tokens = exchange(&http, p, &code, &verifier).await;
        let access = tokens["access_token"].as_str().expect("access token");
        let resp = http.get(format!("{}{PROFILE}", p.url)).bearer_auth(access).send().await.expect("profile");
        assert!(resp.status().is_success(), "profile answered {}", resp.status());
        let _ = resp.bytes().await;
        let provider_ms = t0.elapsed().as_secs_f64() * 1000.0;
        // The floor of saving: the token set the sign-in got, written once to the keychain.
        let set = crate::refresh::vault_json(&tokens);
        let entry = keyring::Entry::new(&floor_service, &connection_key(&format!("floor{r}"))).expect("keyring entry");
        let (write_ms, entry) = tokio::task::spawn_blocking(move || {
            let t0 = Instant::now();
            entry.set_password(&set).expect("keychain write");
            (t0.elapsed().as_secs_f64() * 1000.0, entry)
        })
        .await
        .expect("keychain write task");
        tokio::task::spawn_blocking(move || entry.delete_credential().expect("keychain delete"))
            .await
            .expect("keychain delete task");
        if r > 0 {
            out.latchkey_ms.push(ms);
            out.reconnect_ms.push(reconnect_ms);
            out.provider_ms.push(provider_ms);
            out.keychain_write_ms.push(write_ms);
        }
    }
    out
}
