//! Saving a refreshed set: keychain first, then the metadata; a set the keychain refuses
//! waits in memory (with its file lock) and is saved once the keychain takes it; repairing the
//! metadata from a newer keychain generation after an interruption.

use std::collections::HashMap;
use std::fs::File;
use std::time::Duration;

use super::lock::FlightGuard;
use super::plan::describe;
use super::verify::{Verified, Verify};
use super::who_of;
use crate::error::Result;
use crate::store::{Data, RefreshLogEntry, Status};
use crate::token::TokenSet;
use crate::vault::connection_key;
use crate::{Event, Latchkey};
/// What the waiting state says.
pub(crate) const WAITING_TO_SAVE: &str =
    "The keychain is locked: the refreshed tokens are kept in memory and saved as soon as it is unlocked.";

/// A refreshed token set the keychain has not taken yet, and the connection's file lock, held
/// until it is saved so no other process refreshes with the replaced refresh token.
pub(crate) struct Pending {
    pub(crate) tokens: TokenSet,
    _file: Option<File>,
}

/// What to do once an outcome is written (an event, a notification).
pub(crate) type After = Box<dyn FnOnce(&Latchkey) + Send>;
/// One refresh's outcome, as a change to the metadata.
pub(crate) type Deferred = Box<dyn FnOnce(&mut Data) -> Result<Option<After>> + Send>;

/// How long an outcome waits for the rest of its pass before it is written anyway.
pub(crate) const DEFER_AT_MOST: Duration = Duration::from_secs(2);

/// Per-connection in-memory state of a process.
pub(crate) type PendingMap = HashMap<String, Pending>;

impl Latchkey {
    /// Writes one refresh's outcome to the metadata: now, or — `defer`, in a worker pass —
    /// with the pass's other outcomes in one update ([`Latchkey::flush_outcomes`]), so a pass
    /// over many connections rewrites the file once, not once per connection. Deferring is
    /// safe because the tokens are in the keychain already: the metadata only lags it, as after
    /// a crash between the two writes, and is repaired the same way.
    pub(crate) async fn write_outcome(&self, defer: bool, f: Deferred) -> Result<()> {
        if defer {
            self.inner.deferred.lock().expect("deferred").push((tokio::time::Instant::now(), f));
            return Ok(());
        }
        if let Some(after) = self.update(f).await? {
            after(self);
        }
        self.emit(Event::ConnectionsChanged);
        Ok(())
    }

    /// When the oldest outcome waiting to be written was recorded.
    pub(crate) fn oldest_deferred(&self) -> Option<tokio::time::Instant> {
        self.inner.deferred.lock().expect("deferred").first().map(|(at, _)| *at)
    }

    /// Writes every outcome waiting in one metadata update. One that no longer applies (its
    /// connection was removed meanwhile) is skipped; the rest are written.
    pub(crate) async fn flush_outcomes(&self) {
        let batch: Vec<_> = std::mem::take(&mut *self.inner.deferred.lock().expect("deferred"));
        if batch.is_empty() {
            return;
        }
        let n = batch.len();
        let written = self
            .update(move |d| {
                let mut afters = Vec::new();
                for (_, f) in batch {
                    match f(d) {
                        Ok(Some(a)) => afters.push(a),
                        Ok(None) => {}
                        Err(e) => log::info!("a refresh outcome no longer applies: {}", e.code()),
                    }
                }
                Ok(afters)
            })
            .await;
        match written {
            Ok(afters) => {
                log::debug!("{n} refresh outcome(s) written in one update");
                for after in afters {
                    after(self);
                }
                self.emit(Event::ConnectionsChanged);
            }
            // The tokens are in the keychain; the rows are repaired from it when next planned.
            Err(e) => log::warn!("cannot write {n} refresh outcome(s): {e}"),
        }
    }

    /// Stores a refreshed set: keychain first; if the keychain refuses, the set is kept in
    /// memory (with the file lock) and saved in the background. Then the metadata.
    pub(crate) async fn store_refreshed(
        &self,
        connection_id: &str,
        guard: &mut FlightGuard,
        fresh: &TokenSet,
        now: crate::Timestamp,
        check: Option<Verify<'_>>,
        defer: bool,
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
        // A set waiting in memory is written now: its saver writes after it, in order.
        self.write_outcome(
            defer && !waiting,
            Box::new(move |d: &mut Data| {
                let settings = d.settings.clone();
                let c = d.connection_mut(&id)?;
                if c.token_generation > t.generation {
                    // Written late (with its pass) after a newer set was described: keep that.
                    return Ok(None);
                }
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
                if waiting || !matches!(was, Status::WaitingToSave | Status::NeedsReconnect) {
                    return Ok(None);
                }
                let (who, notify) = (who_of(c), settings.notifications);
                Ok(Some(Box::new(move |lk: &Latchkey| lk.announce_recovery(&id, who, was, notify)) as After))
            }),
        )
        .await?;
        if waiting {
            self.spawn_saver(connection_id);
        }
        Ok(())
    }

    /// Saves a set waiting in memory as soon as the keychain takes it: the keychain's lock
    /// state is polled (a property read that never raises an unlock prompt) and a write is
    /// tried only when it is unlocked, or, where the lock state cannot be read, with backoff.
    pub(crate) fn spawn_saver(&self, connection_id: &str) {
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
    pub(crate) async fn save_pending(&self, connection_id: &str) -> Result<bool> {
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
    pub(crate) async fn repair_from(&self, connection_id: &str, t: &TokenSet) -> Result<()> {
        let id = connection_id.to_owned();
        let t = t.clone();
        let changed = self
            .update(move |d| {
                let settings = d.settings.clone();
                let c = d.connection_mut(&id)?;
                if t.generation < c.token_generation {
                    // Read before someone (a refresh here, another process) stored and
                    // described a newer set: the row never goes back to an older one.
                    return Ok(false);
                }
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
        self.recover_interrupted_refreshes_except(&std::collections::HashSet::new()).await
    }

    /// As [`Latchkey::recover_interrupted_refreshes`], without reading the keychain entries of
    /// `due`: the refresher is about to refresh those, and a refresh reads the entry under the
    /// connection's lock and repairs lagging metadata itself (without sending anything when the
    /// stored set is newer than the one it planned from). So when everything is due at once
    /// (after a week away, `make bench`), the refresher's start reads no entry twice.
    pub(crate) async fn recover_interrupted_refreshes_except(
        &self,
        due: &std::collections::HashSet<String>,
    ) -> Result<usize> {
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
            for c in data.connections.iter().filter(|c| !due.contains(&c.id)) {
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
}
