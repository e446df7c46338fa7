//! The Tauri shell: plugins, state, deep-link wiring and commands. All logic is in
//! `latchkey-core`.

mod background;
mod bench;
mod commands;
#[cfg(feature = "test-hooks")]
mod demo;

use latchkey_core::window::{ConnectFinished, EventQueue, Notice, UiEvent};
use latchkey_core::{Config, Error, Event, Latchkey};
use tauri::{AppHandle, Manager};
use tauri_plugin_deep_link::DeepLinkExt;

/// A notice for the window (the events' queue holds it until the window takes it).
fn notice(app: &AppHandle, n: Notice) {
    app.state::<EventQueue>().notice(n);
}

/// Brings the main window to the front.
pub(crate) fn focus_main(app: &AppHandle) {
    if let Some(w) = app.get_webview_window("main") {
        let _ = w.unminimize();
        let _ = w.show();
        let _ = w.set_focus();
    }
}

/// A URL that reached the app (argv of a second launch, or the launch itself).
fn handle_url(app: &AppHandle, url: String) {
    let lk = app.state::<Latchkey>().inner().clone();
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        focus_main(&app);
        match lk.handle_callback(&url).await {
            Ok(_) => {}
            // A redirect that belongs to no sign-in changed nothing: say so.
            Err(Error::UnknownCallback(message)) => {
                log::warn!("ignored a redirect that matches no sign-in");
                notice(&app, Notice::error(message));
            }
            // Failures of a matched sign-in reach the UI as its connect-finished event.
            Err(e) => log::warn!("sign-in failed: {}", e.code()),
        }
    });
}

/// `--show-connection=ID` (a notification was activated): open that connection's detail.
/// Through the notice queue: a connection to show at start-up waits until the page listens.
fn show_connections(app: &AppHandle, ids: &[String]) {
    for id in ids {
        notice(app, Notice::show(id.clone()));
    }
}

/// Forwards core events to the window (through its queue: `commands::next_events`).
fn forward_events(app: &AppHandle, lk: &Latchkey) {
    let mut rx = lk.subscribe();
    let notifications = lk.config().notifications;
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        loop {
            match rx.recv().await {
                Ok(Event::ConnectFinished { flow_id, result }) => {
                    if result.is_ok() {
                        focus_main(&app);
                    }
                    app.state::<EventQueue>()
                        .push(UiEvent::ConnectFinished(Box::new(ConnectFinished::new(flow_id, result))));
                }
                Ok(Event::ConnectionsChanged) => app.state::<EventQueue>().push(UiEvent::ConnectionsChanged),
                // The window tells recoveries from the list it reloads (the agent, another
                // process, may be the one that saw it).
                Ok(Event::Recovered { .. }) => {}
                // This process refreshes (no agent runs) or connected: it shows what core tells.
                Ok(Event::Notify(n)) => {
                    if notifications {
                        latchkey_desktop::notify::show_notification(&n);
                    }
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                    app.state::<EventQueue>().push(UiEvent::ConnectionsChanged)
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
            }
        }
    });
}

/// Runs the desktop app.
pub fn run() {
    // The log first (the agent's setup: `<data dir>/logs/latchkey.log`, stderr on a terminal),
    // so that everything after, the plugins' start included, can log.
    let config = Config::from_env();
    if let Ok(config) = &config {
        latchkey_desktop::logging::init("latchkey", config);
    }
    tauri::Builder::default()
        // Registered first: a second launch (Linux/Windows deliver the redirect as its argv)
        // hands its URL to this instance's deep-link handler and exits.
        .plugin(tauri_plugin_single_instance::init(|app, argv, _cwd| {
            focus_main(app);
            let launch = latchkey_core::launch::parse(&argv);
            if let Some(url) = launch.url {
                handle_url(app, url);
            }
            show_connections(app, &launch.show_connections);
        }))
        .plugin(tauri_plugin_deep_link::init())
        .plugin(tauri_plugin_opener::init())
        .invoke_handler(tauri::generate_handler![
            commands::initial_state,
            commands::events_ready,
            commands::next_events,
            commands::app_info,
            commands::list_presets,
            commands::list_apps,
            commands::save_app,
            commands::discover_provider,
            commands::add_scope,
            commands::list_connections,
            commands::start_connect,
            commands::cancel_connect,
            commands::submit_code,
            commands::start_device,
            commands::wait_device,
            commands::cancel_device,
            commands::open_external,
            commands::connection_detail,
            commands::refresh_now,
            commands::revoke_connection,
            commands::revoke_grant,
            commands::remove_app,
            commands::get_settings,
            commands::save_settings,
            commands::data_health,
            commands::restore_backup,
            commands::start_empty,
            commands::ui_ready,
        ])
        .manage(EventQueue::default())
        .setup(move |app| {
            let config = config?;
            let lk = Latchkey::open(&config)?;
            log::info!("data in {}", config.data_dir.display());
            // `make demo` only: builds without the `test-hooks` feature ignore the variable.
            #[cfg(feature = "test-hooks")]
            if let Some((url, profile)) = &config.shell.demo_provider {
                tauri::async_runtime::block_on(demo::seed(&lk, url, profile))?;
            }
            forward_events(app.handle(), &lk);
            // Other processes (the agent, latchkey-cli) change the store: show it live.
            match lk.watch_store() {
                Ok(w) => {
                    app.manage(w);
                }
                Err(e) => log::warn!("{e}"),
            }
            let first_paint = std::sync::Arc::new(background::FirstPaint::default());
            app.manage(first_paint.clone());
            background::start(&lk, first_paint);
            if let Ok(settings) = lk.settings() {
                latchkey_desktop::autostart::apply_autostart(settings.autostart_agent, config.autostart_allowed);
            }
            let launch = latchkey_core::launch::parse(&std::env::args().collect::<Vec<_>>());
            let handle = app.handle().clone();
            show_connections(&handle, &launch.show_connections);
            app.manage(lk);
            // On Linux (and Windows in development) the scheme is registered at run time, on a
            // thread of its own: on Linux the plugin runs `update-desktop-database` and
            // `xdg-mime` and waits for both (~10 ms here, a shell script and its children),
            // which on the main thread would hold back the window's first paint. A redirect
            // cannot arrive before the person has clicked Connect, seconds later.
            #[cfg(any(target_os = "linux", all(debug_assertions, windows)))]
            if !config.shell.no_scheme_registration {
                let handle = app.handle().clone();
                std::thread::spawn(move || match handle.deep_link().register_all() {
                    Ok(()) => log::info!("registered the app.latchkey: URL scheme"),
                    Err(e) => log::warn!("could not register the app.latchkey: URL scheme: {e}"),
                });
            }
            // Linux and Windows: the redirect is the argument of a launch — this one (a URL that
            // starts the app), or a second one forwarded by single-instance above.
            if let Some(url) = launch.url {
                handle_url(app.handle(), url);
            }
            // macOS delivers it as an event instead.
            #[cfg(target_os = "macos")]
            {
                let handle = app.handle().clone();
                app.deep_link().on_open_url(move |event| {
                    for url in event.urls() {
                        handle_url(&handle, url.to_string());
                    }
                });
                if let Ok(Some(urls)) = app.deep_link().get_current() {
                    for url in urls {
                        handle_url(app.handle(), url.to_string());
                    }
                }
            }
            Ok(())
        })
        .run(tauri::generate_context!())
        .expect("error while running Latchkey");
}
