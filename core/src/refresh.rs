//! Refreshing a connection's tokens (RFC 6749 §6), single-flight within the process (an async
//! mutex per connection) and across processes (an advisory file lock per connection, so the
//! app, the agent and the command line never send two refreshes of one connection).
//!
//! Order of writes: the newest refresh token goes to the keychain before anything else
//! happens with it; then the metadata.

use std::fs::OpenOptions;
use std::sync::Arc;

use secrecy::SecretString;

use crate::error::{Error, Result};
use crate::oauth::{self, Client};
use crate::schedule::refresh_at;
use crate::service::{ConnectionView, Event, Latchkey, view};
use crate::store::{RefreshLogEntry, Status};
use crate::token::TokenSet;
use crate::vault::connection_key;

/// Held while a connection is being refreshed; dropping it releases both locks.
struct FlightGuard {
    _local: tokio::sync::OwnedMutexGuard<()>,
    _file: std::fs::File,
}

impl Latchkey {
    /// The path of a connection's cross-process lock file.
    pub fn lock_path(&self, connection_id: &str) -> std::path::PathBuf {
        self.inner.store.dir().join("locks").join(format!("{connection_id}.lock"))
    }

    /// Takes the connection's refresh lock (in this process and across processes); held
    /// until the returned guard is dropped.
    pub(crate) async fn hold_refresh_lock(&self, connection_id: &str) -> Result<impl Sized + use<>> {
        self.flight(connection_id).await
    }

    async fn flight(&self, connection_id: &str) -> Result<FlightGuard> {
        let local = {
            let mut locks = self.inner.refresh_locks.lock().expect("refresh locks");
            locks.entry(connection_id.to_owned()).or_default().clone()
        };
        let local = local.lock_owned().await;
        let path = self.lock_path(connection_id);
        let file = tokio::task::spawn_blocking(move || -> std::io::Result<std::fs::File> {
            std::fs::create_dir_all(path.parent().expect("locks dir"))?;
            let f = OpenOptions::new().create(true).truncate(false).write(true).open(&path)?;
            // std's advisory lock (flock / LockFileEx), stable since Rust 1.89: blocks while
            // another process refreshes this connection.
            f.lock()?;
            Ok(f)
        })
        .await
        .map_err(|e| Error::Internal(e.to_string()))?
        .map_err(|e| Error::io("cannot take the connection's refresh lock", e))?;
        Ok(FlightGuard { _local: local, _file: file })
    }

    /// The connection's stored tokens.
    pub(crate) async fn stored_tokens(&self, connection_id: &str) -> Result<TokenSet> {
        let key = connection_key(connection_id);
        let secret = self.vault(move |v| v.get(&key)).await?;
        let secret = secret.ok_or_else(|| Error::NeedsReconnect {
            reason: "its tokens are missing from the keychain; reconnect to sign in again".into(),
        })?;
        TokenSet::from_vault_string(&secret)
    }

    /// A valid access token for scripts and API calls: refreshed first when it expires within
    /// `min_valid_secs`. Concurrent callers share one refresh.
    pub async fn access_token(&self, connection_id: &str, min_valid_secs: i64) -> Result<SecretString> {
        let asked_at_ms = crate::token::now_ms();
        let c = self.load()?.connection(connection_id)?.clone();
        if c.status == Status::NeedsReconnect {
            return Err(Error::NeedsReconnect { reason: c.last_error.unwrap_or_else(|| "sign in again".into()) });
        }
        let tokens = self.stored_tokens(connection_id).await?;
        if !needs_refresh(&tokens, self.now(), min_valid_secs) {
            return Ok(tokens.access_token);
        }
        let tokens = self.refresh_tokens_since(connection_id, Some(min_valid_secs), asked_at_ms).await?;
        Ok(tokens.access_token)
    }

    /// Refresh now (the "Refresh now" button, `latchkey-cli refresh`).
    pub async fn refresh(&self, connection_id: &str) -> Result<ConnectionView> {
        self.refresh_tokens(connection_id, None).await?;
        let data = self.load()?;
        Ok(view(&data, data.connection(connection_id)?))
    }

    /// Refreshes unless, once the lock is held, the stored tokens turn out fresh enough
    /// (another caller refreshed meanwhile). `min_valid`: `Some(s)` = only if the token expires
    /// within `s` seconds; `None` = unless someone else refreshed while we waited.
    pub(crate) async fn refresh_tokens(&self, connection_id: &str, min_valid: Option<i64>) -> Result<TokenSet> {
        self.refresh_tokens_since(connection_id, min_valid, crate::token::now_ms()).await
    }

    /// [`Latchkey::refresh_tokens`] for a caller that started asking at `asked_at_ms`: a
    /// refresh that finished after that moment (in any process) is used instead of another.
    async fn refresh_tokens_since(
        &self,
        connection_id: &str,
        min_valid: Option<i64>,
        asked_at_ms: u128,
    ) -> Result<TokenSet> {
        let _guard = self.flight(connection_id).await?;
        let current = self.stored_tokens(connection_id).await?;
        // A refresh that finished after we asked (in this process or another) is ours too.
        let refreshed_meanwhile = current.obtained_at_ms >= asked_at_ms;
        let fresh_enough = min_valid.is_some_and(|s| !needs_refresh(&current, self.now(), s));
        if refreshed_meanwhile || fresh_enough {
            return Ok(current);
        }
        let data = self.load()?;
        let conn = data.connection(connection_id)?.clone();
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
        let Some(refresh_token) = current.refresh_token.clone() else {
            let reason = "the provider gave no refresh token; reconnect when the access token expires".to_owned();
            return Err(Error::NeedsReconnect { reason });
        };
        let app = data.app(&conn.app_id)?.clone();
        let endpoints = app.endpoints()?;
        let secret = self.client_secret(&app.id).await?;
        self.set_status(connection_id, Status::Refreshing).await?;
        let client = Client { id: &app.client_id, secret: secret.as_ref() };
        let now = self.now();
        log::info!("refreshing connection {connection_id} ({})", app.preset.as_str());
        let outcome = oauth::refresh(&self.inner.http, &endpoints, &client, &refresh_token, now).await;
        match outcome {
            Ok(fresh) => {
                let fresh = fresh.merged_after_refresh(&current);
                // The newest refresh token is in the keychain before anything else.
                let key = connection_key(connection_id);
                let stored = fresh.to_vault_string();
                if let Err(e) = self.vault(move |v| v.set(&key, &stored)).await {
                    log::error!("connection {connection_id}: refreshed but could not store the new tokens: {e}");
                    self.record_failure(connection_id, &e, false).await?;
                    return Err(e);
                }
                let (expires_at, issued_at, scope) = (fresh.expires_at, fresh.issued_at, fresh.scope.clone());
                let id = connection_id.to_owned();
                self.update(move |d| {
                    let margin = d.settings.refresh_margin_secs;
                    let c = d.connection_mut(&id)?;
                    c.status = Status::Connected;
                    c.expires_at = expires_at;
                    c.issued_at = Some(issued_at);
                    c.last_refresh_at = Some(now);
                    c.next_refresh_at = refresh_at(issued_at, expires_at, margin);
                    c.last_error = None;
                    if let Some(scope) = scope {
                        c.scopes_granted = scope;
                    }
                    c.updated_at = now;
                    c.log_refresh(RefreshLogEntry { at: now, ok: true, message: None });
                    Ok(())
                })
                .await?;
                self.emit(Event::ConnectionsChanged);
                Ok(fresh)
            }
            Err(Error::OAuth(o)) if o.is_terminal_for_refresh() => {
                let e = Error::NeedsReconnect { reason: o.plain() };
                log::warn!("connection {connection_id} needs reconnect ({})", o.error);
                self.record_failure(connection_id, &e, true).await?;
                Err(e)
            }
            Err(e) => {
                log::warn!("refresh of connection {connection_id} failed: {}", e.code());
                self.record_failure(connection_id, &e, false).await?;
                Err(e)
            }
        }
    }

    /// A process killed mid-refresh leaves its connection marked Refreshing. Marks such
    /// connections Connected again when no process holds their refresh lock (the stored tokens
    /// are whatever was last written: the newest refresh token is always written first).
    pub async fn recover_interrupted_refreshes(&self) -> Result<usize> {
        let stuck: Vec<String> =
            self.load()?.connections.iter().filter(|c| c.status == Status::Refreshing).map(|c| c.id.clone()).collect();
        let mut recovered = 0;
        for id in stuck {
            let path = self.lock_path(&id);
            let free = tokio::task::spawn_blocking(move || {
                let f = OpenOptions::new().create(true).truncate(false).write(true).open(&path).ok()?;
                f.try_lock().ok().map(|()| f)
            })
            .await
            .map_err(|e| Error::Internal(e.to_string()))?;
            if let Some(_held) = free {
                let cid = id.clone();
                self.update(move |d| {
                    let c = d.connection_mut(&cid)?;
                    if c.status == Status::Refreshing {
                        c.status = Status::Connected;
                        c.last_error = Some("A refresh was interrupted; it will be tried again.".into());
                    }
                    Ok(())
                })
                .await?;
                log::info!("connection {id}: recovered from an interrupted refresh");
                recovered += 1;
            }
        }
        if recovered > 0 {
            self.emit(Event::ConnectionsChanged);
        }
        Ok(recovered)
    }

    async fn set_status(&self, connection_id: &str, status: Status) -> Result<()> {
        let id = connection_id.to_owned();
        self.update(move |d| {
            d.connection_mut(&id)?.status = status;
            Ok(())
        })
        .await?;
        self.emit(Event::ConnectionsChanged);
        Ok(())
    }

    /// Records a failed refresh. Never deletes anything: a dead refresh token makes the
    /// connection Needs reconnect, with the reason.
    async fn record_failure(&self, connection_id: &str, e: &Error, terminal: bool) -> Result<()> {
        let id = connection_id.to_owned();
        let message = e.to_string();
        let now = self.now();
        let newly_dead = self
            .update(move |d| {
                let notify = d.settings.notifications;
                let c = d.connection_mut(&id)?;
                let was = c.status;
                c.status = if terminal { Status::NeedsReconnect } else { Status::Connected };
                c.last_error = Some(message.clone());
                c.updated_at = now;
                c.log_refresh(RefreshLogEntry { at: now, ok: false, message: Some(message) });
                let who = c.email.clone().or(c.name.clone()).unwrap_or_else(|| c.account_id.clone());
                Ok((terminal && was != Status::NeedsReconnect && notify).then_some(who))
            })
            .await?;
        if let Some(who) = newly_dead {
            crate::desktop::notify_needs_reconnect(connection_id, &who, &e.to_string());
        }
        self.emit(Event::ConnectionsChanged);
        Ok(())
    }
}

fn needs_refresh(t: &TokenSet, now: crate::Timestamp, min_valid_secs: i64) -> bool {
    match t.remaining(now) {
        Some(left) => left <= min_valid_secs,
        None => false,
    }
}

/// Keeps the lock map from growing without bound.
pub(crate) fn forget_lock(lk: &Latchkey, connection_id: &str) {
    let mut locks = lk.inner.refresh_locks.lock().expect("refresh locks");
    if locks.get(connection_id).is_some_and(|l| Arc::strong_count(l) == 1) {
        locks.remove(connection_id);
    }
}
