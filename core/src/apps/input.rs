//! What the person typed for a provider app, and its validation: a pure function from
//! [`AppInput`] (with the app it edits, the other apps and the time) to a [`ProviderApp`]
//! and the client secret to keep, or an error naming the field.

use secrecy::SecretString;
use serde::Deserialize;
use url::Url;

use crate::clock::Timestamp;
use crate::error::{Error, Result};
use crate::provider::{AuthMethod, PresetId, RedirectMode, check_endpoint, valid_callback_id};
use crate::store::ProviderApp;
use crate::token::split_scopes;

/// What the UI sends to add or edit a provider app.
#[derive(Debug, Clone, Deserialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
// Every `Option` field may be left out by the UI (`#[serde(default)]`).
#[ts(optional_fields = nullable)]
pub struct AppInput {
    /// Id when editing.
    #[serde(default)]
    pub id: Option<String>,
    /// The preset it follows (fixed once saved).
    pub preset: PresetId,
    /// Name (defaults to the preset's).
    #[serde(default)]
    pub name: String,
    /// The server address (required where the preset has no production server, unless the
    /// endpoints stand in for it).
    #[serde(default)]
    pub base_url: Option<String>,
    /// The client id the provider issued.
    pub client_id: String,
    /// Client secret; empty or absent on edit keeps the stored one.
    #[serde(default)]
    #[ts(as = "Option<String>")]
    pub client_secret: Option<SecretString>,
    /// The scopes to ask for, space-separated (absent: the preset's, or discovery's).
    #[serde(default)]
    pub scopes: Option<String>,
    /// Redirect mode (defaults to the preset's first).
    #[serde(default)]
    pub redirect_mode: Option<RedirectMode>,
    /// Explicit endpoints: any preset's can be overridden (e.g. a staging server whose app
    /// and API live on different hosts); Generic needs at least the authorization and token
    /// endpoints when it has no base URL.
    #[serde(default)]
    pub authorize_url: Option<String>,
    /// The token endpoint, overriding the preset's or discovery's.
    #[serde(default)]
    pub token_url: Option<String>,
    /// The RFC 7009 revocation endpoint, overriding the preset's or discovery's.
    #[serde(default)]
    pub revocation_url: Option<String>,
    /// The profile (userinfo) endpoint, overriding the preset's or discovery's.
    #[serde(default)]
    pub userinfo_url: Option<String>,
    /// For a new app: the callback path segment the form showed in its redirect URI (4–32 of
    /// `0-9a-z`); absent, one is made up. Ignored on edit: an app keeps its address.
    #[serde(default)]
    pub callback_id: Option<String>,
    /// Token-endpoint client authentication; absent: discovery's or the preset's.
    #[serde(default)]
    pub auth_method: Option<AuthMethod>,
    /// A fixed loopback port (1024–65535) for servers that match the redirect URI exactly;
    /// absent: any free port per sign-in.
    #[serde(default)]
    pub loopback_port: Option<u16>,
    /// RFC 8628 device authorization endpoint (absent: discovery's, if any).
    #[serde(default)]
    pub device_authorization_url: Option<String>,
}

/// A URL the person typed into `field`: empty is `None`; otherwise it must parse and be an
/// allowed endpoint (HTTPS, or HTTP on loopback). The error names the field.
pub(crate) fn endpoint_field(field: &str, v: Option<&str>) -> Result<Option<Url>> {
    match v.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => {
            let u = Url::parse(s).map_err(|_| Error::InvalidInput(format!("{field}: {s:?} is not a URL")))?;
            check_endpoint(&u).map_err(|e| Error::InvalidInput(format!("{field}: {e}")))?;
            Ok(Some(u))
        }
    }
}

pub(crate) fn new_id() -> String {
    format!("{:016x}", rand::random::<u64>())
}

/// Checks `input` and builds the app it describes: `existing` is the app being edited (its
/// id, callback path, creation time and secret are kept), `apps` every app saved (a new app's
/// callback path must be its own). Discovery and the keychain come after, in `save_app`.
///
/// # Errors
/// [`Error::InvalidInput`] naming the field: no client id, a redirect mode the preset does not
/// take, a URL that is not one or not allowed, a missing server address, a reserved loopback
/// port, a callback id that is malformed or taken.
pub(crate) fn validate(
    input: &AppInput,
    existing: Option<&ProviderApp>,
    apps: &[ProviderApp],
    now: Timestamp,
) -> Result<(ProviderApp, Option<SecretString>)> {
    let preset = input.preset.preset();
    let url = |field: &str, v: &Option<String>| endpoint_field(field, v.as_deref());
    let client_id = input.client_id.trim().to_owned();
    if client_id.is_empty() {
        return Err(Error::InvalidInput("Client id: enter the client id the provider gave you".into()));
    }
    let redirect_mode = input.redirect_mode.unwrap_or(preset.redirect_modes[0]);
    if !preset.redirect_modes.contains(&redirect_mode) {
        return Err(Error::InvalidInput(format!("{} does not accept this redirect mode", preset.name)));
    }
    let base_url = url("Base URL", &input.base_url)?;
    let authorize_url = url("Authorization URL", &input.authorize_url)?;
    let token_url = url("Token URL", &input.token_url)?;
    // Generic needs a server address only to find its endpoints: with both given, none.
    let endpoints_given = preset.endpoints_suffice() && authorize_url.is_some() && token_url.is_some();
    if base_url.is_none() && preset.base_url_required() && !endpoints_given {
        return Err(Error::InvalidInput(if preset.endpoints_suffice() {
            "Server address: enter the provider's address, or both its authorization and token endpoints".into()
        } else {
            format!("Base URL: {} needs the address of the provider", preset.name)
        }));
    }
    let loopback_port = match input.loopback_port {
        None => None,
        Some(p) if p >= 1024 => Some(p),
        Some(p) => {
            return Err(Error::InvalidInput(format!(
                "Loopback port: {p} is reserved for system services; choose one from 1024 to 65535"
            )));
        }
    };
    let name = match input.name.trim() {
        "" => preset.name.to_owned(),
        n => n.to_owned(),
    };
    let secret = input.client_secret.clone().filter(|s| !secrecy::ExposeSecret::expose_secret(s).is_empty());
    // An app keeps its callback path for life (it is registered at the provider); a new app
    // takes the one the form showed, or a fresh one.
    let callback_id = match &existing {
        Some(a) => a.callback_id.clone(),
        None => {
            let id = match input.callback_id.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
                Some(id) if valid_callback_id(id) => id.to_owned(),
                Some(id) => {
                    return Err(Error::InvalidInput(format!(
                        "Redirect URI: {id:?} cannot name an app's callback (use 4 to 32 of 0-9 and a-z)"
                    )));
                }
                None => new_id()[..8].to_owned(),
            };
            if apps.iter().any(|a| a.callback_id.as_deref() == Some(id.as_str())) {
                return Err(Error::InvalidInput(
                    "Redirect URI: another provider app uses this address already; reopen the form".into(),
                ));
            }
            Some(id)
        }
    };
    let app = ProviderApp {
        id: existing.map(|a| a.id.clone()).unwrap_or_else(new_id),
        preset: input.preset,
        name,
        base_url,
        client_id,
        scopes: split_scopes(input.scopes.as_deref().unwrap_or(preset.default_scopes)).join(" "),
        redirect_mode,
        callback_id,
        authorize_url,
        token_url,
        revocation_url: url("Revocation URL", &input.revocation_url)?,
        userinfo_url: url("Userinfo URL", &input.userinfo_url)?,
        issuer: None,
        iss_required: false,
        auth_method: None,
        loopback_port,
        has_secret: secret.is_some() || existing.is_some_and(|a| a.has_secret),
        // Editing the app is the fix for rejected credentials: its connections refresh again.
        credentials_rejected: None,
        superseded_shares_grant: existing.is_some_and(|a| a.superseded_shares_grant),
        device_authorization_url: url("Device authorization URL", &input.device_authorization_url)?,
        created_at: existing.map(|a| a.created_at).unwrap_or(now),
    };
    Ok((app, secret))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn input(v: serde_json::Value) -> AppInput {
        serde_json::from_value(v).unwrap()
    }

    fn refused(v: serde_json::Value, apps: &[ProviderApp]) -> String {
        match validate(&input(v), None, apps, 100) {
            Err(Error::InvalidInput(m)) => m,
            other => panic!("expected InvalidInput, got {other:?}"),
        }
    }

    #[test]
    fn every_field_error_names_its_field() {
        let r = |v| refused(v, &[]);
        assert!(r(json!({"preset": "rememberizer", "clientId": "  "})).starts_with("Client id:"));
        assert!(r(json!({"preset": "fusio", "clientId": "c"})).starts_with("Base URL:"), "Fusio needs its server");
        assert!(r(json!({"preset": "generic", "clientId": "c"})).starts_with("Server address:"));
        assert!(
            r(json!({"preset": "rememberizer", "clientId": "c", "tokenUrl": "http://api.example/t"}))
                .starts_with("Token URL:")
        );
        assert!(
            r(json!({"preset": "rememberizer", "clientId": "c", "userinfoUrl": "not a url"}))
                .starts_with("Userinfo URL:")
        );
        assert!(
            r(json!({"preset": "rememberizer", "clientId": "c", "loopbackPort": 80})).starts_with("Loopback port:")
        );
        assert!(
            r(json!({"preset": "rememberizer", "clientId": "c", "callbackId": "NO/PE"})).starts_with("Redirect URI:")
        );
        assert!(
            r(json!({"preset": "fusio", "clientId": "c", "baseUrl": "https://f.example", "redirectMode": "deep_link"}))
                .contains("does not accept this redirect mode")
        );
    }

    #[test]
    fn a_new_app_gets_defaults_and_a_callback_path_of_its_own() {
        let (app, secret) =
            validate(&input(json!({"preset": "rememberizer", "clientId": " c ", "clientSecret": "s"})), None, &[], 100)
                .unwrap();
        assert_eq!((app.client_id.as_str(), app.name.as_str()), ("c", "Rememberizer"));
        assert_eq!(app.scopes, split_scopes(PresetId::Rememberizer.preset().default_scopes).join(" "));
        assert_eq!(app.redirect_mode, PresetId::Rememberizer.preset().redirect_modes[0]);
        assert!(app.has_secret && secret.is_some() && app.created_at == 100);
        let callback = app.callback_id.clone().expect("a callback path");
        assert!(valid_callback_id(&callback), "{callback}");
        // Another app may not take the same callback path.
        let taken = refused(json!({"preset": "textmaster", "clientId": "d", "callbackId": callback}), &[app]);
        assert!(taken.contains("another provider app uses this address"), "{taken}");
    }

    #[test]
    fn an_edit_keeps_identity_callback_path_and_secret_and_clears_rejected_credentials() {
        let (mut old, _) =
            validate(&input(json!({"preset": "rememberizer", "clientId": "c", "clientSecret": "s"})), None, &[], 5)
                .unwrap();
        old.credentials_rejected = Some("invalid_client".into());
        let edit = input(json!({"id": old.id, "preset": "rememberizer", "clientId": "c2", "callbackId": "zzzz"}));
        let (new, secret) = validate(&edit, Some(&old), std::slice::from_ref(&old), 900).unwrap();
        assert_eq!((new.id.as_str(), new.created_at), (old.id.as_str(), 5));
        assert_eq!(new.callback_id, old.callback_id, "a registered callback path is for life");
        assert!(new.has_secret && secret.is_none(), "the secret stays in the keychain");
        assert_eq!(new.credentials_rejected, None, "editing is the fix");
        assert_eq!(new.client_id, "c2");
    }
}
