//! What core tells the shells: events for the window, and what to notify the person of
//! (the agent and the app show those; core never talks to the desktop itself).

use std::path::PathBuf;

use crate::store::Status;
use crate::views::{ConnectionView, ErrorView};

/// Something the UI should know about.
#[derive(Debug, Clone)]
pub enum Event {
    /// A connect flow ended.
    ConnectFinished {
        /// Which flow.
        flow_id: String,
        /// The connection, or the error.
        result: std::result::Result<Box<ConnectionView>, ErrorView>,
    },
    /// Connections or apps changed.
    ConnectionsChanged,
    /// A connection that needed reconnecting, or waited for a locked keychain, works again
    /// (the good news, told like the bad: see `Latchkey::announce_recovery`).
    Recovered {
        /// Which connection.
        connection_id: String,
        /// Its account, as people read it.
        who: String,
        /// What it was before.
        was: Status,
    },
    /// Something the person asked to hear about even with the window closed (Settings →
    /// notifications): the shells (agent, app) show it as a desktop notification.
    Notify(Notification),
}

/// What a desktop notification says (core decides what and whether; the shells show it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notification {
    /// A connection newly needs reconnecting.
    NeedsReconnect {
        /// Which connection.
        connection_id: String,
        /// Its account, as people read it.
        who: String,
        /// Why, in plain words.
        reason: String,
    },
    /// A connection that needed reconnecting, or waited for the keychain, works again.
    Recovered {
        /// Which connection.
        connection_id: String,
        /// Its account.
        who: String,
        /// What it was before.
        was: Status,
    },
    /// The metadata file is damaged; background refresh waits.
    DataDamaged {
        /// The file.
        path: PathBuf,
        /// Whether a last good copy exists.
        backup_available: bool,
    },
}
