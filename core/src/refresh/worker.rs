//! The background refresher: one tokio task that sleeps until the earliest due refresh, wakes
//! early when connections change, and stops on shutdown (the mini-redis pattern).
//!
//! It cannot spin and cannot storm: every connection it tries waits at least the minimum
//! interval (30 s by default) before it is tried again, whatever the metadata or the provider
//! says; a pass that started nothing sleeps until the next deadline. Connections are refreshed
//! independently, each in its own task (at most [`CONCURRENCY`] at once): one that is stuck
//! (its lock held by a stopped process, a slow provider) never delays the others.
//!
//! Clock steps: deadlines are kept both as wall-clock times (from the metadata, which other
//! processes share) and as monotonic instants taken when first seen; a connection is due when
//! either says so, so stepping the wall clock back never delays a refresh, and stepping it
//! forward at most brings one forward. Monotonic timers stop during suspend, so it re-plans from
//! the wall clock at least every 15 minutes and on logind's resume signal.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::Pass;
use super::plan::{MAX_SLEEP_SECS, Track, next_backoff, plan, secs};
use super::saving::DEFER_AT_MOST;
use crate::Latchkey;
use crate::error::{Error, Result};
use crate::refresh::Want;
/// How many refreshes run at once.
pub const CONCURRENCY: usize = 8;
/// While the keychain is locked, how often its state is looked at (no item is touched).
pub(crate) const LOCKED_POLL_SECS: i64 = 30;

/// What a finished task reports.
pub(crate) type Done = (String, Result<()>);

/// Runs until `cancel` fires.
pub async fn run(lk: Latchkey, cancel: CancellationToken) {
    let mut tracks: HashMap<String, Track> = HashMap::new();
    let mut tasks: JoinSet<Done> = JoinSet::new();
    let mut in_flight: std::collections::HashSet<String> = Default::default();
    // The current pass: what it has still to start, and what its refreshes share (the
    // metadata it planned from, the client secrets). It is planned once, not again after each
    // refresh: a pass over N connections reads and writes the metadata a constant number of
    // times, not N.
    let mut queue: VecDeque<(String, Option<u64>)> = VecDeque::new();
    let mut pass: Option<Arc<Pass>> = None;
    let mut replan = true;
    let mut wake_at = Instant::now();
    log::info!("refresher started");
    // What an interrupted process left behind is put right once, at the first plan.
    let mut recovered = false;
    let resume = tokio::spawn(watch_resume(lk.clone()));
    loop {
        let changed = lk.inner.changed.notified();
        tokio::pin!(changed);
        changed.as_mut().enable();
        let mono = Instant::now();
        if replan {
            replan = false;
            queue.clear();
            wake_at = match lk.load() {
                Ok(data) => {
                    tracks.retain(|id, _| data.connections.iter().any(|c| &c.id == id));
                    let p = plan(&data, lk.now(), mono, &mut tracks, lk.min_refresh_interval());
                    let work: VecDeque<(String, Option<u64>)> = p
                        .refresh
                        .iter()
                        .map(|(id, g)| (id.clone(), Some(*g)))
                        .chain(p.retry_revoke.iter().map(|id| (id.clone(), None)))
                        .filter(|(id, _)| !in_flight.contains(id))
                        .collect();
                    // A locked keychain is not asked again and again (each ask may raise an
                    // unlock prompt on a desktop): look at its state, wait while it is locked.
                    let locked = !work.is_empty() && lk.keychain_locked().await == Some(true);
                    if !recovered {
                        recovered = true;
                        // The connections this pass refreshes are checked by their refreshes
                        // (while the keychain is locked the check reads no entry at all).
                        let due = work.iter().filter(|(_, g)| g.is_some()).map(|(id, _)| id.clone()).collect();
                        if let Err(e) = lk.recover_interrupted_refreshes_except(&due).await {
                            log::warn!("cannot check for interrupted refreshes: {e}");
                        }
                    }
                    if locked {
                        log::info!("the keychain is locked; {} refresh(es) wait until it is unlocked", work.len());
                        p.wake_at.min(mono + secs(LOCKED_POLL_SECS))
                    } else {
                        queue = work;
                        pass = Some(Arc::new(Pass::new(data)));
                        p.wake_at
                    }
                }
                // Damaged data: said once (log, notification), then wait for the file to change.
                Err(e @ Error::DamagedData { .. }) => {
                    if crate::recovery::report_damaged(&e)
                        && let Error::DamagedData { path, backup_available, .. } = &e
                    {
                        // The settings cannot be read from a damaged file: always told.
                        let (path, backup_available) = (path.clone(), *backup_available);
                        lk.emit(crate::event::Event::Notify(crate::event::Notification::DataDamaged {
                            path,
                            backup_available,
                        }));
                    }
                    mono + secs(MAX_SLEEP_SECS)
                }
                Err(e) => {
                    log::error!("refresher cannot read the metadata: {e}");
                    mono + secs(60)
                }
            };
        }
        // Start what the pass has left, at most CONCURRENCY at once; the rest starts as
        // running refreshes end.
        while in_flight.len() < CONCURRENCY
            && let Some((id, generation)) = queue.pop_front()
        {
            if in_flight.contains(&id) {
                continue;
            }
            tracks.entry(id.clone()).or_default().last_try = Some(mono);
            in_flight.insert(id.clone());
            let (lk, pass) = (lk.clone(), pass.clone());
            tasks.spawn(async move {
                let r = match generation {
                    Some(seen) => lk.refresh_in(&id, Want::Scheduled { seen }, pass.as_deref()).await.map(|_| ()),
                    None => match lk.revoke_connection(&id, false).await {
                        Ok(o) if o.pending => Err(Error::Flow("still unreachable".into())),
                        Ok(_) => Ok(()),
                        Err(e) => Err(e),
                    },
                };
                (id, r)
            });
        }
        // The pass's outcomes are written together when it is over, or once the oldest has
        // waited DEFER_AT_MOST (a long pass still shows its progress). The write says
        // "connections changed", which plans the next pass.
        let flush_at = lk.oldest_deferred().map(|t| t + DEFER_AT_MOST);
        if (tasks.is_empty() && queue.is_empty()) || flush_at.is_some_and(|t| t <= mono) {
            lk.flush_outcomes().await;
        }
        let flush_at = lk.oldest_deferred().map(|t| t + DEFER_AT_MOST);
        let wake = flush_at.map_or(wake_at, |f| f.min(wake_at));
        tokio::select! {
            () = tokio::time::sleep_until(wake.max(mono + Duration::from_millis(10))) => {
                replan = Instant::now() >= wake_at;
            }
            () = &mut changed => replan = true,
            Some(done) = tasks.join_next(), if !tasks.is_empty() => {
                if let Ok((id, r)) = done {
                    in_flight.remove(&id);
                    apply_outcome(&mut tracks, id, r);
                }
            }
            () = cancel.cancelled() => break,
        }
    }
    // A refresh in flight may already have rotated the refresh token at the provider: let it
    // store the new set rather than abort it between the two (each is bounded by the HTTP
    // timeout and the lock wait).
    let drain = async { while tasks.join_next().await.is_some() {} };
    if tokio::time::timeout(Duration::from_secs(45), drain).await.is_err() {
        log::warn!("refresher stopped with refreshes still running");
    }
    lk.flush_outcomes().await;
    resume.abort();
    log::info!("refresher stopped");
}

/// Monotonic timers stop while the machine sleeps, so a sleeping refresher could wake up to
/// 15 minutes late after a resume. On Linux, logind announces the resume
/// (`PrepareForSleep(false)` on the system bus): re-plan at once. Without logind this ends
/// quietly and the 15-minute wall-clock re-check remains.
pub(crate) async fn watch_resume(lk: Latchkey) {
    #[cfg(target_os = "linux")]
    {
        use futures_util::StreamExt as _;
        let listen = async {
            let conn = zbus::Connection::system().await?;
            let proxy = zbus::Proxy::new(
                &conn,
                "org.freedesktop.login1",
                "/org/freedesktop/login1",
                "org.freedesktop.login1.Manager",
            )
            .await?;
            let mut signals = proxy.receive_signal("PrepareForSleep").await?;
            while let Some(msg) = signals.next().await {
                if let Ok(false) = msg.body().deserialize::<bool>() {
                    log::info!("resumed from sleep: re-planning refreshes");
                    lk.emit(crate::event::Event::ConnectionsChanged);
                }
            }
            Ok::<(), zbus::Error>(())
        };
        if let Err(e) = listen.await {
            log::info!("no resume notifications ({e}); re-checking every 15 minutes instead");
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = lk;
}

pub(crate) fn apply_outcome(tracks: &mut HashMap<String, Track>, id: String, r: Result<()>) {
    let t = tracks.entry(id.clone()).or_default();
    match r {
        Ok(()) | Err(Error::NeedsReconnect { .. }) => {
            t.backoff = None;
            t.retry_at = None;
        }
        Err(e) => {
            let b = next_backoff(t.backoff, e.retry_after(), rand::random());
            log::info!("connection {id}: retry in {} s ({})", b.wait_secs, e.code());
            t.backoff = Some(b);
            t.retry_at = Some(Instant::now() + secs(b.wait_secs));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::refresh::plan::tests::{conn, with_app};
    use crate::store::{Data, Status};

    fn paused_world(name: &str, vault: std::sync::Arc<crate::vault::MemoryVault>) -> Latchkey {
        let dir = std::env::temp_dir().join(format!("latchkey-refresher-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let store = crate::store::Store::open(&dir).unwrap();
        Latchkey::with_parts(store, vault, crate::clock::Clock::tokio_based(T0), "test").unwrap()
    }

    const T0: i64 = 1_800_000_000;

    fn tokens(generation: u64, expires_in: i64) -> crate::token::TokenSet {
        let body = format!(r#"{{"access_token":"a{generation}","refresh_token":"r","expires_in":{expires_in}}}"#);
        let mut t = crate::token::parse_token_response(body.as_bytes(), T0).unwrap();
        t.generation = generation;
        t
    }

    async fn seed(lk: &Latchkey, vault: &crate::vault::MemoryVault, mut data: Data, t: &crate::token::TokenSet) {
        use crate::vault::{Vault, connection_key};
        data.apps[0].base_url = Some(url::Url::parse("http://127.0.0.1:1").unwrap());
        for c in &mut data.connections {
            vault.set(&connection_key(&c.id), &t.to_vault_string()).unwrap();
            // The rows describe the set the keychain holds.
            c.token_generation = t.generation;
        }
        lk.update(move |d| {
            *d = data;
            Ok(())
        })
        .await
        .unwrap();
    }

    fn attempts(lk: &Latchkey, id: &str) -> Vec<i64> {
        lk.load().unwrap().connection(id).unwrap().refresh_log.iter().map(|e| e.at - T0).collect()
    }

    /// The loop itself under tokio's paused time: it sleeps until the earliest deadline,
    /// refreshes connections in deadline order, and wakes early when connections change.
    /// The provider is unreachable (port 1), so each attempt leaves a failed entry in the
    /// refresh log at the (virtual) time it ran.
    #[tokio::test(start_paused = true)]
    async fn the_loop_wakes_at_deadlines_and_on_change() {
        use crate::vault::{MemoryVault, Vault, connection_key};
        let vault = std::sync::Arc::new(MemoryVault::default());
        let lk = paused_world("loop", vault.clone());
        let t = tokens(1, 1000);
        seed(
            &lk,
            &vault,
            with_app(vec![
                conn("late", Status::Connected, Some(T0 + 1000), Some(T0 + 100)),
                conn("early", Status::Connected, Some(T0 + 1000), Some(T0 + 50)),
            ]),
            &t,
        )
        .await;
        let cancel = CancellationToken::new();
        let task = tokio::spawn(run(lk.clone(), cancel.clone()));

        // At t=10 the loop sleeps until t=50. A new connection due at t=20 wakes it.
        tokio::time::sleep(Duration::from_secs(10)).await;
        let mut fresh = conn("new", Status::Connected, Some(T0 + 1000), Some(T0 + 20));
        fresh.token_generation = 1;
        vault.set(&connection_key("new"), &t.to_vault_string()).unwrap();
        lk.update(move |d| {
            d.connections.push(fresh);
            Ok(())
        })
        .await
        .unwrap();
        lk.emit(crate::event::Event::ConnectionsChanged);
        tokio::time::sleep(Duration::from_secs(11)).await;
        assert_eq!(attempts(&lk, "new"), vec![20], "woken by the change, not at the old deadline");

        tokio::time::sleep(Duration::from_secs(28)).await;
        assert!(attempts(&lk, "early").is_empty() && attempts(&lk, "late").is_empty(), "nothing before its deadline");
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert_eq!(attempts(&lk, "early"), vec![50], "the earliest deadline first");
        assert!(attempts(&lk, "late").is_empty());
        tokio::time::sleep(Duration::from_secs(50)).await;
        assert_eq!(attempts(&lk, "late"), vec![100]);
        // A failed attempt is retried with backoff, not in a loop.
        assert!((2..=4).contains(&attempts(&lk, "early").len()), "{:?}", attempts(&lk, "early"));
        cancel.cancel();
        task.await.unwrap();
    }

    /// Metadata says due, the keychain holds a newer set (a crash between the two writes):
    /// the metadata is repaired and nothing is sent, and the loop goes back to sleep.
    #[tokio::test(start_paused = true)]
    async fn a_newer_set_in_the_keychain_repairs_the_metadata_and_sends_nothing() {
        use crate::vault::{MemoryVault, Vault, connection_key};
        let vault = std::sync::Arc::new(MemoryVault::default());
        let lk = paused_world("repair", vault.clone());
        let old = tokens(1, 10);
        seed(&lk, &vault, with_app(vec![conn("c", Status::Connected, Some(T0), Some(T0 - 5))]), &old).await;
        // The "crash": generation 2 reached the keychain, the metadata still describes 1.
        vault.set(&connection_key("c"), &tokens(2, 3600).to_vault_string()).unwrap();
        let cancel = CancellationToken::new();
        let task = tokio::spawn(run(lk.clone(), cancel.clone()));
        tokio::time::sleep(Duration::from_secs(120)).await;
        let c = lk.load().unwrap().connections[0].clone();
        assert_eq!(c.token_generation, 2);
        assert!(c.next_refresh_at.unwrap() > T0 + 3000, "{:?}", c.next_refresh_at);
        assert!(c.refresh_log.is_empty(), "nothing was sent: {:?}", c.refresh_log);
        // The same when the inconsistency appears while the loop runs.
        vault.set(&connection_key("c"), &tokens(3, 3600).to_vault_string()).unwrap();
        lk.update(|d| {
            d.connections[0].next_refresh_at = Some(T0);
            Ok(())
        })
        .await
        .unwrap();
        lk.emit(crate::event::Event::ConnectionsChanged);
        tokio::time::sleep(Duration::from_secs(60)).await;
        let c = lk.load().unwrap().connections[0].clone();
        assert_eq!(c.token_generation, 3);
        assert!(c.refresh_log.is_empty(), "{:?}", c.refresh_log);
        cancel.cancel();
        task.await.unwrap();
    }

    /// The refresher's start repairs rows the keychain is ahead of, reading each entry once:
    /// a connection that is not due is read by the start's check; one that is due is left to
    /// its refresh, which reads it under the lock (so a start with every connection due reads
    /// nothing twice), repairs it, and sends nothing since its stored set is newer.
    #[tokio::test(start_paused = true)]
    async fn the_start_reads_each_entry_once_and_repairs_due_and_not_due_rows() {
        use crate::vault::{MemoryVault, Vault, connection_key};
        let vault = std::sync::Arc::new(MemoryVault::default());
        let lk = paused_world("start", vault.clone());
        let old = tokens(1, 10);
        let rows = vec![
            conn("due", Status::Connected, Some(T0), Some(T0 - 5)),
            conn("later", Status::Connected, Some(T0 + 9000), Some(T0 + 8000)),
        ];
        seed(&lk, &vault, with_app(rows), &old).await;
        // A crash after both keychain writes, before the metadata's.
        for id in ["due", "later"] {
            vault.set(&connection_key(id), &tokens(2, 3600).to_vault_string()).unwrap();
        }
        let cancel = CancellationToken::new();
        let task = tokio::spawn(run(lk.clone(), cancel.clone()));
        tokio::time::sleep(Duration::from_secs(10)).await;
        for id in ["due", "later"] {
            let c = lk.load().unwrap().connection(id).unwrap().clone();
            assert_eq!(c.token_generation, 2, "{id}: repaired");
            assert!(c.refresh_log.is_empty(), "{id}: nothing was sent: {:?}", c.refresh_log);
            assert_eq!(vault.reads(&connection_key(id)), 1, "{id}: its entry was read once");
        }
        cancel.cancel();
        task.await.unwrap();
    }

    /// A repair with a set read before a newer one was stored and described (a slow read,
    /// another process) leaves the row as it is: a row never goes back a generation.
    #[tokio::test]
    async fn a_repair_from_an_older_set_changes_nothing() {
        let vault = std::sync::Arc::new(crate::vault::MemoryVault::default());
        let lk = paused_world("older", vault.clone());
        seed(&lk, &vault, with_app(vec![conn("c", Status::Connected, Some(T0), Some(T0 - 5))]), &tokens(3, 3600)).await;
        lk.repair_from("c", &tokens(3, 3600)).await.unwrap();
        let described = lk.load().unwrap().connections[0].clone();
        assert_eq!(described.token_generation, 3);
        lk.repair_from("c", &tokens(2, 60)).await.unwrap();
        assert_eq!(lk.load().unwrap().connections[0], described, "an older set changes nothing");
    }

    /// A locked keychain is not touched by the refresher (no prompt storm): the due connection
    /// waits, and is refreshed once the keychain is unlocked.
    #[tokio::test(start_paused = true)]
    async fn a_locked_keychain_is_waited_for_not_hammered() {
        use crate::vault::MemoryVault;
        use std::sync::atomic::Ordering;
        let vault = std::sync::Arc::new(MemoryVault::default());
        let lk = paused_world("locked", vault.clone());
        seed(&lk, &vault, with_app(vec![conn("c", Status::Connected, Some(T0 + 20), Some(T0 + 10))]), &tokens(0, 20))
            .await;
        vault.locked.store(true, Ordering::SeqCst);
        let cancel = CancellationToken::new();
        let task = tokio::spawn(run(lk.clone(), cancel.clone()));
        tokio::time::sleep(Duration::from_secs(300)).await;
        assert!(attempts(&lk, "c").is_empty(), "{:?}", attempts(&lk, "c"));
        vault.locked.store(false, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_secs(31)).await;
        assert_eq!(attempts(&lk, "c").len(), 1, "tried once the keychain is unlocked");
        cancel.cancel();
        task.await.unwrap();
    }
}
