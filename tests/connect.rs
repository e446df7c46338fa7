//! The whole authorization-code flow for every preset, against the local test provider
//! (oidc-provider) and the real Secret Service (gnome-keyring in a private session bus).

mod common;

use common::{app_input, files_under, world, world_with_clock};
use latchkey_core::Clock;
use latchkey_core::{ErrorCode, Event, PresetId, RedirectMode, Status};
use latchkey_harness::query;
use secrecy::ExposeSecret;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rememberizer_custom_scheme_connect_reconnect_and_second_account() {
    let w = world("rememberizer");
    let app =
        w.lk.save_app(app_input(&w, PresetId::Rememberizer, RedirectMode::DeepLink, "read offline_access"))
            .await
            .unwrap();
    // Its own callback path (RFC 9700 §4.4.2), registered and sent exactly.
    let own = app.redirect_uri.clone().unwrap();
    assert!(own.starts_with("app.latchkey:/oauth/callback/") && own.len() > 30, "{own}");
    assert!(app.has_secret);

    let start = w.lk.start_connect(&app.id, None).await.unwrap();
    assert_eq!(query(&start.authorize_url, "redirect_uri").as_deref(), Some(own.as_str()));
    assert_eq!(query(&start.authorize_url, "code_challenge_method").as_deref(), Some("S256"));
    let answer = w.provider.sign_in(&start.authorize_url, "alice", true).await;
    let location = answer["location"].as_str().unwrap();
    assert!(location.starts_with(&format!("{own}?")), "{answer}");

    // A forged callback (wrong state) is rejected and changes nothing.
    let forged = location.replace(&query(location, "state").unwrap(), "forged-state");
    let err = w.lk.handle_callback(&forged).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::Flow);
    assert!(w.lk.list_connections().unwrap().is_empty());

    let mut events = w.lk.subscribe();
    let conn = w.lk.handle_callback(location).await.unwrap();
    assert_eq!(conn.name.as_deref(), Some("Alice Example"));
    assert_eq!(conn.email.as_deref(), Some("alice@example.com"));
    assert_eq!(conn.account_id, "1001");
    assert_eq!(conn.status, Status::Connected);
    assert!(conn.expires_at.unwrap() > w.lk.now());
    assert!(conn.scopes_granted.contains(&"read".to_owned()), "{:?}", conn.scopes_granted);
    match events.recv().await.unwrap() {
        Event::ConnectFinished { flow_id, result } => {
            assert_eq!(flow_id, start.flow_id);
            assert_eq!(result.unwrap().id, conn.id);
        }
        other => panic!("{other:?}"),
    }
    w.assert_tokens_work(&conn.id).await;
    // The tokens are in the keychain and in no file under the data directory.
    let t = w.tokens(&conn.id).unwrap();
    for (path, bytes) in files_under(&w.data_dir) {
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.contains(t.access_token.expose_secret()), "access token in {}", path.display());
        assert!(
            !text.contains(t.refresh_token.as_ref().unwrap().expose_secret()),
            "refresh token in {}",
            path.display()
        );
        assert!(!text.contains(&w.provider.client_secret), "client secret in {}", path.display());
    }

    // Replaying the same callback is rejected: the state was used.
    let replay = w.lk.handle_callback(location).await.unwrap_err();
    assert_eq!(replay.code(), ErrorCode::Flow);
    assert!(replay.to_string().contains("No sign-in is in progress"), "{replay}");

    // Connecting the same account again updates the row instead of adding one.
    let first_tokens = w.tokens(&conn.id).unwrap();
    let again = w.lk.start_connect(&app.id, Some(&conn.id)).await.unwrap();
    let loc = w.provider.sign_in(&again.authorize_url, "alice", true).await["location"].as_str().unwrap().to_owned();
    let conn2 = w.lk.handle_callback(&loc).await.unwrap();
    assert_eq!(conn2.id, conn.id);
    assert_eq!(w.lk.list_connections().unwrap().len(), 1);
    assert_ne!(w.tokens(&conn.id).unwrap().access_token.expose_secret(), first_tokens.access_token.expose_secret());

    // A second account at the same provider is a second row.
    let s3 = w.lk.start_connect(&app.id, None).await.unwrap();
    let loc = w.provider.sign_in(&s3.authorize_url, "bob", true).await["location"].as_str().unwrap().to_owned();
    let bob = w.lk.handle_callback(&loc).await.unwrap();
    assert_ne!(bob.id, conn.id);
    assert_eq!(bob.email.as_deref(), Some("bob@example.com"));
    assert_eq!(w.lk.list_connections().unwrap().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn editing_a_provider_app_keeps_its_secret() {
    let w = world("rememberizer");
    let app = w.lk.save_app(app_input(&w, PresetId::Rememberizer, RedirectMode::DeepLink, "read")).await.unwrap();
    let mut edit = app_input(&w, PresetId::Rememberizer, RedirectMode::Loopback, "read offline_access");
    edit.id = Some(app.id.clone());
    edit.name = "Renamed".into();
    edit.client_secret = None;
    let edited = w.lk.save_app(edit).await.unwrap();
    assert_eq!(
        (edited.id.as_str(), edited.name.as_str(), edited.scopes.as_str()),
        (app.id.as_str(), "Renamed", "read offline_access")
    );
    assert!(edited.has_secret);
    assert_eq!(w.lk.list_apps().unwrap().len(), 1);
    // Still works with the stored secret, through the new redirect mode.
    let start = w.lk.start_connect(&app.id, None).await.unwrap();
    assert!(query(&start.authorize_url, "redirect_uri").unwrap().starts_with("http://127.0.0.1:"));
    let mut events = w.lk.subscribe();
    let loc = w.provider.sign_in(&start.authorize_url, "alice", true).await["location"].as_str().unwrap().to_owned();
    latchkey_harness::client().get(&loc).send().await.unwrap();
    loop {
        if let Event::ConnectFinished { result, .. } = events.recv().await.unwrap() {
            assert_eq!(result.unwrap().email.as_deref(), Some("alice@example.com"));
            break;
        }
    }
    // Bad input is refused with the field named, and changes nothing.
    let mut bad = app_input(&w, PresetId::Rememberizer, RedirectMode::DeepLink, "read");
    bad.id = Some(app.id.clone());
    bad.base_url = Some("http://example.com".into());
    let err = w.lk.save_app(bad).await.unwrap_err();
    assert!(err.to_string().starts_with("Base URL"), "{err}");
    assert_eq!(w.lk.list_apps().unwrap()[0].name, "Renamed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn denied_consent_is_reported_in_plain_words() {
    let w = world("rememberizer");
    let app = w.lk.save_app(app_input(&w, PresetId::Rememberizer, RedirectMode::DeepLink, "read")).await.unwrap();
    let start = w.lk.start_connect(&app.id, None).await.unwrap();
    let answer = w.provider.sign_in(&start.authorize_url, "alice", false).await;
    let err = w.lk.handle_callback(answer["location"].as_str().unwrap()).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::ProviderRejected);
    assert!(err.to_string().contains("You declined"), "{err}");
    assert!(w.lk.list_connections().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn textmaster_paste_the_code() {
    let w = world("textmaster");
    let app =
        w.lk.save_app(app_input(&w, PresetId::Textmaster, RedirectMode::Paste, "public user:read user:email"))
            .await
            .unwrap();
    assert_eq!(app.redirect_uri.as_deref(), Some("urn:ietf:wg:oauth:2.0:oob"));
    let start = w.lk.start_connect(&app.id, None).await.unwrap();
    assert_eq!(query(&start.authorize_url, "redirect_uri").as_deref(), Some("urn:ietf:wg:oauth:2.0:oob"));
    let answer = w.provider.sign_in(&start.authorize_url, "alice", true).await;
    let code = answer["code"].as_str().expect("the code page shows a code");
    assert!(w.lk.submit_code(&start.flow_id, "").await.is_err());
    let conn = w.lk.submit_code(&start.flow_id, &format!("  {code}\n")).await.unwrap();
    assert_eq!(conn.name.as_deref(), Some("Alice Example"));
    assert!(conn.account_id.len() > 3, "{}", conn.account_id);
    // TextMaster's 8-hour lifetime counts from receipt (less a 5 s allowance); its created_at
    // is not used for expiry.
    let t = w.tokens(&conn.id).unwrap();
    assert_eq!(t.expires_at.unwrap() - t.issued_at, 28_800 - 5);
    w.assert_tokens_work(&conn.id).await;
    // The flow is used up.
    assert!(w.lk.submit_code(&start.flow_id, code).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fusio_loopback_with_basic_auth_and_discovery() {
    let w = world("fusio");
    // Fusio rejects custom schemes: the form refuses the mode.
    let bad = w.lk.save_app(app_input(&w, PresetId::Fusio, RedirectMode::DeepLink, "consumer")).await.unwrap_err();
    assert_eq!(bad.code(), ErrorCode::InvalidInput);
    let app = w.lk.save_app(app_input(&w, PresetId::Fusio, RedirectMode::Loopback, "consumer")).await.unwrap();
    let start = w.lk.start_connect(&app.id, None).await.unwrap();
    let redirect = query(&start.authorize_url, "redirect_uri").unwrap();
    assert!(redirect.starts_with("http://127.0.0.1:"), "{redirect}");
    assert!(redirect.ends_with(&format!("/oauth/callback/{}", app.callback_id.as_deref().unwrap())), "{redirect}");
    let mut events = w.lk.subscribe();
    let answer = w.provider.sign_in(&start.authorize_url, "alice", true).await;
    let location = answer["location"].as_str().unwrap();
    assert!(location.starts_with(&redirect), "{answer}");
    // The browser follows the redirect to the loopback listener.
    let page = latchkey_harness::client().get(location).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("close this tab"));
    let conn = loop {
        match tokio::time::timeout(std::time::Duration::from_secs(20), events.recv()).await.unwrap().unwrap() {
            Event::ConnectFinished { flow_id, result } if flow_id == start.flow_id => break result.unwrap(),
            _ => continue,
        }
    };
    assert_eq!(conn.email.as_deref(), Some("alice@example.com"));
    // Fusio's comma-separated scope was split.
    assert_eq!(conn.scopes_granted, vec!["consumer".to_owned()]);
    w.assert_tokens_work(&conn.id).await;
    // The listener closed after one use.
    assert!(latchkey_harness::client().get(location).send().await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fusio_paste_mode_sends_no_redirect_uri() {
    let w = world("fusio");
    let app = w.lk.save_app(app_input(&w, PresetId::Fusio, RedirectMode::Paste, "consumer")).await.unwrap();
    assert_eq!(app.redirect_uri, None);
    let start = w.lk.start_connect(&app.id, None).await.unwrap();
    assert_eq!(query(&start.authorize_url, "redirect_uri"), None);
    let answer = w.provider.sign_in(&start.authorize_url, "alice", true).await;
    let conn = w.lk.submit_code(&start.flow_id, answer["code"].as_str().unwrap()).await.unwrap();
    assert_eq!(conn.account_id, "1001");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generic_discovery_and_the_iss_check() {
    let w = world("generic");
    let app =
        w.lk.save_app(app_input(&w, PresetId::Generic, RedirectMode::DeepLink, "read profile email")).await.unwrap();
    assert!(app.revocation_url.is_some(), "discovery found the revocation endpoint");
    let start = w.lk.start_connect(&app.id, None).await.unwrap();
    let location =
        w.provider.sign_in(&start.authorize_url, "alice", true).await["location"].as_str().unwrap().to_owned();
    assert_eq!(query(&location, "iss").as_deref(), Some(w.provider.issuer.as_str()));
    // The provider says it always sends iss: a callback without it is rejected (RFC 9207).
    let stripped = url::Url::parse_with_params(
        app.redirect_uri.as_deref().unwrap(),
        [("code", query(&location, "code").unwrap()), ("state", query(&location, "state").unwrap())],
    )
    .unwrap();
    let err = w.lk.handle_callback(stripped.as_str()).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::Flow);
    assert!(w.lk.list_connections().unwrap().is_empty());

    let start = w.lk.start_connect(&app.id, None).await.unwrap();
    let location =
        w.provider.sign_in(&start.authorize_url, "alice", true).await["location"].as_str().unwrap().to_owned();
    let conn = w.lk.handle_callback(&location).await.unwrap();
    assert_eq!(conn.name.as_deref(), Some("Alice Example"));
    w.assert_tokens_work(&conn.id).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_outage_during_exchange_loses_nothing() {
    let w = world("rememberizer");
    let app = w.lk.save_app(app_input(&w, PresetId::Rememberizer, RedirectMode::DeepLink, "read")).await.unwrap();
    let start = w.lk.start_connect(&app.id, None).await.unwrap();
    let location =
        w.provider.sign_in(&start.authorize_url, "alice", true).await["location"].as_str().unwrap().to_owned();
    w.provider.fault("token", 503, 1).await;
    let err = w.lk.handle_callback(&location).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::Network, "{err}");
    assert!(w.lk.list_connections().unwrap().is_empty());
    // A fresh sign-in works once the provider is back.
    let start = w.lk.start_connect(&app.id, None).await.unwrap();
    let location =
        w.provider.sign_in(&start.authorize_url, "alice", true).await["location"].as_str().unwrap().to_owned();
    assert!(w.lk.handle_callback(&location).await.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_state_is_rejected() {
    let (clock, t) = Clock::manual(Clock::system().now());
    let w = world_with_clock("rememberizer", clock);
    let app = w.lk.save_app(app_input(&w, PresetId::Rememberizer, RedirectMode::DeepLink, "read")).await.unwrap();
    let start = w.lk.start_connect(&app.id, None).await.unwrap();
    let location =
        w.provider.sign_in(&start.authorize_url, "alice", true).await["location"].as_str().unwrap().to_owned();
    t.fetch_add(601, std::sync::atomic::Ordering::SeqCst);
    let err = w.lk.handle_callback(&location).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::Flow);
    assert!(w.lk.list_connections().unwrap().is_empty());
    let stats = w.provider.stats().await;
    assert_eq!(stats["token"]["authorization_code"], 0, "no code exchange was attempted: {stats}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn iss_mismatch_is_rejected_before_any_token_request() {
    let w = world("fusio");
    let app = w.lk.save_app(app_input(&w, PresetId::Fusio, RedirectMode::Paste, "consumer")).await.unwrap();
    // Fusio publishes its issuer through discovery; an answer naming another issuer is a mix-up.
    let start = w.lk.start_connect(&app.id, None).await.unwrap();
    let answer = w.provider.sign_in(&start.authorize_url, "alice", true).await;
    let location = answer["location"].as_str().unwrap();
    let state = query(location, "state").unwrap();
    let code = answer["code"].as_str().unwrap();
    let mut forged = url::Url::parse("urn:ietf:wg:oauth:2.0:oob").unwrap();
    forged
        .query_pairs_mut()
        .append_pair("code", code)
        .append_pair("state", &state)
        .append_pair("iss", "https://evil.example");
    let err = w.lk.handle_callback(forged.as_str()).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::Flow);
    assert!(err.to_string().contains("evil.example"), "{err}");
    assert_eq!(w.provider.stats().await["token"]["authorization_code"], 0);
    assert!(w.lk.list_connections().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_client_secret_is_invalid_client() {
    let w = world("textmaster");
    let mut input = app_input(&w, PresetId::Textmaster, RedirectMode::DeepLink, "public user:read user:email");
    input.client_secret = Some("not-the-secret".to_owned().into());
    let app = w.lk.save_app(input).await.unwrap();
    let start = w.lk.start_connect(&app.id, None).await.unwrap();
    let location =
        w.provider.sign_in(&start.authorize_url, "alice", true).await["location"].as_str().unwrap().to_owned();
    let err = w.lk.handle_callback(&location).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::ProviderRejected);
    assert!(err.to_string().contains("invalid_client"), "{err}");
    assert!(err.to_string().contains("client id or secret"), "{err}");
    assert!(w.lk.list_connections().unwrap().is_empty());
}

/// `GET target` on the loopback port; returns the status line's code and the page.
async fn loopback_get(port: u16, target: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    s.write_all(format!("GET {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n").as_bytes()).await.unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    (out.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0), out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loopback_wrong_state_and_idle_connections_do_not_stop_the_real_redirect() {
    let w = world("rememberizer");
    let app = w.lk.save_app(app_input(&w, PresetId::Rememberizer, RedirectMode::Loopback, "read")).await.unwrap();
    let mut events = w.lk.subscribe();
    let start = w.lk.start_connect(&app.id, None).await.unwrap();
    let redirect = url::Url::parse(&query(&start.authorize_url, "redirect_uri").unwrap()).unwrap();
    let (port, path) = (redirect.port().unwrap(), redirect.path().to_owned());
    // Local processes that connect and say nothing — more than the listener serves at once —
    // and one that drips a byte.
    let t0 = std::time::Instant::now();
    let mut idle = vec![];
    for _ in 0..20 {
        idle.push(tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap());
    }
    let answer = w.provider.sign_in(&start.authorize_url, "alice", true).await;
    let location = answer["location"].as_str().unwrap().to_owned();
    let real = &location[location.find(&path).unwrap()..];
    let state = query(&location, "state").unwrap();
    // Another state, no state, a repeated state, another path: answered, nothing changes.
    let forged = real.replace(&state, "forged-state");
    let (status, page) = loopback_get(port, &forged).await;
    assert_eq!(status, 400, "{page}");
    assert!(page.contains("does not belong to the sign-in in progress"), "{page}");
    assert_eq!(loopback_get(port, &format!("{path}?code=x")).await.0, 400);
    assert_eq!(loopback_get(port, &format!("{real}&state={state}")).await.0, 400);
    assert_eq!(loopback_get(port, &real.replace(&path, "/oauth/callback")).await.0, 404);
    assert_eq!(loopback_get(port, "/favicon.ico").await.0, 404);
    assert!(w.lk.list_connections().unwrap().is_empty());
    assert!(events.try_recv().is_err(), "no sign-in ended");
    assert_eq!(w.provider.stats().await["token"]["authorization_code"], 0);
    // The browser's redirect still completes the sign-in; the idle connections delayed all of
    // this by about one read timeout (served one at a time they would take 20 of them).
    let page = latchkey_harness::client().get(&location).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let read_timeout = latchkey_core::connect::READ_TIMEOUT;
    assert!(t0.elapsed() < read_timeout * 2 + std::time::Duration::from_secs(3), "{:?}", t0.elapsed());
    let conn = loop {
        match tokio::time::timeout(std::time::Duration::from_secs(20), events.recv()).await.unwrap().unwrap() {
            Event::ConnectFinished { flow_id, result } if flow_id == start.flow_id => break result.unwrap(),
            _ => continue,
        }
    };
    assert_eq!(conn.email.as_deref(), Some("alice@example.com"));
    w.assert_tokens_work(&conn.id).await;
    drop(idle);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loopback_sign_in_times_out_even_while_probed() {
    let w = world("rememberizer");
    w.lk.set_flow_timeout(3);
    let app = w.lk.save_app(app_input(&w, PresetId::Rememberizer, RedirectMode::Loopback, "read")).await.unwrap();
    let mut events = w.lk.subscribe();
    let start = w.lk.start_connect(&app.id, None).await.unwrap();
    let redirect = url::Url::parse(&query(&start.authorize_url, "redirect_uri").unwrap()).unwrap();
    let port = redirect.port().unwrap();
    // A stray request first: it used to end the listener, and the timeout with it.
    assert_eq!(loopback_get(port, &format!("{}?code=x&state=y", redirect.path())).await.0, 400);
    let err = loop {
        match tokio::time::timeout(std::time::Duration::from_secs(10), events.recv()).await.unwrap().unwrap() {
            Event::ConnectFinished { flow_id, result } if flow_id == start.flow_id => break result.unwrap_err(),
            _ => continue,
        }
    };
    assert_eq!(err.code, ErrorCode::Flow);
    assert!(err.message.contains("not completed within 3 seconds"), "{}", err.message);
    // The port is closed and the flow is gone.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert!(tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err());
    assert!(w.lk.submit_code(&start.flow_id, "abc").await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_at_another_provider_apps_address_is_a_mix_up_and_changes_nothing() {
    let w = world("rememberizer");
    // Two provider apps without an issuer to check (Rememberizer has no discovery).
    let mut first = app_input(&w, PresetId::Rememberizer, RedirectMode::DeepLink, "read");
    first.name = "Honest".into();
    let honest = w.lk.save_app(first).await.unwrap();
    let mut second = app_input(&w, PresetId::Rememberizer, RedirectMode::DeepLink, "read");
    second.name = "Other".into();
    let other = w.lk.save_app(second).await.unwrap();
    assert_ne!(honest.redirect_uri, other.redirect_uri, "each app has its own redirect URI");
    // A sign-in starts at "Other"; an attacker swaps in the honest app's redirect URI (RFC 9700
    // §4.4.1): the provider answers there, with the state of the Other sign-in.
    let start = w.lk.start_connect(&other.id, None).await.unwrap();
    let mut swapped = url::Url::parse(&start.authorize_url).unwrap();
    let pairs: Vec<(String, String)> = swapped
        .query_pairs()
        .map(|(k, v)| {
            let v = if k == "redirect_uri" { honest.redirect_uri.clone().unwrap() } else { v.into_owned() };
            (k.into_owned(), v)
        })
        .collect();
    swapped.query_pairs_mut().clear().extend_pairs(pairs);
    let answer = w.provider.sign_in(swapped.as_str(), "alice", true).await;
    let location = answer["location"].as_str().unwrap().to_owned();
    assert!(location.starts_with(honest.redirect_uri.as_deref().unwrap()), "{location}");
    let err = w.lk.handle_callback(&location).await.unwrap_err();
    assert!(matches!(err, latchkey_core::Error::UnknownCallback(_)), "{err}");
    assert!(err.to_string().contains("another address"), "{err}");
    assert_eq!(w.provider.stats().await["token"]["authorization_code"], 0, "the code was never sent anywhere");
    assert!(w.lk.list_connections().unwrap().is_empty());
    // Nothing changed: the sign-in is still pending and completes at its own address.
    let answer = w.provider.sign_in(&start.authorize_url, "alice", true).await;
    let conn = w.lk.handle_callback(answer["location"].as_str().unwrap()).await.unwrap();
    assert_eq!(conn.app_id, other.id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn editing_while_discovery_is_unreachable_keeps_the_issuer() {
    let w = world("generic");
    let app = w.lk.save_app(app_input(&w, PresetId::Generic, RedirectMode::DeepLink, "read")).await.unwrap();
    let stored_issuer = |w: &common::World| {
        let v: serde_json::Value =
            serde_json::from_slice(&std::fs::read(w.data_dir.join("latchkey.json")).unwrap()).unwrap();
        (v["apps"][0]["issuer"].clone(), v["apps"][0]["issRequired"].clone())
    };
    assert_eq!(stored_issuer(&w), (serde_json::json!(w.provider.issuer), serde_json::json!(true)));
    // Every request is dropped while the app is edited.
    w.provider.control("/__test/fault", serde_json::json!({"route": "any", "drop": true, "count": 50})).await;
    let mut edit = app_input(&w, PresetId::Generic, RedirectMode::DeepLink, "read profile");
    edit.id = Some(app.id.clone());
    edit.client_secret = None;
    let edited = w.lk.save_app(edit).await.unwrap();
    w.provider.control("/__test/fault/clear", serde_json::json!({})).await;
    assert_eq!(edited.scopes, "read profile");
    assert_eq!(edited.redirect_uri, app.redirect_uri, "an app keeps its address");
    assert_eq!(stored_issuer(&w), (serde_json::json!(w.provider.issuer), serde_json::json!(true)));
    // The same when the discovery documents answer 503.
    w.provider.control("/__test/fault", serde_json::json!({"route": "any", "status": 503, "count": 2})).await;
    let mut edit = app_input(&w, PresetId::Generic, RedirectMode::DeepLink, "read");
    edit.id = Some(app.id.clone());
    edit.client_secret = None;
    w.lk.save_app(edit).await.unwrap();
    w.provider.control("/__test/fault/clear", serde_json::json!({})).await;
    assert_eq!(stored_issuer(&w), (serde_json::json!(w.provider.issuer), serde_json::json!(true)));
    // And the RFC 9207 check is still on: an answer without iss is rejected.
    let start = w.lk.start_connect(&app.id, None).await.unwrap();
    let location =
        w.provider.sign_in(&start.authorize_url, "alice", true).await["location"].as_str().unwrap().to_owned();
    let stripped = url::Url::parse_with_params(
        app.redirect_uri.as_deref().unwrap(),
        [("code", query(&location, "code").unwrap()), ("state", query(&location, "state").unwrap())],
    )
    .unwrap();
    let err = w.lk.handle_callback(stripped.as_str()).await.unwrap_err();
    assert!(err.to_string().contains("did not"), "{err}");
    assert!(w.lk.list_connections().unwrap().is_empty());
}
