//! What Latchkey's desktop programs share beyond core: desktop notifications ([`notify`]),
//! starting the agent at login ([`autostart`]) and the one log setup ([`logging`]) of the app
//! and the agent. The package also builds `latchkey-agent` (background refresh, headless) and
//! `latchkey-cli` (the command-line companion), so `latchkey-core` needs no desktop crate.

pub mod autostart;
pub mod logging;
pub mod notify;
