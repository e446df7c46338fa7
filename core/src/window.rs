//! What the desktop shell sends the window besides command results: the app's facts and the
//! events' payloads. Defined here beside the views so that their TypeScript is generated with
//! the rest (`make types`); the shell (`src-tauri`) only fills and emits them.

use serde::Serialize;

use crate::{ConnectionView, DataHealth, ErrorView};

/// `app_info`: facts for the About section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub struct AppInfo {
    /// The app's version.
    pub version: String,
    /// Where the metadata file lives.
    pub data_dir: String,
    /// The keychain service name the tokens are stored under.
    pub keyring_service: String,
    /// Whether the background agent runs.
    pub agent_running: bool,
}

/// How a notice is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
pub enum NoticeLevel {
    /// Plain information.
    Info,
    /// Something went wrong.
    Error,
    /// Not a message: open the connection `connection_id` (a notification was activated).
    Show,
}

/// Something for the window to say or do (the `latchkey://notice` event, and
/// [`InitialState::notices`] for those that arrived before the window listened): a message, or a connection to show.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub struct Notice {
    /// How it is shown, or `show`.
    pub level: NoticeLevel,
    /// Plain words (empty for `show`).
    pub message: String,
    /// `show`: the connection to open.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub connection_id: Option<String>,
}

impl Notice {
    /// An error for the banner.
    pub fn error(message: String) -> Self {
        Self { level: NoticeLevel::Error, message, connection_id: None }
    }

    /// Open this connection's detail (a notification was activated).
    pub fn show(connection_id: String) -> Self {
        Self { level: NoticeLevel::Show, message: String::new(), connection_id: Some(connection_id) }
    }
}

/// The `latchkey://connect-finished` event: how a sign-in ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub struct ConnectFinished {
    /// Which flow.
    pub flow_id: String,
    /// Whether it connected.
    pub ok: bool,
    /// The connection, when it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub connection: Option<ConnectionView>,
    /// Why not, when it did not.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub error: Option<ErrorView>,
}

impl ConnectFinished {
    /// The payload for a flow's outcome (`Event::ConnectFinished`).
    pub fn new(flow_id: String, result: std::result::Result<Box<ConnectionView>, ErrorView>) -> Self {
        match result {
            Ok(c) => Self { flow_id, ok: true, connection: Some(*c), error: None },
            Err(e) => Self { flow_id, ok: false, connection: None, error: Some(e) },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    #[test]
    fn connect_finished_leaves_out_what_does_not_apply() {
        let e = ErrorView { code: ErrorCode::Flow, message: "expired".into(), reason: None, scope: None };
        let v = serde_json::to_value(ConnectFinished::new("f1".into(), Err(e))).unwrap();
        assert_eq!(
            v,
            serde_json::json!({ "flowId": "f1", "ok": false, "error": { "code": "flow", "message": "expired" } })
        );
    }

    #[test]
    fn notices_are_camel_case_with_snake_case_levels() {
        let n = Notice::error("x".into());
        assert_eq!(serde_json::to_value(n).unwrap(), serde_json::json!({ "level": "error", "message": "x" }));
        let n = Notice::show("c1".into());
        assert_eq!(
            serde_json::to_value(n).unwrap(),
            serde_json::json!({ "level": "show", "message": "", "connectionId": "c1" })
        );
    }
}

/// `initial_state`: what the window's first paint needs, in one round trip — the connections,
/// or why they could not be read (with the data file's health when it is damaged, for the
/// recovery screen), and the notices that arrived before the page listened. The rest (provider
/// apps, presets) the window asks for after it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub struct InitialState {
    /// The connections (empty when they could not be read).
    pub connections: Vec<ConnectionView>,
    /// Why they could not be read.
    pub error: Option<ErrorView>,
    /// The data file's health, when it is damaged.
    pub health: Option<DataHealth>,
    /// Notices that waited for the window.
    pub notices: Vec<Notice>,
}
