//! Refreshing a connection's tokens (RFC 6749 §6), single-flight within the process (an async
//! mutex per connection) and across processes (an advisory file lock per connection, so the
//! app, the agent and the command line never send two refreshes of one connection).
//!
//! The rules (README, "Background refresh"):
//! - The keychain is the source of truth for tokens and their expiry; the metadata is a cache
//!   of it, repaired whenever the keychain holds a newer generation (after a crash or a failed
//!   write between the two).
//! - The newest refresh token goes to the keychain before anything else happens with it. If the
//!   keychain refuses it (locked), the new set is kept in memory under the connection's lock,
//!   served from there, and saved as soon as the keychain takes it; the replaced refresh token
//!   is never sent again.
//! - Lock waits are bounded: a connection whose lock cannot be had is "busy", retried later.
//! - `invalid_grant` is final only after re-reading the keychain under the lock;
//!   `invalid_client` marks the provider app, not its connections.

mod lock;
mod plan;
mod saving;
mod verify;
mod worker;

pub use lock::LOCK_WAIT;
pub(crate) use lock::forget_lock;
pub(crate) use plan::describe;
pub use plan::{Backoff, Plan, Track, UNKNOWN_LIFETIME_CHECK_SECS, next_backoff, next_refresh, plan, refresh_at};
pub(crate) use saving::{Deferred, PendingMap};
pub use worker::{CONCURRENCY, run};

use std::collections::HashMap;
use std::sync::Arc;

use secrecy::SecretString;

use crate::error::{Error, Result};
use crate::store::{Connection, Data, RefreshLogEntry, Status};
use crate::token::TokenSet;
use crate::token_endpoint::{self, Client};
use crate::vault::connection_key;
use crate::{ConnectionView, Event, Latchkey};
use plan::needs_refresh;
use verify::Verify;
/// What the refreshes of one pass of the worker share: the metadata as the pass planned it
/// (read once, not once per connection) and each provider app's client secret (read from the
/// keychain once per pass). Their outcomes are written together (see `saving::Deferred`).
/// The snapshot is only a cache: under each connection's lock the keychain is the truth.
pub(crate) struct Pass {
    data: Arc<Data>,
    secrets: tokio::sync::Mutex<HashMap<String, Option<SecretString>>>,
}

impl Pass {
    pub(crate) fn new(data: Data) -> Self {
        Self { data: Arc::new(data), secrets: tokio::sync::Mutex::default() }
    }

    async fn secret(&self, lk: &Latchkey, app_id: &str) -> Result<Option<SecretString>> {
        let mut secrets = self.secrets.lock().await;
        if let Some(s) = secrets.get(app_id) {
            return Ok(s.clone());
        }
        let s = lk.client_secret(app_id).await?;
        secrets.insert(app_id.to_owned(), s.clone());
        Ok(s)
    }
}

/// Why a refresh is asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Want {
    /// The caller needs a token valid for this many seconds; `seen` is the generation it read.
    Valid { min_valid: i64, seen: u64 },
    /// The schedule says so; `seen` is the generation the metadata described.
    Scheduled { seen: u64 },
    /// Refresh now ("Refresh now", a 401), unless someone else did since `seen`.
    Now { seen: Option<u64> },
}

impl Want {
    pub(crate) fn seen(self) -> Option<u64> {
        match self {
            Self::Valid { seen, .. } | Self::Scheduled { seen } => Some(seen),
            Self::Now { seen } => seen,
        }
    }
}

impl Latchkey {
    /// The connection's current tokens: a set waiting to be saved, else the keychain's.
    pub(crate) async fn stored_tokens(&self, connection_id: &str) -> Result<TokenSet> {
        if let Some(p) = self.inner.pending.lock().expect("pending").get(connection_id) {
            return Ok(p.tokens.clone());
        }
        self.keychain_tokens(connection_id).await
    }

    pub(crate) async fn keychain_tokens(&self, connection_id: &str) -> Result<TokenSet> {
        let key = connection_key(connection_id);
        let secret = self.vault(move |v| v.get(&key)).await?;
        let secret = secret.ok_or_else(|| Error::NeedsReconnect {
            reason: "its tokens are missing from the keychain; reconnect to sign in again".into(),
        })?;
        TokenSet::from_vault_string(&secret)
    }

    /// A valid access token for scripts and API calls: refreshed first when it expires within
    /// `min_valid_secs`, or when the scheduled refresh comes within them (a provider that
    /// rotates may delete the previous access token at once). Concurrent callers share one
    /// refresh.
    ///
    /// # Errors
    /// [`Error::NeedsReconnect`] for a dead connection, [`Error::InvalidInput`] for one being
    /// revoked (it hands out no tokens), keychain, network and provider errors of the refresh.
    pub async fn access_token(&self, connection_id: &str, min_valid_secs: i64) -> Result<SecretString> {
        let data = self.load()?;
        let c = data.connection(connection_id)?.clone();
        match c.status {
            Status::NeedsReconnect => {
                return Err(Error::NeedsReconnect { reason: c.last_error.unwrap_or_else(|| "sign in again".into()) });
            }
            Status::RevocationPending => {
                return Err(Error::InvalidInput(
                    "this connection is being revoked; it hands out no tokens (remove it, or retry the revocation)"
                        .into(),
                ));
            }
            Status::WaitingToSave if !self.inner.pending.lock().expect("pending").contains_key(connection_id) => {
                return Err(Error::Keychain(
                    "another Latchkey process holds this connection's newest tokens until the keychain is unlocked; unlock it and try again".into(),
                ));
            }
            _ => {}
        }
        let tokens = self.stored_tokens(connection_id).await?;
        if !needs_refresh(&tokens, self.now(), min_valid_secs, &data.settings) {
            return Ok(tokens.access_token);
        }
        // What the caller saw when it asked: the metadata row read first (it trails the
        // keychain), so a refresh that lands while this caller reads the keychain counts as
        // "refreshed meanwhile" and is shared, not repeated.
        let want = Want::Valid { min_valid: min_valid_secs, seen: tokens.generation.min(c.token_generation) };
        Ok(self.refresh_tokens(connection_id, want).await?.access_token)
    }

    /// Refresh now (the "Refresh now" button, `latchkey-cli refresh`).
    ///
    /// # Errors
    /// As [`Latchkey::access_token`].
    pub async fn refresh(&self, connection_id: &str) -> Result<ConnectionView> {
        self.refresh_tokens(connection_id, Want::Now { seen: None }).await?;
        let data = self.load()?;
        Ok(self.view(&data, data.connection(connection_id)?))
    }

    /// Refreshes, unless — once the lock is held — the stored set turns out newer than the one
    /// the caller saw (another caller or process refreshed meanwhile) or fresh enough.
    pub(crate) async fn refresh_tokens(&self, connection_id: &str, want: Want) -> Result<TokenSet> {
        self.refresh_in(connection_id, want, None).await
    }

    /// As [`Latchkey::refresh_tokens`]; within a worker `pass`, the metadata and client secret
    /// come from the pass and the outcome is written with the pass's others.
    pub(crate) async fn refresh_in(&self, connection_id: &str, want: Want, pass: Option<&Pass>) -> Result<TokenSet> {
        let defer = pass.is_some();
        let mut guard = match self.flight(connection_id).await {
            Err(e @ Error::Busy(_)) => {
                // Said where the person looks: the row says why it is not being refreshed.
                self.record_failure(connection_id, &e, false, defer).await?;
                return Err(e);
            }
            other => other?,
        };
        let current = self.stored_tokens(connection_id).await?;
        let data = match pass {
            Some(p) => p.data.clone(),
            None => Arc::new(self.load()?),
        };
        let conn = data.connection(connection_id)?.clone();
        let newer = want.seen().is_some_and(|seen| current.generation > seen);
        let fresh_enough = match want {
            Want::Valid { min_valid, .. } => !needs_refresh(&current, self.now(), min_valid, &data.settings),
            _ => false,
        };
        if newer || fresh_enough || current.generation > conn.token_generation {
            // The metadata lags the keychain (a crash or a failed write between the two):
            // repair it; if the caller's reason to refresh is gone, nothing goes out.
            self.repair_from(connection_id, &current).await?;
            if newer || fresh_enough {
                return Ok(current);
            }
        }
        match conn.status {
            Status::RevocationPending => {
                return Err(Error::InvalidInput("this connection is being revoked; it is not refreshed".into()));
            }
            Status::NeedsReconnect => {
                return Err(Error::NeedsReconnect {
                    reason: conn.last_error.unwrap_or_else(|| "sign in again".into()),
                });
            }
            _ => {}
        }
        let app = data.app(&conn.app_id)?.clone();
        if let Some(why) = &app.credentials_rejected {
            return Err(credentials_rejected(&app.name, why));
        }
        let Some(refresh_token) = current.refresh_token.clone() else {
            let reason = "the provider gave no refresh token; reconnect when the access token expires".to_owned();
            return Err(Error::NeedsReconnect { reason });
        };
        let endpoints = app.endpoints()?;
        let secret = match pass {
            Some(p) => p.secret(self, &app.id).await?,
            None => self.client_secret(&app.id).await?,
        };
        let client = Client { id: &app.client_id, secret: secret.as_ref() };
        let now = self.now();
        log::info!("refreshing connection {connection_id} ({})", app.preset.as_str());
        let outcome = {
            let _shown = self.mark_refreshing(connection_id);
            token_endpoint::refresh(&self.inner.http, &endpoints, &client, &refresh_token, now).await
        };
        match outcome {
            Ok(fresh) => {
                let fresh = fresh.merged_after_refresh(&current);
                if let Some(raw) = &fresh.ignored_expires_in {
                    log::warn!(
                        "connection {connection_id}: the provider's expires_in {raw} is unusable; the lifetime is treated as unknown"
                    );
                }
                let check = Verify { endpoints: &endpoints, style: app.preset.preset().profile_style };
                self.store_refreshed(connection_id, &mut guard, &fresh, now, Some(check), defer).await?;
                Ok(fresh)
            }
            Err(Error::OAuth(o)) if o.is_client_rejected() => {
                log::warn!("connection {connection_id}: the provider rejected the app's credentials ({})", o.error);
                let (app_id, why) = (app.id.clone(), o.plain());
                self.update(move |d| {
                    if let Some(a) = d.apps.iter_mut().find(|a| a.id == app_id) {
                        a.credentials_rejected = Some(why);
                    }
                    Ok(())
                })
                .await?;
                let e = credentials_rejected(&app.name, &o.plain());
                self.record_failure(connection_id, &e, false, defer).await?;
                Err(e)
            }
            Err(e) if let Some((reason, what)) = terminal_refresh_error(&e, app.preset.preset()) => {
                // Final only if nobody stored a newer set meanwhile (a process that broke the
                // lock, or a reconnect): re-read the keychain under the lock.
                if let Ok(again) = self.keychain_tokens(connection_id).await
                    && again.generation > current.generation
                {
                    log::info!("connection {connection_id}: {what} for an old set; a newer one is stored");
                    self.repair_from(connection_id, &again).await?;
                    return Ok(again);
                }
                let e = Error::NeedsReconnect { reason };
                log::warn!("connection {connection_id} needs reconnect ({what})");
                self.record_failure(connection_id, &e, true, defer).await?;
                Err(e)
            }
            Err(e) => {
                log::warn!("refresh of connection {connection_id} failed: {}", e.code());
                self.record_failure(connection_id, &e, false, defer).await?;
                Err(e)
            }
        }
    }

    /// Shows the connection as Refreshing (in memory and to the UI) until the guard drops.
    pub(crate) fn mark_refreshing(&self, connection_id: &str) -> impl Drop + use<> {
        struct Shown(Latchkey, String);
        impl Drop for Shown {
            fn drop(&mut self) {
                self.0.inner.refreshing.lock().expect("refreshing").remove(&self.1);
            }
        }
        self.inner.refreshing.lock().expect("refreshing").insert(connection_id.to_owned());
        let _ = self.inner.events.send(Event::ConnectionsChanged);
        Shown(self.clone(), connection_id.to_owned())
    }

    /// Records a failed refresh. Never deletes anything: a dead refresh token makes the
    /// connection Needs reconnect, with the reason.
    pub(crate) async fn record_failure(
        &self,
        connection_id: &str,
        e: &Error,
        terminal: bool,
        defer: bool,
    ) -> Result<()> {
        let id = connection_id.to_owned();
        let message = e.to_string();
        let now = self.now();
        self.write_outcome(
            defer,
            Box::new(move |d: &mut Data| {
                let notify = d.settings.notifications;
                let c = d.connection_mut(&id)?;
                let was = c.status;
                if terminal {
                    c.status = Status::NeedsReconnect;
                } else if c.status != Status::WaitingToSave {
                    c.status = Status::Connected;
                }
                c.last_error = Some(message.clone());
                c.updated_at = now;
                c.log_refresh(RefreshLogEntry { at: now, ok: false, message: Some(message.clone()) });
                let who = who_of(c);
                if !(terminal && was != Status::NeedsReconnect && notify) {
                    return Ok(None);
                }
                Ok(Some(Box::new(move |lk: &Latchkey| {
                    let n = crate::event::Notification::NeedsReconnect { connection_id: id, who, reason: message };
                    lk.emit(Event::Notify(n));
                }) as saving::After))
            }),
        )
        .await
    }
}

/// A connection's account as notifications name it: email, else name, else the account id.
pub(crate) fn who_of(c: &Connection) -> String {
    c.email.clone().or(c.name.clone()).unwrap_or_else(|| c.account_id.clone())
}

/// Whether a refresh's failure means the refresh token is dead for good, with the reason to
/// show and a short tag for the log (never a token): an OAuth error that says so, or a bare
/// HTTP 400 / 401 without a usable OAuth error body (servers that answer a dead refresh token
/// that way would otherwise be retried for ever while the connection claims to be fine).
pub(crate) fn terminal_refresh_error(e: &Error, preset: &crate::provider::Preset) -> Option<(String, String)> {
    match e {
        Error::OAuth(o) if o.is_terminal_for_refresh(preset.terminal_refresh_errors) => {
            Some((o.plain(), o.error.clone()))
        }
        Error::Http { status: status @ (400 | 401), .. } => Some((
            format!("the provider refused the refresh (HTTP {status}, no explanation)"),
            format!("HTTP {status}"),
        )),
        _ => None,
    }
}

pub(crate) fn credentials_rejected(app: &str, why: &str) -> Error {
    Error::CredentialsRejected(format!(
        "{app}: the provider rejected the app's credentials ({why}). Edit the provider app and enter its client secret again; its connections are kept and refresh again once it is fixed."
    ))
}
