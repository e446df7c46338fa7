//! `Latchkey`: the one facade the app, the agent and the command line use. Commands in the
//! Tauri shell are a few lines each around these methods.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use url::Url;

use crate::api::{self, Profile};
use crate::clock::{Clock, Timestamp};
use crate::endpoints::{RevokeSupport, apply_metadata, discover};
use crate::error::{Error, ErrorCode, ErrorReason, Result};
use crate::flow::{FlowRequest, Flows, PendingFlow};
use crate::loopback::{Answer, Loopback, browser_page};
use crate::oauth::{self, Client};
use crate::provider::{
    AuthMethod, PresetId, RedirectMode, URL_SCHEME, callback_path, check_endpoint, valid_callback_id,
};
use crate::refresh::describe;
use crate::store::{Connection, Data, ProviderApp, Status, Store};
use crate::token::{TokenSet, split_scopes};
use crate::vault::{Vault, app_secret_key, connection_key, platform_vault};

pub use crate::config::{APP_ID, Config, MIN_REFRESH_INTERVAL_SECS};

/// Something the UI should know about.
#[derive(Debug, Clone)]
pub enum Event {
    /// A connect flow ended.
    ConnectFinished {
        /// Which flow.
        flow_id: String,
        /// The connection, or the error.
        result: std::result::Result<Box<ConnectionView>, ErrorView>,
    },
    /// Connections or apps changed.
    ConnectionsChanged,
    /// A connection that needed reconnecting, or waited for a locked keychain, works again
    /// (the good news, told like the bad: see `Latchkey::announce_recovery`).
    Recovered {
        /// Which connection.
        connection_id: String,
        /// Its account, as people read it.
        who: String,
        /// What it was before.
        was: Status,
    },
    /// Something the person asked to hear about even with the window closed (Settings →
    /// notifications): the shells (agent, app) show it as a desktop notification.
    Notify(Notification),
}

/// What a desktop notification says (core decides what and whether; the shells show it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notification {
    /// A connection newly needs reconnecting.
    NeedsReconnect {
        /// Which connection.
        connection_id: String,
        /// Its account, as people read it.
        who: String,
        /// Why, in plain words.
        reason: String,
    },
    /// A connection that needed reconnecting, or waited for the keychain, works again.
    Recovered {
        /// Which connection.
        connection_id: String,
        /// Its account.
        who: String,
        /// What it was before.
        was: Status,
    },
    /// The metadata file is damaged; background refresh waits.
    DataDamaged {
        /// The file.
        path: PathBuf,
        /// Whether a last good copy exists.
        backup_available: bool,
    },
}

/// An error as it crosses to the UI: `{ code, message, reason? }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS)]
pub struct ErrorView {
    /// What the UI can act on.
    pub code: ErrorCode,
    /// Plain words.
    pub message: String,
    /// Which error exactly, where the advice differs (the hint follows it).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub reason: Option<ErrorReason>,
    /// The scope a `missing_scope` error is about, when known ("Connect again with …").
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub scope: Option<String>,
}

impl From<&Error> for ErrorView {
    fn from(e: &Error) -> Self {
        let scope = match e {
            Error::MissingScope { scope, .. } | Error::ScopeNotGranted { scope, .. } => scope.clone(),
            _ => None,
        };
        Self { code: e.code(), message: e.to_string(), reason: e.reason(), scope }
    }
}

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

/// What the UI sends to add or edit a provider app.
#[derive(Debug, Clone, Deserialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
// Every `Option` field may be left out by the UI (`#[serde(default)]`).
#[ts(optional_fields = nullable)]
pub struct AppInput {
    /// Id when editing.
    #[serde(default)]
    pub id: Option<String>,
    /// The preset it follows (fixed once saved).
    pub preset: PresetId,
    /// Name (defaults to the preset's).
    #[serde(default)]
    pub name: String,
    /// The server address (required where the preset has no production server, unless the
    /// endpoints stand in for it).
    #[serde(default)]
    pub base_url: Option<String>,
    /// The client id the provider issued.
    pub client_id: String,
    /// Client secret; empty or absent on edit keeps the stored one.
    #[serde(default)]
    #[ts(as = "Option<String>")]
    pub client_secret: Option<SecretString>,
    /// The scopes to ask for, space-separated (absent: the preset's, or discovery's).
    #[serde(default)]
    pub scopes: Option<String>,
    /// Redirect mode (defaults to the preset's first).
    #[serde(default)]
    pub redirect_mode: Option<RedirectMode>,
    /// Explicit endpoints: any preset's can be overridden (e.g. a staging server whose app
    /// and API live on different hosts); Generic needs at least the authorization and token
    /// endpoints when it has no base URL.
    #[serde(default)]
    pub authorize_url: Option<String>,
    /// The token endpoint, overriding the preset's or discovery's.
    #[serde(default)]
    pub token_url: Option<String>,
    /// The RFC 7009 revocation endpoint, overriding the preset's or discovery's.
    #[serde(default)]
    pub revocation_url: Option<String>,
    /// The profile (userinfo) endpoint, overriding the preset's or discovery's.
    #[serde(default)]
    pub userinfo_url: Option<String>,
    /// For a new app: the callback path segment the form showed in its redirect URI (4–32 of
    /// `0-9a-z`); absent, one is made up. Ignored on edit: an app keeps its address.
    #[serde(default)]
    pub callback_id: Option<String>,
    /// Token-endpoint client authentication; absent: discovery's or the preset's.
    #[serde(default)]
    pub auth_method: Option<AuthMethod>,
    /// A fixed loopback port (1024–65535) for servers that match the redirect URI exactly;
    /// absent: any free port per sign-in.
    #[serde(default)]
    pub loopback_port: Option<u16>,
    /// RFC 8628 device authorization endpoint (absent: discovery's, if any).
    #[serde(default)]
    pub device_authorization_url: Option<String>,
}

/// A connection, for lists (no token).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionView {
    /// Stable id (commands and `latchkey-cli` take it).
    pub id: String,
    /// The provider app it signed in with.
    pub app_id: String,
    /// That app's name ("(removed provider app)" once it is gone).
    pub app_name: String,
    /// That app's preset; `None` once the app is removed (the connection was kept).
    pub preset: Option<PresetId>,
    /// The account's id at the provider (one connection per app and account).
    pub account_id: String,
    /// The account's display name, from the profile.
    pub name: Option<String>,
    /// The account's email, from the profile.
    pub email: Option<String>,
    /// A label the person gave the connection.
    pub label: Option<String>,
    /// What the connection is doing (a refresh running in this process shows as Refreshing).
    pub status: Status,
    /// When the access token expires; `None` when the provider gave no usable lifetime.
    pub expires_at: Option<Timestamp>,
    /// The last successful refresh.
    pub last_refresh_at: Option<Timestamp>,
    /// When the provider last accepted the access token ("last verified").
    pub last_verified_at: Option<Timestamp>,
    /// When the next refresh is due.
    pub next_refresh_at: Option<Timestamp>,
    /// What went wrong last, in plain words (`None` once it works again).
    pub last_error: Option<String>,
    /// The scopes the provider granted.
    pub scopes_granted: Vec<String>,
    /// The scopes that were asked for.
    pub scopes_requested: Vec<String>,
    /// When the account was first connected.
    pub created_at: Timestamp,
    /// The provider app's credentials were rejected: this connection waits until the app is
    /// fixed (the provider's words).
    pub app_credentials_rejected: Option<String>,
    /// What Revoke can do at the provider (said before the click).
    pub revocation: RevokeSupport,
    /// The provider's page for connected apps, when Latchkey knows it for this app's server.
    pub manage_url: Option<String>,
    /// The provider app's server (host and port), so apps at two servers can be told apart.
    pub server: Option<String>,
}

/// A started connect flow.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub struct ConnectStart {
    /// Flow id.
    pub flow_id: String,
    /// Open this in the browser.
    pub authorize_url: String,
    /// How the answer comes back.
    pub mode: RedirectMode,
    /// The redirect URI sent, if any.
    pub redirect_uri: Option<String>,
    /// When the flow expires.
    pub expires_at: Timestamp,
}

pub(crate) fn view(data: &Data, c: &Connection) -> ConnectionView {
    let app = data.app(&c.app_id).ok();
    ConnectionView {
        id: c.id.clone(),
        app_id: c.app_id.clone(),
        app_name: app.map(|a| a.name.clone()).unwrap_or_else(|| "(removed provider app)".into()),
        preset: app.map(|a| a.preset),
        account_id: c.account_id.clone(),
        name: c.name.clone(),
        email: c.email.clone(),
        label: c.label.clone(),
        status: c.status,
        expires_at: c.expires_at,
        last_refresh_at: c.last_refresh_at,
        last_verified_at: c.last_verified_at,
        next_refresh_at: c.next_refresh_at,
        last_error: c.last_error.clone(),
        scopes_granted: c.scopes_granted.clone(),
        scopes_requested: c.scopes_requested.clone(),
        created_at: c.created_at,
        app_credentials_rejected: app.and_then(|a| a.credentials_rejected.clone()),
        revocation: app.and_then(|a| a.endpoints().ok()).map_or(RevokeSupport::Cannot, |e| e.revocation.support()),
        manage_url: app.and_then(ProviderApp::manage_page).map(|u| u.to_string()),
        server: app.and_then(ProviderApp::server),
    }
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

/// "10 minutes", "5 seconds" (minutes rounded).(minutes rounded).
fn human_duration(secs: i64) -> String {
    let plural = |n: i64, unit: &str| format!("{n} {unit}{}", if n == 1 { "" } else { "s" });
    if secs >= 60 { plural((secs + 30) / 60, "minute") } else { plural(secs, "second") }
}

/// A URL the person typed into `field`: empty is `None`; otherwise it must parse and be an
/// allowed endpoint (HTTPS, or HTTP on loopback). The error names the field.
fn endpoint_field(field: &str, v: Option<&str>) -> Result<Option<Url>> {
    match v.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => {
            let u = Url::parse(s).map_err(|_| Error::InvalidInput(format!("{field}: {s:?} is not a URL")))?;
            check_endpoint(&u).map_err(|e| Error::InvalidInput(format!("{field}: {e}")))?;
            Ok(Some(u))
        }
    }
}

fn new_id() -> String {
    format!("{:016x}", rand::random::<u64>())
}

pub(crate) struct Inner {
    pub(crate) store: Store,
    pub(crate) vault: Arc<dyn Vault>,
    pub(crate) http: reqwest::Client,
    pub(crate) clock: Clock,
    flows: Flows,
    loopbacks: Mutex<HashMap<String, CancellationToken>>,
    pub(crate) events: broadcast::Sender<Event>,
    /// The settings it was opened with (for `with_parts`: the defaults).
    config: Config,
    /// One async mutex per connection: refreshes in this process never overlap.
    pub(crate) refresh_locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Refreshed sets the keychain has not taken yet (see `refresh`).
    pub(crate) pending: Mutex<crate::refresh::PendingMap>,
    /// Connections with a background saver running.
    pub(crate) savers: Mutex<std::collections::HashSet<String>>,
    /// Connections this process is refreshing right now (shown as Refreshing; never stored).
    pub(crate) refreshing: Mutex<std::collections::HashSet<String>>,
    /// How long a caller waits for a connection's lock.
    lock_wait: Mutex<std::time::Duration>,
    /// See [`Config::min_refresh_interval_secs`].
    min_refresh_interval_secs: std::sync::atomic::AtomicI64,
    /// Wakes the refresher when connections change.
    pub(crate) changed: tokio::sync::Notify,
}

/// The core facade. Cheap to clone.
#[derive(Clone)]
pub struct Latchkey {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for Latchkey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Latchkey").field("data_dir", &self.inner.store.dir()).finish_non_exhaustive()
    }
}

impl Latchkey {
    /// Opens Latchkey on the platform keychain.
    ///
    /// # Errors
    /// When the data directory cannot be created.
    pub fn open(config: &Config) -> Result<Self> {
        let vault: Arc<dyn Vault> = Arc::from(platform_vault(&config.keyring_service));
        let lk = Self::assemble(Store::open(&config.data_dir)?, vault, Clock::system(), config.clone());
        lk.set_min_refresh_interval(config.min_refresh_interval_secs);
        lk.set_flow_timeout(config.flow_timeout_secs);
        Ok(lk)
    }

    /// The settings this instance was opened with.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// See [`Config::min_refresh_interval_secs`].
    pub fn set_min_refresh_interval(&self, secs: i64) {
        self.inner.min_refresh_interval_secs.store(secs.max(1), std::sync::atomic::Ordering::Relaxed);
    }

    /// The shortest time between two scheduled refreshes of one connection.
    pub fn min_refresh_interval(&self) -> i64 {
        self.inner.min_refresh_interval_secs.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// How long a caller waits for a connection's refresh lock (10 s by default).
    pub fn set_lock_wait(&self, wait: std::time::Duration) {
        *self.inner.lock_wait.lock().expect("lock wait") = wait;
    }

    pub(crate) fn lock_wait(&self) -> std::time::Duration {
        *self.inner.lock_wait.lock().expect("lock wait")
    }

    /// A connection as the UI sees it, with what only this process knows (a refresh running).
    pub(crate) fn view(&self, data: &Data, c: &Connection) -> ConnectionView {
        let mut v = view(data, c);
        if self.inner.refreshing.lock().expect("refreshing").contains(&c.id) {
            v.status = Status::Refreshing;
        }
        v
    }

    /// How long sign-ins started from now on wait for their answer ([`Config::flow_timeout_secs`]).
    pub fn set_flow_timeout(&self, secs: i64) {
        self.inner.flows.set_ttl(secs);
    }

    /// Opens Latchkey with the given parts (tests: a memory vault, a manual clock).
    ///
    /// # Errors
    /// None today; kept fallible for the parts that may fail to start.
    pub fn with_parts(store: Store, vault: Arc<dyn Vault>, clock: Clock, keyring_service: &str) -> Result<Self> {
        let config = Config::new(store.dir(), keyring_service);
        Ok(Self::assemble(store, vault, clock, config))
    }

    fn assemble(store: Store, vault: Arc<dyn Vault>, clock: Clock, config: Config) -> Self {
        let (events, _) = broadcast::channel(64);
        Self {
            inner: Arc::new(Inner {
                store,
                vault,
                http: crate::http::client_with_timeout(std::time::Duration::from_secs(config.http_timeout_secs)),
                clock,
                flows: Flows::default(),
                loopbacks: Mutex::new(HashMap::new()),
                events,
                config,
                refresh_locks: Mutex::new(HashMap::new()),
                pending: Mutex::new(HashMap::new()),
                savers: Mutex::new(Default::default()),
                refreshing: Mutex::new(Default::default()),
                lock_wait: Mutex::new(crate::refresh::LOCK_WAIT),
                min_refresh_interval_secs: std::sync::atomic::AtomicI64::new(MIN_REFRESH_INTERVAL_SECS),
                changed: tokio::sync::Notify::new(),
            }),
        }
    }

    /// Events for the UI.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.inner.events.subscribe()
    }

    pub(crate) fn emit(&self, e: Event) {
        if matches!(e, Event::ConnectionsChanged) {
            self.inner.changed.notify_waiters();
        }
        let _ = self.inner.events.send(e);
    }

    /// Says that a connection works again, as breakage is said: an event, and — when
    /// notifications are on — a desktop notification (the mirror of a newly dead connection's
    /// "Reconnect …" notification in `refresh::record_failure`).
    pub(crate) fn announce_recovery(&self, connection_id: &str, who: String, was: Status, notify: bool) {
        log::info!("connection {connection_id} works again (was {was:?})");
        if notify {
            let (connection_id, who) = (connection_id.to_owned(), who.clone());
            self.emit(Event::Notify(Notification::Recovered { connection_id, who, was }));
        }
        self.emit(Event::Recovered { connection_id: connection_id.to_owned(), who, was });
    }

    /// The data directory.
    pub fn data_dir(&self) -> &std::path::Path {
        self.inner.store.dir()
    }

    /// The keychain service name.
    pub fn keyring_service(&self) -> &str {
        &self.inner.config.keyring_service
    }

    /// Now.
    pub fn now(&self) -> Timestamp {
        self.inner.clock.now()
    }

    pub(crate) async fn vault<T: Send + 'static>(
        &self,
        f: impl FnOnce(&dyn Vault) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let vault = self.inner.vault.clone();
        tokio::task::spawn_blocking(move || f(vault.as_ref())).await.map_err(|e| Error::Internal(e.to_string()))?
    }

    pub(crate) async fn update<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Data) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let store = self.inner.store.clone();
        tokio::task::spawn_blocking(move || store.update(f)).await.map_err(|e| Error::Internal(e.to_string()))?
    }

    /// The metadata as it is now.
    ///
    /// # Errors
    /// The data file cannot be read, or is damaged ([`Error::DamagedData`]).
    pub fn load(&self) -> Result<Data> {
        self.inner.store.load()
    }

    // ---- presets and provider apps --------------------------------------------------

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
        let existing = match &input.id {
            Some(id) => Some(self.load()?.app(id)?.clone()),
            None => None,
        };
        let preset = input.preset.preset();
        let url = |field: &str, v: &Option<String>| endpoint_field(field, v.as_deref());
        let client_id = input.client_id.trim().to_owned();
        if client_id.is_empty() {
            return Err(Error::InvalidInput("Client id: enter the client id the provider gave you".into()));
        }
        let redirect_mode = input.redirect_mode.unwrap_or(preset.redirect_modes[0]);
        if !preset.redirect_modes.contains(&redirect_mode) {
            return Err(Error::InvalidInput(format!("{} does not accept this redirect mode", preset.name)));
        }
        let base_url = url("Base URL", &input.base_url)?;
        let authorize_url = url("Authorization URL", &input.authorize_url)?;
        let token_url = url("Token URL", &input.token_url)?;
        // Generic needs a server address only to find its endpoints: with both given, none.
        let endpoints_given = preset.endpoints_suffice() && authorize_url.is_some() && token_url.is_some();
        if base_url.is_none() && preset.base_url_required() && !endpoints_given {
            return Err(Error::InvalidInput(if preset.endpoints_suffice() {
                "Server address: enter the provider's address, or both its authorization and token endpoints".into()
            } else {
                format!("Base URL: {} needs the address of the provider", preset.name)
            }));
        }
        let loopback_port = match input.loopback_port {
            None => None,
            Some(p) if p >= 1024 => Some(p),
            Some(p) => {
                return Err(Error::InvalidInput(format!(
                    "Loopback port: {p} is reserved for system services; choose one from 1024 to 65535"
                )));
            }
        };
        let name = match input.name.trim() {
            "" => preset.name.to_owned(),
            n => n.to_owned(),
        };
        let secret = input.client_secret.filter(|s| !secrecy::ExposeSecret::expose_secret(s).is_empty());
        // An app keeps its callback path for life (it is registered at the provider); a new app
        // takes the one the form showed, or a fresh one.
        let callback_id = match &existing {
            Some(a) => a.callback_id.clone(),
            None => {
                let id = match input.callback_id.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
                    Some(id) if valid_callback_id(id) => id.to_owned(),
                    Some(id) => {
                        return Err(Error::InvalidInput(format!(
                            "Redirect URI: {id:?} cannot name an app's callback (use 4 to 32 of 0-9 and a-z)"
                        )));
                    }
                    None => new_id()[..8].to_owned(),
                };
                if self.load()?.apps.iter().any(|a| a.callback_id.as_deref() == Some(id.as_str())) {
                    return Err(Error::InvalidInput(
                        "Redirect URI: another provider app uses this address already; reopen the form".into(),
                    ));
                }
                Some(id)
            }
        };
        let mut app = ProviderApp {
            id: existing.as_ref().map(|a| a.id.clone()).unwrap_or_else(new_id),
            preset: input.preset,
            name,
            base_url,
            client_id,
            scopes: split_scopes(input.scopes.as_deref().unwrap_or(preset.default_scopes)).join(" "),
            redirect_mode,
            callback_id,
            authorize_url,
            token_url,
            revocation_url: url("Revocation URL", &input.revocation_url)?,
            userinfo_url: url("Userinfo URL", &input.userinfo_url)?,
            issuer: None,
            iss_required: false,
            auth_method: None,
            loopback_port,
            has_secret: secret.is_some() || existing.as_ref().is_some_and(|a| a.has_secret),
            // Editing the app is the fix for rejected credentials: its connections refresh again.
            credentials_rejected: None,
            superseded_shares_grant: existing.as_ref().is_some_and(|a| a.superseded_shares_grant),
            device_authorization_url: url("Device authorization URL", &input.device_authorization_url)?,
            created_at: existing.as_ref().map(|a| a.created_at).unwrap_or_else(|| self.now()),
        };
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

    // ---- connections ----------------------------------------------------------------

    /// The connections.
    ///
    /// # Errors
    /// The data file cannot be read.
    pub fn list_connections(&self) -> Result<Vec<ConnectionView>> {
        let data = self.load()?;
        Ok(data.connections.iter().map(|c| self.view(&data, c)).collect())
    }

    /// Starts connecting an account at a provider app (or reconnecting `reconnect`). The caller
    /// opens `authorize_url` in the browser. For loopback flows a listener is waiting already.
    ///
    /// # Errors
    /// No such app or connection; endpoints that do not resolve; a fixed loopback port that is taken.
    pub async fn start_connect(&self, app_id: &str, reconnect: Option<&str>) -> Result<ConnectStart> {
        self.start_connect_as(app_id, reconnect, None).await
    }

    /// [`Latchkey::start_connect`] with another redirect mode than the app's (the command line
    /// completes sign-ins through a loopback listener or a pasted code).
    ///
    /// # Errors
    /// As [`Latchkey::start_connect`], and a redirect mode the preset does not accept.
    pub async fn start_connect_as(
        &self,
        app_id: &str,
        reconnect: Option<&str>,
        mode: Option<RedirectMode>,
    ) -> Result<ConnectStart> {
        let data = self.load()?;
        let mut app = data.app(app_id)?.clone();
        if let Some(mode) = mode {
            if !app.preset.preset().redirect_modes.contains(&mode) {
                return Err(Error::InvalidInput(format!(
                    "{} does not accept this redirect mode",
                    app.preset.preset().name
                )));
            }
            app.redirect_mode = mode;
        }
        if let Some(c) = reconnect {
            let c = data.connection(c)?;
            if c.app_id != app.id {
                return Err(Error::InvalidInput("that connection belongs to another provider app".into()));
            }
        }
        let endpoints = app.endpoints()?;
        let (redirect_uri, loopback) = match app.redirect_mode {
            RedirectMode::Loopback => {
                let lb = Loopback::bind(&callback_path(app.callback_id.as_deref()), app.loopback_port).await?;
                (Some(lb.redirect_uri()), Some(lb))
            }
            mode => (redirect_uri_for(app.preset, mode, app.callback_id.as_deref(), None), None),
        };
        let (flow_id, url, expires_at) = self.inner.flows.begin(
            &endpoints,
            FlowRequest {
                app_id: &app.id,
                client_id: &app.client_id,
                scopes: split_scopes(&app.scopes),
                redirect_uri: redirect_uri.clone(),
                mode: app.redirect_mode,
                reconnect: reconnect.map(str::to_owned),
            },
            self.now(),
        );
        if let Some(lb) = loopback {
            self.spawn_loopback(flow_id.clone(), lb, expires_at);
        }
        log::info!("sign-in {flow_id} started for app {} ({:?})", app.id, app.redirect_mode);
        Ok(ConnectStart { flow_id, authorize_url: url.to_string(), mode: app.redirect_mode, redirect_uri, expires_at })
    }

    /// Serves the flow's loopback listener until its own answer arrives, the flow is cancelled,
    /// or it times out — the timeout is always enforced, whatever reaches the port meanwhile
    /// (RFC 8252 §8.3: any local process can). A request with another or no `state` gets a
    /// 400 page and changes nothing.
    fn spawn_loopback(&self, flow_id: String, lb: Loopback, expires_at: Timestamp) {
        let cancel = CancellationToken::new();
        self.inner.loopbacks.lock().expect("loopbacks lock").insert(flow_id.clone(), cancel.clone());
        let this = self.clone();
        let secs = (expires_at - self.now()).max(1);
        tokio::spawn(async move {
            let lk = this.clone();
            let id = flow_id.clone();
            let answered =
                lb.serve(move |url: &str| match lk.inner.flows.take_callback_for(url, lk.now(), Some(&id)) {
                    Ok((flow, outcome)) => {
                        let msg = if outcome.is_ok() {
                            "Latchkey received your sign-in. You can close this tab and return to Latchkey."
                        } else {
                            "The sign-in was not accepted. Return to Latchkey to see why."
                        };
                        Answer::Done { status: 200, body: browser_page(outcome.is_ok(), msg), value: (flow, outcome) }
                    }
                    Err(e) => {
                        log::warn!("loopback: ignored a request that is not the answer of sign-in {id}");
                        let msg = format!("{e}. Nothing was changed; finish the sign-in in the tab Latchkey opened.");
                        Answer::Again { status: 400, body: browser_page(false, &msg) }
                    }
                });
            tokio::select! {
                (flow, outcome) = answered => { let _ = this.finish_flow(flow, outcome).await; }
                () = cancel.cancelled() => {}
                () = tokio::time::sleep(std::time::Duration::from_secs(secs as u64)) => {
                    this.inner.flows.cancel(&flow_id);
                    log::warn!("sign-in {flow_id} timed out");
                    let e = Error::Flow(format!(
                        "the sign-in was not completed within {} and was stopped; start again",
                        human_duration(secs)
                    ));
                    this.fail_flow(&flow_id, &e);
                }
            }
            this.inner.loopbacks.lock().expect("loopbacks lock").remove(&flow_id);
        });
    }

    fn fail_flow(&self, flow_id: &str, e: &Error) {
        self.emit(Event::ConnectFinished { flow_id: flow_id.to_owned(), result: Err(ErrorView::from(e)) });
    }

    /// Cancels a flow; its loopback listener closes.
    pub fn cancel_connect(&self, flow_id: &str) -> bool {
        if let Some(c) = self.inner.loopbacks.lock().expect("loopbacks lock").remove(flow_id) {
            c.cancel();
        }
        self.inner.flows.cancel(flow_id)
    }

    /// Handles a redirect (deep link or loopback). A callback that matches no flow is
    /// rejected and changes nothing ([`crate::flow::NO_FLOW`] when nothing is waiting).
    ///
    /// # Errors
    /// An answer for no pending sign-in; the provider's error; a failed code exchange, profile or save (its tokens are revoked where possible).
    pub async fn handle_callback(&self, url: &str) -> Result<ConnectionView> {
        let (flow, outcome) = self.inner.flows.take_callback(url, self.now())?;
        self.finish_flow(flow, outcome).await
    }

    /// Completes a paste-the-code flow.
    ///
    /// # Errors
    /// As [`Latchkey::handle_callback`], and a pasted text without a code.
    pub async fn submit_code(&self, flow_id: &str, code: &str) -> Result<ConnectionView> {
        let (flow, outcome) = self.inner.flows.take_pasted(flow_id, code, self.now())?;
        self.finish_flow(flow, outcome).await
    }

    async fn finish_flow(&self, flow: PendingFlow, outcome: Result<String>) -> Result<ConnectionView> {
        if let Some(c) = self.inner.loopbacks.lock().expect("loopbacks lock").remove(&flow.id) {
            c.cancel();
        }
        let flow_id = flow.id.clone();
        let result = match outcome {
            Ok(code) => self.complete(&flow, &code).await,
            Err(e) => Err(e),
        };
        match &result {
            Ok(v) => {
                log::info!("sign-in {flow_id} finished: connection {}", v.id);
                self.emit(Event::ConnectFinished { flow_id, result: Ok(Box::new(v.clone())) });
                self.emit(Event::ConnectionsChanged);
            }
            Err(e) => {
                log::warn!("sign-in {flow_id} failed: {}", e.code());
                self.fail_flow(&flow_id, e);
            }
        }
        result
    }

    pub(crate) async fn client_secret(&self, app_id: &str) -> Result<Option<SecretString>> {
        let key = app_secret_key(app_id);
        self.vault(move |v| v.get(&key)).await
    }

    /// Code exchange, profile, then save: tokens in the keychain first, then the metadata.
    async fn complete(&self, flow: &PendingFlow, code: &str) -> Result<ConnectionView> {
        let app = self.load()?.app(&flow.app_id)?.clone();
        let endpoints = app.endpoints()?;
        let secret = self.client_secret(&app.id).await?;
        let client = Client { id: &app.client_id, secret: secret.as_ref() };
        let now = self.now();
        let exchanged = oauth::exchange_code(
            &self.inner.http,
            &endpoints,
            &client,
            oauth::CodeGrant {
                code,
                redirect_uri: flow.redirect_uri.as_deref(),
                verifier: flow.verifier(),
                nonce: flow.nonce(),
            },
            now,
        )
        .await?;
        self.store_signed_in(&app, &client, &flow.id, &flow.scopes_requested, exchanged.tokens, exchanged.id_token)
            .await
    }

    /// What every sign-in does once it holds tokens (code exchange, device grant): `checked`
    /// (the ID token's nonce, where there was one to check), profile, then save — tokens in the
    /// keychain first, then the metadata; a replaced sign-in is revoked, and tokens nobody will
    /// use are not left live at the provider.
    pub(crate) async fn store_signed_in(
        &self,
        app: &ProviderApp,
        client: &Client<'_>,
        flow_id: &str,
        scopes_requested: &[String],
        tokens: TokenSet,
        checked: Result<()>,
    ) -> Result<ConnectionView> {
        let endpoints = &app.endpoints()?;
        let style = app.preset.preset().profile_style;
        let saved = match checked {
            Err(e) => Err(e),
            Ok(()) => match api::fetch_profile(&self.inner.http, endpoints, style, &tokens.access_token).await {
                Ok(profile) => self.save_connection(app, scopes_requested.to_vec(), profile, tokens.clone()).await,
                Err(Error::MissingScope { scope, .. }) => {
                    let preset = app.preset.preset();
                    let scope = scope.or_else(|| preset.profile_scope.map(str::to_owned));
                    let label = scope.as_deref().and_then(|s| preset.scope_label(s));
                    Err(Error::ScopeNotGranted { provider: app.name.clone(), scope, label })
                }
                Err(e) => Err(e),
            },
        };
        match saved {
            Ok((view, superseded)) => {
                if let Some(old) = superseded {
                    self.revoke_superseded(app, &view.id, &old, &tokens).await;
                }
                Ok(view)
            }
            Err(e) => {
                // Tokens nobody will use are not left live at the provider — unless another
                // connection of this app might share their grant (grant-based servers revoke
                // every token of a grant at once).
                let alone = self.load().is_ok_and(|d| d.connections.iter().all(|c| c.app_id != app.id));
                if alone && !matches!(endpoints.revocation, crate::endpoints::Revocation::None(_)) {
                    match oauth::revoke(&self.inner.http, endpoints, client, &tokens).await {
                        Ok(_) => {
                            log::info!("sign-in {flow_id} failed after the code exchange; its tokens were revoked")
                        }
                        Err(r) => {
                            log::warn!("sign-in {flow_id}: the unused tokens could not be revoked ({})", r.code())
                        }
                    }
                }
                Err(e)
            }
        }
    }

    /// After a reconnect, revokes the grant the new one replaced (only once the new tokens are
    /// stored). Some servers tie both sign-ins to one grant and end them together: the new
    /// token is checked afterwards, and if it died the app is marked so replaced sign-ins are
    /// never revoked there again, and the connection asks for one more sign-in.
    async fn revoke_superseded(&self, app: &ProviderApp, connection_id: &str, old: &TokenSet, new: &TokenSet) {
        use secrecy::ExposeSecret as _;
        let Ok(endpoints) = app.endpoints() else { return };
        let same = |a: Option<&SecretString>, b: Option<&SecretString>| {
            a.map(|s| s.expose_secret().to_owned()) == b.map(|s| s.expose_secret().to_owned())
        };
        if app.superseded_shares_grant
            || matches!(endpoints.revocation, crate::endpoints::Revocation::None(_))
            || (same(Some(&old.access_token), Some(&new.access_token))
                && same(old.refresh_token.as_ref(), new.refresh_token.as_ref()))
        {
            return;
        }
        let Ok(secret) = self.client_secret(&app.id).await else { return };
        let client = Client { id: &app.client_id, secret: secret.as_ref() };
        match oauth::revoke(&self.inner.http, &endpoints, &client, old).await {
            Ok(oauth::Revoked::AtProvider) => {
                log::info!("connection {connection_id}: the replaced sign-in was revoked")
            }
            Ok(_) => return,
            Err(e) => {
                log::warn!("connection {connection_id}: the replaced sign-in could not be revoked ({})", e.code());
                return;
            }
        }
        let style = app.preset.preset().profile_style;
        if let Err(Error::Http { status: 401, .. }) =
            api::fetch_profile(&self.inner.http, &endpoints, style, &new.access_token).await
        {
            log::warn!("connection {connection_id}: revoking the replaced sign-in ended the new one too");
            let (app_id, id) = (app.id.clone(), connection_id.to_owned());
            let _ = self
                .update(move |d| {
                    if let Some(a) = d.apps.iter_mut().find(|a| a.id == app_id) {
                        a.superseded_shares_grant = true;
                    }
                    let c = d.connection_mut(&id)?;
                    c.status = Status::NeedsReconnect;
                    c.last_error = Some(
                        "The provider ended this sign-in together with the one it replaced (it ties them to one grant). Reconnect once more; Latchkey will not revoke replaced sign-ins at this provider again.".into(),
                    );
                    Ok(())
                })
                .await;
            self.emit(Event::ConnectionsChanged);
        }
    }

    async fn save_connection(
        &self,
        app: &ProviderApp,
        requested: Vec<String>,
        profile: Profile,
        mut tokens: TokenSet,
    ) -> Result<(ConnectionView, Option<TokenSet>)> {
        let data = self.load()?;
        let existing =
            data.connections.iter().find(|c| c.app_id == app.id && c.account_id == profile.id).map(|c| c.id.clone());
        let id = existing.clone().unwrap_or_else(new_id);
        // A reconnect replaces the set under the connection's lock, as the next generation,
        // so a refresh in another process never overwrites it with the old grant's tokens.
        let _guard = match &existing {
            Some(id) => Some(self.hold_refresh_lock(id).await?),
            None => None,
        };
        let mut superseded = None;
        if let Some(id) = &existing {
            let previous = self.stored_tokens(id).await.ok();
            let cached = data.connection(id).map(|c| c.token_generation).unwrap_or(0);
            tokens.generation = previous.as_ref().map_or(0, |t| t.generation).max(cached) + 1;
            self.inner.pending.lock().expect("pending").remove(id);
            superseded = previous;
        }
        let key = connection_key(&id);
        let secret = tokens.to_vault_string();
        self.vault(move |v| v.set(&key, &secret)).await?;
        let now = self.now();
        let app_id = app.id.clone();
        let new_conn_id = id.clone();
        let saved = self
            .update(move |d| {
                let settings = d.settings.clone();
                let c = match d.connections.iter_mut().find(|c| c.app_id == app_id && c.account_id == profile.id) {
                    Some(c) => c,
                    None => {
                        d.connections.push(Connection::new(&new_conn_id, &app_id, &profile.id, now));
                        d.connections.last_mut().expect("just pushed")
                    }
                };
                c.name = profile.name;
                c.email = profile.email;
                c.status = Status::Connected;
                // The profile was just read with the new access token.
                c.last_verified_at = Some(now);
                c.last_error = None;
                c.scopes_granted = requested.clone();
                describe(c, &tokens, &settings);
                c.scopes_requested = requested;
                c.updated_at = now;
                let c = c.clone();
                Ok(view(d, &c))
            })
            .await;
        match saved {
            Ok(v) => Ok((v, superseded)),
            Err(e) => {
                // Keep the keychain consistent with the list: a new entry nobody lists is removed.
                if existing.is_none() {
                    let key = connection_key(&id);
                    let _ = self.vault(move |v| v.delete(&key)).await;
                }
                Err(e)
            }
        }
    }
}

fn app_view(data: &Data, a: &ProviderApp) -> AppView {
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
