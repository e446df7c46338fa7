//! Desktop integration shared by the agent and the app: a notification when a connection
//! needs reconnecting (activating it opens the app on that connection), and starting the
//! agent at login.

use crate::error::{Error, Result};

/// Shows what core asked to tell ([`crate::event::Event::Notify`]): the agent and the app
/// call this for each such event, unless [`crate::Config::notifications`] is off.
pub fn show_notification(n: &crate::event::Notification) {
    use crate::event::Notification as N;
    match n {
        N::NeedsReconnect { connection_id, who, reason } => notify_needs_reconnect(connection_id, who, reason),
        N::Recovered { connection_id, who, was } => notify_recovered(connection_id, who, *was),
        N::DataDamaged { path, backup_available } => notify_damaged_data(path, *backup_available),
    }
}

/// The argument that makes the app open a connection's detail (forwarded to the running
/// instance by the single-instance plugin).
pub const SHOW_CONNECTION_ARG: &str = "--show-connection=";

fn app_binary() -> Option<std::path::PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let name = if cfg!(windows) { "latchkey.exe" } else { "latchkey" };
    let p = exe.parent()?.join(name);
    p.exists().then_some(p)
}

/// Shows "Reconnect …" through the desktop's notification service, off the caller's thread;
/// failures (no notification service) are logged, never fatal.
pub fn notify_needs_reconnect(connection_id: &str, who: &str, reason: &str) {
    show(
        format!("Reconnect {who}"),
        format!("{reason}\nOpen Latchkey and click Reconnect."),
        "dialog-password",
        vec![format!("{SHOW_CONNECTION_ARG}{connection_id}")],
        format!("connection {connection_id}"),
    );
}

/// Shows "… works again" when a connection that needed reconnecting, or waited for a locked
/// keychain, is fine again — the good news, told like the bad. Off the caller's thread;
/// failures are logged.
pub fn notify_recovered(connection_id: &str, who: &str, was: crate::Status) {
    let body = match was {
        crate::Status::WaitingToSave => "The keychain is unlocked again: the refreshed sign-in is saved.",
        _ => "The connection works again; nothing more to do.",
    };
    show(
        format!("{who} works again"),
        body.to_owned(),
        "emblem-ok",
        vec![format!("{SHOW_CONNECTION_ARG}{connection_id}")],
        format!("connection {connection_id}"),
    );
}

/// Shows "Latchkey's data file is damaged" through the desktop's notification service, off
/// the caller's thread; activating it opens the app on its recovery screen. Failures are
/// logged, never fatal.
pub fn notify_damaged_data(path: &std::path::Path, backup_available: bool) {
    let what = if backup_available { "restore the last good copy" } else { "start empty" };
    let body = format!(
        "{} cannot be read and was left as it is. Background refresh is paused.\nOpen Latchkey to {what}.",
        path.display()
    );
    show("Latchkey's data file is damaged".into(), body, "dialog-warning", vec![], "the damaged data file".into());
}

/// Shows a notification off the caller's thread; activating it starts the app with `open_args`
/// (forwarded to a running instance). `about` names it in the log if it cannot be shown.
fn show(summary: String, body: String, icon: &'static str, open_args: Vec<String>, about: String) {
    std::thread::spawn(move || {
        let mut n = notify_rust::Notification::new();
        n.appname("Latchkey").summary(&summary).body(&body).icon(icon);
        #[cfg(all(unix, not(target_os = "macos")))]
        n.action("default", "Open Latchkey");
        match n.show() {
            #[cfg(all(unix, not(target_os = "macos")))]
            Ok(handle) => handle.wait_for_action(|action| {
                if action == "default"
                    && let Some(app) = app_binary()
                {
                    let _ = std::process::Command::new(app).args(&open_args).spawn();
                }
            }),
            #[cfg(not(all(unix, not(target_os = "macos"))))]
            Ok(_) => {
                let _ = &open_args;
            }
            Err(e) => log::info!("no desktop notification for {about}: {e}"),
        }
    });
}

fn launcher() -> Result<auto_launch::AutoLaunch> {
    let agent = crate::agent::agent_binary()
        .ok_or_else(|| Error::NotFound("latchkey-agent is not installed beside the app".into()))?;
    auto_launch::AutoLaunchBuilder::new()
        .set_app_name("latchkey-agent")
        .set_app_path(&agent.to_string_lossy())
        .build()
        .map_err(|e| Error::Internal(format!("start at login: {e}")))
}

/// Applies the "start at login" setting where this build may ([`crate::Config::autostart_allowed`]).
pub fn apply_autostart(enabled: bool, allowed: bool) {
    if allowed && autostart_enabled() != enabled {
        match set_autostart(enabled) {
            Ok(()) => log::info!("start at login: {}", if enabled { "on" } else { "off" }),
            Err(e) => log::warn!("{e}"),
        }
    }
}

/// Registers (or removes) the agent to start at login: XDG autostart on Linux, a
/// LaunchAgent on macOS, the Run key on Windows (through the `auto-launch` crate).
///
/// # Errors
/// The login item cannot be written or removed (or the agent binary is not beside the app).
pub fn set_autostart(enabled: bool) -> Result<()> {
    let l = launcher()?;
    let r = if enabled { l.enable() } else { l.disable() };
    r.map_err(|e| Error::Internal(format!("start at login: {e}")))
}

/// Whether the agent is registered to start at login.
pub fn autostart_enabled() -> bool {
    launcher().and_then(|l| l.is_enabled().map_err(|e| Error::Internal(e.to_string()))).unwrap_or(false)
}

/// The link rule for pages the window opens in the browser (a provider's page for connected
/// apps, a sign-in link): `https` only, so nothing the window shows can start a local program
/// or a `file:` URL.
///
/// # Errors
/// [`Error::InvalidInput`] for anything but an `https` URL.
pub fn external_link(url: &str) -> Result<url::Url> {
    let parsed = url::Url::parse(url.trim()).map_err(|_| Error::InvalidInput("not a link".into()))?;
    if parsed.scheme() != "https" {
        return Err(Error::InvalidInput("only https links are opened".into()));
    }
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_https_links_are_opened() {
        assert!(super::external_link("https://rememberizer.ai/personal/third-party-apps").is_ok());
        for bad in
            ["http://example.com", "file:///etc/passwd", "app.latchkey:/oauth/callback", "javascript:alert(1)", "x"]
        {
            assert!(super::external_link(bad).is_err(), "{bad}");
        }
    }
}
