//! The views that cross to the window and the command line: a connection (no token) and an
//! error. Built from the metadata; generated into TypeScript (`make types`).

use serde::Serialize;

use crate::clock::Timestamp;
use crate::error::{Error, ErrorCode, ErrorReason};
use crate::provider::PresetId;
use crate::provider::RevokeSupport;
use crate::store::{Connection, Data, ProviderApp, Status};

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
