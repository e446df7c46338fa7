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

use std::collections::HashMap;
use std::time::Duration;

use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::clock::Timestamp;
use crate::error::{Error, Result};
use crate::refresh::Want;
use crate::service::Latchkey;
use crate::store::{Data, Status};

/// The longest the refresher sleeps without re-reading the wall clock.
pub const MAX_SLEEP_SECS: i64 = 15 * 60;
/// How many refreshes run at once.
pub const CONCURRENCY: usize = 8;
/// While the keychain is locked, how often its state is looked at (no item is touched).
const LOCKED_POLL_SECS: i64 = 30;

/// Retry state of a connection whose last attempt failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Failed attempts in a row.
    pub attempts: u32,
    /// Seconds to wait before the next attempt.
    pub wait_secs: i64,
}

/// What the refresher remembers of a connection, in monotonic time.
#[derive(Debug, Clone, Default)]
pub struct Track {
    /// The last attempt this refresher started.
    pub last_try: Option<Instant>,
    /// Not before this (backoff after a failure).
    pub retry_at: Option<Instant>,
    /// The backoff that set `retry_at`.
    pub backoff: Option<Backoff>,
    /// The metadata's deadline as last seen, and the same moment on the monotonic clock.
    pub deadline: Option<(Timestamp, Instant)>,
}

/// What to do now and when to wake next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Connections to refresh now, earliest deadline first, with the token generation the
    /// metadata describes.
    pub refresh: Vec<(String, u64)>,
    /// Connections whose revocation should be retried now.
    pub retry_revoke: Vec<String>,
    /// When to wake next (monotonic).
    pub wake_at: Instant,
}

/// Planning: which connections are due at wall time `now` / monotonic `mono`, ordered by
/// deadline, and the next wake. Deterministic in its inputs; it records first sightings of
/// deadlines in `tracks`.
pub fn plan(
    data: &Data,
    now: Timestamp,
    mono: Instant,
    tracks: &mut HashMap<String, Track>,
    min_interval: i64,
) -> Plan {
    let mut due: Vec<(Timestamp, String, u64)> = vec![];
    let mut retry_revoke = vec![];
    let mut wake_at = mono + secs(MAX_SLEEP_SECS);
    let min_interval = secs(min_interval.max(1));
    for c in &data.connections {
        // A connection whose provider app was removed (and kept), or whose app's credentials
        // were rejected, cannot be refreshed until the person acts.
        let Some(app) = data.apps.iter().find(|a| a.id == c.app_id) else { continue };
        if app.credentials_rejected.is_some() {
            continue;
        }
        let t = tracks.entry(c.id.clone()).or_default();
        let mut not_before = t.retry_at;
        if let Some(last) = t.last_try {
            not_before = not_before.max(Some(last + min_interval));
        }
        // An attempt another process logged (the agent restarted, the command line refreshed):
        // also respected, unless it lies in the future (the wall clock was stepped back).
        if let Some(at) = c.last_attempt_at().filter(|at| *at <= now) {
            let since = secs(now - at);
            not_before = not_before.max(Some(if since >= min_interval { mono } else { mono + (min_interval - since) }));
        }
        match c.status {
            Status::Connected | Status::Refreshing | Status::WaitingToSave => {
                let Some(at) = c.next_refresh_at else { continue };
                let mono_at = match t.deadline {
                    Some((seen, m)) if seen == at => m,
                    _ => {
                        let m = mono + secs(at - now);
                        t.deadline = Some((at, m));
                        m
                    }
                };
                let ready = not_before.is_none_or(|nb| nb <= mono);
                if (at <= now || mono_at <= mono) && ready {
                    due.push((at, c.id.clone(), c.token_generation));
                } else {
                    let when = if at <= now || mono_at <= mono { mono } else { mono + secs(at - now) };
                    wake_at = wake_at.min(when.min(mono_at).max(not_before.unwrap_or(mono)));
                }
            }
            Status::RevocationPending => match not_before {
                Some(nb) if nb > mono => wake_at = wake_at.min(nb),
                _ => retry_revoke.push(c.id.clone()),
            },
            Status::NeedsReconnect => {}
        }
    }
    due.sort();
    Plan { refresh: due.into_iter().map(|(_, id, g)| (id, g)).collect(), retry_revoke, wake_at }
}

fn secs(s: i64) -> Duration {
    Duration::from_secs(s.max(0) as u64)
}

/// Exponential backoff with jitter, honouring `Retry-After` (capped at 15 minutes).
pub fn next_backoff(prev: Option<Backoff>, retry_after: Option<u64>, jitter: u64) -> Backoff {
    let attempts = prev.map_or(1, |b| b.attempts + 1);
    let exp = 5i64.saturating_mul(1 << attempts.min(10)).min(MAX_SLEEP_SECS);
    let wait_secs = match retry_after {
        Some(s) => (s.min(MAX_SLEEP_SECS as u64) as i64).max(1),
        None => exp + (jitter % (exp as u64 / 2 + 1)) as i64,
    };
    Backoff { attempts, wait_secs }
}

/// What a finished task reports.
type Done = (String, Result<()>);

/// Runs until `cancel` fires.
pub async fn run(lk: Latchkey, cancel: CancellationToken) {
    let mut tracks: HashMap<String, Track> = HashMap::new();
    let mut tasks: JoinSet<Done> = JoinSet::new();
    let mut in_flight: std::collections::HashSet<String> = Default::default();
    log::info!("refresher started");
    if let Err(e) = lk.recover_interrupted_refreshes().await {
        log::warn!("cannot check for interrupted refreshes: {e}");
    }
    let resume = tokio::spawn(watch_resume(lk.clone()));
    loop {
        let changed = lk.inner.changed.notified();
        tokio::pin!(changed);
        changed.as_mut().enable();
        let mono = Instant::now();
        let wake_at = match lk.load() {
            Ok(data) => {
                tracks.retain(|id, _| data.connections.iter().any(|c| &c.id == id));
                let p = plan(&data, lk.now(), mono, &mut tracks, lk.min_refresh_interval());
                let work: Vec<(String, Option<u64>)> = p
                    .refresh
                    .iter()
                    .map(|(id, g)| (id.clone(), Some(*g)))
                    .chain(p.retry_revoke.iter().map(|id| (id.clone(), None)))
                    .filter(|(id, _)| !in_flight.contains(id))
                    .collect();
                // A locked keychain is not asked again and again (each ask may raise an unlock
                // prompt on a desktop): look at its state, wait while it is locked.
                let locked = !work.is_empty() && lk.keychain_locked().await == Some(true);
                if locked {
                    log::info!("the keychain is locked; {} refresh(es) wait until it is unlocked", work.len());
                    p.wake_at.min(mono + secs(LOCKED_POLL_SECS))
                } else {
                    for (id, generation) in work {
                        if in_flight.len() >= CONCURRENCY {
                            break;
                        }
                        tracks.entry(id.clone()).or_default().last_try = Some(mono);
                        in_flight.insert(id.clone());
                        let lk = lk.clone();
                        tasks.spawn(async move {
                            let r = match generation {
                                Some(seen) => lk.refresh_tokens(&id, Want::Scheduled { seen }).await.map(|_| ()),
                                None => match lk.revoke_connection(&id, false).await {
                                    Ok(o) if o.pending => Err(Error::Flow("still unreachable".into())),
                                    Ok(_) => Ok(()),
                                    Err(e) => Err(e),
                                },
                            };
                            (id, r)
                        });
                    }
                    // Whatever could not start now starts when a running task ends.
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
                    lk.emit(crate::service::Event::Notify(crate::service::Notification::DataDamaged {
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
        tokio::select! {
            () = tokio::time::sleep_until(wake_at.max(mono + Duration::from_millis(10))) => {}
            () = &mut changed => {}
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
    resume.abort();
    log::info!("refresher stopped");
}

/// Monotonic timers stop while the machine sleeps, so a sleeping refresher could wake up to
/// 15 minutes late after a resume. On Linux, logind announces the resume
/// (`PrepareForSleep(false)` on the system bus): re-plan at once. Without logind this ends
/// quietly and the 15-minute wall-clock re-check remains.
async fn watch_resume(lk: Latchkey) {
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
                    lk.emit(crate::service::Event::ConnectionsChanged);
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

fn apply_outcome(tracks: &mut HashMap<String, Track>, id: String, r: Result<()>) {
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
    use crate::store::{Connection, ProviderApp};

    fn with_app(connections: Vec<Connection>) -> Data {
        let app: ProviderApp = serde_json::from_value(serde_json::json!({
            "id": "a", "preset": "generic", "name": "A", "baseUrl": "https://a.example", "clientId": "c",
            "scopes": "", "redirectMode": "deep_link", "createdAt": 0
        }))
        .unwrap();
        Data { apps: vec![app], connections, ..Data::default() }
    }

    fn conn(id: &str, status: Status, expires: Option<i64>, next: Option<i64>) -> Connection {
        Connection {
            status,
            expires_at: expires,
            issued_at: Some(0),
            next_refresh_at: next,
            ..Connection::new(id, "a", id, 0)
        }
    }

    #[tokio::test(start_paused = true)]
    async fn plan_orders_due_connections_and_finds_the_next_wake() {
        let m = Instant::now();
        let d = with_app(vec![
            conn("late", Status::Connected, Some(1000), Some(900)),
            conn("due2", Status::Connected, Some(200), Some(150)),
            conn("due1", Status::Connected, Some(160), Some(100)),
            conn("dead", Status::NeedsReconnect, Some(10), Some(5)),
            conn("noexp", Status::Connected, None, None),
            conn("pending", Status::RevocationPending, Some(10), Some(5)),
        ]);
        let p = plan(&d, 500, m, &mut HashMap::new(), 30);
        let ids: Vec<&str> = p.refresh.iter().map(|(id, _)| id.as_str()).collect();
        assert_eq!(ids, ["due1", "due2"]);
        assert_eq!(p.retry_revoke, vec!["pending".to_owned()]);
        assert_eq!(p.wake_at, m + secs(400));
        // Nothing due: wake at the earliest deadline, or after 15 minutes at the latest.
        let p = plan(&d, 0, m, &mut HashMap::new(), 30);
        assert!(p.refresh.is_empty());
        assert_eq!(p.wake_at, m + secs(100));
        let p = plan(&Data::default(), 0, m, &mut HashMap::new(), 30);
        assert_eq!(p.wake_at, m + secs(MAX_SLEEP_SECS));
        // Connections kept after their provider app was removed are never due, nor those of an
        // app whose credentials were rejected.
        let orphaned = Data { apps: vec![], ..d.clone() };
        assert!(plan(&orphaned, 500, m, &mut HashMap::new(), 30).refresh.is_empty());
        let mut rejected = d.clone();
        rejected.apps[0].credentials_rejected = Some("invalid_client".into());
        assert!(plan(&rejected, 500, m, &mut HashMap::new(), 30).refresh.is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn a_connection_always_due_is_tried_once_per_minimum_interval() {
        let m = Instant::now();
        // Metadata that says "due" whatever happens (expires_in 0 from an old version, a
        // metadata write that keeps failing).
        let d = with_app(vec![conn("c", Status::Connected, Some(0), Some(0))]);
        let mut tracks = HashMap::new();
        let p = plan(&d, 100, m, &mut tracks, 30);
        assert_eq!(p.refresh.len(), 1);
        tracks.get_mut("c").unwrap().last_try = Some(m);
        let p = plan(&d, 100, m, &mut tracks, 30);
        assert!(p.refresh.is_empty(), "not again at once");
        assert_eq!(p.wake_at, m + secs(30));
        assert_eq!(plan(&d, 129, m + secs(29), &mut tracks, 30).refresh.len(), 0);
        assert_eq!(plan(&d, 130, m + secs(30), &mut tracks, 30).refresh.len(), 1);
        // An attempt logged by another process counts too, unless it lies in the future.
        let mut logged = d.clone();
        logged.connections[0].log_refresh(crate::store::RefreshLogEntry { at: 90, ok: true, message: None });
        let p = plan(&logged, 100, m, &mut HashMap::new(), 30);
        assert!(p.refresh.is_empty());
        assert_eq!(p.wake_at, m + secs(20));
        logged.connections[0].refresh_log[0].at = 5000;
        assert_eq!(plan(&logged, 100, m, &mut HashMap::new(), 30).refresh.len(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_wall_clock_step_back_does_not_delay_a_refresh() {
        let m = Instant::now();
        let d = with_app(vec![conn("c", Status::Connected, Some(1100), Some(1060))]);
        let mut tracks = HashMap::new();
        // Seen at wall 1000: due in 60 s.
        assert_eq!(plan(&d, 1000, m, &mut tracks, 30).wake_at, m + secs(60));
        // 60 s later the wall clock was stepped back an hour: still due, by the monotonic clock.
        let p = plan(&d, 1060 - 3600, m + secs(60), &mut tracks, 30);
        assert_eq!(p.refresh.len(), 1);
        // Stepped forward instead: due early, which is harmless.
        let p = plan(&d, 1010 + 3600, m + secs(10), &mut HashMap::new(), 30);
        assert_eq!(p.refresh.len(), 1);
    }

    #[test]
    fn backoff_grows_and_honours_retry_after() {
        let b = next_backoff(None, None, 0);
        assert_eq!(b, Backoff { attempts: 1, wait_secs: 10 });
        let b2 = next_backoff(Some(b), None, 0);
        assert_eq!(b2, Backoff { attempts: 2, wait_secs: 20 });
        assert_eq!(next_backoff(Some(b2), Some(42), 7).wait_secs, 42, "Retry-After wins");
        assert_eq!(next_backoff(None, Some(0), 7).wait_secs, 1);
        let big = next_backoff(Some(Backoff { attempts: 40, wait_secs: 0 }), None, u64::MAX);
        assert!(big.wait_secs <= MAX_SLEEP_SECS + MAX_SLEEP_SECS / 2 + 1);
    }

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
        for c in &data.connections {
            vault.set(&connection_key(&c.id), &t.to_vault_string()).unwrap();
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
        lk.update(|d| {
            for c in &mut d.connections {
                c.token_generation = 1;
            }
            Ok(())
        })
        .await
        .unwrap();
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
        lk.emit(crate::service::Event::ConnectionsChanged);
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
        lk.update(|d| {
            d.connections[0].token_generation = 1;
            Ok(())
        })
        .await
        .unwrap();
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
        lk.emit(crate::service::Event::ConnectionsChanged);
        tokio::time::sleep(Duration::from_secs(60)).await;
        let c = lk.load().unwrap().connections[0].clone();
        assert_eq!(c.token_generation, 3);
        assert!(c.refresh_log.is_empty(), "{:?}", c.refresh_log);
        cancel.cancel();
        task.await.unwrap();
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
