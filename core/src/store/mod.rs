//! Non-secret metadata: provider apps, connections, settings. One JSON file, written
//! atomically (temp file, fsync, rename, fsync of the directory), read-modify-write under an
//! advisory lock so the app, the agent and the command line never lose each other's changes.
//!
//! Damaged data loses nothing: every write first keeps the previous good version beside the
//! file (`latchkey.json.bak`, written the same atomic way), a damaged file is never
//! overwritten ([`Error::DamagedData`]), and the person chooses between
//! [`Store::restore_backup`] and [`Store::start_empty`], both of which keep the damaged file
//! aside as `latchkey.json.damaged-<unix time>`.

mod data;

pub use crate::provider::ProviderApp;
pub use data::{Connection, Data, REFRESH_LOG_LEN, RefreshLogEntry, Settings, Status};

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::lockfile::LockFile;

const FILE: &str = "latchkey.json";
const LOCK: &str = "latchkey.json.lock";
const BACKUP: &str = "latchkey.json.bak";
const DAMAGED_PREFIX: &str = "latchkey.json.damaged-";
pub(crate) const FORMAT: u32 = 1;

/// The metadata store in a data directory.
#[derive(Debug, Clone)]
pub struct Store {
    dir: PathBuf,
    /// How many times this process (through any clone) rewrote the file.
    writes: std::sync::Arc<std::sync::atomic::AtomicU64>,
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
        Ok(Self { dir, writes: std::sync::Arc::default() })
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
            self.writes.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        Ok(out)
    }

    /// How many times this process rewrote the file (through this store or a clone of it):
    /// what `make bench` and the tests count to keep writes per refresh pass constant.
    pub fn writes(&self) -> u64 {
        self.writes.load(std::sync::atomic::Ordering::Relaxed)
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
        LockFile::open(&self.dir.join(LOCK), "the metadata store")?.lock()
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
