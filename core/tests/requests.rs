//! Exact outgoing requests: the token, refresh and revocation requests Latchkey sends, checked
//! byte for byte against a loopback listener that records each request and answers from a
//! script (oauth2-rs's `mock_http_client` style, over a real socket so the real HTTP client
//! and its encodings are what is checked). No provider, no keychain.

mod support;

use latchkey_core::provider::AuthMethod;
use latchkey_core::provider::{Endpoints, Revocation};
use latchkey_core::token;
use latchkey_core::token_endpoint::{self, Client, CodeGrant, Revoked};
use secrecy::{ExposeSecret, SecretString};
use support::{Seen, script};
use url::Url;

const NOW: i64 = 1_700_000_000;

fn endpoints(base: &Url, auth_method: AuthMethod, revocation: Revocation) -> Endpoints {
    Endpoints {
        authorize: base.join("/authorize").unwrap(),
        token: base.join("/token").unwrap(),
        profile: base.join("/me").unwrap(),
        api_base: base.clone(),
        revocation,
        auth_method,
        issuer: None,
        iss_required: false,
    }
}

const TOKENS: &str = r#"{"access_token":"at-1","token_type":"Bearer","expires_in":3600,"refresh_token":"rt-1"}"#;

#[tokio::test]
async fn the_code_exchange_sends_exactly_the_rfc_6749_form() {
    let (base, seen) = script(vec![(200, TOKENS)]).await;
    let e = endpoints(&base, AuthMethod::ClientSecretPost, Revocation::None(None));
    let secret = SecretString::from("s3cret".to_owned());
    let client = Client { id: "latchkey", secret: Some(&secret) };
    let grant = CodeGrant {
        code: "c-1",
        redirect_uri: Some("app.latchkey:/oauth/callback/ab12"),
        verifier: "v".repeat(43).leak(),
        nonce: None,
    };
    let got = token_endpoint::exchange_code(&latchkey_core::http::client(), &e, &client, grant, NOW).await.unwrap();
    assert_eq!(got.tokens.access_token.expose_secret(), "at-1");
    let seen = seen.await.unwrap();
    let r = &seen[0];
    assert_eq!((r.method.as_str(), r.path.as_str()), ("POST", "/token"));
    assert_eq!(r.headers["content-type"], "application/x-www-form-urlencoded");
    assert_eq!(r.headers["accept"], "application/json");
    assert!(!r.headers.contains_key("authorization"), "the secret goes in the body for client_secret_post");
    let form = r.form();
    let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    assert_eq!(
        pairs,
        [
            ("grant_type", "authorization_code"),
            ("code", "c-1"),
            ("redirect_uri", "app.latchkey:/oauth/callback/ab12"),
            ("code_verifier", "v".repeat(43).as_str()),
            ("client_id", "latchkey"),
            ("client_secret", "s3cret"),
        ]
    );
}

#[tokio::test]
async fn http_basic_form_encodes_the_id_and_secret_first() {
    // RFC 6749 §2.3.1: application/x-www-form-urlencoded, then Basic. A ':' in the id would
    // otherwise split it; '+', '%', '/', ' ' and non-ASCII change meaning.
    let (base, seen) = script(vec![(200, TOKENS)]).await;
    let e = endpoints(&base, AuthMethod::ClientSecretBasic, Revocation::None(None));
    let secret = SecretString::from("p@ss:w/rd+%é".to_owned());
    let client = Client { id: "my app:1", secret: Some(&secret) };
    let rt = SecretString::from("rt-0".to_owned());
    token_endpoint::refresh(&latchkey_core::http::client(), &e, &client, &rt, NOW).await.unwrap();
    let r = &seen.await.unwrap()[0];
    use base64::Engine;
    let want = base64::engine::general_purpose::STANDARD.encode("my+app%3A1:p%40ss%3Aw%2Frd%2B%25%C3%A9");
    assert_eq!(r.headers["authorization"], format!("Basic {want}"));
    assert_eq!(
        r.form(),
        [("grant_type".to_owned(), "refresh_token".to_owned()), ("refresh_token".to_owned(), "rt-0".to_owned())]
    );
}

#[tokio::test]
async fn rfc_7009_revokes_the_refresh_token_first_then_the_access_token() {
    let (base, seen) = script(vec![(200, "{}"), (200, "")]).await;
    let e = endpoints(&base, AuthMethod::ClientSecretPost, Revocation::Rfc7009(base.join("/revoke").unwrap()));
    let secret = SecretString::from("s".to_owned());
    let client = Client { id: "c", secret: Some(&secret) };
    let tokens = token::parse_token_response(TOKENS.as_bytes(), NOW).unwrap();
    let out = token_endpoint::revoke(&latchkey_core::http::client(), &e, &client, &tokens).await.unwrap();
    assert_eq!(out, Revoked::AtProvider);
    let seen = seen.await.unwrap();
    let forms: Vec<Vec<(String, String)>> = seen.iter().map(Seen::form).collect();
    let s = |a: &str, b: &str| (a.to_owned(), b.to_owned());
    assert_eq!(
        forms[0],
        [s("token", "rt-1"), s("token_type_hint", "refresh_token"), s("client_id", "c"), s("client_secret", "s")]
    );
    assert_eq!(
        forms[1],
        [s("token", "at-1"), s("token_type_hint", "access_token"), s("client_id", "c"), s("client_secret", "s")]
    );
    assert!(seen.iter().all(|r| r.path == "/revoke" && r.method == "POST"));
}

#[tokio::test]
async fn a_tried_revocation_endpoint_that_is_not_there_sends_one_request() {
    let (base, seen) = script(vec![(404, r#"{"detail":"Not found."}"#)]).await;
    let page = Url::parse("https://provider.example/apps").unwrap();
    let e = endpoints(
        &base,
        AuthMethod::ClientSecretPost,
        Revocation::Try { url: base.join("/o/revoke_token/").unwrap(), page: Some(page.clone()) },
    );
    let client = Client { id: "c", secret: None };
    let tokens = token::parse_token_response(TOKENS.as_bytes(), NOW).unwrap();
    let out = token_endpoint::revoke(&latchkey_core::http::client(), &e, &client, &tokens).await.unwrap();
    assert_eq!(out, Revoked::NotOffered(Some(page)));
    let seen = seen.await.unwrap();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].path, "/o/revoke_token/");
    // The same 404 from an endpoint the provider publishes is an error, not "not offered".
    let (base, _seen) = script(vec![(404, "{}")]).await;
    let e = endpoints(&base, AuthMethod::ClientSecretPost, Revocation::Rfc7009(base.join("/revoke").unwrap()));
    assert!(token_endpoint::revoke(&latchkey_core::http::client(), &e, &client, &tokens).await.is_err());
}

#[tokio::test]
async fn fusio_revokes_with_the_bearer_access_token() {
    let (base, seen) = script(vec![(200, r#"{"success":true}"#)]).await;
    let e = endpoints(
        &base,
        AuthMethod::ClientSecretBasic,
        Revocation::FusioBearer(base.join("/authorization/revoke").unwrap()),
    );
    let client = Client { id: "c", secret: None };
    let tokens = token::parse_token_response(TOKENS.as_bytes(), NOW).unwrap();
    assert_eq!(
        token_endpoint::revoke(&latchkey_core::http::client(), &e, &client, &tokens).await.unwrap(),
        Revoked::AtProvider
    );
    let r = &seen.await.unwrap()[0];
    assert_eq!(r.headers["authorization"], "Bearer at-1");
    assert_eq!(r.body, "");
}
