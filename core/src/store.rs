//! Non-secret metadata: provider apps, connections, settings. One JSON file, written
//! atomically (temp file, fsync, rename, fsync of the directory), read-modify-write under an
//! advisory lock so the app, the agent and the command line never lose each other's changes.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use url::Url;

use crate::clock::Timestamp;
use crate::error::{Error, Result};
use crate::provider::{AuthMethod, PresetId, RedirectMode};

const FILE: &str = "latchkey.json";
const LOCK: &str = "latchkey.json.lock";
const FORMAT: u32 = 1;
/// How many refresh outcomes a connection remembers.
pub const REFRESH_LOG_LEN: usize = 20;

/// A provider app the person registered (the client secret lives in the keychain).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProviderApp {
    /// Stable id.
    pub id: String,
    /// The preset it follows.
    pub preset: PresetId,
    /// Display name.
    pub name: String,
    /// Base URL override (required for Fusio and Generic).
    pub base_url: Option<Url>,
    /// OAuth client id.
    pub client_id: String,
    /// Requested scopes, space-separated.
    pub scopes: String,
    /// How the authorization response comes back.
    pub redirect_mode: RedirectMode,
    /// This app's own callback path segment: its redirect URI is
    /// `app.latchkey:/oauth/callback/<id>` (loopback: `http://127.0.0.1:{port}/oauth/callback/<id>`),
    /// so an answer can only complete a sign-in of the app it was meant for (RFC 9700 §4.4.2).
    /// Apps saved before this existed have none and keep the shared `/oauth/callback`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback_id: Option<String>,
    /// Explicit or discovered endpoints (Generic; discovery for Fusio).
    #[serde(default)]
    pub authorize_url: Option<Url>,
    /// Token endpoint.
    #[serde(default)]
    pub token_url: Option<Url>,
    /// RFC 7009 revocation endpoint.
    #[serde(default)]
    pub revocation_url: Option<Url>,
    /// Userinfo / profile endpoint.
    #[serde(default)]
    pub userinfo_url: Option<Url>,
    /// The issuer from discovery, checked against `iss` (RFC 9207).
    #[serde(default)]
    pub issuer: Option<String>,
    /// The provider's metadata says it always sends `iss`.
    #[serde(default)]
    pub iss_required: bool,
    /// Client authentication from discovery, when it differs from the preset.
    #[serde(default)]
    pub auth_method: Option<AuthMethod>,
    /// Whether a client secret is in the keychain.
    #[serde(default)]
    pub has_secret: bool,
    /// The provider answered `invalid_client` / `unauthorized_client` to a refresh: the app's
    /// credentials (usually its client secret) are wrong, not the connections' grants. Its
    /// connections are not refreshed until the app is edited. The provider's words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials_rejected: Option<String>,
    /// Revoking a sign-in that a reconnect replaced also ended the new one here (the server
    /// ties both to one grant): replaced sign-ins are no longer revoked at this provider.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub superseded_shares_grant: bool,
    /// When it was added.
    pub created_at: Timestamp,
}

/// What a connection is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Tokens are good (or will be refreshed in time).
    Connected,
    /// A refresh is running (shown from memory; files written before 0.2 may hold it).
    Refreshing,
    /// The provider issued new tokens but the keychain refused them (locked, unavailable): the
    /// process that refreshed holds them in memory, serves them, and saves them as soon as the
    /// keychain takes them.
    WaitingToSave,
    /// The refresh token is dead; the person must reconnect.
    NeedsReconnect,
    /// Revoke could not reach the provider; retried, kept out of refresh.
    RevocationPending,
}

/// One refresh attempt's outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RefreshLogEntry {
    /// When.
    pub at: Timestamp,
    /// Whether it worked.
    pub ok: bool,
    /// What went wrong, in plain words.
    pub message: Option<String>,
}

/// A connected account (its tokens live in the keychain).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Connection {
    /// Stable id.
    pub id: String,
    /// The provider app it belongs to.
    pub app_id: String,
    /// The account id from the profile endpoint: identity = (app_id, account_id).
    pub account_id: String,
    /// Account name.
    pub name: Option<String>,
    /// Account email.
    pub email: Option<String>,
    /// A label the person set.
    #[serde(default)]
    pub label: Option<String>,
    /// Status.
    pub status: Status,
    /// When the access token expires.
    pub expires_at: Option<Timestamp>,
    /// When the access token was issued.
    #[serde(default)]
    pub issued_at: Option<Timestamp>,
    /// Last successful refresh.
    pub last_refresh_at: Option<Timestamp>,
    /// When the next refresh is due.
    pub next_refresh_at: Option<Timestamp>,
    /// The last error, in plain words.
    pub last_error: Option<String>,
    /// Scopes the provider granted.
    pub scopes_granted: Vec<String>,
    /// Scopes that were requested.
    pub scopes_requested: Vec<String>,
    /// When it was first connected.
    pub created_at: Timestamp,
    /// Last change.
    pub updated_at: Timestamp,
    /// Recent refresh outcomes, newest last.
    #[serde(default)]
    pub refresh_log: Vec<RefreshLogEntry>,
    /// The generation of the token set this metadata describes (a cache of the keychain's:
    /// when the keychain holds a newer one, this row is repaired from it).
    #[serde(default)]
    pub token_generation: u64,
}

impl Connection {
    /// A new connection of `app_id` to `account_id`, before its tokens are known.
    pub fn new(id: &str, app_id: &str, account_id: &str, now: Timestamp) -> Self {
        Self {
            id: id.to_owned(),
            app_id: app_id.to_owned(),
            account_id: account_id.to_owned(),
            name: None,
            email: None,
            label: None,
            status: Status::Connected,
            expires_at: None,
            issued_at: None,
            last_refresh_at: None,
            next_refresh_at: None,
            last_error: None,
            scopes_granted: vec![],
            scopes_requested: vec![],
            created_at: now,
            updated_at: now,
            refresh_log: vec![],
            token_generation: 0,
        }
    }

    /// The last refresh attempt, successful or not.
    pub fn last_attempt_at(&self) -> Option<Timestamp> {
        self.refresh_log.last().map(|e| e.at)
    }

    /// Appends a refresh outcome, keeping the log bounded.
    pub fn log_refresh(&mut self, entry: RefreshLogEntry) {
        self.refresh_log.push(entry);
        let excess = self.refresh_log.len().saturating_sub(REFRESH_LOG_LEN);
        self.refresh_log.drain(..excess);
    }
}

/// Settings the person can change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Settings {
    /// Refresh this long before expiry at least (the margin is the larger of this and 10 %
    /// of the token's lifetime).
    pub refresh_margin_secs: u64,
    /// Desktop notifications (Needs reconnect).
    pub notifications: bool,
    /// Start the background agent at login.
    pub autostart_agent: bool,
    /// Refresh every connection at least this often (days), even when its access token lives
    /// longer: some providers expire refresh tokens that sit unused.
    pub refresh_at_least_every_days: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Self { refresh_margin_secs: 60, notifications: true, autostart_agent: true, refresh_at_least_every_days: 7 }
    }
}

/// Everything in the metadata file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Data {
    /// File format version.
    pub format: u32,
    /// Provider apps.
    #[serde(default)]
    pub apps: Vec<ProviderApp>,
    /// Connections.
    #[serde(default)]
    pub connections: Vec<Connection>,
    /// Settings.
    #[serde(default)]
    pub settings: Settings,
}

impl Default for Data {
    fn default() -> Self {
        Self { format: FORMAT, apps: vec![], connections: vec![], settings: Settings::default() }
    }
}

impl Data {
    /// A provider app by id.
    pub fn app(&self, id: &str) -> Result<&ProviderApp> {
        self.apps.iter().find(|a| a.id == id).ok_or_else(|| Error::NotFound(format!("no provider app {id:?}")))
    }

    /// A connection by id.
    pub fn connection(&self, id: &str) -> Result<&Connection> {
        self.connections.iter().find(|c| c.id == id).ok_or_else(|| Error::NotFound(format!("no connection {id:?}")))
    }

    /// A connection by id, mutable.
    pub fn connection_mut(&mut self, id: &str) -> Result<&mut Connection> {
        self.connections.iter_mut().find(|c| c.id == id).ok_or_else(|| Error::NotFound(format!("no connection {id:?}")))
    }
}

/// The metadata store in a data directory.
#[derive(Debug, Clone)]
pub struct Store {
    dir: PathBuf,
}

impl Store {
    /// Opens (and creates, private to the user) the data directory.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self> {
        let dir = dir.into();
        fs::create_dir_all(&dir).map_err(|e| Error::io(format!("cannot create {}", dir.display()), e))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let _ = fs::set_permissions(&dir, fs::Permissions::from_mode(0o700));
        }
        Ok(Self { dir })
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The metadata file's path.
    pub fn path(&self) -> PathBuf {
        self.dir.join(FILE)
    }

    /// Reads the current data (no lock: the file is replaced atomically, so a reader sees
    /// either the old or the new version).
    pub fn load(&self) -> Result<Data> {
        read(&self.path())
    }

    /// Read-modify-write under the store's exclusive lock. Nothing is written when `f` fails.
    pub fn update<T>(&self, f: impl FnOnce(&mut Data) -> Result<T>) -> Result<T> {
        let _lock = self.lock()?;
        let mut data = read(&self.path())?;
        let before = data.clone();
        let out = f(&mut data)?;
        if data != before {
            write_atomic(&self.path(), &data)?;
        }
        Ok(out)
    }

    fn lock(&self) -> Result<File> {
        let path = self.dir.join(LOCK);
        let f = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| Error::io(format!("cannot open {}", path.display()), e))?;
        // std's advisory file lock (flock on Unix, LockFileEx on Windows), stable since Rust 1.89:
        // a well-kept implementation with no extra crate.
        f.lock().map_err(|e| Error::io("cannot lock the metadata store", e))?;
        Ok(f)
    }
}

fn read(path: &Path) -> Result<Data> {
    match fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
            Error::Internal(format!(
                "{} is damaged ({e}); it was left as it is — move it away to start afresh",
                path.display()
            ))
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Data::default()),
        Err(e) => Err(Error::io(format!("cannot read {}", path.display()), e)),
    }
}

fn write_atomic(path: &Path, data: &Data) -> Result<()> {
    let dir = path.parent().expect("the store file has a directory");
    let tmp = dir.join(format!(".{FILE}.{}.tmp", std::process::id()));
    let bytes = serde_json::to_vec_pretty(data).map_err(|e| Error::Internal(e.to_string()))?;
    let result = (|| {
        let mut opts = OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut f = opts.open(&tmp)?;
        f.write_all(&bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, path)?;
        #[cfg(unix)]
        File::open(dir)?.sync_all()?;
        Ok(())
    })();
    result.map_err(|e| {
        let _ = fs::remove_file(&tmp);
        Error::io(format!("cannot write {}", path.display()), e)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmpdir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("latchkey-store-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn update_round_trips_and_failed_updates_write_nothing() {
        let s = Store::open(tmpdir("rt")).unwrap();
        assert_eq!(s.load().unwrap(), Data::default());
        s.update(|d| {
            d.settings.refresh_margin_secs = 120;
            Ok(())
        })
        .unwrap();
        assert_eq!(s.load().unwrap().settings.refresh_margin_secs, 120);
        let err = s.update(|d| {
            d.settings.refresh_margin_secs = 999;
            Err::<(), _>(Error::InvalidInput("no".into()))
        });
        assert!(err.is_err());
        assert_eq!(s.load().unwrap().settings.refresh_margin_secs, 120);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(fs::metadata(s.path()).unwrap().permissions().mode() & 0o777, 0o600);
        }
    }

    #[test]
    fn a_damaged_file_is_reported_and_left_alone() {
        let s = Store::open(tmpdir("damaged")).unwrap();
        fs::write(s.path(), b"{not json").unwrap();
        assert!(s.load().is_err());
        assert!(s.update(|_| Ok(())).is_err());
        assert_eq!(fs::read(s.path()).unwrap(), b"{not json");
    }

    #[test]
    fn concurrent_updates_from_threads_lose_nothing() {
        let s = Store::open(tmpdir("conc")).unwrap();
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let s = s.clone();
                std::thread::spawn(move || {
                    for _ in 0..10 {
                        s.update(|d| {
                            d.settings.refresh_margin_secs += 1;
                            Ok(())
                        })
                        .unwrap();
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        assert_eq!(s.load().unwrap().settings.refresh_margin_secs, 60 + 80);
    }

    #[test]
    fn refresh_log_is_bounded() {
        let mut c = Connection::new("c", "a", "1", 0);
        for i in 0..50 {
            c.log_refresh(RefreshLogEntry { at: i, ok: true, message: None });
        }
        assert_eq!(c.refresh_log.len(), REFRESH_LOG_LEN);
        assert_eq!(c.refresh_log.last().unwrap().at, 49);
    }
}
