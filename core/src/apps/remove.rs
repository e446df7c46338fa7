//! Removing a provider app, with or without revoking its connections first.

use crate::error::{Error, Result};
use crate::vault::app_secret_key;
use crate::{Event, Latchkey};

impl Latchkey {
    /// Removes a provider app. Its connections are revoked at the provider first
    /// (`revoke_connections`; if a revocation is left pending, the app stays — it is needed
    /// to retry — and the error says so), or kept: they stay in the list with their tokens,
    /// but can no longer be refreshed.
    ///
    /// # Errors
    /// No such app; with `revoke_connections`, a connection whose revocation fails (the app is kept so it can be retried).
    pub async fn remove_app(&self, app_id: &str, revoke_connections: bool) -> Result<()> {
        let data = self.load()?;
        data.app(app_id)?;
        let conns: Vec<String> = data.connections.iter().filter(|c| c.app_id == app_id).map(|c| c.id.clone()).collect();
        let mut pending = 0;
        if revoke_connections {
            for id in conns {
                if self.revoke_connection(&id, false).await?.pending {
                    pending += 1;
                }
            }
        }
        if pending > 0 {
            return Err(Error::Flow(format!(
                "{pending} connection(s) could not be revoked because the provider is unreachable; the provider app was kept so Latchkey can retry. Retry later, or remove them here only."
            )));
        }
        let key = app_secret_key(app_id);
        self.vault(move |v| v.delete(&key)).await?;
        let id = app_id.to_owned();
        self.update(move |d| {
            d.apps.retain(|a| a.id != id);
            Ok(())
        })
        .await?;
        self.emit(Event::ConnectionsChanged);
        Ok(())
    }
}
