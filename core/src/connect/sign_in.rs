//! What every sign-in does once it holds tokens (code exchange, device grant).

use secrecy::SecretString;

use crate::apps::new_id;
use crate::error::{Error, Result};
use crate::refresh::describe;
use crate::resources::{self, Profile};
use crate::store::{Connection, ProviderApp, Status};
use crate::token::TokenSet;
use crate::token_endpoint::{self, Client};
use crate::vault::connection_key;
use crate::views::{ConnectionView, view};
use crate::{Event, Latchkey};

impl Latchkey {
    /// What every sign-in does once it holds tokens (code exchange, device grant): `checked`
    /// (the ID token's nonce, where there was one to check), profile, then save — tokens in the
    /// keychain first, then the metadata; a replaced sign-in is revoked, and tokens nobody will
    /// use are not left live at the provider.
    pub(crate) async fn store_signed_in(
        &self,
        app: &ProviderApp,
        client: &Client<'_>,
        flow_id: &str,
        scopes_requested: &[String],
        tokens: TokenSet,
        checked: Result<()>,
    ) -> Result<ConnectionView> {
        let endpoints = &app.endpoints()?;
        let style = app.preset.preset().profile_style;
        let saved = match checked {
            Err(e) => Err(e),
            Ok(()) => match resources::fetch_profile(&self.inner.http, endpoints, style, &tokens.access_token).await {
                Ok(profile) => self.save_connection(app, scopes_requested.to_vec(), profile, tokens.clone()).await,
                Err(Error::MissingScope { scope, .. }) => {
                    let preset = app.preset.preset();
                    let scope = scope.or_else(|| preset.profile_scope.map(str::to_owned));
                    let label = scope.as_deref().and_then(|s| preset.scope_label(s));
                    Err(Error::ScopeNotGranted { provider: app.name.clone(), scope, label })
                }
                Err(e) => Err(e),
            },
        };
        match saved {
            Ok((view, superseded)) => {
                if let Some(old) = superseded {
                    self.revoke_superseded(app, &view.id, &old, &tokens).await;
                }
                Ok(view)
            }
            Err(e) => {
                // Tokens nobody will use are not left live at the provider — unless another
                // connection of this app might share their grant (grant-based servers revoke
                // every token of a grant at once).
                let alone = self.load().is_ok_and(|d| d.connections.iter().all(|c| c.app_id != app.id));
                if alone && !matches!(endpoints.revocation, crate::provider::Revocation::None(_)) {
                    match token_endpoint::revoke(&self.inner.http, endpoints, client, &tokens).await {
                        Ok(_) => {
                            log::info!("sign-in {flow_id} failed after the code exchange; its tokens were revoked")
                        }
                        Err(r) => {
                            log::warn!("sign-in {flow_id}: the unused tokens could not be revoked ({})", r.code())
                        }
                    }
                }
                Err(e)
            }
        }
    }

    /// After a reconnect, revokes the grant the new one replaced (only once the new tokens are
    /// stored). Some servers tie both sign-ins to one grant and end them together: the new
    /// token is checked afterwards, and if it died the app is marked so replaced sign-ins are
    /// never revoked there again, and the connection asks for one more sign-in.
    async fn revoke_superseded(&self, app: &ProviderApp, connection_id: &str, old: &TokenSet, new: &TokenSet) {
        use secrecy::ExposeSecret as _;
        let Ok(endpoints) = app.endpoints() else { return };
        let same = |a: Option<&SecretString>, b: Option<&SecretString>| {
            a.map(|s| s.expose_secret().to_owned()) == b.map(|s| s.expose_secret().to_owned())
        };
        if app.superseded_shares_grant
            || matches!(endpoints.revocation, crate::provider::Revocation::None(_))
            || (same(Some(&old.access_token), Some(&new.access_token))
                && same(old.refresh_token.as_ref(), new.refresh_token.as_ref()))
        {
            return;
        }
        let Ok(secret) = self.client_secret(&app.id).await else { return };
        let client = Client { id: &app.client_id, secret: secret.as_ref() };
        match token_endpoint::revoke(&self.inner.http, &endpoints, &client, old).await {
            Ok(token_endpoint::Revoked::AtProvider) => {
                log::info!("connection {connection_id}: the replaced sign-in was revoked")
            }
            Ok(_) => return,
            Err(e) => {
                log::warn!("connection {connection_id}: the replaced sign-in could not be revoked ({})", e.code());
                return;
            }
        }
        let style = app.preset.preset().profile_style;
        if let Err(Error::Http { status: 401, .. }) =
            resources::fetch_profile(&self.inner.http, &endpoints, style, &new.access_token).await
        {
            log::warn!("connection {connection_id}: revoking the replaced sign-in ended the new one too");
            let (app_id, id) = (app.id.clone(), connection_id.to_owned());
            let _ = self
                .update(move |d| {
                    if let Some(a) = d.apps.iter_mut().find(|a| a.id == app_id) {
                        a.superseded_shares_grant = true;
                    }
                    let c = d.connection_mut(&id)?;
                    c.status = Status::NeedsReconnect;
                    c.last_error = Some(
                        "The provider ended this sign-in together with the one it replaced (it ties them to one grant). Reconnect once more; Latchkey will not revoke replaced sign-ins at this provider again.".into(),
                    );
                    Ok(())
                })
                .await;
            self.emit(Event::ConnectionsChanged);
        }
    }

    async fn save_connection(
        &self,
        app: &ProviderApp,
        requested: Vec<String>,
        profile: Profile,
        mut tokens: TokenSet,
    ) -> Result<(ConnectionView, Option<TokenSet>)> {
        let data = self.load()?;
        let existing =
            data.connections.iter().find(|c| c.app_id == app.id && c.account_id == profile.id).map(|c| c.id.clone());
        let id = existing.clone().unwrap_or_else(new_id);
        // A reconnect replaces the set under the connection's lock, as the next generation,
        // so a refresh in another process never overwrites it with the old grant's tokens.
        let _guard = match &existing {
            Some(id) => Some(self.hold_refresh_lock(id).await?),
            None => None,
        };
        let mut superseded = None;
        if let Some(id) = &existing {
            let previous = self.stored_tokens(id).await.ok();
            let cached = data.connection(id).map(|c| c.token_generation).unwrap_or(0);
            tokens.generation = previous.as_ref().map_or(0, |t| t.generation).max(cached) + 1;
            self.inner.pending.lock().expect("pending").remove(id);
            superseded = previous;
        }
        let key = connection_key(&id);
        let secret = tokens.to_vault_string();
        self.vault(move |v| v.set(&key, &secret)).await?;
        let now = self.now();
        let app_id = app.id.clone();
        let new_conn_id = id.clone();
        let saved = self
            .update(move |d| {
                let settings = d.settings.clone();
                let c = match d.connections.iter_mut().find(|c| c.app_id == app_id && c.account_id == profile.id) {
                    Some(c) => c,
                    None => {
                        d.connections.push(Connection::new(&new_conn_id, &app_id, &profile.id, now));
                        d.connections.last_mut().expect("just pushed")
                    }
                };
                c.name = profile.name;
                c.email = profile.email;
                c.status = Status::Connected;
                // The profile was just read with the new access token.
                c.last_verified_at = Some(now);
                c.last_error = None;
                c.scopes_granted = requested.clone();
                describe(c, &tokens, &settings);
                c.scopes_requested = requested;
                c.updated_at = now;
                let c = c.clone();
                Ok(view(d, &c))
            })
            .await;
        match saved {
            Ok(v) => Ok((v, superseded)),
            Err(e) => {
                // Keep the keychain consistent with the list: a new entry nobody lists is removed.
                if existing.is_none() {
                    let key = connection_key(&id);
                    let _ = self.vault(move |v| v.delete(&key)).await;
                }
                Err(e)
            }
        }
    }
}
