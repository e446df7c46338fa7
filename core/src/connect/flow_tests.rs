//! The pending flow's checks: `state`, PKCE, `iss`, expiry, loopback ports, pasted codes.

use super::*;
use crate::provider::Revocation;
use crate::provider::{AuthMethod, DEEP_LINK_REDIRECT};

fn endpoints(issuer: Option<&str>, required: bool) -> Endpoints {
    let u = |s: &str| Url::parse(s).unwrap();
    Endpoints {
        authorize: u("https://p.example/authorize?x=1"),
        token: u("https://p.example/token"),
        profile: u("https://p.example/me"),
        api_base: u("https://p.example"),
        revocation: Revocation::None(None),
        auth_method: AuthMethod::ClientSecretPost,
        issuer: issuer.map(str::to_owned),
        iss_required: required,
    }
}

fn begin(flows: &Flows, e: &Endpoints) -> (String, Url) {
    let (id, url, _) = flows.begin(
        e,
        FlowRequest {
            app_id: "app",
            client_id: "cid",
            scopes: vec!["read".into(), "offline_access".into()],
            redirect_uri: Some(DEEP_LINK_REDIRECT.into()),
            mode: RedirectMode::DeepLink,
        },
        1000,
    );
    (id, url)
}

fn query(url: &Url, k: &str) -> Option<String> {
    url.query_pairs().find(|(n, _)| n == k).map(|(_, v)| v.into_owned())
}

#[test]
fn authorize_url_has_everything_and_keeps_existing_query() {
    let flows = Flows::default();
    let (_, url) = begin(&flows, &endpoints(None, false));
    assert_eq!(query(&url, "x").as_deref(), Some("1"));
    assert_eq!(query(&url, "response_type").as_deref(), Some("code"));
    assert_eq!(query(&url, "redirect_uri").as_deref(), Some("app.latchkey:/oauth/callback"));
    assert_eq!(query(&url, "scope").as_deref(), Some("read offline_access"));
    assert_eq!(query(&url, "code_challenge_method").as_deref(), Some("S256"));
    let state = query(&url, "state").unwrap();
    assert!(state.len() >= 43, "256 bits base64url: {state}");
    let (_, url2) = begin(&flows, &endpoints(None, false));
    assert_ne!(query(&url2, "state").unwrap(), state);
}

#[test]
fn callback_happy_path_is_one_use() {
    let flows = Flows::default();
    let (id, url) = begin(&flows, &endpoints(Some("https://p.example"), false));
    let state = query(&url, "state").unwrap();
    let cb = format!("app.latchkey:/oauth/callback?code=abc&state={state}&iss=https%3A%2F%2Fp.example");
    let (flow, code) = flows.take_callback(&cb, 1001).unwrap();
    assert_eq!(flow.id, id);
    assert_eq!(code.unwrap(), "abc");
    assert!(!flow.verifier().is_empty());
    // Replay: nothing pending any more.
    assert_eq!(flows.take_callback(&cb, 1002).unwrap_err().to_string(), NO_FLOW);
}

#[test]
fn forged_callbacks_change_nothing() {
    let flows = Flows::default();
    let (_, url) = begin(&flows, &endpoints(None, false));
    let state = query(&url, "state").unwrap();
    for bad in [
        "app.latchkey:/oauth/callback?code=abc&state=forged".to_owned(),
        "app.latchkey:/oauth/callback?code=abc".to_owned(),
        format!("app.latchkey:/oauth/callback?code=a&state={state}&state=x"),
        "not a url".to_owned(),
        format!("app.latchkey:/oauth/callback?code={}&state={state}", "a".repeat(MAX_CALLBACK_LEN)),
    ] {
        assert!(flows.take_callback(&bad, 1001).is_err(), "{bad}");
    }
    // The real flow is still there.
    let cb = format!("app.latchkey:/oauth/callback?code=abc&state={state}");
    assert_eq!(flows.take_callback(&cb, 1001).unwrap().1.unwrap(), "abc");
}

#[test]
fn expired_flows_are_gone() {
    let flows = Flows::default();
    let (_, url) = begin(&flows, &endpoints(None, false));
    let state = query(&url, "state").unwrap();
    let cb = format!("app.latchkey:/oauth/callback?code=abc&state={state}");
    assert!(flows.take_callback(&cb, 1000 + FLOW_TTL_SECS + 1).is_err());
    assert!(flows.is_empty());
}

#[test]
fn iss_mismatch_missing_iss_wrong_address_and_errors() {
    let flows = Flows::default();
    let e = endpoints(Some("https://p.example"), true);
    let cases = [
        ("app.latchkey:/oauth/callback?code=a&iss=https%3A%2F%2Fevil.example", "came from https://evil.example"),
        ("app.latchkey:/oauth/callback?code=a", "did not"),
        (
            "app.latchkey:/oauth/callback?error=access_denied&error_description=No+thanks&iss=https%3A%2F%2Fp.example",
            "No thanks",
        ),
    ];
    for (cb, want) in cases {
        let (_, url) = begin(&flows, &e);
        let state = query(&url, "state").unwrap();
        let (_, outcome) = flows.take_callback(&format!("{cb}&state={state}"), 1001).unwrap();
        let err = outcome.unwrap_err().to_string();
        assert!(err.contains(want), "{cb}: {err}");
    }
    assert!(flows.is_empty(), "every used state is gone");
}

#[test]
fn an_answer_at_another_apps_address_changes_nothing() {
    let flows = Flows::default();
    let e = endpoints(None, false);
    let (id, url, _) = flows.begin(
        &e,
        FlowRequest {
            app_id: "app-b",
            client_id: "cid",
            scopes: vec![],
            redirect_uri: Some("app.latchkey:/oauth/callback/bbbb".into()),
            mode: RedirectMode::DeepLink,
        },
        1000,
    );
    let state = query(&url, "state").unwrap();
    for other in
        ["app.latchkey:/oauth/callback/aaaa", "app.latchkey:/oauth/callback", "app.latchkey://oauth/callback/bbbb"]
    {
        let err = flows.take_callback(&format!("{other}?code=stolen&state={state}"), 1001).unwrap_err();
        assert!(matches!(err, Error::UnknownCallback(_)), "{other}: {err}");
        assert!(err.to_string().contains("another address"), "{err}");
    }
    // Still pending: the real answer completes it.
    let (flow, code) =
        flows.take_callback(&format!("app.latchkey:/oauth/callback/bbbb?code=real&state={state}"), 1001).unwrap();
    assert_eq!((flow.id.as_str(), code.unwrap().as_str()), (id.as_str(), "real"));
}

#[test]
fn a_listener_takes_only_its_own_flow_and_ttl_is_configurable() {
    let flows = Flows::default();
    flows.set_ttl(5);
    let (a, url_a) = begin(&flows, &endpoints(None, false));
    let (b, _) = begin(&flows, &endpoints(None, false));
    let cb = format!("app.latchkey:/oauth/callback?code=abc&state={}", query(&url_a, "state").unwrap());
    assert!(matches!(flows.take_callback_for(&cb, 1001, Some(&b)), Err(Error::UnknownCallback(_))));
    assert_eq!(flows.take_callback_for(&cb, 1001, Some(&a)).unwrap().0.id, a);
    // Five seconds later b has expired.
    let (_, url_c) = begin(&flows, &endpoints(None, false));
    let cb = format!("app.latchkey:/oauth/callback?code=abc&state={}", query(&url_c, "state").unwrap());
    assert!(flows.take_callback(&cb, 1005).is_err());
    assert!(flows.is_empty());
}

#[test]
fn pasted_codes() {
    let flows = Flows::default();
    let (id, url) = begin(&flows, &endpoints(None, false));
    assert!(flows.take_pasted(&id, "  ", 1001).is_err());
    assert!(flows.take_pasted(&id, "two words", 1001).is_err());
    assert!(flows.take_pasted("other", "abc", 1001).is_err());
    let (_, code) = flows.take_pasted(&id, " abc \n", 1001).unwrap();
    assert_eq!(code.unwrap(), "abc");
    let (id, url2) = begin(&flows, &endpoints(None, false));
    let state = query(&url2, "state").unwrap();
    let (_, code) = flows.take_pasted(&id, &format!("urn:ietf:wg:oauth:2.0:oob?code=xyz&state={state}"), 1001).unwrap();
    assert_eq!(code.unwrap(), "xyz");
    let _ = url;
}

#[test]
fn callback_parser_never_panics_on_odd_input() {
    // A small deterministic fuzz: every byte string built from URL-ish pieces parses or
    // fails cleanly.
    let pieces = [
        "app.latchkey:",
        "/oauth/callback",
        "?",
        "&",
        "=",
        "code",
        "state",
        "%",
        "%zz",
        "#",
        "iss",
        "\u{0}",
        "é",
        "//",
        "http://127.0.0.1:1",
    ];
    let mut seed: u64 = 0x9e3779b97f4a7c15;
    for _ in 0..5000 {
        let mut s = String::new();
        for _ in 0..(seed % 9) {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            s.push_str(pieces[(seed >> 33) as usize % pieces.len()]);
        }
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
        let _ = parse_callback(&s);
    }
}
