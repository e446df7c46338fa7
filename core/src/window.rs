//! What the desktop shell sends the window besides command results: the app's facts and the
//! events' payloads. Defined here beside the views so that their TypeScript is generated with
//! the rest (`make types`); the shell (`src-tauri`) only fills and emits them.

use serde::Serialize;

use crate::service::{ConnectionView, ErrorView};

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
}

/// A message for the notice banner (the `latchkey://notice` event, and `take_notices` for
/// those that arrived before the window listened).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS)]
pub struct Notice {
    /// How it is shown.
    pub level: NoticeLevel,
    /// Plain words.
    pub message: String,
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
    fn notice_levels_are_snake_case() {
        let n = Notice { level: NoticeLevel::Error, message: "x".into() };
        assert_eq!(serde_json::to_value(n).unwrap(), serde_json::json!({ "level": "error", "message": "x" }));
    }
}
