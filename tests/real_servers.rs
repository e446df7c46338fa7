//! What real OAuth servers do that the plain test profiles do not (issue 17), each switched on
//! in the real test provider (`tests/provider/realworld.mjs`), against the real Secret
//! Service: revocation where the server family offers it, expiry from the time of receipt,
//! completed lazy rotations, exact loopback ports, the OpenID nonce, a bare 400 for a dead
//! refresh token, discovery for an issuer with a path, and Generic's default scopes.

mod common;

use common::{World, app_input, short_lived, world};
use latchkey_core::{ErrorCode, Event, PresetId, RedirectMode, Status};
use serde_json::json;

async fn behave(w: &World, b: serde_json::Value) {
    let r = w.provider.control("/__test/behaviour", b).await;
    assert_eq!(r["ok"], true, "{r}");
}

/// Signs in through a loopback app and waits for the flow to finish.
async fn connect_loopback(w: &World, app_id: &str) -> Result<latchkey_core::ConnectionView, String> {
    let start = w.lk.start_connect(app_id, None).await.map_err(|e| e.to_string())?;
    let mut events = w.lk.subscribe();
    let answer = w.provider.sign_in(&start.authorize_url, "alice", true).await;
    let Some(location) = answer["location"].as_str() else { return Err(format!("no redirect: {answer}")) };
    latchkey_harness::client().get(location).send().await.unwrap();
    loop {
        match tokio::time::timeout(std::time::Duration::from_secs(20), events.recv()).await.unwrap().unwrap() {
            Event::ConnectFinished { flow_id, result } if flow_id == start.flow_id => {
                return result.map(|c| *c).map_err(|e| e.message);
            }
            _ => continue,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bare_400_to_a_refresh_is_terminal() {
    for status in [400, 401] {
        let w = world("generic");
        let c = w.connect(PresetId::Generic, RedirectMode::DeepLink, "read offline_access", "alice").await;
        behave(&w, json!({"bareRefreshError": status})).await;
        w.provider.control("/__test/expire-refresh-tokens", json!({})).await;
        let err = w.lk.refresh(&c.id).await.unwrap_err();
        assert_eq!(err.code(), ErrorCode::NeedsReconnect, "{status}: {err}");
        let msg = format!("the provider refused the refresh (HTTP {status}, no explanation)");
        assert_eq!(err.to_string(), msg);
        let row = w.lk.list_connections().unwrap().remove(0);
        assert_eq!(row.status, Status::NeedsReconnect);
        assert_eq!(row.last_error.as_deref(), Some(msg.as_str()));
        // Not retried: the next request answers from the row.
        let before = w.refreshes().await;
        assert_eq!(w.lk.access_token(&c.id, 60).await.unwrap_err().code(), ErrorCode::NeedsReconnect);
        assert_eq!(w.refreshes().await, before);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reused_token_expires_by_the_time_of_receipt() {
    // Doorkeeper's reuse_access_token: created_at 1000 s ago, 2600 s remaining.
    let w = world("textmaster");
    behave(&w, json!({"reuseAge": 1000})).await;
    let c = w.connect(PresetId::Textmaster, RedirectMode::DeepLink, "public user:read user:email", "alice").await;
    let now = chrono_now();
    let expires = c.expires_at.expect("expiry");
    // Receipt + 27800 s minus the small skew allowance (1 %, at most 5 s) — not created_at + expires_in.
    let want = now + 28800 - 1000;
    assert!((want - 10..=want + 1).contains(&expires), "expires {expires}, want about {want}");
}

fn chrono_now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn background_refreshes_complete_lazy_rotations_and_verify_the_token() {
    let w = short_lived("textmaster", "4");
    behave(&w, json!({"lazyRotation": true})).await;
    let c = w.connect(PresetId::Textmaster, RedirectMode::DeepLink, "public user:read user:email", "alice").await;
    let verified_at_connect = c.last_verified_at.expect("verified at connect");
    for _ in 0..3 {
        w.lk.refresh(&c.id).await.unwrap();
    }
    let stats = w.provider.stats().await;
    assert_eq!(stats["token"]["refresh_token"], 3);
    assert_eq!(stats["lazyPending"], 0, "every rotation completed by using the new access token: {stats}");
    let row = w.lk.list_connections().unwrap().remove(0);
    assert!(row.last_verified_at.unwrap() >= verified_at_connect);
    assert_eq!(row.last_error, None);

    // The provider refuses the new access token: the row says so, and a refresh comes soon.
    w.provider.fault("resource", 401, 1).await;
    let v = w.lk.refresh(&c.id).await.unwrap();
    assert_eq!(v.status, Status::Connected);
    assert!(v.last_error.as_deref().unwrap_or("").contains("did not accept the refreshed access token"), "{v:?}");
    assert!(v.next_refresh_at.unwrap() <= chrono_now() + 2, "{v:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fixed_loopback_port_for_servers_that_match_it_exactly() {
    let w = world("generic");
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut input = app_input(&w, PresetId::Generic, RedirectMode::Loopback, "read");
    input.loopback_port = Some(port);
    let fixed = w.lk.save_app(input).await.unwrap();
    let exact = fixed.redirect_uri.clone().unwrap();
    assert_eq!(exact, format!("http://127.0.0.1:{port}/oauth/callback/{}", fixed.callback_id.as_deref().unwrap()));
    behave(&w, json!({"exactLoopback": [exact]})).await;
    let c = connect_loopback(&w, &fixed.id).await.unwrap();
    assert_eq!(c.email.as_deref(), Some("alice@example.com"));

    // Any-port mode: such a server refuses the request (a bare 403, no redirect).
    let any = w.lk.save_app(app_input(&w, PresetId::Generic, RedirectMode::Loopback, "read")).await.unwrap();
    let start = w.lk.start_connect(&any.id, None).await.unwrap();
    let answer = w.provider.sign_in(&start.authorize_url, "alice", true).await;
    assert!(answer["location"].is_null(), "{answer}");
    w.lk.cancel_connect(&start.flow_id);

    // The fixed port is taken: the sign-in does not start, and the message says why.
    let _taken = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
    let err = w.lk.start_connect(&fixed.id, None).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidInput);
    assert!(err.to_string().contains(&format!("Port {port}")), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openid_sign_ins_carry_a_nonce_and_check_it() {
    let w = world("generic");
    behave(&w, json!({"nonceRequired": true})).await;
    let app =
        w.lk.save_app(app_input(&w, PresetId::Generic, RedirectMode::DeepLink, "openid profile email offline_access"))
            .await
            .unwrap();
    let start = w.lk.start_connect(&app.id, None).await.unwrap();
    let nonce = latchkey_harness::query(&start.authorize_url, "nonce").expect("a nonce");
    assert!(nonce.len() >= 20);
    let loc = w.provider.sign_in(&start.authorize_url, "alice", true).await["location"].as_str().unwrap().to_owned();
    let c = w.lk.handle_callback(&loc).await.unwrap();
    assert_eq!(c.email.as_deref(), Some("alice@example.com"));
    // Fresh every time.
    let again = w.lk.start_connect(&app.id, None).await.unwrap();
    assert_ne!(latchkey_harness::query(&again.authorize_url, "nonce").unwrap(), nonce);
    w.lk.cancel_connect(&again.flow_id);

    // An ID token answering another sign-in: refused, and the tokens it came with revoked.
    behave(&w, json!({"idTokenNonce": "someone-elses"})).await;
    let w2 = world("generic");
    behave(&w2, json!({"idTokenNonce": "someone-elses"})).await;
    let app2 =
        w2.lk.save_app(app_input(&w2, PresetId::Generic, RedirectMode::DeepLink, "openid profile")).await.unwrap();
    let start = w2.lk.start_connect(&app2.id, None).await.unwrap();
    let loc = w2.provider.sign_in(&start.authorize_url, "alice", true).await["location"].as_str().unwrap().to_owned();
    let err = w2.lk.handle_callback(&loc).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::Flow, "{err}");
    assert!(err.to_string().contains("nonce does not match"), "{err}");
    assert!(w2.lk.list_connections().unwrap().is_empty());
    assert_eq!(w2.provider.stats().await["revoke"], 2, "the unused tokens were revoked");

    // Without openid, no nonce.
    let plain = w2.lk.save_app(app_input(&w2, PresetId::Generic, RedirectMode::DeepLink, "read")).await.unwrap();
    let start = w2.lk.start_connect(&plain.id, None).await.unwrap();
    assert_eq!(latchkey_harness::query(&start.authorize_url, "nonce"), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_for_an_issuer_with_a_path() {
    let w = world("generic");
    let base = w.provider.url.clone();
    let generic = |path: &str| {
        let mut i = app_input(&w, PresetId::Generic, RedirectMode::DeepLink, "");
        i.base_url = Some(format!("{base}{path}"));
        i.scopes = None;
        i
    };
    // RFC 8414 §3.1: the well-known segment inserted between host and path.
    let tenant = w.lk.save_app(generic("/tenant")).await.unwrap();
    assert_eq!(tenant.token_url.as_ref().map(|u| u.as_str().to_owned()), Some(format!("{base}/oauth/token")));
    let d = w.lk.discover_provider(PresetId::Generic, &format!("{base}/tenant")).await.unwrap();
    assert!(d.found);
    assert_eq!(d.issuer, Some(format!("{base}/tenant")));
    // Then the OpenID form, appended.
    let d = w.lk.discover_provider(PresetId::Generic, &format!("{base}/oidc-tenant")).await.unwrap();
    assert_eq!(d.issuer, Some(format!("{base}/oidc-tenant")));
    // A document naming another issuer is not used.
    let err = w.lk.save_app(generic("/wrong-tenant")).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidInput);
    assert!(err.to_string().contains("someone-else"), "{err}");
    // Nothing published at all: the person enters the endpoints.
    let d = w.lk.discover_provider(PresetId::Generic, &format!("{base}/nothing-here")).await.unwrap();
    assert!(!d.found);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generic_asks_for_the_scopes_discovery_offers_by_default() {
    let w = world("generic");
    let d = w.lk.discover_provider(PresetId::Generic, &w.provider.url).await.unwrap();
    assert_eq!(d.default_scopes.as_deref(), Some("openid profile email offline_access"));
    // The test provider's generic profile offers the device grant (RFC 8628) too.
    assert!(d.device_authorization_url.is_some(), "{d:?}");
    let mut input = app_input(&w, PresetId::Generic, RedirectMode::DeepLink, "");
    input.scopes = None;
    let app = w.lk.save_app(input).await.unwrap();
    assert_eq!(app.scopes, "openid profile email offline_access");
    // A person's own choice stands.
    let chosen = w.lk.save_app(app_input(&w, PresetId::Generic, RedirectMode::DeepLink, "read")).await.unwrap();
    assert_eq!(chosen.scopes, "read");
    // And the default scopes sign in (openid brings a nonce; offline_access a refresh token).
    let start = w.lk.start_connect(&app.id, None).await.unwrap();
    let loc = w.provider.sign_in(&start.authorize_url, "bob", true).await["location"].as_str().unwrap().to_owned();
    let c = w.lk.handle_callback(&loc).await.unwrap();
    assert!(c.scopes_granted.contains(&"offline_access".to_owned()), "{:?}", c.scopes_granted);
    w.assert_tokens_work(&c.id).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_profile_endpoint_does_not_hold_the_refresh() {
    let w = world("generic");
    let c = w.connect(PresetId::Generic, RedirectMode::DeepLink, "read offline_access", "alice").await;
    let verified = c.last_verified_at;
    w.provider.control("/__test/fault", json!({"route": "resource", "delayMs": 9000, "count": 1})).await;
    let t0 = std::time::Instant::now();
    let v = w.lk.refresh(&c.id).await.unwrap();
    let took = t0.elapsed();
    assert!(took < std::time::Duration::from_secs(8), "the check is bounded: {took:?}");
    assert_eq!(v.status, Status::Connected);
    assert_eq!(v.last_error, None, "an unanswered check is not an error");
    assert_eq!(v.last_verified_at, verified, "not verified this time");
    w.assert_tokens_work(&c.id).await;
}
