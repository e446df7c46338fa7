//! The connections: the list, what each was granted (profile, scopes, mementos, app
//! grants), revoking, naming, and the settings.

use std::collections::BTreeMap;
use std::future::Future;

use secrecy::SecretString;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::provider::Extras;
use crate::provider::Revocation;
use crate::refresh::{Want, forget_lock};
use crate::resources::{self, Grant, Memento, Profile};
use crate::store::{RefreshLogEntry, Settings, Status};
use crate::token_endpoint::{self, Client, Revoked};
use crate::vault::connection_key;
use crate::views::view;
use crate::{ConnectionView, ErrorView, Event, Latchkey};

/// The connection detail view.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub struct Detail {
    /// The connection.
    pub connection: ConnectionView,
    /// The account profile, fetched now.
    pub profile: Option<Profile>,
    /// Why the profile could not be fetched.
    pub profile_error: Option<ErrorView>,
    /// Rememberizer mementos.
    pub mementos: Option<Vec<Memento>>,
    /// Fusio app grants.
    pub grants: Option<Vec<Grant>>,
    /// Why mementos / grants could not be fetched.
    pub extras_error: Option<ErrorView>,
    /// The provider's page for connected apps.
    pub manage_url: Option<String>,
    /// Recent refreshes.
    pub refresh_log: Vec<RefreshLogEntry>,
    /// Plain-language labels of the scopes the preset knows.
    pub scope_labels: BTreeMap<String, String>,
}

/// What a revoke achieved, in words the UI shows as they are.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub struct RevokeOutcome {
    /// The provider confirmed the revocation.
    pub revoked_at_provider: bool,
    /// The provider could not be reached: the connection is kept as "revocation pending".
    pub pending: bool,
    /// Plain words.
    pub message: String,
    /// Where the person can finish at the provider.
    pub manage_url: Option<String>,
}

impl Latchkey {
    /// The connections.
    ///
    /// # Errors
    /// The data file cannot be read.
    pub fn list_connections(&self) -> Result<Vec<ConnectionView>> {
        let data = self.load()?;
        Ok(data.connections.iter().map(|c| self.view(&data, c)).collect())
    }

    /// Runs `f` with a valid access token; on HTTP 401 refreshes once and retries.
    async fn with_token<T, F, Fut>(&self, connection_id: &str, f: F) -> Result<T>
    where
        F: Fn(SecretString) -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        // Any unexpired token will do: a 401 refreshes once. (Asking for more validity would
        // refresh short-lived tokens on every view.)
        let token = self.access_token(connection_id, 5).await?;
        let seen = self.stored_tokens(connection_id).await.map(|t| t.generation).ok();
        match f(token).await {
            Err(Error::Http { status: 401, .. }) => {
                // One refresh, unless a concurrent caller has made one since this token.
                let fresh = self.refresh_tokens(connection_id, Want::Now { seen }).await?;
                f(fresh.access_token).await
            }
            other => other,
        }
    }

    /// The connection detail: profile, scopes, and the preset's grant lists, fetched now.
    ///
    /// # Errors
    /// No such connection; the data file or the keychain cannot be read (the profile's and extras' own failures are in the detail, not errors).
    pub async fn connection_detail(&self, connection_id: &str) -> Result<Detail> {
        let data = self.load()?;
        let conn = data.connection(connection_id)?.clone();
        let app = data.app(&conn.app_id)?.clone();
        let endpoints = app.endpoints()?;
        let preset = app.preset.preset();
        let http = self.inner.http.clone();
        let profile = self
            .with_token(connection_id, |t| {
                let (http, e) = (http.clone(), endpoints.clone());
                async move { resources::fetch_profile(&http, &e, preset.profile_style, &t).await }
            })
            .await;
        let (mementos, grants, extras_error) = match preset.extras {
            Extras::Mementos => match self
                .with_token(connection_id, |t| {
                    let (http, e) = (http.clone(), endpoints.clone());
                    async move { resources::mementos(&http, &e, &t).await }
                })
                .await
            {
                Ok(m) => (Some(m), None, None),
                Err(e) => (None, None, Some(ErrorView::from(&e))),
            },
            Extras::Grants => match self
                .with_token(connection_id, |t| {
                    let (http, e) = (http.clone(), endpoints.clone());
                    async move { resources::grants(&http, &e, &t).await }
                })
                .await
            {
                Ok(g) => (None, Some(g), None),
                Err(e) => (None, None, Some(ErrorView::from(&e))),
            },
            Extras::None => (None, None, None),
        };
        let data = self.load()?;
        let conn = data.connection(connection_id)?;
        let manage_url = match &endpoints.revocation {
            Revocation::None(page) | Revocation::Try { page, .. } => page.as_ref().map(|u| u.to_string()),
            _ => app.manage_page().map(|u| u.to_string()),
        };
        let scope_labels = conn
            .scopes_granted
            .iter()
            .chain(&conn.scopes_requested)
            .filter_map(|s| preset.scope_label(s).map(|l| (s.clone(), l.to_owned())))
            .collect();
        let (profile, profile_error) = match profile {
            Ok(p) => (Some(p), None),
            Err(e) => (None, Some(ErrorView::from(&e))),
        };
        Ok(Detail {
            connection: self.view(&data, conn),
            profile,
            profile_error,
            mementos,
            grants,
            extras_error,
            manage_url,
            refresh_log: conn.refresh_log.clone(),
            scope_labels,
        })
    }

    /// Fusio: revokes one app grant of the account at the provider.
    ///
    /// # Errors
    /// No such connection; a provider app without grants; the provider's refusal or a network error.
    pub async fn revoke_grant(&self, connection_id: &str, grant_id: &str) -> Result<()> {
        let data = self.load()?;
        let app = data.app(&data.connection(connection_id)?.app_id)?.clone();
        if app.preset.preset().extras != Extras::Grants {
            return Err(Error::InvalidInput(format!("{} has no app grants to revoke", app.name)));
        }
        let endpoints = app.endpoints()?;
        let http = self.inner.http.clone();
        self.with_token(connection_id, |t| {
            let (http, e) = (http.clone(), endpoints.clone());
            async move { resources::revoke_grant(&http, &e, &t, grant_id).await }
        })
        .await
    }

    /// Revokes a connection: at the provider where it can be (RFC 7009, or Fusio's revoke),
    /// then the keychain entry and the metadata row. If the provider cannot be reached the
    /// connection is kept as "revocation pending" (out of refresh) and nothing is removed.
    /// `local_only` removes it here without contacting the provider.
    ///
    /// # Errors
    /// No such connection; the provider refusing the revocation (not a network failure, which leaves it pending); the keychain or the data file failing.
    pub async fn revoke_connection(&self, connection_id: &str, local_only: bool) -> Result<RevokeOutcome> {
        let data = self.load()?;
        let conn = data.connection(connection_id)?.clone();
        let app = data.app(&conn.app_id).ok().cloned();
        let provider = app.as_ref().map(|a| a.name.clone()).unwrap_or_else(|| "the provider".into());
        let manage = app.as_ref().and_then(|a| a.manage_page()).map(|u| u.to_string());
        if local_only || app.is_none() {
            self.remove_connection(connection_id).await?;
            return Ok(RevokeOutcome {
                revoked_at_provider: false,
                pending: false,
                message: format!(
                    "Removed from Latchkey only. {provider} was not asked to revoke access; it may still list Latchkey as connected."
                ),
                manage_url: manage,
            });
        }
        let app = app.expect("checked above");
        let endpoints = app.endpoints()?;
        // Hold the refresh lock: no refresh may rotate the tokens while they are revoked.
        let guard = self.hold_refresh_lock(connection_id).await?;
        let tokens = match self.stored_tokens(connection_id).await {
            Ok(t) => Some(t),
            Err(Error::NeedsReconnect { .. }) => None,
            Err(e) => return Err(e),
        };
        let result = match &tokens {
            Some(t) => {
                let secret = self.client_secret(&app.id).await?;
                let client = Client { id: &app.client_id, secret: secret.as_ref() };
                token_endpoint::revoke(&self.inner.http, &endpoints, &client, t).await
            }
            None => Ok(Revoked::NotSupported(None)),
        };
        drop(guard);
        match result {
            Ok(Revoked::AtProvider) => {
                self.remove_connection(connection_id).await?;
                log::info!("connection {connection_id} revoked at the provider and removed");
                Ok(RevokeOutcome {
                    revoked_at_provider: true,
                    pending: false,
                    message: format!("{provider} revoked Latchkey's access, and the connection was removed."),
                    manage_url: None,
                })
            }
            Ok(r @ (Revoked::NotSupported(_) | Revoked::NotOffered(_))) => {
                self.remove_connection(connection_id).await?;
                let (page, why) = match r {
                    Revoked::NotOffered(page) => (
                        page,
                        format!(
                            "This {provider} server does not offer revocation (its usual revocation address answered “not found”)"
                        ),
                    ),
                    Revoked::NotSupported(page) => (page, format!("{provider} offers apps no way to revoke access")),
                    Revoked::AtProvider => unreachable!("matched above"),
                };
                let page = page.map(|u| u.to_string()).or(manage);
                Ok(RevokeOutcome {
                    revoked_at_provider: false,
                    pending: false,
                    message: format!(
                        "{why}, so Latchkey removed the connection and its tokens here. To withdraw the access at {provider} too, use its page for connected apps."
                    ),
                    manage_url: page,
                })
            }
            Err(e) if e.is_transient() => {
                let id = connection_id.to_owned();
                let message = format!("Could not reach {provider} to revoke access ({e}).");
                let stored = message.clone();
                let now = self.now();
                self.update(move |d| {
                    let c = d.connection_mut(&id)?;
                    c.status = Status::RevocationPending;
                    c.last_error = Some(stored);
                    c.updated_at = now;
                    Ok(())
                })
                .await?;
                self.emit(Event::ConnectionsChanged);
                log::warn!("revocation of connection {connection_id} pending: {}", e.code());
                Ok(RevokeOutcome {
                    revoked_at_provider: false,
                    pending: true,
                    message: format!(
                        "{message} The connection is kept, marked “revocation pending”, and is no longer refreshed; Latchkey will try again. You can retry now, or remove it here only."
                    ),
                    manage_url: manage,
                })
            }
            Err(e) => Err(e),
        }
    }

    /// Removes a connection: keychain entry first (if that fails nothing else changes), then
    /// the metadata row.
    async fn remove_connection(&self, connection_id: &str) -> Result<()> {
        let key = connection_key(connection_id);
        self.vault(move |v| v.delete(&key)).await?;
        let id = connection_id.to_owned();
        self.update(move |d| {
            d.connections.retain(|c| c.id != id);
            Ok(())
        })
        .await?;
        forget_lock(self, connection_id);
        let _ = std::fs::remove_file(self.lock_path(connection_id));
        self.emit(Event::ConnectionsChanged);
        Ok(())
    }

    /// Retries every pending revocation; returns how many are still pending.
    ///
    /// # Errors
    /// The data file cannot be read or written.
    pub async fn retry_pending_revocations(&self) -> Result<usize> {
        let pending: Vec<String> = self
            .load()?
            .connections
            .iter()
            .filter(|c| c.status == Status::RevocationPending)
            .map(|c| c.id.clone())
            .collect();
        let mut still = 0;
        for id in pending {
            match self.revoke_connection(&id, false).await {
                Ok(o) if o.pending => still += 1,
                Ok(_) => {}
                Err(e) => {
                    log::warn!("retrying the revocation of {id} failed: {}", e.code());
                    still += 1;
                }
            }
        }
        Ok(still)
    }

    /// Names a connection (for `latchkey-cli token LABEL` and the list); empty clears it.
    ///
    /// # Errors
    /// No such connection; the data file cannot be written.
    pub async fn set_label(&self, connection_id: &str, label: &str) -> Result<ConnectionView> {
        let label = label.trim().to_owned();
        if label.len() > 100 || label.chars().any(char::is_control) {
            return Err(Error::InvalidInput("a label is up to 100 printable characters".into()));
        }
        let id = connection_id.to_owned();
        let v = self
            .update(move |d| {
                let taken = d.connections.iter().any(|c| c.id != id && c.label.as_deref() == Some(label.as_str()));
                if taken && !label.is_empty() {
                    return Err(Error::InvalidInput(format!("another connection is labelled {label:?}")));
                }
                d.connection_mut(&id)?.label = (!label.is_empty()).then_some(label);
                Ok(view(d, d.connection(&id)?))
            })
            .await?;
        self.emit(Event::ConnectionsChanged);
        Ok(v)
    }

    /// The settings.
    ///
    /// # Errors
    /// The data file cannot be read (damaged: [`Error::DamagedData`]).
    pub fn settings(&self) -> Result<Settings> {
        Ok(self.load()?.settings)
    }

    /// Saves the settings (refresh margin 60 s … 1 day).
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for a value out of range; the data file cannot be written.
    pub async fn save_settings(&self, settings: Settings) -> Result<Settings> {
        if !(60..=86_400).contains(&settings.refresh_margin_secs) {
            return Err(Error::InvalidInput("Refresh margin: between 60 seconds and one day".into()));
        }
        if !(1..=90).contains(&settings.refresh_at_least_every_days) {
            return Err(Error::InvalidInput("Refresh at least every: between 1 and 90 days".into()));
        }
        let s = settings.clone();
        self.update(move |d| {
            d.settings = s;
            let (margin, days) = (d.settings.refresh_margin_secs, d.settings.refresh_at_least_every_days);
            for c in &mut d.connections {
                if let Some(issued) = c.issued_at {
                    c.next_refresh_at = Some(crate::refresh::next_refresh(issued, c.expires_at, margin, days));
                }
            }
            Ok(())
        })
        .await?;
        self.emit(Event::ConnectionsChanged);
        Ok(settings)
    }
}
