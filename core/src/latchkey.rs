//! `Latchkey`: the one facade the app, the agent and the command line use. Commands in the
//! Tauri shell are a few lines each around its methods, which live beside their concern:
//! provider apps (`apps`), connecting (`connect`), connections (`connections`), refresh
//! (`refresh`), a damaged data file (`recovery`), watching the store (`watch`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::broadcast;

use crate::clock::{Clock, Timestamp};
use crate::config::{Config, MIN_REFRESH_INTERVAL_SECS};
use crate::connect::flow::Flows;
use crate::error::{Error, Result};
use crate::event::{Event, Notification};
use crate::store::{Connection, Data, Status, Store};
use crate::vault::{Vault, platform_vault};
use crate::views::{ConnectionView, view};

pub(crate) struct Inner {
    pub(crate) store: Store,
    pub(crate) vault: Arc<dyn Vault>,
    pub(crate) http: reqwest::Client,
    pub(crate) clock: Clock,
    pub(crate) flows: Flows,
    pub(crate) events: broadcast::Sender<Event>,
    /// The settings it was opened with (for `with_parts`: the defaults).
    config: Config,
    /// One async mutex per connection: refreshes in this process never overlap.
    pub(crate) refresh_locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Refreshed sets the keychain has not taken yet (see `refresh`).
    pub(crate) pending: Mutex<crate::refresh::PendingMap>,
    /// Connections with a background saver running.
    pub(crate) savers: Mutex<std::collections::HashSet<String>>,
    /// Connections this process is refreshing right now (shown as Refreshing; never stored).
    pub(crate) refreshing: Mutex<std::collections::HashSet<String>>,
    /// How long a caller waits for a connection's lock.
    lock_wait: Mutex<std::time::Duration>,
    /// See [`Config::min_refresh_interval_secs`].
    min_refresh_interval_secs: std::sync::atomic::AtomicI64,
    /// Wakes the refresher when connections change.
    pub(crate) changed: tokio::sync::Notify,
    /// Refresh outcomes of the worker's pass waiting to be written together.
    pub(crate) deferred: Mutex<Vec<(tokio::time::Instant, crate::refresh::Deferred)>>,
}

/// The core facade. Cheap to clone.
#[derive(Clone)]
pub struct Latchkey {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for Latchkey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Latchkey").field("data_dir", &self.inner.store.dir()).finish_non_exhaustive()
    }
}

impl Latchkey {
    /// Opens Latchkey on the platform keychain.
    ///
    /// # Errors
    /// When the data directory cannot be created.
    pub fn open(config: &Config) -> Result<Self> {
        let vault: Arc<dyn Vault> = Arc::from(platform_vault(&config.keyring_service));
        let lk = Self::assemble(Store::open(&config.data_dir)?, vault, Clock::system(), config.clone());
        lk.set_min_refresh_interval(config.min_refresh_interval_secs);
        lk.set_flow_timeout(config.flow_timeout_secs);
        Ok(lk)
    }

    /// The settings this instance was opened with.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// See [`Config::min_refresh_interval_secs`].
    pub fn set_min_refresh_interval(&self, secs: i64) {
        self.inner.min_refresh_interval_secs.store(secs.max(1), std::sync::atomic::Ordering::Relaxed);
    }

    /// The shortest time between two scheduled refreshes of one connection.
    pub fn min_refresh_interval(&self) -> i64 {
        self.inner.min_refresh_interval_secs.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// How long a caller waits for a connection's refresh lock (10 s by default).
    pub fn set_lock_wait(&self, wait: std::time::Duration) {
        *self.inner.lock_wait.lock().expect("lock wait") = wait;
    }

    pub(crate) fn lock_wait(&self) -> std::time::Duration {
        *self.inner.lock_wait.lock().expect("lock wait")
    }

    /// A connection as the UI sees it, with what only this process knows (a refresh running).
    pub(crate) fn view(&self, data: &Data, c: &Connection) -> ConnectionView {
        let mut v = view(data, c);
        if self.inner.refreshing.lock().expect("refreshing").contains(&c.id) {
            v.status = Status::Refreshing;
        }
        v
    }

    /// How long sign-ins started from now on wait for their answer ([`Config::flow_timeout_secs`]).
    pub fn set_flow_timeout(&self, secs: i64) {
        self.inner.flows.set_ttl(secs);
    }

    /// Opens Latchkey with the given parts (tests: a memory vault, a manual clock).
    ///
    /// # Errors
    /// None today; kept fallible for the parts that may fail to start.
    pub fn with_parts(store: Store, vault: Arc<dyn Vault>, clock: Clock, keyring_service: &str) -> Result<Self> {
        let config = Config::new(store.dir(), keyring_service);
        Ok(Self::assemble(store, vault, clock, config))
    }

    fn assemble(store: Store, vault: Arc<dyn Vault>, clock: Clock, config: Config) -> Self {
        let (events, _) = broadcast::channel(64);
        Self {
            inner: Arc::new(Inner {
                store,
                vault,
                http: crate::http::client_with_timeout(std::time::Duration::from_secs(config.http_timeout_secs)),
                clock,
                flows: Flows::default(),
                events,
                config,
                refresh_locks: Mutex::new(HashMap::new()),
                pending: Mutex::new(HashMap::new()),
                savers: Mutex::new(Default::default()),
                refreshing: Mutex::new(Default::default()),
                lock_wait: Mutex::new(crate::refresh::LOCK_WAIT),
                min_refresh_interval_secs: std::sync::atomic::AtomicI64::new(MIN_REFRESH_INTERVAL_SECS),
                changed: tokio::sync::Notify::new(),
                deferred: Mutex::default(),
            }),
        }
    }

    /// Events for the UI.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.inner.events.subscribe()
    }

    pub(crate) fn emit(&self, e: Event) {
        if matches!(e, Event::ConnectionsChanged) {
            self.inner.changed.notify_waiters();
        }
        let _ = self.inner.events.send(e);
    }

    /// Says that a connection works again, as breakage is said: an event, and — when
    /// notifications are on — a desktop notification (the mirror of a newly dead connection's
    /// "Reconnect …" notification in `refresh::record_failure`).
    pub(crate) fn announce_recovery(&self, connection_id: &str, who: String, was: Status, notify: bool) {
        log::info!("connection {connection_id} works again (was {was:?})");
        if notify {
            let (connection_id, who) = (connection_id.to_owned(), who.clone());
            self.emit(Event::Notify(Notification::Recovered { connection_id, who, was }));
        }
        self.emit(Event::Recovered { connection_id: connection_id.to_owned(), who, was });
    }

    /// The data directory.
    pub fn data_dir(&self) -> &std::path::Path {
        self.inner.store.dir()
    }

    /// The keychain service name.
    pub fn keyring_service(&self) -> &str {
        &self.inner.config.keyring_service
    }

    /// Now.
    pub fn now(&self) -> Timestamp {
        self.inner.clock.now()
    }

    pub(crate) async fn vault<T: Send + 'static>(
        &self,
        f: impl FnOnce(&dyn Vault) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let vault = self.inner.vault.clone();
        tokio::task::spawn_blocking(move || f(vault.as_ref())).await.map_err(|e| Error::Internal(e.to_string()))?
    }

    pub(crate) async fn update<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Data) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let store = self.inner.store.clone();
        tokio::task::spawn_blocking(move || store.update(f)).await.map_err(|e| Error::Internal(e.to_string()))?
    }

    /// The metadata as it is now.
    ///
    /// # Errors
    /// The data file cannot be read, or is damaged ([`Error::DamagedData`]).
    pub fn load(&self) -> Result<Data> {
        self.inner.store.load()
    }
}
