//! What each connection was granted, and revoking: against the local test provider and the
//! real Secret Service.

mod common;

use common::{World, app_input, world};
use latchkey_core::provider::RevokeSupport;
use latchkey_core::{ConnectionView, ErrorCode, PresetId, RedirectMode, Status};
use secrecy::ExposeSecret;

async fn connect(
    w: &World,
    preset: PresetId,
    mode: RedirectMode,
    scopes: &str,
    login: &str,
) -> (String, ConnectionView) {
    let c = w.connect(preset, mode, scopes, login).await;
    (c.app_id.clone(), c)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rememberizer_detail_shows_mementos_and_revoke_without_an_endpoint_is_local_with_no_production_link() {
    let w = world("rememberizer");
    let (_, conn) = connect(&w, PresetId::Rememberizer, RedirectMode::DeepLink, "read offline_access", "alice").await;
    let d = w.lk.connection_detail(&conn.id).await.unwrap();
    let p = d.profile.expect("profile");
    assert_eq!((p.id.as_str(), p.email.as_deref()), ("1001", Some("alice@example.com")));
    let m = d.mementos.expect("mementos");
    assert!(m.len() >= 2, "{m:?}");
    assert!(m.iter().any(|m| m.name == "Work notes" && m.documents_count == Some(12)), "{m:?}");
    // The app points at the test server, not api.rememberizer.ai: no link to production's page,
    // and the view says what Revoke can do there, and which server it is.
    assert_eq!(d.manage_url, None);
    assert_eq!(conn.revocation, RevokeSupport::Tries, "django-oauth-toolkit's revoke_token/ is tried");
    assert_eq!(conn.manage_url, None);
    assert_eq!(conn.server.as_deref(), Some(w.provider.url.trim_start_matches("http://").trim_end_matches('/')));
    assert_eq!(d.scope_labels.get("read").map(String::as_str), Some("Read your mementos and documents"));

    // The test profile starts without django-oauth-toolkit's `revoke_token/`: Latchkey tries
    // it, gets 404, and says what that means.
    let tokens = w.tokens(&conn.id).unwrap();
    let out = w.lk.revoke_connection(&conn.id, false).await.unwrap();
    assert!(!out.revoked_at_provider, "this server has no revocation endpoint");
    assert!(!out.pending);
    assert!(out.message.contains("does not offer revocation"), "{}", out.message);
    assert_eq!(out.manage_url, None, "never the production page for another server");
    assert_eq!(w.provider.stats().await["revoke"], 1, "tried once at the usual path");
    assert!(w.tokens(&conn.id).is_none(), "keychain entry removed");
    assert!(w.lk.list_connections().unwrap().is_empty(), "row removed");
    // Honest: the provider still accepts the token, and the message did not claim otherwise.
    assert!(w.provider.is_active(tokens.access_token.expose_secret()).await);
    // A second revoke is harmless.
    assert_eq!(w.lk.revoke_connection(&conn.id, false).await.unwrap_err().code(), ErrorCode::NotFound);
}

/// Where the server family revokes (django-oauth-toolkit's `revoke_token/`, Doorkeeper's
/// `/oauth/revoke`), the presets use it, authenticated like the token endpoint.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rememberizer_and_textmaster_revoke_where_their_server_family_does() {
    for (profile, preset, scopes) in [
        ("rememberizer", PresetId::Rememberizer, "read offline_access"),
        ("textmaster", PresetId::Textmaster, "public user:read user:email"),
    ] {
        let w = world(profile);
        w.provider.control("/__test/behaviour", serde_json::json!({"revocation": true})).await;
        let (_, conn) = connect(&w, preset, RedirectMode::DeepLink, scopes, "alice").await;
        let t = w.tokens(&conn.id).unwrap();
        let out = w.lk.revoke_connection(&conn.id, false).await.unwrap();
        assert!(out.revoked_at_provider, "{profile}: {out:?}");
        assert!(!w.provider.is_active(t.access_token.expose_secret()).await, "{profile}: access token rejected");
        assert!(!w.provider.is_active(t.refresh_token.as_ref().unwrap().expose_secret()).await, "{profile}");
        assert_eq!(w.provider.stats().await["revoke"], 2, "{profile}: refresh token, then access token");
        assert!(w.tokens(&conn.id).is_none());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generic_rfc7009_revoke_kills_both_tokens() {
    let w = world("generic");
    let (_, conn) = connect(&w, PresetId::Generic, RedirectMode::DeepLink, "read profile email", "alice").await;
    let t = w.tokens(&conn.id).unwrap();
    assert_eq!(conn.revocation, RevokeSupport::Revokes, "discovery found the RFC 7009 endpoint");
    let out = w.lk.revoke_connection(&conn.id, false).await.unwrap();
    assert!(out.revoked_at_provider, "{out:?}");
    assert!(!w.provider.is_active(t.access_token.expose_secret()).await, "access token rejected");
    assert!(!w.provider.is_active(t.refresh_token.as_ref().unwrap().expose_secret()).await, "refresh token rejected");
    assert!(w.tokens(&conn.id).is_none());
    assert!(w.lk.list_connections().unwrap().is_empty());
    assert_eq!(w.provider.stats().await["revoke"], 2, "refresh token, then access token");
    assert_eq!(w.lk.revoke_connection(&conn.id, false).await.unwrap_err().code(), ErrorCode::NotFound);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fusio_grants_listed_and_revoked_and_bearer_revoke() {
    let w = world("fusio");
    let (_, conn) = connect(&w, PresetId::Fusio, RedirectMode::Paste, "consumer", "alice").await;
    let d = w.lk.connection_detail(&conn.id).await.unwrap();
    let grants = d.grants.expect("grants");
    let acme = grants.iter().find(|g| g.app_name == "Acme Reports").expect("seeded grant").clone();
    assert!(grants.iter().any(|g| g.app_name.contains("Latchkey")), "{grants:?}");
    assert!(acme.created_at.is_some());
    w.lk.revoke_grant(&conn.id, &acme.id).await.unwrap();
    let after = w.lk.connection_detail(&conn.id).await.unwrap().grants.unwrap();
    assert!(!after.iter().any(|g| g.id == acme.id), "{after:?}");
    assert!(w.lk.revoke_grant(&conn.id, "../etc").await.is_err());

    let t = w.tokens(&conn.id).unwrap();
    let out = w.lk.revoke_connection(&conn.id, false).await.unwrap();
    assert!(out.revoked_at_provider, "{out:?}");
    assert!(!w.provider.is_active(t.access_token.expose_secret()).await);
    assert!(!w.provider.is_active(t.refresh_token.as_ref().unwrap().expose_secret()).await);
    assert!(w.tokens(&conn.id).is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoke_while_the_provider_is_down_is_pending_then_completes() {
    let w = world("generic");
    let (_, conn) = connect(&w, PresetId::Generic, RedirectMode::DeepLink, "read", "alice").await;
    let t = w.tokens(&conn.id).unwrap();
    w.provider.fault("revoke", 503, 10).await;
    let out = w.lk.revoke_connection(&conn.id, false).await.unwrap();
    assert!(out.pending && !out.revoked_at_provider, "{out:?}");
    assert!(out.message.contains("revocation pending"), "{}", out.message);
    let c = &w.lk.list_connections().unwrap()[0];
    assert_eq!(c.status, Status::RevocationPending);
    assert!(w.tokens(&conn.id).is_some(), "nothing removed while pending");
    // Kept out of refresh.
    assert_eq!(w.lk.refresh(&conn.id).await.unwrap_err().code(), ErrorCode::InvalidInput);
    w.provider.control("/__test/fault/clear", serde_json::json!({})).await;
    assert_eq!(w.lk.retry_pending_revocations().await.unwrap(), 0);
    assert!(w.lk.list_connections().unwrap().is_empty());
    assert!(w.tokens(&conn.id).is_none());
    assert!(!w.provider.is_active(t.access_token.expose_secret()).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remove_here_only_keeps_the_grant_at_the_provider() {
    let w = world("generic");
    let (_, conn) = connect(&w, PresetId::Generic, RedirectMode::DeepLink, "read", "alice").await;
    let t = w.tokens(&conn.id).unwrap();
    let out = w.lk.revoke_connection(&conn.id, true).await.unwrap();
    assert!(!out.revoked_at_provider && !out.pending);
    assert!(out.message.starts_with("Removed from Latchkey only"), "{}", out.message);
    assert!(w.tokens(&conn.id).is_none());
    assert!(w.provider.is_active(t.access_token.expose_secret()).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removing_a_provider_app_with_connections() {
    let w = world("generic");
    let (app_id, alice) = connect(&w, PresetId::Generic, RedirectMode::DeepLink, "read", "alice").await;
    let (_, bob) = connect(&w, PresetId::Generic, RedirectMode::DeepLink, "read", "bob").await;
    assert_eq!(w.lk.list_apps().unwrap()[0].connection_count, 2);
    let (ta, tb) = (w.tokens(&alice.id).unwrap(), w.tokens(&bob.id).unwrap());
    // Provider down: the app is kept so the revocation can be retried.
    w.provider.fault("revoke", 503, 100).await;
    let err = w.lk.remove_app(&app_id, true).await.unwrap_err();
    assert!(err.to_string().contains("could not be revoked"), "{err}");
    assert_eq!(w.lk.list_apps().unwrap().len(), 1);
    w.provider.control("/__test/fault/clear", serde_json::json!({})).await;
    w.lk.remove_app(&app_id, true).await.unwrap();
    assert!(w.lk.list_apps().unwrap().is_empty());
    assert!(w.lk.list_connections().unwrap().is_empty());
    for t in [ta, tb] {
        assert!(!w.provider.is_active(t.access_token.expose_secret()).await);
    }
    use latchkey_core::vault::{Vault, app_secret_key};
    assert!(w.vault.get(&app_secret_key(&app_id)).unwrap().is_none(), "client secret removed");

    // Keeping them: the app goes, the connection stays with its tokens, still valid.
    let (app_id, carol) = connect(&w, PresetId::Generic, RedirectMode::DeepLink, "read", "alice").await;
    w.lk.remove_app(&app_id, false).await.unwrap();
    assert!(w.lk.list_apps().unwrap().is_empty());
    let kept = w.lk.list_connections().unwrap();
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0].app_name, "(removed provider app)");
    w.assert_tokens_work(&carol.id).await;
    // It can still be removed later, here only.
    assert!(!w.lk.revoke_connection(&carol.id, false).await.unwrap().revoked_at_provider);
    assert!(w.tokens(&carol.id).is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_401_triggers_one_refresh_and_a_retry() {
    let w = world("rememberizer");
    let (_, conn) = connect(&w, PresetId::Rememberizer, RedirectMode::DeepLink, "read offline_access", "alice").await;
    let before = w.tokens(&conn.id).unwrap();
    w.provider.fault("resource", 401, 1).await;
    let d = w.lk.connection_detail(&conn.id).await.unwrap();
    assert!(d.profile.is_some(), "{:?}", d.profile_error);
    assert_eq!(w.provider.stats().await["token"]["refresh_token"], 1);
    let after = w.tokens(&conn.id).unwrap();
    assert_ne!(after.access_token.expose_secret(), before.access_token.expose_secret());
    assert_eq!(d.refresh_log.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_403_explains_the_missing_scope() {
    let w = world("textmaster");
    let app = w.lk.save_app(app_input(&w, PresetId::Textmaster, RedirectMode::DeepLink, "public")).await.unwrap();
    let start = w.lk.start_connect(&app.id, None).await.unwrap();
    let loc = w.provider.sign_in(&start.authorize_url, "alice", true).await["location"].as_str().unwrap().to_owned();
    let err = w.lk.handle_callback(&loc).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::MissingScope, "{err}");
    // A first connect: the scope named (from the provider's challenge), "connect again", and
    // the tokens it obtained revoked (TextMaster revokes at Doorkeeper's /oauth/revoke).
    let msg = err.to_string();
    assert!(msg.contains("“user:read” (Read your profile)") && msg.contains("Connect again"), "{msg}");
    assert!(!msg.contains("econnect"), "{msg}");
    assert_eq!(latchkey_core::ErrorView::from(&err).scope.as_deref(), Some("user:read"));
    assert_eq!(w.provider.stats().await["revoke"], 2, "refresh and access token revoked");
    assert!(w.lk.list_connections().unwrap().is_empty());
    // "Connect again with user:read": the scope is added to the app, and the sign-in works.
    let app = w.lk.add_scope(&app.id, "user:read").await.unwrap();
    assert_eq!(app.scopes, "public user:read");
    assert_eq!(w.lk.add_scope(&app.id, "user:read").await.unwrap().scopes, "public user:read");
    assert!(w.lk.add_scope(&app.id, "a\"b").await.is_err());
    let start = w.lk.start_connect(&app.id, None).await.unwrap();
    let loc = w.provider.sign_in(&start.authorize_url, "alice", true).await["location"].as_str().unwrap().to_owned();
    let c = w.lk.handle_callback(&loc).await.unwrap();
    assert!(c.last_verified_at.is_some());
}
