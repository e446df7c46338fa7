//! A provider app the person registered, and its endpoints: resolved from its preset, base
//! URL, explicit URLs and RFC 8414 metadata.

use serde::{Deserialize, Serialize};
use url::Url;

use crate::clock::Timestamp;
use crate::error::{Error, Result};
use crate::provider::{AuthMethod, PresetId, RedirectMode, RevocationStyle, check_endpoint, join};

/// A provider app the person registered (the client secret lives in the keychain).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProviderApp {
    /// Stable id.
    pub id: String,
    /// The preset it follows.
    pub preset: PresetId,
    /// Display name.
    pub name: String,
    /// Base URL override (required for Fusio and Generic).
    pub base_url: Option<Url>,
    /// OAuth client id.
    pub client_id: String,
    /// Requested scopes, space-separated.
    pub scopes: String,
    /// How the authorization response comes back.
    pub redirect_mode: RedirectMode,
    /// This app's own callback path segment: its redirect URI is
    /// `app.latchkey:/oauth/callback/<id>` (loopback: `http://127.0.0.1:{port}/oauth/callback/<id>`),
    /// so an answer can only complete a sign-in of the app it was meant for (RFC 9700 §4.4.2).
    /// Apps saved before this existed have none and keep the shared `/oauth/callback`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback_id: Option<String>,
    /// Explicit or discovered endpoints (Generic; discovery for Fusio).
    #[serde(default)]
    pub authorize_url: Option<Url>,
    /// The token endpoint, entered or discovered (else the preset's path).
    #[serde(default)]
    pub token_url: Option<Url>,
    /// RFC 7009 revocation endpoint.
    #[serde(default)]
    pub revocation_url: Option<Url>,
    /// Userinfo / profile endpoint.
    #[serde(default)]
    pub userinfo_url: Option<Url>,
    /// The issuer from discovery, checked against `iss` (RFC 9207).
    #[serde(default)]
    pub issuer: Option<String>,
    /// The provider's metadata says it always sends `iss`.
    #[serde(default)]
    pub iss_required: bool,
    /// Client authentication at the token endpoint when it differs from the preset's: the
    /// person's choice on the form, else what discovery found.
    #[serde(default)]
    pub auth_method: Option<AuthMethod>,
    /// A fixed loopback port (servers that match loopback redirect URIs exactly, port
    /// included); `None`: any free port per sign-in (RFC 8252 §7.3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loopback_port: Option<u16>,
    /// Whether a client secret is in the keychain.
    #[serde(default)]
    pub has_secret: bool,
    /// The provider answered `invalid_client` / `unauthorized_client` to a refresh: the app's
    /// credentials (usually its client secret) are wrong, not the connections' grants. Its
    /// connections are not refreshed until the app is edited. The provider's words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials_rejected: Option<String>,
    /// Revoking a sign-in that a reconnect replaced also ended the new one here (the server
    /// ties both to one grant): replaced sign-ins are no longer revoked at this provider.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub superseded_shares_grant: bool,
    /// RFC 8628 device authorization endpoint (typed, or found by discovery): the app offers
    /// "sign in on another device".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_authorization_url: Option<Url>,
    /// When it was added.
    pub created_at: Timestamp,
}

/// How to revoke a connection of an app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Revocation {
    /// RFC 7009 endpoint.
    Rfc7009(Url),
    /// Fusio's bearer-authenticated revoke.
    FusioBearer(Url),
    /// An RFC 7009 endpoint the server family usually has, not known to exist here: 404 or 405
    /// means none (then `page`, as for [`Revocation::None`]).
    Try {
        /// Where it usually is.
        url: Url,
        /// The provider's page for connected apps, if known.
        page: Option<Url>,
    },
    /// None: local removal; the person can finish at this page, if known.
    None(Option<Url>),
}

impl Revocation {
    /// What revoking can do at this provider, for the window to say before the click.
    pub fn support(&self) -> RevokeSupport {
        match self {
            Self::Rfc7009(_) | Self::FusioBearer(_) => RevokeSupport::Revokes,
            Self::Try { .. } => RevokeSupport::Tries,
            Self::None(_) => RevokeSupport::Cannot,
        }
    }
}

/// What revoking a connection does at its provider — told to the person before the
/// irreversible click (the UI words each case; it never branches on a preset).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
pub enum RevokeSupport {
    /// The provider revokes the sign-in (an RFC 7009 endpoint it publishes, or Fusio's revoke).
    Revokes,
    /// Latchkey tries an endpoint the provider does not document; where it is not offered, the
    /// connection is removed here only and the person finishes at the provider's page.
    Tries,
    /// The provider offers apps no way to revoke: removal here only, and the provider's page.
    Cannot,
}

/// Everything needed to talk to one provider app.
#[derive(Debug, Clone)]
pub struct Endpoints {
    /// Where the person signs in (the authorization endpoint).
    pub authorize: Url,
    /// Where codes and refresh tokens are exchanged (the token endpoint).
    pub token: Url,
    /// The account profile (userinfo) endpoint: who signed in, and the check after a refresh.
    pub profile: Url,
    /// Base of the resource API.
    pub api_base: Url,
    /// How a connection is revoked here.
    pub revocation: Revocation,
    /// How the client authenticates at the token endpoint (and a revocation endpoint).
    pub auth_method: AuthMethod,
    /// Issuer for the `iss` check.
    pub issuer: Option<String>,
    /// Reject callbacks without `iss`.
    pub iss_required: bool,
}

fn parse(s: &str) -> Result<Url> {
    Url::parse(s).map_err(|e| Error::InvalidInput(format!("{s:?} is not a URL: {e}")))
}

impl ProviderApp {
    /// The base URL in force: the override, or the preset's production URL.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] when the preset has no production server and the app no base URL.
    pub fn base(&self) -> Result<Url> {
        match (&self.base_url, self.preset.preset().default_base) {
            (Some(u), _) => Ok(u.clone()),
            (None, Some(d)) => parse(d),
            (None, None) => Err(Error::InvalidInput(format!(
                "{} needs a base URL (or every endpoint given explicitly)",
                self.preset.preset().name
            ))),
        }
    }

    /// The provider's web page where a person manages connected apps — only for the server
    /// the preset knows. An app pointed at another server (staging, self-hosted, a local test
    /// server) has its own pages, which Latchkey does not know: no link rather than a link to
    /// the production site.
    pub fn manage_page(&self) -> Option<Url> {
        let p = self.preset.preset();
        let same = |a: &str, b: &str| a.trim_end_matches('/') == b.trim_end_matches('/');
        let overridden = match (&self.base_url, p.default_base) {
            (None, _) => false,
            (Some(u), Some(d)) => !same(u.as_str(), d),
            (Some(_), None) => true,
        };
        if overridden { None } else { p.manage_url.and_then(|s| Url::parse(s).ok()) }
    }

    /// The server in force as people read it: host, and the port when it is not the default
    /// (`api.rememberizer.ai`, `127.0.0.1:4000`) — of the base URL, else of the explicit token
    /// or authorization endpoint (an app given by its endpoints alone).
    pub fn server(&self) -> Option<String> {
        let base = self.base().ok().or_else(|| self.token_url.clone()).or_else(|| self.authorize_url.clone())?;
        let host = base.host_str()?;
        Some(match base.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_owned(),
        })
    }

    /// Resolves and checks every endpoint (HTTPS or loopback). An explicit endpoint wins over
    /// the preset's path under the base URL; without a base URL every endpoint must be given.
    ///
    /// # Errors
    /// When an endpoint is missing (no base URL to derive it from) or not HTTPS / loopback.
    pub fn endpoints(&self) -> Result<Endpoints> {
        let p = self.preset.preset();
        let base = self.base();
        let api_base = match (&self.base_url, p.default_api_base) {
            (None, Some(api)) => Ok(parse(api)?),
            _ => base.as_ref().map(Clone::clone).map_err(|e| Error::InvalidInput(e.to_string())),
        };
        let pick = |explicit: &Option<Url>, under: &Result<Url>, path: &str| -> Result<Url> {
            match (explicit, under) {
                (Some(u), _) => Ok(u.clone()),
                (None, Ok(b)) => join(b, path),
                (None, Err(e)) => Err(Error::InvalidInput(e.to_string())),
            }
        };
        let authorize = pick(&self.authorize_url, &base, p.authorize_path)?;
        let token = pick(&self.token_url, &base, p.token_path)?;
        // Generic without a server address and without a userinfo endpoint: the token
        // endpoint's host stands in for the API base (only the profile is read there).
        let api_base = api_base.or_else(|_| join(&token, "/"))?;
        let profile = pick(&self.userinfo_url, &Ok(api_base.clone()), p.profile_path)?;
        let manage = self.manage_page();
        let revocation = match (p.revocation, &self.revocation_url) {
            (RevocationStyle::FusioBearer(path), _) => Revocation::FusioBearer(join(&base?, path)?),
            (_, Some(u)) => Revocation::Rfc7009(u.clone()),
            (RevocationStyle::Rfc7009(Some(path)), None) => Revocation::Rfc7009(join(&base?, path)?),
            (RevocationStyle::BesideToken(rel), None) => Revocation::Try {
                url: token.join(rel).map_err(|e| Error::InvalidInput(format!("revocation endpoint: {e}")))?,
                page: manage,
            },
            (RevocationStyle::Rfc7009(None) | RevocationStyle::None, None) => Revocation::None(manage),
        };
        for u in [&authorize, &token, &profile] {
            check_endpoint(u)?;
        }
        if let Revocation::Rfc7009(u) | Revocation::FusioBearer(u) | Revocation::Try { url: u, .. } = &revocation {
            check_endpoint(u)?;
        }
        Ok(Endpoints {
            authorize,
            token,
            profile,
            api_base,
            revocation,
            auth_method: self.auth_method.unwrap_or(p.auth_method),
            issuer: self.issuer.clone(),
            iss_required: self.iss_required,
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::provider::PresetId;
    use crate::provider::RedirectMode;

    /// A provider app of `preset` at `base`, nothing else set (also for the discovery tests).
    pub(crate) fn app(preset: PresetId, base: Option<&str>) -> ProviderApp {
        ProviderApp {
            id: "a".into(),
            preset,
            name: "n".into(),
            base_url: base.map(|b| Url::parse(b).unwrap()),
            client_id: "c".into(),
            scopes: String::new(),
            redirect_mode: RedirectMode::Loopback,
            callback_id: None,
            authorize_url: None,
            token_url: None,
            revocation_url: None,
            userinfo_url: None,
            issuer: None,
            iss_required: false,
            auth_method: None,
            loopback_port: None,
            has_secret: false,
            credentials_rejected: None,
            superseded_shares_grant: false,
            device_authorization_url: None,
            created_at: 0,
        }
    }

    #[test]
    fn preset_endpoints_follow_the_base_override() {
        let e = app(PresetId::Textmaster, None).endpoints().unwrap();
        assert_eq!(e.authorize.as_str(), "https://app.textmaster.com/oauth/authorize");
        assert_eq!(e.profile.as_str(), "https://api.textmaster.com/v1/clients/users/me");
        let e = app(PresetId::Textmaster, Some("http://127.0.0.1:9000")).endpoints().unwrap();
        assert_eq!(e.profile.as_str(), "http://127.0.0.1:9000/v1/clients/users/me");
        let e = app(PresetId::Fusio, Some("https://f.example/api")).endpoints().unwrap();
        assert_eq!(e.token.as_str(), "https://f.example/api/authorization/token");
        assert_eq!(e.auth_method, AuthMethod::ClientSecretBasic);
        assert_eq!(
            e.revocation,
            Revocation::FusioBearer(Url::parse("https://f.example/api/authorization/revoke").unwrap())
        );
        assert!(app(PresetId::Fusio, None).endpoints().is_err());
        assert!(app(PresetId::Generic, Some("http://example.com")).endpoints().is_err());
        match app(PresetId::Rememberizer, None).endpoints().unwrap().revocation {
            Revocation::Try { url, page: Some(page) } => {
                assert_eq!(url.as_str(), "https://api.rememberizer.ai/api/v1/auth/oauth2/revoke_token/");
                assert_eq!(page.scheme(), "https");
            }
            other => panic!("{other:?}"),
        }
        // Beside the token endpoint, wherever an override puts it.
        let mut tm = app(PresetId::Textmaster, None);
        tm.token_url = Some(Url::parse("https://auth.staging.example/o/oauth/token").unwrap());
        match tm.endpoints().unwrap().revocation {
            Revocation::Try { url, .. } => assert_eq!(url.as_str(), "https://auth.staging.example/o/oauth/revoke"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_manage_page_and_server_follow_the_base_override() {
        let prod = app(PresetId::Rememberizer, None);
        assert_eq!(prod.manage_page().unwrap().host_str(), Some("rememberizer.ai"));
        assert_eq!(prod.server().as_deref(), Some("api.rememberizer.ai"));
        let same = app(PresetId::Rememberizer, Some("https://api.rememberizer.ai/"));
        assert!(same.manage_page().is_some(), "the production base typed out is still production");
        let staging = app(PresetId::Rememberizer, Some("https://api.staging.example"));
        assert_eq!(staging.manage_page(), None, "never the production page for another server");
        match staging.endpoints().unwrap().revocation {
            Revocation::Try { page, .. } => assert_eq!(page, None, "no production page for a staging server"),
            other => panic!("{other:?}"),
        }
        match prod.endpoints().unwrap().revocation {
            Revocation::Try { page, .. } => assert!(page.is_some()),
            other => panic!("{other:?}"),
        }
        assert_eq!(staging.server().as_deref(), Some("api.staging.example"));
        let local = app(PresetId::Textmaster, Some("http://127.0.0.1:4000"));
        assert_eq!(local.manage_page(), None);
        assert_eq!(local.server().as_deref(), Some("127.0.0.1:4000"));
        assert_eq!(
            app(PresetId::Fusio, Some("https://f.example/api")).endpoints().unwrap().revocation.support(),
            RevokeSupport::Revokes
        );
        assert_eq!(local.endpoints().unwrap().revocation.support(), RevokeSupport::Tries);
        let generic = app(PresetId::Generic, Some("https://id.example"));
        assert_eq!(generic.endpoints().unwrap().revocation.support(), RevokeSupport::Cannot);
        let mut explicit = app(PresetId::Generic, None);
        explicit.authorize_url = Some(Url::parse("https://id.example:8443/o/authorize").unwrap());
        explicit.token_url = Some(Url::parse("https://id.example:8443/o/token").unwrap());
        assert_eq!(explicit.server().as_deref(), Some("id.example:8443"), "from the endpoints when there is no base");
    }
}
