//! Desktop notifications: what core asks to tell ([`latchkey_core::Event::Notify`]) — a
//! connection needs reconnecting, works again, or the data file is damaged. Activating one
//! opens the app on that connection (or its recovery screen).

use latchkey_core::Notification;
use latchkey_core::Status;
use latchkey_core::launch::SHOW_CONNECTION_ARG;

/// Shows what core asked to tell: the agent and the app call this for each
/// [`latchkey_core::Event::Notify`], unless [`latchkey_core::Config::notifications`] is off.
pub fn show_notification(n: &Notification) {
    match n {
        Notification::NeedsReconnect { connection_id, who, reason } => {
            notify_needs_reconnect(connection_id, who, reason);
        }
        Notification::Recovered { connection_id, who, was } => notify_recovered(connection_id, who, *was),
        Notification::DataDamaged { path, backup_available } => notify_damaged_data(path, *backup_available),
    }
}

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
pub fn notify_recovered(connection_id: &str, who: &str, was: Status) {
    let body = match was {
        Status::WaitingToSave => "The keychain is unlocked again: the refreshed sign-in is saved.",
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
