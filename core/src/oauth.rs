//! Requests to the token and revocation endpoints.
//!
//! Built by hand on reqwest rather than with `oauth2`'s client: its typed token responses
//! require a numeric `expires_in` and an enum `token_type`, which the providers here do not
//! all send (SPEC §2), and it brings its own reqwest version. `oauth2` still supplies PKCE
//! and `state` (see `flow`).

use base64::Engine;
use secrecy::{ExposeSecret, SecretString};
use url::Url;

use crate::clock::Timestamp;
use crate::endpoints::{Endpoints, Revocation};
use crate::error::Result;
use crate::http;
use crate::provider::AuthMethod;
use crate::token::{TokenSet, parse_token_response};

/// The client's credentials.
#[derive(Debug, Clone)]
pub struct Client<'a> {
    /// Client id.
    pub id: &'a str,
    /// Client secret (redacted Debug).
    pub secret: Option<&'a SecretString>,
}

fn authenticate(
    req: reqwest::RequestBuilder,
    form: &mut Vec<(&'static str, String)>,
    client: &Client<'_>,
    method: AuthMethod,
) -> reqwest::RequestBuilder {
    match method {
        AuthMethod::ClientSecretPost => {
            form.push(("client_id", client.id.to_owned()));
            if let Some(s) = client.secret {
                form.push(("client_secret", s.expose_secret().to_owned()));
            }
            req
        }
        AuthMethod::ClientSecretBasic => {
            // RFC 6749 §2.3.1: the id and secret are form-urlencoded before Basic encoding.
            let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
            let secret = client.secret.map(|s| enc(s.expose_secret())).unwrap_or_default();
            let creds = base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", enc(client.id), secret));
            req.header(reqwest::header::AUTHORIZATION, format!("Basic {creds}"))
        }
    }
}

async fn token_request(
    http_client: &reqwest::Client,
    e: &Endpoints,
    client: &Client<'_>,
    mut form: Vec<(&'static str, String)>,
    now: Timestamp,
) -> Result<TokenSet> {
    const WHAT: &str = "the token endpoint";
    let req = http_client.post(e.token.clone()).header(reqwest::header::ACCEPT, "application/json");
    let req = authenticate(req, &mut form, client, e.auth_method);
    let answer = http::send(WHAT, req.form(&form)).await?;
    if !answer.status.is_success() {
        return Err(answer.error(WHAT, false));
    }
    parse_token_response(&answer.body, now)
}

/// Exchanges an authorization code (RFC 6749 §4.1.3, RFC 7636 §4.5), repeating the exact
/// `redirect_uri` when one was sent.
pub async fn exchange_code(
    http_client: &reqwest::Client,
    e: &Endpoints,
    client: &Client<'_>,
    code: &str,
    redirect_uri: Option<&str>,
    verifier: &str,
    now: Timestamp,
) -> Result<TokenSet> {
    let mut form = vec![("grant_type", "authorization_code".to_owned()), ("code", code.to_owned())];
    if let Some(r) = redirect_uri {
        form.push(("redirect_uri", r.to_owned()));
    }
    form.push(("code_verifier", verifier.to_owned()));
    token_request(http_client, e, client, form, now).await
}

/// Refreshes (RFC 6749 §6). The caller merges the answer with the previous set.
pub async fn refresh(
    http_client: &reqwest::Client,
    e: &Endpoints,
    client: &Client<'_>,
    refresh_token: &SecretString,
    now: Timestamp,
) -> Result<TokenSet> {
    let form =
        vec![("grant_type", "refresh_token".to_owned()), ("refresh_token", refresh_token.expose_secret().to_owned())];
    token_request(http_client, e, client, form, now).await
}

/// What revocation achieved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Revoked {
    /// The provider confirmed.
    AtProvider,
    /// The provider has no revocation; finish at this page.
    NotSupported(Option<Url>),
}

/// Revokes a token set at the provider: RFC 7009 (refresh token first, then the access
/// token; 200 for an unknown token is success, §2.2), or Fusio's bearer revoke.
pub async fn revoke(
    http_client: &reqwest::Client,
    e: &Endpoints,
    client: &Client<'_>,
    tokens: &TokenSet,
) -> Result<Revoked> {
    const WHAT: &str = "the revocation endpoint";
    match &e.revocation {
        Revocation::None(page) => Ok(Revoked::NotSupported(page.clone())),
        Revocation::FusioBearer(url) => {
            let req = http_client
                .post(url.clone())
                .bearer_auth(tokens.access_token.expose_secret())
                .header("Accept", "application/json");
            let answer = http::send(WHAT, req).await?;
            // An access token Fusio no longer knows is as revoked as it gets.
            if answer.status.is_success() || answer.status == reqwest::StatusCode::UNAUTHORIZED {
                Ok(Revoked::AtProvider)
            } else {
                Err(answer.error(WHAT, true))
            }
        }
        Revocation::Rfc7009(url) => {
            let mut list: Vec<(&SecretString, &str)> = vec![];
            if let Some(r) = &tokens.refresh_token {
                list.push((r, "refresh_token"));
            }
            list.push((&tokens.access_token, "access_token"));
            for (token, hint) in list {
                let mut form = vec![("token", token.expose_secret().to_owned()), ("token_type_hint", hint.to_owned())];
                let req = authenticate(http_client.post(url.clone()), &mut form, client, e.auth_method);
                let answer = http::send(WHAT, req.form(&form)).await?;
                if !answer.status.is_success() {
                    return Err(answer.error(WHAT, true));
                }
            }
            Ok(Revoked::AtProvider)
        }
    }
}

/// RFC 8628 §3.1: the device authorization request (`client_id`, `scope`), authenticated as
/// the client authenticates at the token endpoint. The raw answer: `device` parses it.
pub(crate) async fn device_authorization(
    http_client: &reqwest::Client,
    url: &Url,
    e: &Endpoints,
    client: &Client<'_>,
    scope: &str,
) -> Result<http::Answer> {
    let mut form = vec![];
    if !scope.is_empty() {
        form.push(("scope", scope.to_owned()));
    }
    if e.auth_method == AuthMethod::ClientSecretBasic {
        // §3.1 sends `client_id` in any case; with Basic it also names the client.
        form.push(("client_id", client.id.to_owned()));
    }
    let req = http_client.post(url.clone()).header(reqwest::header::ACCEPT, "application/json");
    let req = authenticate(req, &mut form, client, e.auth_method);
    http::send("the device authorization endpoint", req.form(&form)).await
}

/// RFC 8628 §3.4: one token request with the device code. `authorization_pending`,
/// `slow_down`, `access_denied` and `expired_token` come back as [`crate::Error::OAuth`].
pub(crate) async fn exchange_device_code(
    http_client: &reqwest::Client,
    e: &Endpoints,
    client: &Client<'_>,
    device_code: &SecretString,
    now: Timestamp,
) -> Result<TokenSet> {
    let form = vec![
        ("grant_type", "urn:ietf:params:oauth:grant-type:device_code".to_owned()),
        ("device_code", device_code.expose_secret().to_owned()),
    ];
    token_request(http_client, e, client, form, now).await
}
