//! The keychain, behind a small trait: one entry per connection's token set and one per
//! provider app's client secret. `NoEntry` is `Ok(None)`; delete is idempotent.

use std::collections::HashMap;
use std::sync::Mutex;

use secrecy::{ExposeSecret, SecretString};

use crate::error::{Error, Result};

/// Where secrets live.
pub trait Vault: Send + Sync + std::fmt::Debug {
    /// Reads an entry; `Ok(None)` when there is none.
    ///
    /// # Errors
    /// [`Error::Keychain`] when the keychain is locked or unreachable.
    fn get(&self, key: &str) -> Result<Option<SecretString>>;
    /// Creates or replaces an entry.
    ///
    /// # Errors
    /// [`Error::Keychain`] when the keychain is locked or unreachable.
    fn set(&self, key: &str, value: &SecretString) -> Result<()>;
    /// Removes an entry; removing a missing entry succeeds.
    ///
    /// # Errors
    /// [`Error::Keychain`] when the keychain is locked or unreachable.
    fn delete(&self, key: &str) -> Result<()>;
    /// Whether the keychain is locked, found out without touching an item (so without raising
    /// an unlock prompt); `None` when the platform cannot tell. Background retries use it so a
    /// locked keychain is not asked again and again.
    fn is_locked(&self) -> Option<bool> {
        None
    }
}

/// The key of a connection's token set.
pub fn connection_key(connection_id: &str) -> String {
    format!("connection:{connection_id}")
}

/// The key of a provider app's client secret.
pub fn app_secret_key(app_id: &str) -> String {
    format!("app-secret:{app_id}")
}

/// The OS keychain through the `keyring` crate (Secret Service on Linux, Keychain on macOS,
/// Credential Manager on Windows). Calls block: call them from `spawn_blocking`.
///
/// On Linux reads go through the Secret Service client keyring itself uses (`secret-service`,
/// on a connection of this vault's), so that a write soon after a read of the same entry goes
/// straight to the item the read found: a refresh reads its set and writes the next one under
/// the connection's lock, and keyring's write would search the whole keychain for the item
/// again (gnome-keyring matches every item's attributes; ~0.4 ms of its time with 1000
/// connections, the one call a refresh made that a refresher holding its tokens in memory does
/// not, README "Performance"). Anything unusual — a locked item, two items for one entry, an
/// error, a write long after the read — goes through keyring as before.
#[derive(Debug, Clone)]
pub struct KeyringVault {
    service: String,
    #[cfg(target_os = "linux")]
    direct: std::sync::Arc<direct::Direct>,
}

impl KeyringVault {
    /// A vault whose entries are named by `service` (e.g. `app.latchkey.desktop`).
    pub fn new(service: impl Into<String>) -> Self {
        Self {
            service: service.into(),
            #[cfg(target_os = "linux")]
            direct: Default::default(),
        }
    }

    /// The service name entries are stored under.
    pub fn service(&self) -> &str {
        &self.service
    }

    fn entry(&self, key: &str) -> Result<keyring::Entry> {
        keyring::Entry::new(&self.service, key).map_err(keychain_error)
    }

    /// How many keychain searches this vault made itself (Linux; keyring's own are not
    /// counted): a read makes one, a write soon after it none.
    #[cfg(target_os = "linux")]
    pub fn searches(&self) -> usize {
        self.direct.searches.load(std::sync::atomic::Ordering::Relaxed)
    }
}

fn keychain_error(e: keyring::Error) -> Error {
    Error::Keychain(match e {
        keyring::Error::NoStorageAccess(inner) => format!("access was refused (is the keychain locked?): {inner}"),
        keyring::Error::NoDefaultStore => "no keychain service is running".to_owned(),
        other => other.to_string(),
    })
}

impl Vault for KeyringVault {
    fn get(&self, key: &str) -> Result<Option<SecretString>> {
        #[cfg(target_os = "linux")]
        if let Some(found) = self.direct.read(&self.service, key) {
            return match found {
                Some(bytes) => String::from_utf8(bytes)
                    .map(|p| Some(SecretString::from(p)))
                    .map_err(|_| Error::Keychain("a keychain entry is not text".into())),
                None => Ok(None),
            };
        }
        match self.entry(key)?.get_password() {
            Ok(p) => Ok(Some(SecretString::from(p))),
            Err(keyring::Error::NoEntry) => Ok(None),
            Err(e) => Err(keychain_error(e)),
        }
    }

    fn set(&self, key: &str, value: &SecretString) -> Result<()> {
        #[cfg(target_os = "linux")]
        if self.direct.write_to_recent(key, value.expose_secret().as_bytes()) {
            return Ok(());
        }
        self.entry(key)?.set_password(value.expose_secret()).map_err(keychain_error)
    }

    fn delete(&self, key: &str) -> Result<()> {
        #[cfg(target_os = "linux")]
        self.direct.forget(key);
        match self.entry(key)?.delete_credential() {
            Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
            Err(e) => Err(keychain_error(e)),
        }
    }

    /// The Secret Service's default collection's `Locked` property (the collection keyring
    /// stores in), read over the session bus: no item is touched, so no prompt.
    #[cfg(target_os = "linux")]
    fn is_locked(&self) -> Option<bool> {
        let bus = self.direct.bus()?;
        let proxy = zbus::blocking::Proxy::new(
            bus,
            "org.freedesktop.secrets",
            "/org/freedesktop/secrets/aliases/default",
            "org.freedesktop.Secret.Collection",
        )
        .ok()?;
        proxy.get_property::<bool>("Locked").ok()
    }
}

/// Linux: reads on a Secret Service connection of the vault's own, and writes to the item a
/// read of the same entry found a moment before. `None` from either means "let keyring do it".
#[cfg(target_os = "linux")]
mod direct {
    use std::collections::HashMap;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Mutex, OnceLock};
    use std::time::{Duration, Instant};

    use secret_service::EncryptionType;
    use secret_service::blocking::SecretService;
    use zbus::zvariant::OwnedObjectPath;

    /// How long after a read its item takes a write of the same entry without a search. A
    /// refresh writes under the lock it read under, one token request later (30 s at most);
    /// past this the write searches again. gnome-keyring does not give a deleted item's path
    /// to a new one while it runs, and after a restart this connection's session is gone, so
    /// a write to a stale path fails and is done by keyring instead.
    const REUSE_FOR: Duration = Duration::from_secs(60);

    /// keyring's content type for the secrets it stores.
    const CONTENT_TYPE: &str = "application/octet-stream";

    #[derive(Default)]
    pub(super) struct Direct {
        /// The session bus, connected on first use: the vault's one connection to it.
        bus: OnceLock<Option<zbus::blocking::Connection>>,
        /// The Secret Service session on it, opened on first use; dropped after an error (the
        /// next call opens another).
        ss: Mutex<Option<SecretService<'static>>>,
        /// The item each entry's last read found, and when.
        recent: Mutex<HashMap<String, (OwnedObjectPath, Instant)>>,
        pub(super) searches: AtomicUsize,
    }

    impl std::fmt::Debug for Direct {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("Direct").field("searches", &self.searches).finish_non_exhaustive()
        }
    }

    impl Direct {
        /// The session bus; `None` when there is none.
        pub(super) fn bus(&self) -> Option<&zbus::blocking::Connection> {
            self.bus.get_or_init(|| zbus::blocking::Connection::session().ok()).as_ref()
        }

        /// Runs `f` on the Secret Service session; `None` when there is none or `f` failed.
        fn with<T>(&self, f: impl FnOnce(&SecretService<'static>) -> Result<T, secret_service::Error>) -> Option<T> {
            let mut ss = self.ss.lock().expect("secret service");
            if ss.is_none() {
                *ss = SecretService::connect_with_existing(EncryptionType::Dh, self.bus()?.clone()).ok();
            }
            match f(ss.as_ref()?) {
                Ok(t) => Some(t),
                Err(_) => {
                    *ss = None;
                    None
                }
            }
        }

        /// The entry's secret (`Some(None)`: no such entry), found as keyring finds it (its
        /// `service` and `username` attributes); `None` when keyring should answer: locked or
        /// several items (keyring unlocks, or names the ambiguity), or an error.
        pub(super) fn read(&self, service: &str, key: &str) -> Option<Option<Vec<u8>>> {
            let found = self.with(|ss| {
                self.searches.fetch_add(1, Ordering::Relaxed);
                let items = ss.search_items(HashMap::from([("service", service), ("username", key)]))?;
                match (items.unlocked.as_slice(), items.locked.is_empty()) {
                    ([], true) => Ok(Some(None)),
                    ([item], true) => Ok(Some(Some((item.get_secret()?, item.item_path.clone())))),
                    _ => Ok(None),
                }
            })??;
            let mut recent = self.recent.lock().expect("recent");
            match found {
                Some((secret, path)) => {
                    recent.insert(key.to_owned(), (path, Instant::now()));
                    Some(Some(secret))
                }
                None => {
                    recent.remove(key);
                    Some(None)
                }
            }
        }

        /// Writes to the item the entry's read found, if that was within [`REUSE_FOR`];
        /// `false` when keyring should write.
        pub(super) fn write_to_recent(&self, key: &str, secret: &[u8]) -> bool {
            let Some((path, at)) = self.recent.lock().expect("recent").remove(key) else { return false };
            if at.elapsed() > REUSE_FOR {
                return false;
            }
            self.with(|ss| ss.get_item_by_path(path)?.set_secret(secret, CONTENT_TYPE)).is_some()
        }

        pub(super) fn forget(&self, key: &str) {
            self.recent.lock().expect("recent").remove(key);
        }
    }
}

/// An in-memory vault for unit tests.
#[derive(Debug, Default)]
pub struct MemoryVault {
    entries: Mutex<HashMap<String, SecretString>>,
    /// When set, every call fails as a locked keychain would.
    pub locked: std::sync::atomic::AtomicBool,
    /// How many times each entry was read.
    reads: Mutex<HashMap<String, usize>>,
}

impl MemoryVault {
    fn check(&self) -> Result<()> {
        if self.locked.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(Error::Keychain("access was refused (is the keychain locked?)".into()));
        }
        Ok(())
    }

    /// How many entries exist.
    pub fn len(&self) -> usize {
        self.entries.lock().expect("vault lock").len()
    }

    /// Whether the vault is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many times `key` was read.
    pub fn reads(&self, key: &str) -> usize {
        self.reads.lock().expect("vault lock").get(key).copied().unwrap_or(0)
    }
}

impl Vault for MemoryVault {
    fn get(&self, key: &str) -> Result<Option<SecretString>> {
        self.check()?;
        *self.reads.lock().expect("vault lock").entry(key.to_owned()).or_default() += 1;
        Ok(self.entries.lock().expect("vault lock").get(key).cloned())
    }
    fn set(&self, key: &str, value: &SecretString) -> Result<()> {
        self.check()?;
        self.entries.lock().expect("vault lock").insert(key.to_owned(), value.clone());
        Ok(())
    }
    fn delete(&self, key: &str) -> Result<()> {
        self.check()?;
        self.entries.lock().expect("vault lock").remove(key);
        Ok(())
    }
    fn is_locked(&self) -> Option<bool> {
        Some(self.locked.load(std::sync::atomic::Ordering::SeqCst))
    }
}

/// Splits values longer than `max` characters over numbered entries (`key`, `key#1`, …).
/// Windows Credential Manager caps a secret at 2560 bytes of UTF-16, and JWT access tokens
/// can be longer; the first entry carries a `chunks:N:` header when split.
#[derive(Debug)]
pub struct Chunked<V> {
    inner: V,
    max: usize,
}

impl<V: Vault> Chunked<V> {
    /// Wraps `inner`, splitting values longer than `max` characters.
    pub fn new(inner: V, max: usize) -> Self {
        assert!(max > 32, "chunk size too small");
        Self { inner, max }
    }

    fn part_key(key: &str, i: usize) -> String {
        format!("{key}#{i}")
    }
}

impl<V: Vault> Vault for Chunked<V> {
    fn get(&self, key: &str) -> Result<Option<SecretString>> {
        let Some(first) = self.inner.get(key)? else { return Ok(None) };
        let s = first.expose_secret();
        let Some(rest) = s.strip_prefix("chunks:") else { return Ok(Some(first)) };
        let (n, head) =
            rest.split_once(':').ok_or_else(|| Error::Keychain("a split keychain entry is damaged".into()))?;
        let n: usize = n.parse().map_err(|_| Error::Keychain("a split keychain entry is damaged".into()))?;
        let mut out = head.to_owned();
        for i in 1..n {
            let part = self
                .inner
                .get(&Self::part_key(key, i))?
                .ok_or_else(|| Error::Keychain(format!("part {i} of a split keychain entry is missing")))?;
            out.push_str(part.expose_secret());
        }
        Ok(Some(SecretString::from(out)))
    }

    fn set(&self, key: &str, value: &SecretString) -> Result<()> {
        let chars: Vec<char> = value.expose_secret().chars().collect();
        // Leave room for the header in the first entry.
        if chars.len() <= self.max && !value.expose_secret().starts_with("chunks:") {
            self.inner.set(key, value)?;
            self.delete_parts_from(key, 1)?;
            return Ok(());
        }
        let first_len = self.max - 16;
        let mut parts: Vec<String> = vec![chars[..first_len.min(chars.len())].iter().collect()];
        parts.extend(chars[first_len.min(chars.len())..].chunks(self.max).map(|c| c.iter().collect::<String>()));
        // Write the tail parts first, the header entry last: a reader never sees a header
        // that names parts not yet written.
        for (i, p) in parts.iter().enumerate().skip(1) {
            self.inner.set(&Self::part_key(key, i), &SecretString::from(p.clone()))?;
        }
        self.inner.set(key, &SecretString::from(format!("chunks:{}:{}", parts.len(), parts[0])))?;
        self.delete_parts_from(key, parts.len())
    }

    fn delete(&self, key: &str) -> Result<()> {
        self.inner.delete(key)?;
        self.delete_parts_from(key, 1)
    }

    fn is_locked(&self) -> Option<bool> {
        self.inner.is_locked()
    }
}

impl<V: Vault> Chunked<V> {
    fn delete_parts_from(&self, key: &str, from: usize) -> Result<()> {
        let mut i = from;
        while self.inner.get(&Self::part_key(key, i))?.is_some() {
            self.inner.delete(&Self::part_key(key, i))?;
            i += 1;
        }
        Ok(())
    }
}

/// The platform's keychain, with splitting where the platform needs it.
pub fn platform_vault(service: &str) -> Box<dyn Vault> {
    if cfg!(windows) {
        // 2560 bytes of UTF-16 = 1280 UTF-16 units; stay below with room for the header.
        Box::new(Chunked::new(KeyringVault::new(service), 1200))
    } else {
        Box::new(KeyringVault::new(service))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_vault_semantics() {
        let v = MemoryVault::default();
        assert!(v.get("a").unwrap().is_none());
        v.set("a", &"1".to_owned().into()).unwrap();
        assert_eq!(v.get("a").unwrap().unwrap().expose_secret(), "1");
        v.delete("a").unwrap();
        v.delete("a").unwrap();
        assert!(v.get("a").unwrap().is_none());
        v.locked.store(true, std::sync::atomic::Ordering::SeqCst);
        assert_eq!(v.get("a").unwrap_err().code(), crate::ErrorCode::KeychainUnavailable);
    }

    #[test]
    fn chunked_round_trips_long_values_and_shrinks_cleanly() {
        let v = Chunked::new(MemoryVault::default(), 100);
        let long: String = (0..1000).map(|i| char::from(b'a' + (i % 26) as u8)).collect();
        v.set("k", &long.clone().into()).unwrap();
        assert!(v.inner.len() > 5);
        assert_eq!(v.get("k").unwrap().unwrap().expose_secret(), long);
        v.set("k", &"short".to_owned().into()).unwrap();
        assert_eq!(v.inner.len(), 1);
        assert_eq!(v.get("k").unwrap().unwrap().expose_secret(), "short");
        v.set("k", &long.clone().into()).unwrap();
        v.delete("k").unwrap();
        assert!(v.inner.is_empty());
        // A value that happens to look like a header is split, never misread.
        v.set("k", &"chunks:9:x".to_owned().into()).unwrap();
        assert_eq!(v.get("k").unwrap().unwrap().expose_secret(), "chunks:9:x");
    }
}
