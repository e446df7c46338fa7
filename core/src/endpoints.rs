//! Resolving a provider app's endpoints from its preset, base URL, explicit URLs and RFC 8414
//! metadata.

use serde_json::Value;
use url::Url;

use crate::error::{Error, Result};
use crate::http;
use crate::provider::{AuthMethod, RevocationStyle, check_endpoint, join};
use crate::store::ProviderApp;

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

/// What RFC 8414 / OpenID discovery told us.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Metadata {
    /// `issuer`.
    pub issuer: Option<String>,
    /// `authorization_endpoint`.
    pub authorization_endpoint: Option<Url>,
    /// `token_endpoint`.
    pub token_endpoint: Option<Url>,
    /// `revocation_endpoint`.
    pub revocation_endpoint: Option<Url>,
    /// `userinfo_endpoint`.
    pub userinfo_endpoint: Option<Url>,
    /// `device_authorization_endpoint` (RFC 8628 §4).
    pub device_authorization_endpoint: Option<Url>,
    /// `authorization_response_iss_parameter_supported` (RFC 9207 §3).
    pub iss_parameter_supported: bool,
    /// The first auth method we support from `token_endpoint_auth_methods_supported`.
    pub auth_method: Option<AuthMethod>,
    /// `scopes_supported`.
    pub scopes_supported: Vec<String>,
}

/// The scopes a Generic app asks for by default, when the server lists them: who the person
/// is, and staying connected.
const GENERIC_DEFAULT_SCOPES: [&str; 4] = ["openid", "profile", "email", "offline_access"];

impl Metadata {
    /// The default scopes for a Generic app from `scopes_supported` (empty: none listed).
    pub fn default_scopes(&self) -> String {
        GENERIC_DEFAULT_SCOPES
            .into_iter()
            .filter(|s| self.scopes_supported.iter().any(|x| x == s))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// Parses a metadata document; endpoints that are not HTTPS/loopback are ignored.
pub fn parse_metadata(v: &Value) -> Metadata {
    let url = |k: &str| {
        v.get(k).and_then(Value::as_str).and_then(|s| Url::parse(s).ok()).filter(|u| check_endpoint(u).is_ok())
    };
    let methods: Vec<&str> = v
        .get("token_endpoint_auth_methods_supported")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let auth_method = if methods.is_empty() {
        None
    } else if methods.contains(&"client_secret_post") {
        Some(AuthMethod::ClientSecretPost)
    } else if methods.contains(&"client_secret_basic") {
        Some(AuthMethod::ClientSecretBasic)
    } else {
        None
    };
    Metadata {
        issuer: v.get("issuer").and_then(Value::as_str).map(str::to_owned),
        authorization_endpoint: url("authorization_endpoint"),
        token_endpoint: url("token_endpoint"),
        revocation_endpoint: url("revocation_endpoint"),
        userinfo_endpoint: url("userinfo_endpoint"),
        device_authorization_endpoint: url("device_authorization_endpoint"),
        iss_parameter_supported: v
            .get("authorization_response_iss_parameter_supported")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        auth_method,
        scopes_supported: v
            .get("scopes_supported")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).take(200).map(str::to_owned).collect())
            .unwrap_or_default(),
    }
}

/// Where an issuer publishes its metadata, in the order tried: RFC 8414 §3.1 inserts the
/// well-known segment between host and path (`https://h/.well-known/oauth-authorization-server/t`);
/// OpenID Connect Discovery §4 appends it (`https://h/t/.well-known/openid-configuration`);
/// last, the RFC 8414 segment appended, as servers at a path often publish it. For an issuer
/// without a path the forms coincide.
pub fn well_known_urls(issuer: &Url) -> Vec<Url> {
    let path = issuer.path().trim_end_matches('/');
    let at = |p: String| {
        let mut u = issuer.clone();
        u.set_path(&p);
        u.set_query(None);
        u.set_fragment(None);
        u
    };
    let mut urls = vec![
        at(format!("/.well-known/oauth-authorization-server{path}")),
        at(format!("{path}/.well-known/openid-configuration")),
    ];
    if !path.is_empty() {
        urls.push(at(format!("{path}/.well-known/oauth-authorization-server")));
    }
    urls
}

/// RFC 8414 / OpenID discovery at [`well_known_urls`]. A document counts only when its
/// `issuer` is the base URL exactly (RFC 8414 §3.3; a trailing `/` aside). `Ok(None)` when the
/// provider publishes none.
///
/// # Errors
/// A server error or rate limit (it says nothing about whether metadata exists), and
/// documents that all name another issuer.
pub async fn discover(client: &reqwest::Client, base: &Url) -> Result<Option<Metadata>> {
    let expected = base.as_str().trim_end_matches('/');
    let mut other_issuer = None;
    for url in well_known_urls(base) {
        let answer =
            http::send("the provider's metadata", client.get(url).header("Accept", "application/json")).await?;
        // A server error says nothing about whether metadata exists: an error, not "none" (a
        // caller keeps what an earlier discovery found).
        if answer.status.is_server_error() || answer.status == reqwest::StatusCode::TOO_MANY_REQUESTS {
            return Err(answer.error("the provider's metadata", false));
        }
        if answer.status.is_success()
            && let Ok(v) = answer.json("the provider's metadata")
        {
            let m = parse_metadata(&v);
            match m.issuer.as_deref() {
                Some(iss) if iss.trim_end_matches('/') == expected => return Ok(Some(m)),
                Some(iss) => other_issuer = Some(iss.to_owned()),
                None => other_issuer = Some("none".to_owned()),
            }
        }
    }
    match other_issuer {
        Some(iss) => Err(Error::InvalidInput(format!(
            "the provider's metadata names issuer {iss:?}, not {expected}; check the base URL (it must be the issuer)"
        ))),
        None => Ok(None),
    }
}

/// Applies discovered metadata to an app (explicit URLs the person typed win).
pub fn apply_metadata(app: &mut ProviderApp, m: &Metadata) {
    if app.authorize_url.is_none() {
        app.authorize_url = m.authorization_endpoint.clone();
    }
    if app.token_url.is_none() {
        app.token_url = m.token_endpoint.clone();
    }
    // A preset with its own way to revoke (Fusio's bearer revoke) keeps it.
    let own_revoke = matches!(app.preset.preset().revocation, RevocationStyle::FusioBearer(_));
    if app.revocation_url.is_none() && !own_revoke {
        app.revocation_url = m.revocation_endpoint.clone();
    }
    if app.userinfo_url.is_none() {
        app.userinfo_url = m.userinfo_endpoint.clone();
    }
    if app.device_authorization_url.is_none() {
        app.device_authorization_url = m.device_authorization_endpoint.clone();
    }
    app.issuer = m.issuer.clone();
    app.iss_required = m.iss_parameter_supported;
    if app.preset.preset().discovery_decides {
        app.auth_method = m.auth_method;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::PresetId;
    use crate::provider::RedirectMode;

    fn app(preset: PresetId, base: Option<&str>) -> ProviderApp {
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
    fn well_known_addresses_insert_before_the_path() {
        let urls = |s: &str| well_known_urls(&Url::parse(s).unwrap()).iter().map(Url::to_string).collect::<Vec<_>>();
        assert_eq!(
            urls("https://id.example/tenant/"),
            [
                "https://id.example/.well-known/oauth-authorization-server/tenant",
                "https://id.example/tenant/.well-known/openid-configuration",
                "https://id.example/tenant/.well-known/oauth-authorization-server",
            ]
        );
        assert_eq!(
            urls("https://id.example"),
            [
                "https://id.example/.well-known/oauth-authorization-server",
                "https://id.example/.well-known/openid-configuration"
            ]
        );
        let m =
            parse_metadata(&serde_json::json!({"scopes_supported": ["email", "openid", "admin", "offline_access"]}));
        assert_eq!(m.default_scopes(), "openid email offline_access");
        assert_eq!(parse_metadata(&serde_json::json!({"scopes_supported": "openid"})).default_scopes(), "");
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

    #[test]
    fn metadata_fills_what_was_not_typed() {
        let v = serde_json::json!({
            "issuer": "https://id.example",
            "authorization_endpoint": "https://id.example/o/authorize/",
            "token_endpoint": "https://id.example/o/token/",
            "revocation_endpoint": "http://evil.example/revoke",
            "userinfo_endpoint": "https://id.example/o/userinfo/",
            "token_endpoint_auth_methods_supported": ["client_secret_basic"],
            "authorization_response_iss_parameter_supported": true
        });
        let m = parse_metadata(&v);
        assert_eq!(m.revocation_endpoint, None, "plain http off loopback is ignored");
        let mut a = app(PresetId::Generic, Some("https://id.example"));
        a.token_url = Some(Url::parse("https://id.example/typed").unwrap());
        apply_metadata(&mut a, &m);
        assert_eq!(a.token_url.as_ref().unwrap().path(), "/typed");
        assert_eq!(a.authorize_url.as_ref().unwrap().path(), "/o/authorize/");
        assert!(a.iss_required);
        assert_eq!(a.auth_method, Some(AuthMethod::ClientSecretBasic));
        assert_eq!(a.endpoints().unwrap().issuer.as_deref(), Some("https://id.example"));
    }
}
