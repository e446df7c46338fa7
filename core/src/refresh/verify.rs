//! The check after a refresh: one profile request with the new access token (servers that
//! rotate lazily commit the rotation on first use).

use std::time::Duration;

use secrecy::SecretString;

use crate::Latchkey;
use crate::error::Error;
/// How long the check of a refreshed access token may take (see `Latchkey::verify`).
pub(crate) const VERIFY_TIMEOUT: Duration = Duration::from_secs(5);

/// What to check a refreshed access token against.
#[derive(Clone, Copy)]
pub(crate) struct Verify<'a> {
    pub(crate) endpoints: &'a crate::provider::Endpoints,
    pub(crate) style: crate::provider::ProfileStyle,
}

/// The outcome of the profile call after a refresh.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verified {
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
    pub(crate) async fn verify(&self, connection_id: &str, v: Verify<'_>, token: &SecretString) -> Verified {
        let call = crate::resources::fetch_profile(&self.inner.http, v.endpoints, v.style, token);
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
