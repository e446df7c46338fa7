//! Starting `latchkey-agent` at login: XDG autostart on Linux, a LaunchAgent on macOS, the Run
//! key on Windows (through the `auto-launch` crate). The app applies its setting; the agent's
//! `--autostart on|off` does it without the window.

use latchkey_core::agent::agent_binary;
use latchkey_core::{Error, Result};

fn launcher() -> Result<auto_launch::AutoLaunch> {
    let agent =
        agent_binary().ok_or_else(|| Error::NotFound("latchkey-agent is not installed beside the app".into()))?;
    auto_launch::AutoLaunchBuilder::new()
        .set_app_name("latchkey-agent")
        .set_app_path(&agent.to_string_lossy())
        .build()
        .map_err(|e| Error::Internal(format!("start at login: {e}")))
}

/// Applies the "start at login" setting where this build may
/// ([`latchkey_core::Config::autostart_allowed`]).
pub fn apply_autostart(enabled: bool, allowed: bool) {
    if allowed && autostart_enabled() != enabled {
        match set_autostart(enabled) {
            Ok(()) => log::info!("start at login: {}", if enabled { "on" } else { "off" }),
            Err(e) => log::warn!("{e}"),
        }
    }
}

/// Registers (or removes) the agent to start at login.
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
