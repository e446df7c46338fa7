//! When a token is refreshed: a pure function of its lifetime and the margin setting.

use crate::clock::Timestamp;

/// Refresh at expiry minus the larger of `margin_secs` and 10 % of the token's lifetime
/// (SPEC U6) — but never before half the lifetime has passed, so a token that lives shorter
/// than the margin is not refreshed in a tight loop. `None` when the token has no known expiry.
pub fn refresh_at(issued_at: Timestamp, expires_at: Option<Timestamp>, margin_secs: u64) -> Option<Timestamp> {
    let expires = expires_at?;
    let lifetime = (expires - issued_at).max(0);
    let margin = (margin_secs as i64).max(lifetime / 10).min(lifetime / 2);
    Some(expires - margin)
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
}
