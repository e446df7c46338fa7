//! What the desktop shell sends the window besides command results: the app's facts, the
//! events, and the queue the events wait in until the window asks for them. Defined here beside
//! the views so that their TypeScript is generated with the rest (`make types`); the shell
//! (`src-tauri`) only fills the queue and answers the window's calls.

use std::collections::VecDeque;
use std::sync::Mutex;

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

/// Something for the window to say or do ([`UiEvent::Notice`], and [`InitialState::notices`]
/// for those that arrived before the window listened): a message, or a connection to show.
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

/// [`UiEvent::ConnectFinished`]: how a sign-in ended.
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

/// Something that happened, for the window: what `next_events` returns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS)]
#[serde(tag = "kind", content = "payload", rename_all = "camelCase")]
pub enum UiEvent {
    /// A sign-in ended.
    ConnectFinished(Box<ConnectFinished>),
    /// Connections or provider apps changed: the window reads them again.
    ConnectionsChanged,
    /// A message for the notice banner, or a connection to show.
    Notice(Notice),
}

/// The most events that wait for a window that does not ask (a page that hung): beyond it the
/// oldest go, and the window is told to read the list again.
pub const MAX_QUEUED: usize = 256;

/// Where the window's events wait until it asks for them.
///
/// The window asks with one call that stays open until something happens
/// ([`EventQueue::next`], the `next_events` command), and asks again when it is answered. So the
/// app never runs a script in the page to deliver an event, which is how Tauri's own events
/// reach it: on WebKitGTK each such script makes the app process start a JavaScript engine of
/// its own to read the script's result (README "Performance": the window's RSS −9 MiB).
///
/// Before the window listens ([`EventQueue::listening`], after its first paint), notices wait
/// apart: the first state takes them ([`EventQueue::take_early`]); other events are dropped,
/// because the window reads the list once it listens.
#[derive(Debug, Default)]
pub struct EventQueue {
    state: Mutex<QueueState>,
    wake: tokio::sync::Notify,
}

#[derive(Debug, Default)]
struct QueueState {
    listening: bool,
    early: Vec<Notice>,
    queue: VecDeque<UiEvent>,
    /// The page that asked last: a call from a page that was replaced (reloaded) returns.
    page: u64,
}

impl EventQueue {
    fn state(&self) -> std::sync::MutexGuard<'_, QueueState> {
        // A panic elsewhere while holding the lock leaves plain data behind: keep using it.
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A notice: for the window's first state until it listens, then an event.
    pub fn notice(&self, n: Notice) {
        let mut s = self.state();
        if s.listening {
            drop(s);
            self.push(UiEvent::Notice(n));
        } else {
            s.early.push(n);
        }
    }

    /// An event for the window (dropped until it listens, see [`EventQueue`]). A change
    /// already waiting is not queued twice.
    pub fn push(&self, e: UiEvent) {
        let mut s = self.state();
        if !s.listening {
            return;
        }
        if e == UiEvent::ConnectionsChanged && s.queue.contains(&UiEvent::ConnectionsChanged) {
            return;
        }
        s.queue.push_back(e);
        if s.queue.len() > MAX_QUEUED {
            s.queue.retain(|e| *e != UiEvent::ConnectionsChanged);
            while s.queue.len() >= MAX_QUEUED {
                s.queue.pop_front();
            }
            s.queue.push_back(UiEvent::ConnectionsChanged);
        }
        drop(s);
        self.wake.notify_waiters();
    }

    /// The notices that arrived so far (the window's first state); later ones wait too, until
    /// it listens.
    pub fn take_early(&self) -> Vec<Notice> {
        std::mem::take(&mut self.state().early)
    }

    /// The window listens now: returns the notices that arrived before; later ones are events.
    /// Under one lock, so that a notice is either returned here or queued, never neither.
    pub fn listening(&self) -> Vec<Notice> {
        let mut s = self.state();
        s.listening = true;
        std::mem::take(&mut s.early)
    }

    /// What happened since the last call, waiting until something does. `page` names the
    /// page that asks: a call from another page before this one returns at once, empty, and
    /// takes nothing (the window was reloaded).
    pub async fn next(&self, page: u64) -> Vec<UiEvent> {
        if std::mem::replace(&mut self.state().page, page) != page {
            self.wake.notify_waiters();
        }
        loop {
            let woken = self.wake.notified();
            tokio::pin!(woken);
            // Registered before the queue is looked at: a push in between still wakes it.
            woken.as_mut().enable();
            {
                let mut s = self.state();
                if s.page != page {
                    return Vec::new();
                }
                if !s.queue.is_empty() {
                    return s.queue.drain(..).collect();
                }
            }
            woken.await;
        }
    }
}

#[cfg(test)]
mod queue_tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;

    fn changed() -> UiEvent {
        UiEvent::ConnectionsChanged
    }

    fn info(m: &str) -> Notice {
        Notice { level: NoticeLevel::Info, message: m.into(), connection_id: None }
    }

    /// A page's call for events, waiting in a task of its own.
    fn ask(q: &Arc<EventQueue>, page: u64) -> tokio::task::JoinHandle<Vec<UiEvent>> {
        let q = q.clone();
        tokio::spawn(async move { q.next(page).await })
    }

    #[test]
    fn events_are_tagged_by_kind() {
        assert_eq!(serde_json::to_value(changed()).unwrap(), serde_json::json!({ "kind": "connectionsChanged" }));
        assert_eq!(
            serde_json::to_value(UiEvent::Notice(Notice::error("x".into()))).unwrap(),
            serde_json::json!({ "kind": "notice", "payload": { "level": "error", "message": "x" } })
        );
    }

    #[tokio::test]
    async fn notices_wait_for_the_first_state_then_for_listening_then_come_as_events() {
        let q = EventQueue::default();
        q.notice(info("a"));
        q.push(changed());
        assert_eq!(q.take_early(), vec![info("a")]);
        q.notice(info("b"));
        assert_eq!(q.listening(), vec![info("b")]);
        q.notice(info("c"));
        // The change before listening was dropped: the window reads the list once it listens.
        assert_eq!(q.next(1).await, vec![UiEvent::Notice(info("c"))]);
    }

    #[tokio::test]
    async fn a_waiting_call_is_answered_by_the_next_event_in_order() {
        let q = Arc::new(EventQueue::default());
        q.listening();
        let waiting = ask(&q, 1);
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiting.is_finished(), "nothing happened yet");
        q.push(changed());
        let got = tokio::time::timeout(Duration::from_secs(5), waiting).await.expect("answered").unwrap();
        assert_eq!(got, vec![changed()]);
        q.notice(info("x"));
        q.push(changed());
        q.push(changed());
        assert_eq!(q.next(1).await, vec![UiEvent::Notice(info("x")), changed()], "one change, after the notice");
    }

    #[tokio::test]
    async fn a_reloaded_page_takes_over_and_the_old_call_returns_empty() {
        let q = Arc::new(EventQueue::default());
        q.listening();
        let old = ask(&q, 1);
        tokio::time::sleep(Duration::from_millis(20)).await;
        let new = ask(&q, 2);
        let old = tokio::time::timeout(Duration::from_secs(5), old).await.expect("the old call returns").unwrap();
        assert!(old.is_empty());
        q.notice(info("for the new page"));
        let new = tokio::time::timeout(Duration::from_secs(5), new).await.expect("answered").unwrap();
        assert_eq!(new, vec![UiEvent::Notice(info("for the new page"))]);
    }

    #[tokio::test]
    async fn a_window_that_does_not_ask_holds_a_bounded_queue_ending_in_a_reload() {
        let q = EventQueue::default();
        q.listening();
        for i in 0..(MAX_QUEUED * 2) {
            q.notice(info(&i.to_string()));
            q.push(changed());
        }
        let got = q.next(1).await;
        assert!(got.len() <= MAX_QUEUED, "{} events", got.len());
        assert_eq!(got.last(), Some(&changed()), "the window reads the list again");
        assert_eq!(got.iter().filter(|e| **e == changed()).count(), 1);
        assert_eq!(got[got.len() - 2], UiEvent::Notice(info(&(MAX_QUEUED * 2 - 1).to_string())), "the newest kept");
    }
}
