//! The schedule, pure: when a token is refreshed, which connections are due now and when to
//! wake next, and the backoff after a failure. Deterministic in its inputs (no clock read).

use std::collections::HashMap;
use std::time::Duration;

use tokio::time::Instant;

use crate::clock::Timestamp;
use crate::store::{Connection, Data, Settings, Status};
use crate::token::TokenSet;
/// How often a connection whose access-token lifetime is unknown (the provider gave none, or
/// one that made no sense) is refreshed anyway: a sane periodic check. Between checks it is
/// refreshed on demand (`latchkey-cli token`, a 401 from the provider).
pub const UNKNOWN_LIFETIME_CHECK_SECS: i64 = 3600;

/// Refresh at expiry minus the larger of `margin_secs` and 10 % of the token's lifetime
/// — but never before half the lifetime has passed, so a token that lives shorter
/// than the margin is not refreshed in a tight loop. `None` when the token has no known expiry.
pub fn refresh_at(issued_at: Timestamp, expires_at: Option<Timestamp>, margin_secs: u64) -> Option<Timestamp> {
    let expires = expires_at?;
    let lifetime = (expires - issued_at).max(0);
    let margin = (margin_secs as i64).max(lifetime / 10).min(lifetime / 2);
    Some(expires - margin)
}

/// The next scheduled refresh of a token set received at `issued_at`: [`refresh_at`] when its
/// lifetime is known, [`UNKNOWN_LIFETIME_CHECK_SECS`] after receipt when not — and in any case
/// no later than `max_age_days` after receipt, because some providers expire refresh tokens
/// that sit unused.
pub fn next_refresh(
    issued_at: Timestamp,
    expires_at: Option<Timestamp>,
    margin_secs: u64,
    max_age_days: u32,
) -> Timestamp {
    let by_age = issued_at + i64::from(max_age_days.max(1)) * 86_400;
    refresh_at(issued_at, expires_at, margin_secs).unwrap_or(issued_at + UNKNOWN_LIFETIME_CHECK_SECS).min(by_age)
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
pub(crate) fn needs_refresh(t: &TokenSet, now: crate::Timestamp, min_valid: i64, s: &Settings) -> bool {
    let (margin, days) = (s.refresh_margin_secs, s.refresh_at_least_every_days);
    let expiring = t.remaining(now).is_some_and(|left| left <= min_valid);
    let scheduled = next_refresh(t.issued_at, t.expires_at, margin, days);
    let lifetime = t.expires_at.map(|e| e - t.issued_at);
    let fresh_would_last = next_refresh(now, lifetime.map(|l| now + l), margin, days) - now;
    expiring || (scheduled - now <= min_valid && fresh_would_last > min_valid)
}

/// The longest the refresher sleeps without re-reading the wall clock.
pub const MAX_SLEEP_SECS: i64 = 15 * 60;

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

pub(crate) fn secs(s: i64) -> Duration {
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

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::store::{Connection, Data, ProviderApp, Status};
    use tokio::time::Instant;

    #[test]
    fn margin_is_the_larger_of_setting_and_ten_percent() {
        // 8 h token: 10 % = 48 min > 60 s.
        assert_eq!(refresh_at(0, Some(28_800), 60), Some(28_800 - 2_880));
        // 5 min token: 10 % = 30 s < 60 s.
        assert_eq!(refresh_at(0, Some(300), 60), Some(240));
        // A token shorter-lived than the margin is refreshed at half its life, not at once.
        assert_eq!(refresh_at(100, Some(130), 60), Some(115));
        assert_eq!(refresh_at(100, Some(100), 60), Some(100));
        assert_eq!(refresh_at(0, None, 60), None);
    }

    #[test]
    fn unknown_lifetimes_are_checked_hourly_and_long_ones_weekly() {
        assert_eq!(next_refresh(1000, None, 60, 7), 1000 + UNKNOWN_LIFETIME_CHECK_SECS);
        assert_eq!(next_refresh(0, Some(300), 60, 7), 240);
        // A token that lives a year is still refreshed within the week.
        assert_eq!(next_refresh(0, Some(365 * 86_400), 60, 7), 7 * 86_400);
        assert_eq!(next_refresh(0, Some(365 * 86_400), 60, 0), 86_400, "at least a day");
    }
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
    /// Metadata with one provider app and `connections` (also for the worker's tests).
    pub(crate) fn with_app(connections: Vec<Connection>) -> Data {
        let app: ProviderApp = serde_json::from_value(serde_json::json!({
            "id": "a", "preset": "generic", "name": "A", "baseUrl": "https://a.example", "clientId": "c",
            "scopes": "", "redirectMode": "deep_link", "createdAt": 0
        }))
        .unwrap();
        Data { apps: vec![app], connections, ..Data::default() }
    }

    /// A connection of that app, issued at 0.
    pub(crate) fn conn(id: &str, status: Status, expires: Option<i64>, next: Option<i64>) -> Connection {
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
}
