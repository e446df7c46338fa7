//! When a token is refreshed: pure functions of its lifetime and the settings.

use crate::clock::Timestamp;

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
