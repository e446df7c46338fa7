//! Provider-app validation and what a saved app resolves to, with the in-memory vault and a
//! manual clock: no provider, no keychain (nothing here sends a request: the apps that would
//! discover have no base URL to discover at).

use std::sync::Arc;

use latchkey_core::clock::Clock;
use latchkey_core::provider::AuthMethod;
use latchkey_core::store::Store;
use latchkey_core::vault::MemoryVault;
use latchkey_core::{AppInput, ErrorCode, Latchkey, PresetId, RedirectMode};
use serde_json::json;

fn latchkey() -> (Latchkey, std::path::PathBuf) {
    let dir = latchkey_harness::temp_dir("apps");
    let (clock, _) = Clock::manual(1_700_000_000);
    let lk = Latchkey::with_parts(Store::open(&dir).unwrap(), Arc::new(MemoryVault::default()), clock, "t").unwrap();
    (lk, dir)
}

fn stored(lk: &Latchkey, id: &str) -> latchkey_core::ProviderApp {
    lk.load().unwrap().app(id).unwrap().clone()
}

fn input(v: serde_json::Value) -> AppInput {
    serde_json::from_value(v).unwrap()
}

#[tokio::test]
async fn generic_needs_no_server_address_when_both_endpoints_are_given() {
    let (lk, _d) = latchkey();
    let only_authorize = lk
        .save_app(input(json!({
            "preset": "generic", "clientId": "c", "authorizeUrl": "https://id.example/authorize"
        })))
        .await
        .unwrap_err();
    assert_eq!(only_authorize.code(), ErrorCode::InvalidInput);
    assert!(only_authorize.to_string().contains("authorization and token endpoints"), "{only_authorize}");

    let app = lk
        .save_app(input(json!({
            "preset": "generic", "clientId": "c",
            "authorizeUrl": "https://id.example/authorize", "tokenUrl": "https://id.example/token",
            "userinfoUrl": "https://api.example/me"
        })))
        .await
        .unwrap();
    assert_eq!(app.base_url, None);
    let e = stored(&lk, &app.id).endpoints().unwrap();
    assert_eq!(e.authorize.as_str(), "https://id.example/authorize");
    assert_eq!(e.token.as_str(), "https://id.example/token");
    assert_eq!(e.profile.as_str(), "https://api.example/me");
}

#[tokio::test]
async fn every_preset_takes_endpoint_overrides() {
    let (lk, _d) = latchkey();
    let app = lk
        .save_app(input(json!({
            "preset": "textmaster", "clientId": "c",
            "baseUrl": "https://app.staging.example",
            "tokenUrl": "https://auth.staging.example/oauth/token",
            "userinfoUrl": "https://api.staging.example/v1/clients/users/me",
            "revocationUrl": "https://auth.staging.example/oauth/revoke"
        })))
        .await
        .unwrap();
    let e = stored(&lk, &app.id).endpoints().unwrap();
    assert_eq!(e.authorize.as_str(), "https://app.staging.example/oauth/authorize");
    assert_eq!(e.token.as_str(), "https://auth.staging.example/oauth/token");
    assert_eq!(e.profile.as_str(), "https://api.staging.example/v1/clients/users/me");
    assert_eq!(
        e.revocation,
        latchkey_core::provider::Revocation::Rfc7009("https://auth.staging.example/oauth/revoke".parse().unwrap())
    );
    let bad = lk
        .save_app(input(json!({"preset": "rememberizer", "clientId": "c", "tokenUrl": "http://evil.example/t"})))
        .await
        .unwrap_err();
    assert!(bad.to_string().starts_with("Token URL:"), "{bad}");
}

#[tokio::test]
async fn the_chosen_token_auth_method_is_kept() {
    let (lk, _d) = latchkey();
    let base = json!({
        "preset": "generic", "clientId": "c",
        "authorizeUrl": "https://id.example/authorize", "tokenUrl": "https://id.example/token"
    });
    let default = lk.save_app(input(base.clone())).await.unwrap();
    assert_eq!(default.auth_method, AuthMethod::ClientSecretPost);
    let mut basic = base.clone();
    basic["authMethod"] = json!("client_secret_basic");
    let basic = lk.save_app(input(basic)).await.unwrap();
    assert_eq!(basic.auth_method, AuthMethod::ClientSecretBasic);
    assert_eq!(stored(&lk, &basic.id).endpoints().unwrap().auth_method, AuthMethod::ClientSecretBasic);
    let mut wrong = base;
    wrong["authMethod"] = json!("private_key_jwt");
    assert!(serde_json::from_value::<AppInput>(wrong).is_err());
}

#[tokio::test]
async fn a_fixed_loopback_port_is_in_the_redirect_uri_and_checked() {
    let (lk, _d) = latchkey();
    let app = lk
        .save_app(input(json!({
            "preset": "fusio", "clientId": "c", "baseUrl": "https://fusio.example",
            "redirectMode": "loopback", "loopbackPort": 48123, "callbackId": "abcd1234"
        })))
        .await
        .unwrap();
    assert_eq!(app.redirect_mode, RedirectMode::Loopback);
    assert_eq!(app.loopback_port, Some(48123));
    assert_eq!(app.redirect_uri.as_deref(), Some("http://127.0.0.1:48123/oauth/callback/abcd1234"));
    let any = lk
        .save_app(input(json!({
            "preset": "fusio", "clientId": "c", "baseUrl": "https://fusio.example", "redirectMode": "loopback"
        })))
        .await
        .unwrap();
    assert!(any.redirect_uri.unwrap().starts_with("http://127.0.0.1/oauth/callback/"));
    let low = lk
        .save_app(input(json!({
            "preset": "fusio", "clientId": "c", "baseUrl": "https://fusio.example", "loopbackPort": 80
        })))
        .await
        .unwrap_err();
    assert!(low.to_string().contains("1024"), "{low}");
    assert_eq!(PresetId::Fusio.as_str(), "fusio");
}

#[tokio::test]
async fn a_taken_fixed_port_says_so() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let err = latchkey_core::connect::Loopback::bind("/oauth/callback/x", Some(port)).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidInput);
    assert!(err.to_string().contains(&format!("Port {port}")), "{err}");
    drop(taken);
    let lb = latchkey_core::connect::Loopback::bind("/oauth/callback/x", Some(port)).await.unwrap();
    assert_eq!(lb.redirect_uri(), format!("http://127.0.0.1:{port}/oauth/callback/x"));
}
