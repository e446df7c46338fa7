//! Data directories with N connections, written straight through latchkey-core's `Store` and
//! `KeyringVault` (one metadata write, one keychain entry per connection): what the app, the
//! agent and the refresher read, without N sign-ins.

use std::path::Path;

use latchkey_core::store::{Connection, Data, ProviderApp, Status, Store};
use latchkey_core::token::TokenSet;
use latchkey_core::vault::{KeyringVault, Vault, app_secret_key, connection_key};
use latchkey_core::{PresetId, RedirectMode};
use secrecy::SecretString;
use url::Url;

/// The provider app every seeded connection belongs to.
pub const APP_ID: &str = "benchapp00000000";

pub fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

/// A Rememberizer provider app pointing at `base` (the test provider).
pub fn app(base: &str, client_id: &str) -> ProviderApp {
    ProviderApp {
        id: APP_ID.into(),
        preset: PresetId::Rememberizer,
        name: "Rememberizer (bench)".into(),
        base_url: Some(Url::parse(base).expect("provider URL")),
        client_id: client_id.into(),
        scopes: "read offline_access".into(),
        redirect_mode: RedirectMode::DeepLink,
        callback_id: None,
        authorize_url: None,
        token_url: None,
        revocation_url: None,
        userinfo_url: None,
        issuer: None,
        iss_required: false,
        auth_method: None,
        loopback_port: None,
        has_secret: true,
        credentials_rejected: None,
        superseded_shares_grant: false,
        device_authorization_url: None,
        created_at: now(),
    }
}

/// Connection `i`, its access token expiring at `expires_at`, its refresh due at `next`.
pub fn connection(i: usize, expires_at: i64, next: i64) -> Connection {
    let t = now();
    Connection {
        id: format!("bench{i:011}"),
        app_id: APP_ID.into(),
        account_id: format!("user-{i}"),
        name: Some(format!("Bench User {i}")),
        email: Some(format!("user{i}@bench.example")),
        label: None,
        status: Status::Connected,
        expires_at: Some(expires_at),
        issued_at: Some(t),
        last_refresh_at: None,
        last_verified_at: None,
        next_refresh_at: Some(next),
        last_error: None,
        scopes_granted: vec!["read".into(), "offline_access".into()],
        scopes_requested: vec!["read".into(), "offline_access".into()],
        created_at: t,
        updated_at: t,
        refresh_log: vec![],
        token_generation: 1,
    }
}

/// Writes `n` connections that are not due for 7 hours (tokens valid for 8), their token sets
/// in the keychain under `service`, and the provider app with its client secret.
pub fn seed_idle(dir: &Path, service: &str, n: usize, base: &str, client_id: &str, secret: &str) {
    let store = Store::open(dir).expect("data dir");
    let vault = KeyringVault::new(service);
    vault.set(&app_secret_key(APP_ID), &SecretString::from(secret.to_owned())).expect("keychain: app secret");
    let t = now();
    let conns: Vec<Connection> = (0..n).map(|i| connection(i, t + 8 * 3600, t + 7 * 3600)).collect();
    for c in &conns {
        let tokens = TokenSet {
            access_token: SecretString::from(format!("bench-access-{}-{}", c.id, "x".repeat(40))),
            refresh_token: Some(SecretString::from(format!("bench-refresh-{}-{}", c.id, "y".repeat(40)))),
            expires_at: c.expires_at,
            issued_at: t,
            scope: Some(c.scopes_granted.clone()),
            generation: 1,
            ignored_expires_in: None,
        };
        vault.set(&connection_key(&c.id), &tokens.to_vault_string()).expect("keychain: tokens");
    }
    let app = app(base, client_id);
    store
        .update(move |d| {
            *d = Data { apps: vec![app], connections: conns, ..Data::default() };
            Ok(())
        })
        .expect("metadata");
}

/// Removes what [`seed_idle`] put in the keychain under `service`: a stage leaves the bench's
/// keychain as it found it, so that a later stage's keychain writes do not depend on which
/// stages ran before (gnome-keyring rewrites its whole collection file on every write, so a
/// write costs more the more items it holds).
pub fn unseed(service: &str, n: usize) {
    let vault = KeyringVault::new(service);
    let _ = vault.delete(&app_secret_key(APP_ID));
    for i in 0..n {
        let _ = vault.delete(&connection_key(&connection(i, 0, 0).id));
    }
}
