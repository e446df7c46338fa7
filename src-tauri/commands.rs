//! IPC commands: take state, call core, convert the error to `{ code, message }`.

use latchkey_core::connect::DeviceStart;
use latchkey_core::window::{AppInfo, EventQueue, InitialState, UiEvent};
use latchkey_core::{AppInput, Error, ErrorCode, Latchkey, PresetId, Settings};
use latchkey_core::{AppView, ConnectStart, ConnectionView, DiscoveryView, ErrorView, PresetView};
use latchkey_core::{DataHealth, Recovered};
use latchkey_core::{Detail, RevokeOutcome};
use tauri::{AppHandle, State};
use tauri_plugin_opener::OpenerExt;

type Result<T> = std::result::Result<T, ErrorView>;

fn err(e: Error) -> ErrorView {
    ErrorView::from(&e)
}

#[tauri::command]
pub fn app_info(lk: State<'_, Latchkey>) -> AppInfo {
    AppInfo {
        version: env!("CARGO_PKG_VERSION").to_owned(),
        data_dir: lk.data_dir().display().to_string(),
        keyring_service: lk.keyring_service().to_owned(),
        agent_running: latchkey_core::agent::is_running(lk.data_dir()),
    }
}

/// The window's first state: the list, and the notices that waited for it (later ones wait
/// for `events_ready`).
/// Async, so that it runs on the runtime's threads, not on the main thread, which is busy
/// starting the window while the page asks for it.
#[tauri::command]
pub async fn initial_state(lk: State<'_, Latchkey>, events: State<'_, EventQueue>) -> Result<InitialState> {
    let (connections, error) = match lk.list_connections() {
        Ok(list) => (list, None),
        Err(e) => (Vec::new(), Some(err(e))),
    };
    let damaged = error.as_ref().is_some_and(|e| e.code == ErrorCode::DamagedData);
    Ok(InitialState { connections, error, health: damaged.then(|| lk.data_health()), notices: events.take_early() })
}

/// The page's first list is on screen: background work may start (`background::FirstPaint`);
/// `make bench` records the moment (`bench::record_ready`).
#[tauri::command]
pub fn ui_ready(
    lk: State<'_, Latchkey>,
    first_paint: State<'_, std::sync::Arc<crate::background::FirstPaint>>,
    marks: Option<serde_json::Value>,
) {
    first_paint.done();
    crate::bench::record_ready(&lk, marks);
}

/// The window listens to events now: the notices that arrived since its first state; later
/// ones come as events ([`next_events`]).
#[tauri::command]
pub fn events_ready(events: State<'_, EventQueue>) -> Vec<latchkey_core::window::Notice> {
    events.listening()
}

/// What happened since the window last asked; answers when something does (`EventQueue`).
/// `page` is a number the page picked when it loaded.
#[tauri::command]
pub async fn next_events(events: State<'_, EventQueue>, page: u64) -> Result<Vec<UiEvent>> {
    Ok(events.next(page).await)
}

#[tauri::command]
pub fn list_presets() -> Vec<PresetView> {
    Latchkey::presets()
}

#[tauri::command]
pub fn list_apps(lk: State<'_, Latchkey>) -> Result<Vec<AppView>> {
    lk.list_apps().map_err(err)
}

#[tauri::command]
pub async fn save_app(lk: State<'_, Latchkey>, input: AppInput) -> Result<AppView> {
    lk.save_app(input).await.map_err(err)
}

/// What the provider at a base URL publishes (the form shows it before saving).
#[tauri::command]
pub async fn discover_provider(lk: State<'_, Latchkey>, preset: PresetId, base_url: String) -> Result<DiscoveryView> {
    lk.discover_provider(preset, &base_url).await.map_err(err)
}

/// "Connect again with …": adds a scope to a provider app.
#[tauri::command]
pub async fn add_scope(lk: State<'_, Latchkey>, app_id: String, scope: String) -> Result<AppView> {
    lk.add_scope(&app_id, &scope).await.map_err(err)
}

#[tauri::command]
pub fn list_connections(lk: State<'_, Latchkey>) -> Result<Vec<ConnectionView>> {
    lk.list_connections().map_err(err)
}

/// Opens a URL in the system browser. In builds with the `test-hooks` feature (end-to-end
/// tests) and `LATCHKEY_OPEN_URL_LOG` set ([`latchkey_core::config::ShellSwitches`]), the URL
/// is appended to that file instead: the test plays the browser.
pub(crate) fn open_in_browser(app: &AppHandle, url: &str) -> std::result::Result<(), ErrorView> {
    #[cfg(feature = "test-hooks")]
    if let Some(path) = tauri::Manager::try_state::<Latchkey>(app).and_then(|lk| lk.config().shell.open_url_log.clone())
    {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| err(Error::Internal(e.to_string())))?;
        return writeln!(f, "{url}").map_err(|e| err(Error::Internal(e.to_string())));
    }
    app.opener()
        .open_url(url, None::<&str>)
        .map_err(|e| err(Error::Internal(format!("could not open the browser: {e}"))))
}

#[tauri::command]
pub async fn start_connect(
    app: AppHandle,
    lk: State<'_, Latchkey>,
    app_id: String,
    connection_id: Option<String>,
) -> Result<ConnectStart> {
    let start = lk.start_connect(&app_id, connection_id.as_deref()).await.map_err(err)?;
    // If the browser cannot be opened the waiting panel still offers the link to copy.
    if let Err(e) = open_in_browser(&app, &start.authorize_url) {
        log::warn!("{}", e.message);
    }
    Ok(start)
}

#[tauri::command]
pub fn cancel_connect(lk: State<'_, Latchkey>, flow_id: String) {
    lk.cancel_connect(&flow_id);
}

#[tauri::command]
pub async fn submit_code(lk: State<'_, Latchkey>, flow_id: String, code: String) -> Result<ConnectionView> {
    lk.submit_code(&flow_id, &code).await.map_err(err)
}

/// Sign in on another device (RFC 8628): the code and where to enter it.
#[tauri::command]
pub async fn start_device(lk: State<'_, Latchkey>, app_id: String) -> Result<DeviceStart> {
    lk.start_device(&app_id).await.map_err(err)
}

/// Waits until the other device approves; the connection, or why not.
#[tauri::command]
pub async fn wait_device(lk: State<'_, Latchkey>, flow_id: String) -> Result<ConnectionView> {
    lk.wait_device(&flow_id).await.map_err(err)
}

#[tauri::command]
pub fn cancel_device(lk: State<'_, Latchkey>, flow_id: String) {
    lk.cancel_device(&flow_id);
}

#[tauri::command]
pub fn open_external(app: AppHandle, url: String) -> Result<()> {
    let parsed = latchkey_core::links::external_link(&url).map_err(err)?;
    app.opener().open_url(parsed.as_str(), None::<&str>).map_err(|e| err(Error::Internal(e.to_string())))
}

#[tauri::command]
pub async fn connection_detail(lk: State<'_, Latchkey>, id: String) -> Result<Detail> {
    lk.connection_detail(&id).await.map_err(err)
}

#[tauri::command]
pub async fn refresh_now(lk: State<'_, Latchkey>, id: String) -> Result<ConnectionView> {
    lk.refresh(&id).await.map_err(err)
}

#[tauri::command]
pub async fn revoke_connection(lk: State<'_, Latchkey>, id: String, local_only: bool) -> Result<RevokeOutcome> {
    lk.revoke_connection(&id, local_only).await.map_err(err)
}

#[tauri::command]
pub async fn revoke_grant(lk: State<'_, Latchkey>, connection_id: String, grant_id: String) -> Result<()> {
    lk.revoke_grant(&connection_id, &grant_id).await.map_err(err)
}

#[tauri::command]
pub async fn remove_app(lk: State<'_, Latchkey>, id: String, revoke_connections: bool) -> Result<()> {
    lk.remove_app(&id, revoke_connections).await.map_err(err)
}

#[tauri::command]
pub fn get_settings(lk: State<'_, Latchkey>) -> Result<Settings> {
    lk.settings().map_err(err)
}

#[tauri::command]
pub async fn save_settings(lk: State<'_, Latchkey>, settings: Settings) -> Result<Settings> {
    let saved = lk.save_settings(settings).await.map_err(err)?;
    latchkey_desktop::autostart::apply_autostart(saved.autostart_agent, lk.config().autostart_allowed);
    Ok(saved)
}

#[tauri::command]
pub fn data_health(lk: State<'_, Latchkey>) -> DataHealth {
    lk.data_health()
}

#[tauri::command]
pub async fn restore_backup(lk: State<'_, Latchkey>) -> Result<Recovered> {
    lk.restore_backup().await.map_err(err)
}

#[tauri::command]
pub async fn start_empty(lk: State<'_, Latchkey>) -> Result<Recovered> {
    lk.start_empty().await.map_err(err)
}
