//! What the metadata file holds: provider apps, connections (with their status and refresh
//! log), settings.

use serde::{Deserialize, Serialize};

use super::FORMAT;
use crate::clock::Timestamp;
use crate::error::{Error, Result};
use crate::provider::ProviderApp;

/// How many refresh outcomes a connection remembers.
pub const REFRESH_LOG_LEN: usize = 20;

/// What a connection is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Tokens are good (or will be refreshed in time).
    Connected,
    /// A refresh is running (shown from memory; files written before 0.2 may hold it).
    Refreshing,
    /// The provider issued new tokens but the keychain refused them (locked, unavailable): the
    /// process that refreshed holds them in memory, serves them, and saves them as soon as the
    /// keychain takes them.
    WaitingToSave,
    /// The refresh token is dead; the person must reconnect.
    NeedsReconnect,
    /// Revoke could not reach the provider; retried, kept out of refresh.
    RevocationPending,
}

/// One refresh attempt's outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub struct RefreshLogEntry {
    /// When.
    pub at: Timestamp,
    /// Whether it worked.
    pub ok: bool,
    /// What went wrong, in plain words.
    pub message: Option<String>,
}

/// A connected account (its tokens live in the keychain).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Connection {
    /// Stable id.
    pub id: String,
    /// The provider app it belongs to.
    pub app_id: String,
    /// The account id from the profile endpoint: identity = (app_id, account_id).
    pub account_id: String,
    /// Account name.
    pub name: Option<String>,
    /// Account email.
    pub email: Option<String>,
    /// A label the person set.
    #[serde(default)]
    pub label: Option<String>,
    /// What the connection is doing (a refresh running is shown from memory, not stored).
    pub status: Status,
    /// When the access token expires.
    pub expires_at: Option<Timestamp>,
    /// When the access token was issued.
    #[serde(default)]
    pub issued_at: Option<Timestamp>,
    /// Last successful refresh.
    pub last_refresh_at: Option<Timestamp>,
    /// When the provider last accepted the access token (the profile call at connect and after
    /// every refresh; the latter also completes lazy rotations, Doorkeeper's default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_verified_at: Option<Timestamp>,
    /// When the next refresh is due.
    pub next_refresh_at: Option<Timestamp>,
    /// The last error, in plain words.
    pub last_error: Option<String>,
    /// Scopes the provider granted.
    pub scopes_granted: Vec<String>,
    /// Scopes that were requested.
    pub scopes_requested: Vec<String>,
    /// When it was first connected.
    pub created_at: Timestamp,
    /// When the row last changed.
    pub updated_at: Timestamp,
    /// Recent refresh outcomes, newest last.
    #[serde(default)]
    pub refresh_log: Vec<RefreshLogEntry>,
    /// The generation of the token set this metadata describes (a cache of the keychain's:
    /// when the keychain holds a newer one, this row is repaired from it).
    #[serde(default)]
    pub token_generation: u64,
}

impl Connection {
    /// A new connection of `app_id` to `account_id`, before its tokens are known.
    pub fn new(id: &str, app_id: &str, account_id: &str, now: Timestamp) -> Self {
        Self {
            id: id.to_owned(),
            app_id: app_id.to_owned(),
            account_id: account_id.to_owned(),
            name: None,
            email: None,
            label: None,
            status: Status::Connected,
            expires_at: None,
            issued_at: None,
            last_refresh_at: None,
            last_verified_at: None,
            next_refresh_at: None,
            last_error: None,
            scopes_granted: vec![],
            scopes_requested: vec![],
            created_at: now,
            updated_at: now,
            refresh_log: vec![],
            token_generation: 0,
        }
    }

    /// The last refresh attempt, successful or not.
    pub fn last_attempt_at(&self) -> Option<Timestamp> {
        self.refresh_log.last().map(|e| e.at)
    }

    /// Appends a refresh outcome, keeping the log bounded.
    pub fn log_refresh(&mut self, entry: RefreshLogEntry) {
        self.refresh_log.push(entry);
        let excess = self.refresh_log.len().saturating_sub(REFRESH_LOG_LEN);
        self.refresh_log.drain(..excess);
    }
}

/// Settings the person can change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "camelCase", default)]
pub struct Settings {
    /// Refresh this long before expiry at least (the margin is the larger of this and 10 %
    /// of the token's lifetime).
    pub refresh_margin_secs: u64,
    /// Desktop notifications (Needs reconnect).
    pub notifications: bool,
    /// Start the background agent at login.
    pub autostart_agent: bool,
    /// Refresh every connection at least this often (days), even when its access token lives
    /// longer: some providers expire refresh tokens that sit unused.
    pub refresh_at_least_every_days: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Self { refresh_margin_secs: 60, notifications: true, autostart_agent: true, refresh_at_least_every_days: 7 }
    }
}

/// Everything in the metadata file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Data {
    /// The version of this file's format.
    pub format: u32,
    /// The provider apps people registered.
    #[serde(default)]
    pub apps: Vec<ProviderApp>,
    /// The connected accounts.
    #[serde(default)]
    pub connections: Vec<Connection>,
    /// What the person chose in Settings.
    #[serde(default)]
    pub settings: Settings,
}

impl Default for Data {
    fn default() -> Self {
        Self { format: FORMAT, apps: vec![], connections: vec![], settings: Settings::default() }
    }
}

impl Data {
    /// A provider app by id.
    ///
    /// # Errors
    /// [`Error::NotFound`] when there is no such provider app.
    pub fn app(&self, id: &str) -> Result<&ProviderApp> {
        self.apps.iter().find(|a| a.id == id).ok_or_else(|| Error::NotFound(format!("no provider app {id:?}")))
    }

    /// A connection by id.
    ///
    /// # Errors
    /// [`Error::NotFound`] when there is no such connection.
    pub fn connection(&self, id: &str) -> Result<&Connection> {
        self.connections.iter().find(|c| c.id == id).ok_or_else(|| Error::NotFound(format!("no connection {id:?}")))
    }

    /// A connection by id, mutable.
    ///
    /// # Errors
    /// [`Error::NotFound`] when there is no such connection.
    pub fn connection_mut(&mut self, id: &str) -> Result<&mut Connection> {
        self.connections.iter_mut().find(|c| c.id == id).ok_or_else(|| Error::NotFound(format!("no connection {id:?}")))
    }
}
