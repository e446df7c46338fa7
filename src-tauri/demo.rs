//! `make demo`: registers the local demo provider as a provider app on first start.

use latchkey_core::{AppInput, Latchkey, PresetId, RedirectMode, Result};

pub async fn seed(lk: &Latchkey, url: &str, profile: &str) -> Result<()> {
    let preset: PresetId = profile.parse().unwrap_or(PresetId::Rememberizer);
    if lk.list_apps()?.iter().any(|a| a.base_url.as_ref().is_some_and(|b| b.as_str().starts_with(url))) {
        return Ok(());
    }
    let (mode, scopes) = match preset {
        PresetId::Rememberizer => (RedirectMode::DeepLink, "read offline_access"),
        PresetId::Textmaster => (RedirectMode::DeepLink, "public user:read user:email"),
        PresetId::Fusio => (RedirectMode::Loopback, "consumer"),
        PresetId::Generic => (RedirectMode::DeepLink, "read profile email"),
    };
    lk.save_app(AppInput {
        id: None,
        preset,
        name: format!("{} (demo)", preset.preset().name),
        base_url: Some(url.to_owned()),
        client_id: "latchkey-demo".into(),
        client_secret: Some("latchkey-demo-secret".to_owned().into()),
        scopes: Some(scopes.into()),
        redirect_mode: Some(mode),
        authorize_url: None,
        token_url: None,
        revocation_url: None,
        userinfo_url: None,
        callback_id: None,
        auth_method: None,
        loopback_port: None,
        device_authorization_url: None,
    })
    .await?;
    log::info!("demo provider app added for {url}");
    Ok(())
}
