//! Non-secret metadata: provider apps, connections, settings. One JSON file, written
//! atomically (temp file, fsync, rename, fsync of the directory), read-modify-write under an
//! advisory lock so the app, the agent and the command line never lose each other's changes.
//!
//! Damaged data loses nothing: every write first keeps the previous good version beside the
//! file (`latchkey.json.bak`, written the same atomic way), a damaged file is never
//! overwritten ([`Error::DamagedData`]), and the person chooses between
//! [`Store::restore_backup`] and [`Store::start_empty`], both of which keep the damaged file
//! aside as `latchkey.json.damaged-<unix time>`.

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
const BACKUP: &str = "latchkey.json.bak";
const DAMAGED_PREFIX: &str = "latchkey.json.damaged-";
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
    /// The token endpoint, entered or discovered (else the preset's path).
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
    /// Client authentication at the token endpoint when it differs from the preset's: the
    /// person's choice on the form, else what discovery found.
    #[serde(default)]
    pub auth_method: Option<AuthMethod>,
    /// A fixed loopback port (servers that match loopback redirect URIs exactly, port
    /// included); `None`: any free port per sign-in (RFC 8252 §7.3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loopback_port: Option<u16>,
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
    /// RFC 8628 device authorization endpoint (typed, or found by discovery): the app offers
    /// "sign in on another device".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_authorization_url: Option<Url>,
    /// When it was added.
    pub created_at: Timestamp,
}

/// What a connection is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ts_rs::TS)]
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
    /// What the connection is doing (a refresh running is shown from memory, not stored).
    pub status: Status,
    /// When the access token expires.
    pub expires_at: Option<Timestamp>,
    /// When the access token was issued.
    #[serde(default)]
    pub issued_at: Option<Timestamp>,
    /// Last successful refresh.
    pub last_refresh_at: Option<Timestamp>,
    /// When the provider last accepted the access token (the profile call at connect and after
    /// every refresh; the latter also completes lazy rotations, Doorkeeper's default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_verified_at: Option<Timestamp>,
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
    /// When the row last changed.
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
            last_verified_at: None,
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ts_rs::TS)]
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
    /// The version of this file's format.
    pub format: u32,
    /// The provider apps people registered.
    #[serde(default)]
    pub apps: Vec<ProviderApp>,
    /// The connected accounts.
    #[serde(default)]
    pub connections: Vec<Connection>,
    /// What the person chose in Settings.
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
    ///
    /// # Errors
    /// [`Error::NotFound`] when there is no such provider app.
    pub fn app(&self, id: &str) -> Result<&ProviderApp> {
        self.apps.iter().find(|a| a.id == id).ok_or_else(|| Error::NotFound(format!("no provider app {id:?}")))
    }

    /// A connection by id.
    ///
    /// # Errors
    /// [`Error::NotFound`] when there is no such connection.
    pub fn connection(&self, id: &str) -> Result<&Connection> {
        self.connections.iter().find(|c| c.id == id).ok_or_else(|| Error::NotFound(format!("no connection {id:?}")))
    }

    /// A connection by id, mutable.
    ///
    /// # Errors
    /// [`Error::NotFound`] when there is no such connection.
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
    ///
    /// # Errors
    /// The directory cannot be created or given its permissions.
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

    /// The last good copy kept beside the metadata file.
    pub fn backup_path(&self) -> PathBuf {
        self.dir.join(BACKUP)
    }

    /// Reads the current data (no lock: the file is replaced atomically, so a reader sees
    /// either the old or the new version).
    ///
    /// # Errors
    /// [`Error::DamagedData`] when the file exists but cannot be read as Latchkey's data.
    pub fn load(&self) -> Result<Data> {
        self.read().map(|(data, _)| data)
    }

    /// Read-modify-write under the store's exclusive lock. Nothing is written when `f` fails,
    /// and nothing at all while the file is damaged. Before the new version replaces the
    /// file, the version it replaces (just read, so known good) becomes the backup.
    ///
    /// # Errors
    /// `f`'s error (nothing is written); the lock, the file or its backup cannot be read or written; a damaged file.
    pub fn update<T>(&self, f: impl FnOnce(&mut Data) -> Result<T>) -> Result<T> {
        let _lock = self.lock()?;
        let (mut data, raw) = self.read()?;
        let before = data.clone();
        let out = f(&mut data)?;
        if data != before {
            if let Some(raw) = raw {
                write_file_atomic(&self.backup_path(), &raw)?;
            }
            let bytes = serde_json::to_vec_pretty(&data).map_err(|e| Error::Internal(e.to_string()))?;
            write_file_atomic(&self.path(), &bytes)?;
        }
        Ok(out)
    }

    /// Whether the metadata file is damaged: `Some((detail, backup_available))`.
    pub fn damage(&self) -> Option<(String, bool)> {
        match self.read() {
            Err(Error::DamagedData { detail, backup_available, .. }) => Some((detail, backup_available)),
            _ => None,
        }
    }

    /// Restores the last good copy over a damaged file, keeping the damaged file aside.
    /// Returns where the damaged file was kept.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] when the file is not damaged (nothing is changed), and
    /// [`Error::DamagedData`] when there is no readable backup (nothing is changed).
    pub fn restore_backup(&self) -> Result<PathBuf> {
        let _lock = self.lock()?;
        let damaged = self.ensure_damaged()?;
        let raw = match fs::read(self.backup_path()) {
            Ok(raw) if parse(&raw).is_ok() => raw,
            _ => return Err(damaged),
        };
        // The damaged file is copied aside first, then replaced in one rename: at any moment
        // the file is either the damaged one or the restored one, and the damaged bytes exist.
        let aside = self.keep_aside(false)?;
        write_file_atomic(&self.path(), &raw)?;
        Ok(aside)
    }

    /// Moves a damaged file aside and starts with no data. Returns where it was kept.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] when the file is not damaged (nothing is changed).
    pub fn start_empty(&self) -> Result<PathBuf> {
        let _lock = self.lock()?;
        self.ensure_damaged()?;
        self.keep_aside(true)
    }

    /// The [`Error::DamagedData`] describing the damage, or why there is none.
    fn ensure_damaged(&self) -> Result<Error> {
        match self.read() {
            Err(e @ Error::DamagedData { .. }) => Ok(e),
            Err(e) => Err(e),
            Ok(_) => Err(Error::InvalidInput(format!(
                "{} is not damaged; there is nothing to restore",
                self.path().display()
            ))),
        }
    }

    /// Keeps the damaged file as `latchkey.json.damaged-<unix time>` (moved, or copied when
    /// it is about to be replaced atomically).
    fn keep_aside(&self, move_it: bool) -> Result<PathBuf> {
        // The store has no clock of its own: the system clock, through the one clock type.
        let secs = crate::clock::Clock::system().now();
        let mut aside = self.dir.join(format!("{DAMAGED_PREFIX}{secs}"));
        let mut n = 1;
        while aside.exists() {
            aside = self.dir.join(format!("{DAMAGED_PREFIX}{secs}-{n}"));
            n += 1;
        }
        let path = self.path();
        let result = if move_it {
            fs::rename(&path, &aside).and_then(|()| sync_dir(&self.dir))
        } else {
            fs::read(&path).and_then(|raw| write_private(&aside, &raw)).and_then(|()| sync_dir(&self.dir))
        };
        result.map_err(|e| Error::io(format!("cannot keep the damaged file aside as {}", aside.display()), e))?;
        Ok(aside)
    }

    /// The data and the raw bytes it was read from (`None`: no file yet).
    fn read(&self) -> Result<(Data, Option<Vec<u8>>)> {
        let path = self.path();
        match fs::read(&path) {
            Ok(bytes) => match parse(&bytes) {
                Ok(data) => Ok((data, Some(bytes))),
                Err(detail) => Err(Error::DamagedData {
                    backup_available: fs::read(self.backup_path()).is_ok_and(|b| parse(&b).is_ok()),
                    path,
                    detail,
                }),
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok((Data::default(), None)),
            Err(e) => Err(Error::io(format!("cannot read {}", path.display()), e)),
        }
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

/// Reads Latchkey's data from bytes; the error is a short description of the damage (the
/// parser's position and kind, never the content).
fn parse(bytes: &[u8]) -> std::result::Result<Data, String> {
    serde_json::from_slice(bytes).map_err(|e| match e.classify() {
        serde_json::error::Category::Eof if bytes.iter().all(u8::is_ascii_whitespace) => "it is empty".to_owned(),
        serde_json::error::Category::Eof => "it ends too early".to_owned(),
        _ => format!("unreadable at line {}, column {}", e.line(), e.column()),
    })
}

/// Writes a new private (0600) file, fsync'd.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut opts = OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    File::open(dir)?.sync_all()?;
    let _ = dir;
    Ok(())
}

/// Replaces `path` atomically: temp file (0600), fsync, rename, fsync of the directory. A
/// crash leaves either the old or the new file.
fn write_file_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().expect("the store file has a directory");
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let result = write_private(&tmp, bytes).and_then(|()| fs::rename(&tmp, path)).and_then(|()| sync_dir(dir));
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

    fn mode(p: &Path) -> u32 {
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            fs::metadata(p).unwrap().permissions().mode() & 0o777
        }
        #[cfg(not(unix))]
        {
            let _ = p;
            0o600
        }
    }

    fn set_margin(s: &Store, secs: u64) {
        s.update(|d| {
            d.settings.refresh_margin_secs = secs;
            Ok(())
        })
        .unwrap();
    }

    fn aside_files(s: &Store) -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = fs::read_dir(s.dir())
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with(DAMAGED_PREFIX))
            .collect();
        v.sort();
        v
    }

    #[test]
    fn a_damaged_file_is_reported_and_left_alone() {
        let s = Store::open(tmpdir("damaged")).unwrap();
        fs::write(s.path(), b"{not json").unwrap();
        let e = s.load().unwrap_err();
        assert_eq!(e.code(), crate::error::ErrorCode::DamagedData);
        assert!(matches!(e, Error::DamagedData { backup_available: false, .. }), "{e:?}");
        assert!(e.to_string().contains("start empty"), "{e}");
        assert_eq!(s.update(|_| Ok(())).unwrap_err().code(), crate::error::ErrorCode::DamagedData);
        let write = s.update(|d| {
            d.settings.refresh_margin_secs = 1;
            Ok(())
        });
        assert!(write.is_err());
        assert_eq!(fs::read(s.path()).unwrap(), b"{not json");
        assert!(!s.backup_path().exists(), "a damaged file never becomes the backup");
        // An empty file is damaged too (not "no data").
        fs::write(s.path(), b"").unwrap();
        assert!(matches!(s.load(), Err(Error::DamagedData { .. })));
    }

    #[test]
    fn every_write_keeps_the_previous_good_copy() {
        let s = Store::open(tmpdir("backup")).unwrap();
        set_margin(&s, 100);
        assert!(!s.backup_path().exists(), "no previous version yet");
        set_margin(&s, 200);
        let backup: Data = serde_json::from_slice(&fs::read(s.backup_path()).unwrap()).unwrap();
        assert_eq!(backup.settings.refresh_margin_secs, 100);
        assert_eq!(mode(&s.backup_path()), 0o600);
        set_margin(&s, 300);
        let backup: Data = serde_json::from_slice(&fs::read(s.backup_path()).unwrap()).unwrap();
        assert_eq!(backup.settings.refresh_margin_secs, 200);
        // An update that changes nothing writes nothing, backup included.
        s.update(|_| Ok(())).unwrap();
        let backup: Data = serde_json::from_slice(&fs::read(s.backup_path()).unwrap()).unwrap();
        assert_eq!(backup.settings.refresh_margin_secs, 200);
        // No temp files left behind.
        let stray: Vec<_> = fs::read_dir(s.dir())
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(stray.is_empty(), "{stray:?}");
    }

    #[test]
    fn restore_brings_back_the_last_good_copy_and_keeps_the_damaged_file() {
        let s = Store::open(tmpdir("restore")).unwrap();
        set_margin(&s, 100);
        set_margin(&s, 200);
        fs::write(s.path(), b"{\"format\":1,\"apps\":[").unwrap();
        assert!(matches!(s.load(), Err(Error::DamagedData { backup_available: true, .. })));
        assert_eq!(s.damage().map(|(_, b)| b), Some(true));
        let aside = s.restore_backup().unwrap();
        assert_eq!(s.load().unwrap().settings.refresh_margin_secs, 100);
        assert_eq!(fs::read(&aside).unwrap(), b"{\"format\":1,\"apps\":[");
        assert_eq!(aside_files(&s), vec![aside.clone()]);
        assert_eq!(mode(&aside), 0o600);
        assert_eq!(mode(&s.path()), 0o600);
        assert!(s.damage().is_none());
        // Not damaged any more: restoring again changes nothing.
        assert_eq!(s.restore_backup().unwrap_err().code(), crate::error::ErrorCode::InvalidInput);
        assert_eq!(s.start_empty().unwrap_err().code(), crate::error::ErrorCode::InvalidInput);
        assert_eq!(s.load().unwrap().settings.refresh_margin_secs, 100);
        // Writes work again.
        set_margin(&s, 400);
        assert_eq!(s.load().unwrap().settings.refresh_margin_secs, 400);
    }

    #[test]
    fn without_a_backup_restore_refuses_and_start_empty_keeps_the_file_aside() {
        let s = Store::open(tmpdir("empty")).unwrap();
        fs::write(s.path(), b"garbage").unwrap();
        let e = s.restore_backup().unwrap_err();
        assert!(matches!(e, Error::DamagedData { backup_available: false, .. }), "{e:?}");
        assert_eq!(fs::read(s.path()).unwrap(), b"garbage", "a failed restore changes nothing");
        assert!(aside_files(&s).is_empty());
        // A damaged backup is no backup.
        fs::write(s.backup_path(), b"also garbage").unwrap();
        assert!(matches!(s.load(), Err(Error::DamagedData { backup_available: false, .. })));
        assert!(s.restore_backup().is_err());
        let aside = s.start_empty().unwrap();
        assert_eq!(fs::read(&aside).unwrap(), b"garbage");
        assert!(!s.path().exists());
        assert_eq!(s.load().unwrap(), Data::default());
        set_margin(&s, 5);
        assert_eq!(s.load().unwrap().settings.refresh_margin_secs, 5);
        // Two recoveries in the same second keep both damaged files.
        fs::write(s.path(), b"again").unwrap();
        let second = s.start_empty().unwrap();
        assert_ne!(second, aside);
        assert_eq!(aside_files(&s).len(), 2);
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
