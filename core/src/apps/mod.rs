//! Provider apps: the preset table's view, and adding, editing and discovering apps.

use secrecy::SecretString;
use serde::Serialize;
use url::Url;

use crate::error::{Error, Result};
use crate::event::Event;
use crate::latchkey::Latchkey;
use crate::provider::{AuthMethod, PresetId, RedirectMode, URL_SCHEME, callback_path};
use crate::provider::{apply_metadata, discover};
use crate::store::{Data, ProviderApp};
use crate::token::split_scopes;
use crate::vault::app_secret_key;

/// A preset, for the provider-app form.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub struct PresetView {
    id: PresetId,
    name: &'static str,
    base_url_required: bool,
    default_base_url: Option<&'static str>,
    default_scopes: &'static str,
    redirect_modes: &'static [RedirectMode],
    help: &'static str,
    manage_url: Option<&'static str>,
    /// Whether the server's metadata is read (RFC 8414 / OpenID discovery).
    discovery: bool,
    /// The authorization and token endpoints can stand in for the server address.
    endpoints_suffice: bool,
    /// The preset's token-endpoint client authentication.
    auth_method: AuthMethod,
    /// What the connection detail shows beside the profile.
    extras: crate::provider::Extras,
    /// The redirect URI a paste-the-code sign-in sends (`None`: none at all, the provider then
    /// shows the code).
    paste_redirect_uri: Option<&'static str>,
    /// Whether the form must ask for a client secret.
    client_secret_required: bool,
}

/// A provider app, for lists and forms (no secret).
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub struct AppView {
    /// Stable id (connections refer to it).
    pub id: String,
    /// The preset it follows.
    pub preset: PresetId,
    /// The name the person gave it (the preset's by default).
    pub name: String,
    /// The server address when it is not the preset's production one.
    pub base_url: Option<Url>,
    /// Client id (not a secret).
    pub client_id: String,
    /// The scopes it asks for, space-separated.
    pub scopes: String,
    /// How the authorization response comes back.
    pub redirect_mode: RedirectMode,
    /// The exact redirect URI to register at the provider.
    pub redirect_uri: Option<String>,
    /// The app's own callback path segment (`None`: the shared path of apps saved earlier).
    pub callback_id: Option<String>,
    /// The fixed loopback port, if the app has one (else any free port per sign-in).
    pub loopback_port: Option<u16>,
    /// How the client authenticates at the token endpoint (in force: chosen, discovered or
    /// the preset's).
    pub auth_method: AuthMethod,
    /// Whether a client secret is in the keychain (its value never leaves it).
    pub has_secret: bool,
    /// The authorization endpoint, when entered or discovered (else the preset's path).
    pub authorize_url: Option<Url>,
    /// The token endpoint, when entered or discovered.
    pub token_url: Option<Url>,
    /// The RFC 7009 revocation endpoint, when entered or discovered.
    pub revocation_url: Option<Url>,
    /// The profile (userinfo) endpoint, when entered or discovered.
    pub userinfo_url: Option<Url>,
    /// RFC 8628 device authorization endpoint: "sign in on another device" is offered.
    pub device_authorization_url: Option<Url>,
    /// How many connections use it.
    pub connection_count: usize,
    /// The provider rejected the app's credentials on refresh (its words); fixed by editing
    /// the app (usually its client secret).
    pub credentials_rejected: Option<String>,
    /// The server in force (host and port): the override, or the preset's production host.
    pub server: Option<String>,
}

/// What discovery found at a base URL, before an app is saved.
#[derive(Debug, Clone, Default, Serialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub struct DiscoveryView {
    /// Whether the provider publishes metadata at all.
    pub found: bool,
    /// Its issuer (the base URL, checked).
    pub issuer: Option<String>,
    /// `authorization_endpoint`.
    pub authorize_url: Option<Url>,
    /// `token_endpoint`.
    pub token_url: Option<Url>,
    /// `revocation_endpoint` (RFC 7009).
    pub revocation_url: Option<Url>,
    /// `userinfo_endpoint`.
    pub userinfo_url: Option<Url>,
    /// RFC 8628 device authorization endpoint ("sign in on another device").
    pub device_authorization_url: Option<Url>,
    /// Token-endpoint client authentication it supports (ours, preferred first).
    pub auth_method: Option<AuthMethod>,
    /// Generic: what Latchkey will ask for by default (`openid profile email offline_access`
    /// where listed).
    pub default_scopes: Option<String>,
    /// Every scope it lists.
    pub scopes_supported: Vec<String>,
}

/// The redirect URI an app in `mode` sends (for loopback without a fixed port, without the
/// port, which is chosen per sign-in), on the app's own callback path when it has one
/// (RFC 9700 §4.4.2).
pub fn redirect_uri_for(
    preset: PresetId,
    mode: RedirectMode,
    callback_id: Option<&str>,
    loopback_port: Option<u16>,
) -> Option<String> {
    match mode {
        RedirectMode::DeepLink => Some(format!("{URL_SCHEME}:{}", callback_path(callback_id))),
        RedirectMode::Loopback => Some(match loopback_port {
            Some(port) => format!("http://127.0.0.1:{port}{}", callback_path(callback_id)),
            None => format!("http://127.0.0.1{}", callback_path(callback_id)),
        }),
        RedirectMode::Paste => preset.preset().paste_redirect_uri.map(str::to_owned),
    }
}

mod input;
mod remove;

pub use input::AppInput;
pub(crate) use input::{endpoint_field, new_id, validate};

impl Latchkey {
    /// The provider presets.
    pub fn presets() -> Vec<PresetView> {
        PresetId::ALL
            .into_iter()
            .map(|id| {
                let p = id.preset();
                PresetView {
                    id,
                    name: p.name,
                    base_url_required: p.base_url_required(),
                    default_base_url: p.default_base,
                    default_scopes: p.default_scopes,
                    redirect_modes: p.redirect_modes,
                    help: p.help,
                    manage_url: p.manage_url,
                    discovery: p.discovery,
                    endpoints_suffice: p.endpoints_suffice(),
                    auth_method: p.auth_method,
                    extras: p.extras,
                    paste_redirect_uri: p.paste_redirect_uri,
                    client_secret_required: p.client_secret_required,
                }
            })
            .collect()
    }

    /// The provider apps.
    ///
    /// # Errors
    /// The data file cannot be read.
    pub fn list_apps(&self) -> Result<Vec<AppView>> {
        let data = self.load()?;
        Ok(data.apps.iter().map(|a| app_view(&data, a)).collect())
    }

    /// Adds or edits a provider app: validates, runs discovery where the preset has it, puts
    /// the secret in the keychain, then saves the rest.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming the field (URL, client id, port, callback id); discovery that names another issuer; the keychain refusing the secret; the data file.
    pub async fn save_app(&self, input: AppInput) -> Result<AppView> {
        let data = self.load()?;
        let existing = match &input.id {
            Some(id) => Some(data.app(id)?.clone()),
            None => None,
        };
        let (mut app, secret) = validate(&input, existing.as_ref(), &data.apps, self.now())?;
        let preset = input.preset.preset();
        if let Some(base) = app.base_url.clone().filter(|_| preset.discovery) {
            match discover(&self.inner.http, &base).await {
                Ok(Some(m)) => {
                    apply_metadata(&mut app, &m);
                    // Generic asks for what the server lists of "who you are, stay connected"
                    // unless the person chose scopes (servers that require a scope refuse none).
                    if preset.discovery_decides && input.scopes.as_deref().is_none_or(|s| s.trim().is_empty()) {
                        app.scopes = m.default_scopes();
                    }
                }
                Ok(None) => {}
                Err(e @ Error::InvalidInput(_)) => return Err(e),
                // Discovery is optional: an unreachable metadata document leaves the preset's
                // defaults in force — and, on edit, what an earlier discovery found. Dropping the
                // stored issuer would silently turn the RFC 9207 check off.
                Err(e) => {
                    log::warn!("discovery for {} failed: {e}", app.id);
                    if let Some(old) = existing.as_ref().filter(|a| a.base_url == app.base_url) {
                        app.issuer = old.issuer.clone();
                        app.iss_required = old.iss_required;
                        app.auth_method = old.auth_method;
                    }
                }
            }
        }
        if input.auth_method.is_some() {
            app.auth_method = input.auth_method;
        }
        app.endpoints()?;
        if let Some(secret) = secret {
            let key = app_secret_key(&app.id);
            self.vault(move |v| v.set(&key, &secret)).await?;
        }
        let saved = app.clone();
        let view = self
            .update(move |d| {
                match d.apps.iter_mut().find(|a| a.id == saved.id) {
                    Some(a) => *a = saved.clone(),
                    None => d.apps.push(saved.clone()),
                }
                Ok(app_view(d, &saved))
            })
            .await?;
        self.emit(Event::ConnectionsChanged);
        Ok(view)
    }

    /// Adds `scope` to a provider app's requested scopes (the "Connect again with …" after a
    /// sign-in came back without a scope Latchkey needs). No change when it is there already.
    ///
    /// # Errors
    /// An unknown app; a scope that is not an RFC 6749 §3.3 scope token.
    pub async fn add_scope(&self, app_id: &str, scope: &str) -> Result<AppView> {
        let scope = scope.trim().to_owned();
        let token_char = |c: char| c == '!' || ('#'..='[').contains(&c) || (']'..='~').contains(&c);
        if scope.is_empty() || scope.len() > 200 || !scope.chars().all(token_char) {
            return Err(Error::InvalidInput(format!("{scope:?} is not a scope")));
        }
        let id = app_id.to_owned();
        let view = self
            .update(move |d| {
                let a = d
                    .apps
                    .iter_mut()
                    .find(|a| a.id == id)
                    .ok_or_else(|| Error::NotFound("no such provider app".into()))?;
                if !a.scopes.split(' ').any(|s| s == scope) {
                    a.scopes = split_scopes(&format!("{} {scope}", a.scopes)).join(" ");
                }
                let a = a.clone();
                Ok(app_view(d, &a))
            })
            .await?;
        self.emit(Event::ConnectionsChanged);
        Ok(view)
    }

    /// What the provider at `base_url` publishes (RFC 8414 / OpenID discovery), for the form to
    /// show before the app is saved: its endpoints and, for Generic, the default scopes.
    ///
    /// # Errors
    /// A base URL that is not HTTPS / loopback; a server error; metadata naming another issuer.
    pub async fn discover_provider(&self, preset: PresetId, base_url: &str) -> Result<DiscoveryView> {
        let base = endpoint_field("Base URL", Some(base_url))?
            .ok_or_else(|| Error::InvalidInput("Base URL: enter the provider's address".into()))?;
        let Some(m) = discover(&self.inner.http, &base).await? else {
            return Ok(DiscoveryView::default());
        };
        Ok(DiscoveryView {
            found: true,
            issuer: m.issuer.clone(),
            authorize_url: m.authorization_endpoint.clone(),
            token_url: m.token_endpoint.clone(),
            revocation_url: m.revocation_endpoint.clone(),
            userinfo_url: m.userinfo_endpoint.clone(),
            device_authorization_url: m.device_authorization_endpoint.clone(),
            auth_method: m.auth_method,
            default_scopes: preset.preset().discovery_decides.then(|| m.default_scopes()).filter(|s| !s.is_empty()),
            scopes_supported: m.scopes_supported,
        })
    }

    pub(crate) async fn client_secret(&self, app_id: &str) -> Result<Option<SecretString>> {
        let key = app_secret_key(app_id);
        self.vault(move |v| v.get(&key)).await
    }
}

pub(crate) fn app_view(data: &Data, a: &ProviderApp) -> AppView {
    AppView {
        id: a.id.clone(),
        preset: a.preset,
        name: a.name.clone(),
        base_url: a.base_url.clone(),
        client_id: a.client_id.clone(),
        scopes: a.scopes.clone(),
        redirect_mode: a.redirect_mode,
        redirect_uri: redirect_uri_for(a.preset, a.redirect_mode, a.callback_id.as_deref(), a.loopback_port),
        callback_id: a.callback_id.clone(),
        loopback_port: a.loopback_port,
        auth_method: a.auth_method.unwrap_or(a.preset.preset().auth_method),
        has_secret: a.has_secret,
        authorize_url: a.authorize_url.clone(),
        token_url: a.token_url.clone(),
        revocation_url: a.revocation_url.clone(),
        userinfo_url: a.userinfo_url.clone(),
        device_authorization_url: a.device_authorization_url.clone(),
        connection_count: data.connections.iter().filter(|c| c.app_id == a.id).count(),
        credentials_rejected: a.credentials_rejected.clone(),
        server: a.server(),
    }
}
