//! The preset table: one reviewed row per provider, carrying its endpoints and its behaviour
//! (extras, redirect modes, the paste-mode redirect URI, revocation style, terminal refresh
//! errors, whether a secret is required). Adding a provider is adding a row here.
//!
//! Endpoints are paths relative to a base URL, so tests, staging and self-hosted instances
//! override the base and keep the paths.

use serde::{Deserialize, Serialize};
use url::Url;

use crate::error::{Error, Result};

/// The custom-scheme redirect URI (RFC 8252 §7.1: reverse-domain scheme, one slash).
pub const DEEP_LINK_REDIRECT: &str = "app.latchkey:/oauth/callback";
/// The scheme registered with the OS.
pub const URL_SCHEME: &str = "app.latchkey";
/// Out-of-band redirect URI: the provider shows the code (TextMaster).
pub const OOB_REDIRECT: &str = "urn:ietf:wg:oauth:2.0:oob";
/// The loopback callback path (RFC 8252 §7.3), shared by apps saved before each app had its own.
pub const LOOPBACK_PATH: &str = "/oauth/callback";

/// The callback path of a provider app: `/oauth/callback/<callback_id>`, or the shared
/// `/oauth/callback` for an app without one (saved by an earlier version).
pub fn callback_path(callback_id: Option<&str>) -> String {
    match callback_id {
        Some(id) => format!("{LOOPBACK_PATH}/{id}"),
        None => LOOPBACK_PATH.to_owned(),
    }
}

/// Whether `id` can be a callback path segment: 4 to 32 characters of `0-9a-z`.
pub fn valid_callback_id(id: &str) -> bool {
    (4..=32).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_digit() || b.is_ascii_lowercase())
}

/// Which preset a provider app follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
pub enum PresetId {
    /// Rememberizer.
    Rememberizer,
    /// TextMaster.
    Textmaster,
    /// Fusio (self-hosted).
    Fusio,
    /// Any RFC 6749 provider.
    Generic,
}

impl PresetId {
    /// All presets, in display order.
    pub const ALL: [PresetId; 4] = [Self::Rememberizer, Self::Textmaster, Self::Fusio, Self::Generic];

    /// The preset's data.
    pub fn preset(self) -> &'static Preset {
        match self {
            Self::Rememberizer => &REMEMBERIZER,
            Self::Textmaster => &TEXTMASTER,
            Self::Fusio => &FUSIO,
            Self::Generic => &GENERIC,
        }
    }

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Rememberizer => "rememberizer",
            Self::Textmaster => "textmaster",
            Self::Fusio => "fusio",
            Self::Generic => "generic",
        }
    }
}

impl std::str::FromStr for PresetId {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        PresetId::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| Error::InvalidInput(format!("unknown provider preset {s:?}")))
    }
}

/// How the client authenticates at the token endpoint (RFC 6749 §2.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
pub enum AuthMethod {
    /// `client_id` and `client_secret` in the form body.
    ClientSecretPost,
    /// HTTP Basic with the form-encoded id and secret.
    ClientSecretBasic,
}

/// How the authorization response comes back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
pub enum RedirectMode {
    /// `app.latchkey:/oauth/callback`, delivered by the OS to the app.
    DeepLink,
    /// `http://127.0.0.1:{port}/oauth/callback` (RFC 8252 §7.3).
    Loopback,
    /// The provider shows the code; the person pastes it.
    Paste,
}

/// How a connection is revoked at the provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevocationStyle {
    /// RFC 7009 at the given path (or the discovered endpoint).
    Rfc7009(Option<&'static str>),
    /// Fusio: `POST /authorization/revoke` with the bearer access token.
    FusioBearer(&'static str),
    /// The server family's conventional RFC 7009 endpoint, resolved against the token
    /// endpoint (Doorkeeper: `revoke` beside `oauth/token`; django-oauth-toolkit:
    /// `../revoke_token/` beside `token/`). Tried: HTTP 404 or 405 there means the server does
    /// not offer it, and the person is told so.
    BesideToken(&'static str),
    /// No revocation endpoint: local removal, plus the provider's page.
    None,
}

/// What a connection's detail shows beside the profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
pub enum Extras {
    /// Nothing more.
    None,
    /// Rememberizer's mementos (what the person let the app use).
    Mementos,
    /// Fusio's app grants of the account (each revocable at Fusio).
    Grants,
}

/// Where the account profile is and how to read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProfileStyle {
    /// `{"id","email","name"}`.
    Rememberizer,
    /// `{"id","ident","email","contact_information":{"first_name","last_name"}}`.
    Textmaster,
    /// `{"id","name","email",...}`.
    Fusio,
    /// OpenID-style userinfo: `sub` (or `id`), `name`/`preferred_username`, `email`.
    UserInfo,
}

/// A provider preset: everything Latchkey knows about a provider.
#[derive(Debug)]
pub struct Preset {
    /// Which preset.
    pub id: PresetId,
    /// Display name.
    pub name: &'static str,
    /// The production base URL, if the provider has one.
    pub default_base: Option<&'static str>,
    /// Base for the resource API when it lives on another host (TextMaster). A base-URL
    /// override replaces both.
    pub default_api_base: Option<&'static str>,
    /// Authorization endpoint path.
    pub authorize_path: &'static str,
    /// Token endpoint path.
    pub token_path: &'static str,
    /// Profile endpoint path (relative to the API base).
    pub profile_path: &'static str,
    /// How to read the profile.
    pub profile_style: ProfileStyle,
    /// The scope the profile endpoint needs, when the provider documents one: named when a
    /// sign-in comes back without it and the provider's answer does not say.
    pub profile_scope: Option<&'static str>,
    /// Client authentication at the token endpoint.
    pub auth_method: AuthMethod,
    /// Redirect modes the provider accepts, the first being the default.
    pub redirect_modes: &'static [RedirectMode],
    /// Revocation.
    pub revocation: RevocationStyle,
    /// Default scopes.
    pub default_scopes: &'static str,
    /// Whether to try RFC 8414 discovery.
    pub discovery: bool,
    /// The provider's page where a person manages connected apps.
    pub manage_url: Option<&'static str>,
    /// Plain-language labels for known scopes.
    pub scope_labels: &'static [(&'static str, &'static str)],
    /// Help shown on the provider-app form.
    pub help: &'static str,
    /// What the connection detail shows beside the profile.
    pub extras: Extras,
    /// The redirect URI a paste-the-code sign-in sends: the out-of-band URI, or none at all
    /// (Fusio shows the code when no redirect URI is given).
    pub paste_redirect_uri: Option<&'static str>,
    /// Whether the provider requires a client secret (public clients are allowed only where it
    /// does not).
    pub client_secret_required: bool,
    /// Discovery decides the client authentication and the default scopes (servers the preset
    /// knows nothing else about).
    pub discovery_decides: bool,
    /// The provider's own ways of saying a refresh token is dead, besides `invalid_grant`: an
    /// error code and a fragment of its description (lower case).
    pub terminal_refresh_errors: &'static [(&'static str, &'static str)],
}

static REMEMBERIZER: Preset = Preset {
    id: PresetId::Rememberizer,
    name: "Rememberizer",
    default_base: Some("https://api.rememberizer.ai"),
    default_api_base: None,
    authorize_path: "/api/v1/auth/oauth2/authorize/",
    token_path: "/api/v1/auth/oauth2/token/",
    profile_path: "/api/v1/account/",
    profile_style: ProfileStyle::Rememberizer,
    profile_scope: None,
    auth_method: AuthMethod::ClientSecretPost,
    redirect_modes: &[RedirectMode::DeepLink, RedirectMode::Loopback],
    // Rememberizer's paths are django-oauth-toolkit's, which serves `revoke_token/`.
    revocation: RevocationStyle::BesideToken("../revoke_token/"),
    default_scopes: "read offline_access",
    discovery: false,
    manage_url: Some("https://rememberizer.ai/personal/third-party-apps"),
    scope_labels: &[
        ("read", "Read your mementos and documents"),
        ("write", "Add to your knowledge"),
        ("offline_access", "Stay connected while you are away"),
    ],
    help: "Register an app in Rememberizer under Developer → Registered apps, with the redirect URI below. The consent page lets you pick which mementos the app may use.",
    extras: Extras::Mementos,
    paste_redirect_uri: Some(OOB_REDIRECT),
    client_secret_required: true,
    discovery_decides: false,
    terminal_refresh_errors: &[],
};

static TEXTMASTER: Preset = Preset {
    id: PresetId::Textmaster,
    name: "TextMaster",
    default_base: Some("https://app.textmaster.com"),
    default_api_base: Some("https://api.textmaster.com"),
    authorize_path: "/oauth/authorize",
    token_path: "/oauth/token",
    profile_path: "/v1/clients/users/me",
    profile_style: ProfileStyle::Textmaster,
    profile_scope: Some("user:read"),
    auth_method: AuthMethod::ClientSecretPost,
    redirect_modes: &[RedirectMode::DeepLink, RedirectMode::Loopback, RedirectMode::Paste],
    // TextMaster runs Doorkeeper, which serves RFC 7009 at /oauth/revoke by default.
    revocation: RevocationStyle::BesideToken("revoke"),
    default_scopes: "public user:read user:email",
    discovery: false,
    manage_url: Some("https://app.textmaster.com/clients/oauth_applications"),
    scope_labels: &[
        ("public", "Public data"),
        ("user:read", "Read your profile"),
        ("user:email", "See your email address"),
        ("user:write", "Change your profile"),
    ],
    help: "Register an OAuth app in TextMaster with the redirect URI below. With “Paste the code”, register urn:ietf:wg:oauth:2.0:oob: TextMaster then shows the code instead of redirecting.",
    extras: Extras::None,
    paste_redirect_uri: Some(OOB_REDIRECT),
    client_secret_required: true,
    discovery_decides: false,
    terminal_refresh_errors: &[],
};

static FUSIO: Preset = Preset {
    id: PresetId::Fusio,
    name: "Fusio",
    default_base: None,
    default_api_base: None,
    authorize_path: "/authorization/authorize",
    token_path: "/authorization/token",
    profile_path: "/authorization/whoami",
    profile_style: ProfileStyle::Fusio,
    profile_scope: None,
    auth_method: AuthMethod::ClientSecretBasic,
    // Fusio rejects custom schemes; the loopback port is not checked.
    redirect_modes: &[RedirectMode::Loopback, RedirectMode::Paste],
    revocation: RevocationStyle::FusioBearer("/authorization/revoke"),
    default_scopes: "consumer",
    discovery: true,
    manage_url: None,
    scope_labels: &[("consumer", "Use the consumer API as you"), ("backend", "Administer the instance")],
    help: "Fusio is self-hosted: give the base URL of your instance. Register an app in the Fusio developer portal whose URL has the host 127.0.0.1 (Fusio then accepts any loopback port), or use “Paste the code”.",
    extras: Extras::Grants,
    paste_redirect_uri: None,
    client_secret_required: true,
    discovery_decides: false,
    terminal_refresh_errors: &[("invalid_request", "refresh token")],
};

static GENERIC: Preset = Preset {
    id: PresetId::Generic,
    name: "OAuth 2.0 provider",
    default_base: None,
    default_api_base: None,
    authorize_path: "/oauth/authorize",
    token_path: "/oauth/token",
    profile_path: "/oauth/userinfo",
    profile_style: ProfileStyle::UserInfo,
    profile_scope: None,
    auth_method: AuthMethod::ClientSecretPost,
    redirect_modes: &[RedirectMode::DeepLink, RedirectMode::Loopback, RedirectMode::Paste],
    revocation: RevocationStyle::Rfc7009(None),
    default_scopes: "",
    discovery: true,
    manage_url: None,
    scope_labels: &[
        ("openid", "Confirm who you are"),
        ("profile", "Your name"),
        ("email", "Your email address"),
        ("offline_access", "Stay connected while you are away"),
    ],
    help: "Any RFC 6749 provider. Give its base URL: Latchkey reads /.well-known/oauth-authorization-server (or openid-configuration) when the provider publishes it; otherwise enter the endpoint URLs.",
    extras: Extras::None,
    paste_redirect_uri: Some(OOB_REDIRECT),
    client_secret_required: false,
    discovery_decides: true,
    terminal_refresh_errors: &[],
};

impl Preset {
    /// The plain-language label of a scope, when the preset knows it.
    pub fn scope_label(&self, scope: &str) -> Option<&'static str> {
        self.scope_labels.iter().find(|(s, _)| *s == scope).map(|(_, l)| *l)
    }

    /// Whether the base URL must be given.
    pub fn base_url_required(&self) -> bool {
        self.default_base.is_none()
    }

    /// Whether the authorization and token endpoints, given explicitly, can replace the
    /// server address: a preset without fixed paths of its own (Generic) needs the address
    /// only to discover or derive them.
    pub fn endpoints_suffice(&self) -> bool {
        self.discovery_decides
    }
}

/// Checks that a provider endpoint may be used: HTTPS, or HTTP on a loopback address
/// (local testing). No userinfo or fragment.
///
/// # Errors
/// [`Error::InvalidInput`] for plain HTTP to a non-loopback host, another scheme, credentials in the URL or a fragment.
pub fn check_endpoint(url: &Url) -> Result<()> {
    let loopback = match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    };
    match url.scheme() {
        "https" if url.host().is_some() => {}
        "http" if loopback => {}
        _ => {
            return Err(Error::InvalidInput(format!(
                "{url} is not an HTTPS address (plain HTTP is allowed only on 127.0.0.1 for testing)"
            )));
        }
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Error::InvalidInput(format!(
            "{} must not contain a user name or password",
            url.origin().ascii_serialization()
        )));
    }
    if url.fragment().is_some() {
        return Err(Error::InvalidInput(format!("{url} must not contain a #fragment")));
    }
    Ok(())
}

/// Joins a preset path onto a base URL that may itself carry a path (`https://h/fusio`).
///
/// # Errors
/// [`Error::InvalidInput`] when the result is not a URL.
pub fn join(base: &Url, path: &str) -> Result<Url> {
    let mut s = base.as_str().trim_end_matches('/').to_owned();
    s.push_str(path);
    Url::parse(&s).map_err(|e| Error::InvalidInput(format!("cannot build an endpoint URL from {base}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_preset_is_well_formed() {
        for id in PresetId::ALL {
            let p = id.preset();
            assert_eq!(p.id, id);
            assert_eq!(id.as_str().parse::<PresetId>().unwrap(), id);
            for path in [p.authorize_path, p.token_path, p.profile_path] {
                assert!(path.starts_with('/'), "{id:?}: {path}");
                assert!(!path.contains("://"), "{id:?}: {path}");
            }
            for base in [p.default_base, p.default_api_base, p.manage_url].into_iter().flatten() {
                let u = Url::parse(base).unwrap();
                assert_eq!(u.scheme(), "https", "{id:?}: {base}");
                check_endpoint(&u).unwrap();
            }
            if let Some(base) = p.default_base {
                for path in [p.authorize_path, p.token_path] {
                    check_endpoint(&join(&Url::parse(base).unwrap(), path).unwrap()).unwrap();
                }
            }
            assert!(!p.redirect_modes.is_empty(), "{id:?}");
            assert!(!p.help.is_empty());
            if let RevocationStyle::FusioBearer(path) | RevocationStyle::Rfc7009(Some(path)) = p.revocation {
                assert!(path.starts_with('/'));
            }
        }
        // Provider facts that matter for security and interop.
        assert_eq!(PresetId::Fusio.preset().auth_method, AuthMethod::ClientSecretBasic);
        assert!(!PresetId::Fusio.preset().redirect_modes.contains(&RedirectMode::DeepLink));
        assert!(PresetId::Fusio.preset().base_url_required());
        assert!(PresetId::Generic.preset().base_url_required());
        assert!(PresetId::Textmaster.preset().redirect_modes.contains(&RedirectMode::Paste));
    }

    #[test]
    fn endpoints_must_be_https_or_loopback() {
        for ok in ["https://a.example/x", "http://127.0.0.1:8080/t", "http://[::1]/t", "http://localhost:3/t"] {
            check_endpoint(&Url::parse(ok).unwrap()).unwrap();
        }
        for bad in [
            "http://example.com/t",
            "ftp://example.com/",
            "https://user:pw@example.com/",
            "https://example.com/#frag",
            "http://10.0.0.1/",
            "app.latchkey:/oauth/callback",
        ] {
            assert!(check_endpoint(&Url::parse(bad).unwrap()).is_err(), "{bad}");
        }
    }

    #[test]
    fn join_keeps_a_base_path() {
        let b = Url::parse("https://h.example/fusio/").unwrap();
        assert_eq!(join(&b, "/authorization/token").unwrap().as_str(), "https://h.example/fusio/authorization/token");
        let b = Url::parse("http://127.0.0.1:4000").unwrap();
        assert_eq!(join(&b, "/oauth/token").unwrap().as_str(), "http://127.0.0.1:4000/oauth/token");
    }
}
