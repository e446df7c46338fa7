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

use std::collections::HashMap;
use std::fs::{File, OpenOptions, TryLockError};
use std::sync::Arc;
use std::time::Duration;

use secrecy::SecretString;

use crate::error::{Error, Result};
use crate::oauth::{self, Client};
use crate::schedule::next_refresh;
use crate::service::{ConnectionView, Event, Latchkey};
use crate::store::{Connection, RefreshLogEntry, Settings, Status};
use crate::token::TokenSet;
use crate::vault::connection_key;

/// How long a caller waits for another process's hold on a connection's lock before giving
/// up with "busy".
pub const LOCK_WAIT: Duration = Duration::from_secs(10);
/// How long a caller waits for its own process's callers ahead of it (they are doing real
/// work, each bounded by the HTTP timeout and [`LOCK_WAIT`]).
const LOCAL_WAIT: Duration = Duration::from_secs(90);
/// What the waiting state says.
pub(crate) const WAITING_TO_SAVE: &str =
    "The keychain is locked: the refreshed tokens are kept in memory and saved as soon as it is unlocked.";

/// Held while a connection is being refreshed; dropping it releases both locks. `file` is
/// `None` when this process already holds the file lock for a set waiting to be saved.
pub(crate) struct FlightGuard {
    _local: tokio::sync::OwnedMutexGuard<()>,
    file: Option<File>,
}

/// A refreshed token set the keychain has not taken yet, and the connection's file lock, held
/// until it is saved so no other process refreshes with the replaced refresh token.
pub(crate) struct Pending {
    pub(crate) tokens: TokenSet,
    _file: Option<File>,
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
    fn seen(self) -> Option<u64> {
        match self {
            Self::Valid { seen, .. } | Self::Scheduled { seen } => Some(seen),
            Self::Now { seen } => seen,
        }
    }
}

/// Copies what the metadata caches of a token set into its row.
pub(crate) fn describe(c: &mut Connection, t: &TokenSet, s: &Settings) {
    c.expires_at = t.expires_at;
    c.issued_at = Some(t.issued_at);
    c.next_refresh_at =
        Some(next_refresh(t.issued_at, t.expires_at, s.refresh_margin_secs, s.refresh_at_least_every_days));
    c.token_generation = t.generation;
    if let Some(scope) = &t.scope {
        c.scopes_granted = scope.clone();
    }
}

/// Whether a token must be refreshed before it is handed to someone who needs it valid for
/// `min_valid` seconds: it expires by then, or the scheduled refresh comes by then (providers
/// that rotate may delete the previous access token at once) — the latter only when a fresh set
/// would last longer than that before its own scheduled refresh (otherwise refreshing would not
/// help, and every caller would refresh again).
fn needs_refresh(t: &TokenSet, now: crate::Timestamp, min_valid: i64, s: &Settings) -> bool {
    let (margin, days) = (s.refresh_margin_secs, s.refresh_at_least_every_days);
    let expiring = t.remaining(now).is_some_and(|left| left <= min_valid);
    let scheduled = next_refresh(t.issued_at, t.expires_at, margin, days);
    let lifetime = t.expires_at.map(|e| e - t.issued_at);
    let fresh_would_last = next_refresh(now, lifetime.map(|l| now + l), margin, days) - now;
    expiring || (scheduled - now <= min_valid && fresh_would_last > min_valid)
}

impl Latchkey {
    /// The path of a connection's cross-process lock file.
    pub fn lock_path(&self, connection_id: &str) -> std::path::PathBuf {
        self.inner.store.dir().join("locks").join(format!("{connection_id}.lock"))
    }

    /// Takes the connection's refresh lock (in this process and across processes), waiting at
    /// most [`LOCK_WAIT`]; held until the returned guard is dropped.
    pub(crate) async fn hold_refresh_lock(&self, connection_id: &str) -> Result<impl Sized + use<>> {
        self.flight(connection_id).await
    }

    async fn flight(&self, connection_id: &str) -> Result<FlightGuard> {
        let local = {
            let mut locks = self.inner.refresh_locks.lock().expect("refresh locks");
            locks.entry(connection_id.to_owned()).or_default().clone()
        };
        let local = tokio::time::timeout(LOCAL_WAIT, local.lock_owned()).await.map_err(|_| busy())?;
        let deadline = tokio::time::Instant::now() + self.lock_wait();
        if self.inner.pending.lock().expect("pending").contains_key(connection_id) {
            return Ok(FlightGuard { _local: local, file: None });
        }
        let path = self.lock_path(connection_id);
        let file = tokio::task::spawn_blocking(move || -> std::io::Result<File> {
            std::fs::create_dir_all(path.parent().expect("locks dir"))?;
            OpenOptions::new().create(true).truncate(false).write(true).open(&path)
        })
        .await
        .map_err(|e| Error::Internal(e.to_string()))?
        .map_err(|e| Error::io("cannot open the connection's refresh lock", e))?;
        // std's advisory lock (flock / LockFileEx), stable since Rust 1.89. Polled rather than
        // blocking so the wait is bounded: a process stopped while holding it (Ctrl-Z, a
        // keychain prompt) must not stall this one.
        let mut pause = Duration::from_millis(20);
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(FlightGuard { _local: local, file: Some(file) }),
                Err(TryLockError::WouldBlock) => {}
                Err(TryLockError::Error(e)) => return Err(Error::io("cannot take the connection's refresh lock", e)),
            }
            if tokio::time::Instant::now() + pause > deadline {
                return Err(busy());
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(250));
        }
    }

    /// The connection's current tokens: a set waiting to be saved, else the keychain's.
    pub(crate) async fn stored_tokens(&self, connection_id: &str) -> Result<TokenSet> {
        if let Some(p) = self.inner.pending.lock().expect("pending").get(connection_id) {
            return Ok(p.tokens.clone());
        }
        self.keychain_tokens(connection_id).await
    }

    async fn keychain_tokens(&self, connection_id: &str) -> Result<TokenSet> {
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
        let mut guard = match self.flight(connection_id).await {
            Err(e @ Error::Busy(_)) => {
                // Said where the person looks: the row says why it is not being refreshed.
                self.record_failure(connection_id, &e, false).await?;
                return Err(e);
            }
            other => other?,
        };
        let current = self.stored_tokens(connection_id).await?;
        let data = self.load()?;
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
        let secret = self.client_secret(&app.id).await?;
        let client = Client { id: &app.client_id, secret: secret.as_ref() };
        let now = self.now();
        log::info!("refreshing connection {connection_id} ({})", app.preset.as_str());
        let outcome = {
            let _shown = self.mark_refreshing(connection_id);
            oauth::refresh(&self.inner.http, &endpoints, &client, &refresh_token, now).await
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
                self.store_refreshed(connection_id, &mut guard, &fresh, now, Some(check)).await?;
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
                self.record_failure(connection_id, &e, false).await?;
                Err(e)
            }
            Err(e) if let Some((reason, what)) = terminal_refresh_error(&e) => {
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

    /// Stores a refreshed set: keychain first; if the keychain refuses, the set is kept in
    /// memory (with the file lock) and saved in the background. Then the metadata.
    async fn store_refreshed(
        &self,
        connection_id: &str,
        guard: &mut FlightGuard,
        fresh: &TokenSet,
        now: crate::Timestamp,
        check: Option<Verify<'_>>,
    ) -> Result<()> {
        let key = connection_key(connection_id);
        let stored = fresh.to_vault_string();
        let saved = self.vault(move |v| v.set(&key, &stored)).await;
        let waiting = match &saved {
            Ok(()) => {
                // A set that waited is superseded; its file lock goes with it.
                self.inner.pending.lock().expect("pending").remove(connection_id);
                false
            }
            Err(e) => {
                log::error!(
                    "connection {connection_id}: refreshed, but the keychain refused the new tokens ({e}); keeping them in memory"
                );
                let mut pending = self.inner.pending.lock().expect("pending");
                let file = pending.remove(connection_id).and_then(|p| p._file).or_else(|| guard.file.take());
                pending.insert(connection_id.to_owned(), Pending { tokens: fresh.clone(), _file: file });
                true
            }
        };
        // Once the set is safe in the keychain, one call with the new access token: a health
        // check, and it completes lazy rotations (the previous refresh token stays live at
        // Doorkeeper-style servers until the new access token is first used). Never while the
        // set waits in memory only: the previous refresh token is the way back after a crash.
        let verified = match check {
            Some(v) if !waiting => self.verify(connection_id, v, &fresh.access_token).await,
            _ => Verified::Unknown,
        };
        let retry_after = self.min_refresh_interval();
        let id = connection_id.to_owned();
        let t = fresh.clone();
        let recovered = self.update(move |d| {
            let settings = d.settings.clone();
            let c = d.connection_mut(&id)?;
            let was = c.status;
            describe(c, &t, &settings);
            match verified {
                Verified::Yes => c.last_verified_at = Some(now),
                Verified::Rejected => {
                    // Like any 401: the token is not good; refresh again soon.
                    c.next_refresh_at = Some(now + retry_after);
                }
                Verified::Unknown => {}
            }
            c.last_refresh_at = Some(now);
            c.updated_at = now;
            c.log_refresh(RefreshLogEntry { at: now, ok: true, message: None });
            if waiting {
                c.status = Status::WaitingToSave;
                c.last_error = Some(WAITING_TO_SAVE.into());
            } else {
                c.status = Status::Connected;
                c.last_error = (verified == Verified::Rejected).then(|| {
                    "The provider did not accept the refreshed access token (HTTP 401); Latchkey refreshes again shortly."
                        .to_owned()
                });
            }
            let back = !waiting && matches!(was, Status::WaitingToSave | Status::NeedsReconnect);
            Ok(back.then(|| (who_of(c), was, settings.notifications)))
        })
        .await?;
        self.emit(Event::ConnectionsChanged);
        if let Some((who, was, notify)) = recovered {
            self.announce_recovery(connection_id, who, was, notify);
        }
        if waiting {
            self.spawn_saver(connection_id);
        }
        Ok(())
    }

    /// Saves a set waiting in memory as soon as the keychain takes it: the keychain's lock
    /// state is polled (a property read that never raises an unlock prompt) and a write is
    /// tried only when it is unlocked, or, where the lock state cannot be read, with backoff.
    fn spawn_saver(&self, connection_id: &str) {
        if !self.inner.savers.lock().expect("savers").insert(connection_id.to_owned()) {
            return;
        }
        let lk = self.clone();
        let id = connection_id.to_owned();
        tokio::spawn(async move {
            let mut backoff = Duration::from_secs(2);
            loop {
                let locked = lk.keychain_locked().await;
                let wait = if locked == Some(true) { Duration::from_secs(2) } else { backoff };
                tokio::time::sleep(wait).await;
                if lk.keychain_locked().await == Some(true) {
                    continue;
                }
                match lk.save_pending(&id).await {
                    Ok(true) => continue,
                    Ok(false) => break,
                    Err(e) => {
                        log::warn!("connection {id}: still cannot save the refreshed tokens ({})", e.code());
                        backoff = (backoff * 2).min(Duration::from_secs(300));
                    }
                }
            }
            lk.inner.savers.lock().expect("savers").remove(&id);
        });
    }

    /// One attempt to save a waiting set; `Ok(false)` when there is nothing left to save.
    async fn save_pending(&self, connection_id: &str) -> Result<bool> {
        let local = {
            let mut locks = self.inner.refresh_locks.lock().expect("refresh locks");
            locks.entry(connection_id.to_owned()).or_default().clone()
        };
        let _local = local.lock_owned().await;
        let Some(tokens) = self.inner.pending.lock().expect("pending").get(connection_id).map(|p| p.tokens.clone())
        else {
            return Ok(false);
        };
        let key = connection_key(connection_id);
        let stored = tokens.to_vault_string();
        self.vault(move |v| v.set(&key, &stored)).await?;
        self.inner.pending.lock().expect("pending").remove(connection_id);
        log::info!("connection {connection_id}: the refreshed tokens are saved in the keychain");
        let id = connection_id.to_owned();
        let now = self.now();
        let recovered = self
            .update(move |d| {
                let notify = d.settings.notifications;
                let c = d.connection_mut(&id)?;
                if c.status == Status::WaitingToSave {
                    c.status = Status::Connected;
                    c.last_error = None;
                    c.updated_at = now;
                    return Ok(Some((who_of(c), notify)));
                }
                Ok(None)
            })
            .await;
        self.emit(Event::ConnectionsChanged);
        if let Ok(Some((who, notify))) = recovered {
            self.announce_recovery(connection_id, who, Status::WaitingToSave, notify);
        }
        Ok(false)
    }

    /// Connections whose refreshed tokens wait in this process's memory for the keychain.
    pub fn unsaved_connections(&self) -> Vec<String> {
        self.inner.pending.lock().expect("pending").keys().cloned().collect()
    }

    /// Waits until every set waiting in memory is saved, at most `max`; whether all were.
    pub async fn wait_saved(&self, max: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + max;
        while !self.unsaved_connections().is_empty() {
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        true
    }

    /// Whether the keychain is locked (`None`: cannot tell without touching an item).
    pub async fn keychain_locked(&self) -> Option<bool> {
        self.vault(|v| Ok(v.is_locked())).await.ok().flatten()
    }

    /// Rewrites a connection's metadata from the token set the keychain holds.
    async fn repair_from(&self, connection_id: &str, t: &TokenSet) -> Result<()> {
        let id = connection_id.to_owned();
        let t = t.clone();
        let changed = self
            .update(move |d| {
                let settings = d.settings.clone();
                let c = d.connection_mut(&id)?;
                let before = c.clone();
                describe(c, &t, &settings);
                Ok(*c != before)
            })
            .await?;
        if changed {
            log::info!("connection {connection_id}: metadata repaired from the keychain");
            self.emit(Event::ConnectionsChanged);
        }
        Ok(())
    }

    /// Puts right what an interrupted process left behind: a "refreshing" status (files from
    /// earlier versions), a "waiting to save" whose process is gone (its set was lost; the
    /// provider will say whether the stored one still works), and metadata older than the
    /// keychain (a crash between the two writes). Reads the keychain only when it is not locked.
    /// Returns how many connections were changed.
    ///
    /// # Errors
    /// When the metadata cannot be read or written.
    pub async fn recover_interrupted_refreshes(&self) -> Result<usize> {
        let data = self.load()?;
        let mut fixed = 0;
        for c in &data.connections {
            let id = c.id.clone();
            let ours = self.inner.pending.lock().expect("pending").contains_key(&id);
            if matches!(c.status, Status::Refreshing | Status::WaitingToSave) && !ours && self.lock_is_free(&id).await?
            {
                let lost = c.status == Status::WaitingToSave;
                let cid = id.clone();
                self.update(move |d| {
                    let c = d.connection_mut(&cid)?;
                    if matches!(c.status, Status::Refreshing | Status::WaitingToSave) {
                        c.status = Status::Connected;
                        c.last_error = Some(if lost {
                            "Latchkey stopped before it could save refreshed tokens; if the provider no longer accepts the saved ones, reconnect.".into()
                        } else {
                            "A refresh was interrupted; it will be tried again.".into()
                        });
                    }
                    Ok(())
                })
                .await?;
                log::info!("connection {id}: recovered from an interrupted refresh");
                fixed += 1;
            }
        }
        if self.keychain_locked().await != Some(true) {
            for c in &data.connections {
                if let Ok(t) = self.keychain_tokens(&c.id).await
                    && t.generation > c.token_generation
                {
                    self.repair_from(&c.id, &t).await?;
                    fixed += 1;
                }
            }
        }
        if fixed > 0 {
            self.emit(Event::ConnectionsChanged);
        }
        Ok(fixed)
    }

    async fn lock_is_free(&self, connection_id: &str) -> Result<bool> {
        let path = self.lock_path(connection_id);
        tokio::task::spawn_blocking(move || {
            let Ok(f) = OpenOptions::new().create(true).truncate(false).write(true).open(&path) else { return true };
            f.try_lock().is_ok()
        })
        .await
        .map_err(|e| Error::Internal(e.to_string()))
    }

    /// Shows the connection as Refreshing (in memory and to the UI) until the guard drops.
    fn mark_refreshing(&self, connection_id: &str) -> impl Drop + use<> {
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
    async fn record_failure(&self, connection_id: &str, e: &Error, terminal: bool) -> Result<()> {
        let id = connection_id.to_owned();
        let message = e.to_string();
        let now = self.now();
        let newly_dead = self
            .update(move |d| {
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
                c.log_refresh(RefreshLogEntry { at: now, ok: false, message: Some(message) });
                let who = who_of(c);
                Ok((terminal && was != Status::NeedsReconnect && notify).then_some(who))
            })
            .await?;
        if let Some(who) = newly_dead {
            let (connection_id, reason) = (connection_id.to_owned(), e.to_string());
            self.emit(Event::Notify(crate::service::Notification::NeedsReconnect { connection_id, who, reason }));
        }
        self.emit(Event::ConnectionsChanged);
        Ok(())
    }
}

/// A connection's account as notifications name it: email, else name, else the account id.
fn who_of(c: &Connection) -> String {
    c.email.clone().or(c.name.clone()).unwrap_or_else(|| c.account_id.clone())
}

/// How long the check of a refreshed access token may take (see `Latchkey::verify`).
const VERIFY_TIMEOUT: Duration = Duration::from_secs(5);

/// What to check a refreshed access token against.
#[derive(Clone, Copy)]
pub(crate) struct Verify<'a> {
    endpoints: &'a crate::endpoints::Endpoints,
    style: crate::provider::ProfileStyle,
}

/// The outcome of the profile call after a refresh.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verified {
    /// The provider accepted the new access token.
    Yes,
    /// It answered 401.
    Rejected,
    /// Unreachable, another error, or not tried.
    Unknown,
}

impl Latchkey {
    /// One profile request with the refreshed access token. It runs under the connection's
    /// lock (its outcome goes into the same metadata write as the refresh), so it is bounded
    /// by [`VERIFY_TIMEOUT`]: a slow profile endpoint never makes another process's wait for
    /// the lock run out.
    async fn verify(&self, connection_id: &str, v: Verify<'_>, token: &SecretString) -> Verified {
        let call = crate::api::fetch_profile(&self.inner.http, v.endpoints, v.style, token);
        let Ok(answer) = tokio::time::timeout(VERIFY_TIMEOUT, call).await else {
            log::info!("connection {connection_id}: the refreshed token could not be checked in time");
            return Verified::Unknown;
        };
        match answer {
            Ok(_) => Verified::Yes,
            Err(Error::Http { status: 401, .. }) => {
                log::warn!("connection {connection_id}: the provider rejected the refreshed access token (401)");
                Verified::Rejected
            }
            Err(e) => {
                log::info!("connection {connection_id}: the refreshed token could not be checked ({})", e.code());
                Verified::Unknown
            }
        }
    }
}

fn busy() -> Error {
    Error::Busy(
        "another Latchkey process is refreshing this connection and has not finished (it may be stopped or waiting for the keychain); try again shortly"
            .into(),
    )
}

/// Whether a refresh's failure means the refresh token is dead for good, with the reason to
/// show and a short tag for the log (never a token): an OAuth error that says so, or a bare
/// HTTP 400 / 401 without a usable OAuth error body (servers that answer a dead refresh token
/// that way would otherwise be retried for ever while the connection claims to be fine).
fn terminal_refresh_error(e: &Error) -> Option<(String, String)> {
    match e {
        Error::OAuth(o) if o.is_terminal_for_refresh() => Some((o.plain(), o.error.clone())),
        Error::Http { status: status @ (400 | 401), .. } => Some((
            format!("the provider refused the refresh (HTTP {status}, no explanation)"),
            format!("HTTP {status}"),
        )),
        _ => None,
    }
}

fn credentials_rejected(app: &str, why: &str) -> Error {
    Error::CredentialsRejected(format!(
        "{app}: the provider rejected the app's credentials ({why}). Edit the provider app and enter its client secret again; its connections are kept and refresh again once it is fixed."
    ))
}

/// Keeps the lock map from growing without bound.
pub(crate) fn forget_lock(lk: &Latchkey, connection_id: &str) {
    let mut locks = lk.inner.refresh_locks.lock().expect("refresh locks");
    if locks.get(connection_id).is_some_and(|l| Arc::strong_count(l) == 1) {
        locks.remove(connection_id);
    }
}

/// Per-connection in-memory state of a process.
pub(crate) type PendingMap = HashMap<String, Pending>;

#[cfg(test)]
mod tests {
    use super::*;

    fn set(issued: i64, lifetime: Option<i64>) -> TokenSet {
        let mut t = crate::token::parse_token_response(br#"{"access_token":"a"}"#, issued).unwrap();
        t.expires_at = lifetime.map(|l| issued + l);
        t
    }

    #[test]
    fn min_valid_counts_the_scheduled_refresh_when_refreshing_helps() {
        let s = Settings::default();
        // 1 h token, scheduled refresh at issue + 54 min. At 44 min, --min-valid 600 refreshes
        // first (the scheduled refresh would delete the token within 10 minutes)…
        assert!(needs_refresh(&set(0, Some(3600)), 44 * 60 + 1, 600, &s));
        assert!(!needs_refresh(&set(0, Some(3600)), 40 * 60, 600, &s));
        // …but not when even a fresh set would be refreshed sooner than asked (8 s tokens):
        // then only real expiry counts.
        assert!(!needs_refresh(&set(0, Some(8)), 1, 5, &s));
        assert!(needs_refresh(&set(0, Some(8)), 4, 5, &s));
        // Unknown lifetime: the hourly check is the schedule.
        assert!(needs_refresh(&set(0, None), 3590, 60, &s));
        assert!(!needs_refresh(&set(0, None), 100, 60, &s));
    }
}
