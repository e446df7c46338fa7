//! The background refresher: one tokio task that sleeps until the earliest due refresh, wakes
//! early when connections change, and stops on shutdown (the mini-redis pattern). Monotonic
//! timers may stop during suspend, so it re-plans from the wall clock at least every 15
//! minutes.

use std::collections::HashMap;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::clock::Timestamp;
use crate::error::{Error, Result};
use crate::service::Latchkey;
use crate::store::{Data, Status};

/// The longest the refresher sleeps without re-reading the wall clock.
pub const MAX_SLEEP_SECS: i64 = 15 * 60;
/// How many refreshes run at once.
pub const CONCURRENCY: usize = 8;
/// Slack added to a token's margin so a refresh that is due now is not skipped as "fresh".
const SLACK_SECS: i64 = 5;

/// Retry state of a connection whose last attempt failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Failed attempts in a row.
    pub attempts: u32,
    /// Not before this time.
    pub retry_at: Timestamp,
}

/// What to do now and when to wake next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Connections to refresh now, with the validity (seconds) under which to refresh.
    pub refresh: Vec<(String, i64)>,
    /// Connections whose revocation should be retried now.
    pub retry_revoke: Vec<String>,
    /// When to wake next.
    pub wake_at: Timestamp,
}

/// Pure planning: which connections are due at `now`, ordered by deadline, and the next wake.
pub fn plan(data: &Data, now: Timestamp, backoff: &HashMap<String, Backoff>) -> Plan {
    let mut due: Vec<(Timestamp, String, i64)> = vec![];
    let mut retry_revoke = vec![];
    let mut wake_at = now + MAX_SLEEP_SECS;
    for c in &data.connections {
        // A connection whose provider app was removed (and kept) cannot be refreshed.
        if !data.apps.iter().any(|a| a.id == c.app_id) {
            continue;
        }
        let not_before = backoff.get(&c.id).map(|b| b.retry_at);
        match c.status {
            Status::Connected | Status::Refreshing => {
                let Some(at) = c.next_refresh_at else { continue };
                let at = not_before.map_or(at, |nb| at.max(nb));
                if at <= now {
                    let margin = c.expires_at.map_or(0, |e| (e - c.next_refresh_at.unwrap_or(e)).max(0));
                    due.push((at, c.id.clone(), margin + SLACK_SECS));
                } else {
                    wake_at = wake_at.min(at);
                }
            }
            Status::RevocationPending => {
                let at = not_before.unwrap_or(now);
                if at <= now {
                    retry_revoke.push(c.id.clone());
                } else {
                    wake_at = wake_at.min(at);
                }
            }
            Status::NeedsReconnect => {}
        }
    }
    due.sort();
    Plan { refresh: due.into_iter().map(|(_, id, m)| (id, m)).collect(), retry_revoke, wake_at }
}

/// Exponential backoff with jitter, honouring `Retry-After` (capped at 15 minutes).
pub fn next_backoff(prev: Option<Backoff>, now: Timestamp, retry_after: Option<u64>, jitter: u64) -> Backoff {
    let attempts = prev.map_or(1, |b| b.attempts + 1);
    let exp = 5i64.saturating_mul(1 << attempts.min(10)).min(MAX_SLEEP_SECS);
    let wait = match retry_after {
        Some(s) => (s as i64).clamp(1, MAX_SLEEP_SECS),
        None => exp + (jitter % (exp as u64 / 2 + 1)) as i64,
    };
    Backoff { attempts, retry_at: now + wait }
}

/// Runs until `cancel` fires.
pub async fn run(lk: Latchkey, cancel: CancellationToken) {
    let mut backoff: HashMap<String, Backoff> = HashMap::new();
    log::info!("refresher started");
    if let Err(e) = lk.recover_interrupted_refreshes().await {
        log::warn!("cannot check for interrupted refreshes: {e}");
    }
    let resume = tokio::spawn(watch_resume(lk.clone()));
    loop {
        let changed = lk.inner.changed.notified();
        tokio::pin!(changed);
        changed.as_mut().enable();
        let now = lk.now();
        let wake_at = match lk.load() {
            Ok(data) => {
                backoff.retain(|id, _| data.connections.iter().any(|c| &c.id == id));
                let p = plan(&data, now, &backoff);
                run_due(&lk, &p, &mut backoff).await;
                if p.refresh.is_empty() && p.retry_revoke.is_empty() {
                    p.wake_at
                } else {
                    // Work was done: re-plan at once from the new state.
                    now
                }
            }
            // Damaged data: said once (log, notification), then wait for the file to change.
            Err(e @ Error::DamagedData { .. }) => {
                crate::recovery::report_damaged(&e);
                now + MAX_SLEEP_SECS
            }
            Err(e) => {
                log::error!("refresher cannot read the metadata: {e}");
                now + 60
            }
        };
        let secs = (wake_at - lk.now()).clamp(0, MAX_SLEEP_SECS) as u64;
        if secs == 0 && wake_at <= now {
            tokio::task::yield_now().await;
            if cancel.is_cancelled() {
                break;
            }
            continue;
        }
        tokio::select! {
            () = tokio::time::sleep(Duration::from_secs(secs)) => {}
            () = &mut changed => {}
            () = cancel.cancelled() => break,
        }
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

async fn run_due(lk: &Latchkey, p: &Plan, backoff: &mut HashMap<String, Backoff>) {
    use futures_util::StreamExt as _;
    let results: Vec<(String, Result<()>)> = futures_util::stream::iter(p.refresh.clone())
        .map(|(id, min_valid)| {
            let lk = lk.clone();
            async move {
                let r = lk.refresh_tokens(&id, Some(min_valid)).await.map(|_| ());
                (id, r)
            }
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    for (id, r) in results {
        apply_outcome(lk, backoff, id, r);
    }
    for id in &p.retry_revoke {
        match lk.revoke_connection(id, false).await {
            Ok(o) if !o.pending => {
                backoff.remove(id);
            }
            Ok(_) => apply_outcome(lk, backoff, id.clone(), Err(Error::Flow("still unreachable".into()))),
            Err(e) => apply_outcome(lk, backoff, id.clone(), Err(e)),
        }
    }
}

fn apply_outcome(lk: &Latchkey, backoff: &mut HashMap<String, Backoff>, id: String, r: Result<()>) {
    match r {
        Ok(()) => {
            backoff.remove(&id);
        }
        Err(Error::NeedsReconnect { .. }) => {
            backoff.remove(&id);
        }
        Err(e) => {
            let b = next_backoff(backoff.get(&id).copied(), lk.now(), e.retry_after(), rand::random());
            log::info!("connection {id}: retry in {} s ({})", b.retry_at - lk.now(), e.code());
            backoff.insert(id, b);
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

    #[test]
    fn plan_orders_due_connections_and_finds_the_next_wake() {
        let d = with_app(vec![
            conn("late", Status::Connected, Some(1000), Some(900)),
            conn("due2", Status::Connected, Some(200), Some(150)),
            conn("due1", Status::Connected, Some(160), Some(100)),
            conn("dead", Status::NeedsReconnect, Some(10), Some(5)),
            conn("noexp", Status::Connected, None, None),
            conn("pending", Status::RevocationPending, Some(10), Some(5)),
        ]);
        let p = plan(&d, 500, &HashMap::new());
        assert_eq!(p.refresh, vec![("due1".to_owned(), 65), ("due2".to_owned(), 55)]);
        assert_eq!(p.retry_revoke, vec!["pending".to_owned()]);
        assert_eq!(p.wake_at, 900);
        // Nothing due: wake at the earliest deadline, or after 15 minutes at the latest.
        let p = plan(&d, 0, &HashMap::new());
        assert!(p.refresh.is_empty());
        assert_eq!(p.wake_at, 100.min(MAX_SLEEP_SECS));
        let p = plan(&Data::default(), 0, &HashMap::new());
        assert_eq!(p.wake_at, MAX_SLEEP_SECS);
        // Connections kept after their provider app was removed are never due.
        let orphaned = Data { apps: vec![], ..d.clone() };
        assert!(plan(&orphaned, 500, &HashMap::new()).refresh.is_empty());
    }

    #[test]
    fn backoff_defers_and_grows() {
        let d = with_app(vec![conn("c", Status::Connected, Some(200), Some(100))]);
        let b = next_backoff(None, 100, None, 0);
        assert_eq!(b, Backoff { attempts: 1, retry_at: 110 });
        let mut map = HashMap::new();
        map.insert("c".to_owned(), b);
        let p = plan(&d, 105, &map);
        assert!(p.refresh.is_empty());
        assert_eq!(p.wake_at, 110);
        let b2 = next_backoff(Some(b), 110, None, 0);
        assert_eq!(b2.attempts, 2);
        assert_eq!(b2.retry_at, 130);
        assert_eq!(next_backoff(Some(b2), 0, Some(42), 7).retry_at, 42, "Retry-After wins");
        let big = next_backoff(Some(Backoff { attempts: 40, retry_at: 0 }), 0, None, u64::MAX);
        assert!(big.retry_at <= MAX_SLEEP_SECS + MAX_SLEEP_SECS / 2 + 1);
    }

    /// The loop itself under tokio's paused time: it sleeps until the earliest deadline,
    /// refreshes connections in deadline order, and wakes early when connections change.
    /// The provider is unreachable (port 1), so each attempt leaves a failed entry in the
    /// refresh log at the (virtual) time it ran.
    #[tokio::test(start_paused = true)]
    async fn the_loop_wakes_at_deadlines_and_on_change() {
        use crate::clock::Clock;
        use crate::service::Latchkey;
        use crate::token::TokenSet;
        use crate::vault::{MemoryVault, Vault, connection_key};
        use std::sync::Arc;

        const T0: i64 = 1_800_000_000;
        let dir = std::env::temp_dir().join(format!("latchkey-refresher-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let store = crate::store::Store::open(&dir).unwrap();
        let vault = Arc::new(MemoryVault::default());
        let lk = Latchkey::with_parts(store, vault.clone(), Clock::tokio_based(T0), "test").unwrap();
        let tokens =
            crate::token::parse_token_response(br#"{"access_token":"a","refresh_token":"r","expires_in":1000}"#, T0)
                .unwrap();
        let mut data = with_app(vec![
            conn("late", Status::Connected, Some(T0 + 1000), Some(T0 + 100)),
            conn("early", Status::Connected, Some(T0 + 1000), Some(T0 + 50)),
        ]);
        data.apps[0].base_url = Some(url::Url::parse("http://127.0.0.1:1").unwrap());
        for c in &data.connections {
            vault.set(&connection_key(&c.id), &TokenSet::to_vault_string(&tokens)).unwrap();
        }
        lk.update(move |d| {
            *d = data;
            Ok(())
        })
        .await
        .unwrap();
        let attempts = |id: &str| -> Vec<i64> {
            lk.load().unwrap().connection(id).unwrap().refresh_log.iter().map(|e| e.at - T0).collect()
        };
        let cancel = CancellationToken::new();
        let task = tokio::spawn(run(lk.clone(), cancel.clone()));

        // At t=10 the loop sleeps until t=50. A new connection due at t=20 wakes it.
        tokio::time::sleep(Duration::from_secs(10)).await;
        let mut fresh = conn("new", Status::Connected, Some(T0 + 1000), Some(T0 + 20));
        fresh.app_id = "a".into();
        vault.set(&connection_key("new"), &TokenSet::to_vault_string(&tokens)).unwrap();
        lk.update(move |d| {
            d.connections.push(fresh);
            Ok(())
        })
        .await
        .unwrap();
        lk.emit(crate::service::Event::ConnectionsChanged);
        tokio::time::sleep(Duration::from_secs(11)).await;
        assert_eq!(attempts("new"), vec![20], "woken by the change, not at the old deadline");

        tokio::time::sleep(Duration::from_secs(28)).await;
        assert!(attempts("early").is_empty() && attempts("late").is_empty(), "nothing before its deadline");
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert_eq!(attempts("early"), vec![50], "the earliest deadline first");
        assert!(attempts("late").is_empty());
        tokio::time::sleep(Duration::from_secs(50)).await;
        assert_eq!(attempts("late"), vec![100]);
        // A failed attempt is retried with backoff, not in a loop.
        assert!((2..=4).contains(&attempts("early").len()), "{:?}", attempts("early"));
        cancel.cancel();
        task.await.unwrap();
    }
}
