//! Requests to the token and revocation endpoints.
//!
//! Built by hand on reqwest rather than with `oauth2`'s client: its typed token responses
//! require a numeric `expires_in` and an enum `token_type`, which the providers here do not
//! all send (`tests/real_servers.rs`, the fuzz targets), and it brings its own reqwest version. `oauth2` still supplies PKCE
//! and `state` (see `flow`).

use base64::Engine;
use secrecy::{ExposeSecret, SecretString};
use url::Url;

use crate::clock::Timestamp;
use crate::error::Result;
use crate::http;
use crate::provider::AuthMethod;
use crate::provider::{Endpoints, Revocation};
use crate::token::{TokenSet, parse_token_response};

/// The client's credentials.
#[derive(Debug, Clone)]
pub struct Client<'a> {
    /// The client id the provider issued.
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
) -> Result<(TokenSet, Vec<u8>)> {
    const WHAT: &str = "the token endpoint";
    let req = http_client.post(e.token.clone()).header(reqwest::header::ACCEPT, "application/json");
    let req = authenticate(req, &mut form, client, e.auth_method);
    let answer = http::send(WHAT, req.form(&form)).await?;
    if !answer.status.is_success() {
        return Err(answer.error(WHAT, false));
    }
    Ok((parse_token_response(&answer.body, now)?, answer.body))
}

/// OpenID Connect Core §3.1.3.7 item 11: an ID token answering a request that carried a
/// `nonce` must carry the same one. Only the claim is compared: the ID token is not used for
/// identity (the profile endpoint is), so its signature is not checked. Without an ID token
/// (a plain OAuth server that ignored `openid`) there is nothing to check.
///
/// # Errors
/// [`crate::Error::Flow`] when the ID token is not a JWT, carries no nonce, or another one.
pub fn check_id_token_nonce(body: &[u8], nonce: &str) -> Result<()> {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let refused =
        |why: &str| Err(crate::error::Error::Flow(format!("the provider's ID token {why}; the sign-in was refused")));
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) else { return Ok(()) };
    let Some(id_token) = v.get("id_token") else { return Ok(()) };
    let Some(payload) = id_token.as_str().and_then(|t| t.split('.').nth(1)) else {
        return refused("is not a JWT");
    };
    let claims = URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok());
    match claims.as_ref().and_then(|c| c.get("nonce")).and_then(serde_json::Value::as_str) {
        Some(n) if n == nonce => Ok(()),
        Some(_) => refused("answers another sign-in (its nonce does not match)"),
        None => refused("carries no nonce"),
    }
}

/// Exchanges an authorization code (RFC 6749 §4.1.3, RFC 7636 §4.5), repeating the exact
/// `redirect_uri` when one was sent, and checks an ID token's `nonce` when one was sent.
///
/// # Errors
/// Network errors, the provider's OAuth error or status, and a token answer the strict parser refuses.
pub async fn exchange_code(
    http_client: &reqwest::Client,
    e: &Endpoints,
    client: &Client<'_>,
    grant: CodeGrant<'_>,
    now: Timestamp,
) -> Result<Exchanged> {
    let mut form = vec![("grant_type", "authorization_code".to_owned()), ("code", grant.code.to_owned())];
    if let Some(r) = grant.redirect_uri {
        form.push(("redirect_uri", r.to_owned()));
    }
    form.push(("code_verifier", grant.verifier.to_owned()));
    let (tokens, body) = token_request(http_client, e, client, form, now).await?;
    let id_token = grant.nonce.map_or(Ok(()), |n| check_id_token_nonce(&body, n));
    Ok(Exchanged { tokens, id_token })
}

/// An authorization code and what its flow sent with it.
#[derive(Debug, Clone, Copy)]
pub struct CodeGrant<'a> {
    /// The code.
    pub code: &'a str,
    /// The redirect URI exactly as sent, if one was.
    pub redirect_uri: Option<&'a str>,
    /// The PKCE verifier.
    pub verifier: &'a str,
    /// The OpenID Connect nonce sent, if any.
    pub nonce: Option<&'a str>,
}

/// What a code exchange brought back.
#[derive(Debug)]
pub struct Exchanged {
    /// The tokens (issued, even when the sign-in is refused below: the caller revokes them).
    pub tokens: TokenSet,
    /// The ID token's `nonce` check (`Ok` when there was nothing to check).
    pub id_token: Result<()>,
}

/// Refreshes (RFC 6749 §6). The caller merges the answer with the previous set.
///
/// # Errors
/// Network errors, the provider's OAuth error or status, and a token answer the strict parser refuses.
pub async fn refresh(
    http_client: &reqwest::Client,
    e: &Endpoints,
    client: &Client<'_>,
    refresh_token: &SecretString,
    now: Timestamp,
) -> Result<TokenSet> {
    let form =
        vec![("grant_type", "refresh_token".to_owned()), ("refresh_token", refresh_token.expose_secret().to_owned())];
    Ok(token_request(http_client, e, client, form, now).await?.0)
}

/// What revocation achieved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Revoked {
    /// The provider confirmed.
    AtProvider,
    /// The provider has no revocation; finish at this page.
    NotSupported(Option<Url>),
    /// The server family's usual endpoint is not there (HTTP 404/405): this server does not
    /// offer revocation; finish at this page.
    NotOffered(Option<Url>),
}

/// Revokes a token set at the provider: RFC 7009 (refresh token first, then the access
/// token; 200 for an unknown token is success, §2.2), or Fusio's bearer revoke.
///
/// # Errors
/// Network errors and a refusal of the revocation endpoint (a tried endpoint's 404/405 is not an error).
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
        Revocation::Rfc7009(url) => rfc7009(http_client, url, e.auth_method, client, tokens, false).await,
        Revocation::Try { url, page } => match rfc7009(http_client, url, e.auth_method, client, tokens, true).await? {
            Revoked::NotOffered(_) => Ok(Revoked::NotOffered(page.clone())),
            r => Ok(r),
        },
    }
}

/// RFC 7009: the refresh token first (on most servers that ends the grant), then the access
/// token; 200 for an unknown token is success (§2.2). `tentative`: a 404 or 405 to the first
/// request means there is no endpoint.
async fn rfc7009(
    http_client: &reqwest::Client,
    url: &Url,
    method: AuthMethod,
    client: &Client<'_>,
    tokens: &TokenSet,
    tentative: bool,
) -> Result<Revoked> {
    const WHAT: &str = "the revocation endpoint";
    let mut list: Vec<(&SecretString, &str)> = vec![];
    if let Some(r) = &tokens.refresh_token {
        list.push((r, "refresh_token"));
    }
    list.push((&tokens.access_token, "access_token"));
    for (i, (token, hint)) in list.into_iter().enumerate() {
        let mut form = vec![("token", token.expose_secret().to_owned()), ("token_type_hint", hint.to_owned())];
        let req = authenticate(http_client.post(url.clone()), &mut form, client, method);
        let answer = http::send(WHAT, req.header("Accept", "application/json").form(&form)).await?;
        if tentative && i == 0 && matches!(answer.status.as_u16(), 404 | 405) {
            return Ok(Revoked::NotOffered(None));
        }
        if !answer.status.is_success() {
            return Err(answer.error(WHAT, true));
        }
    }
    Ok(Revoked::AtProvider)
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
    token_request(http_client, e, client, form, now).await.map(|(tokens, _)| tokens)
}
