//! Test helpers shared by the core's and the app's integration tests:
//!
//! - [`TestProvider`]: the local OAuth 2.0 test provider (`tests/provider/server.mjs`, built on
//!   the `oidc-provider` npm package) started with a preset's profile on a free loopback
//!   port, and its test-control endpoints;
//! - [`secret_service`]: a private D-Bus session with an unlocked, disposable gnome-keyring,
//!   so that `keyring` talks to a real Secret Service.
//!
//! Both die with the test process: they are started with a pipe on standard input and exit
//! when it closes.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Mutex, OnceLock};

use serde_json::{Value, json};

/// The repository root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("repo root")
}

/// A running test provider. Stops when dropped.
#[derive(Debug)]
pub struct TestProvider {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// Its issuer (for `iss`).
    pub issuer: String,
    /// The preset profile.
    pub profile: String,
    /// The registered client id.
    pub client_id: String,
    /// The registered client secret.
    pub client_secret: String,
    http: reqwest::Client,
}

impl TestProvider {
    /// Starts the provider with `profile` (`rememberizer`, `textmaster`, `fusio`, `generic`).
    pub fn start(profile: &str) -> Self {
        Self::start_with(profile, &[])
    }

    /// Starts the provider with extra arguments (e.g. `["--access-ttl", "5"]`).
    pub fn start_with(profile: &str, extra: &[&str]) -> Self {
        let script = repo_root().join("tests/provider/server.mjs");
        let mut child = Command::new("node")
            .arg(&script)
            .args(["--profile", profile, "--port", "0", "--exit-on-stdin-close"])
            .args(extra)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start the test provider ({}): {e}; run `npm ci --prefix tests/provider`",
                    script.display()
                )
            });
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("provider ready line");
        let ready: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("provider said {line:?}: {e}"));
        let s = |k: &str| ready[k].as_str().unwrap_or_else(|| panic!("ready line lacks {k}: {line}")).to_owned();
        Self {
            url: s("url"),
            issuer: s("issuer"),
            profile: profile.to_owned(),
            client_id: s("client_id"),
            client_secret: s("client_secret"),
            child,
            http: client(),
        }
    }

    /// `POST` a JSON body to a test-control endpoint and return the JSON answer.
    pub async fn control(&self, path: &str, body: Value) -> Value {
        let resp = self.http.post(format!("{}{path}", self.url)).json(&body).send().await.expect("control request");
        let status = resp.status();
        let v: Value = resp.json().await.unwrap_or(Value::Null);
        assert!(status.is_success(), "{path} answered {status}: {v}");
        v
    }

    /// Plays the browser: signs in as `login` at the authorize URL and returns the provider's
    /// answer (`location` = the redirect with `code`, `state`, `iss`; or `error`).
    pub async fn sign_in(&self, authorize_url: &str, login: &str, consent: bool) -> Value {
        self.control("/__test/authorize", json!({"url": authorize_url, "login": login, "consent": consent})).await
    }

    /// Request counters.
    pub async fn stats(&self) -> Value {
        self.http
            .get(format!("{}/__test/stats", self.url))
            .send()
            .await
            .expect("stats")
            .json()
            .await
            .expect("stats json")
    }

    /// Whether the provider still accepts a token.
    pub async fn is_active(&self, token: &str) -> bool {
        self.control("/__test/active", json!({"token": token})).await["active"].as_bool().unwrap_or(false)
    }

    /// Plays the person at the other device (RFC 8628): enters `user_code` at the provider's
    /// verification page, signs in as `login` and allows (or, `consent` false, denies) →
    /// `{"approved","denied","error"}`. Generic profile.
    pub async fn approve_device(&self, user_code: &str, login: &str, consent: bool) -> Value {
        self.control("/__test/device/approve", json!({"user_code": user_code, "login": login, "consent": consent}))
            .await
    }

    /// Device-flow behaviour: `{"interval": 0 | 1e9 | "7" …, "expiresIn": …}` for the device
    /// authorization answer, `{"answer": "slow_down" | "expired_token" | "access_denied",
    /// "count": N}` to answer the next N polls so.
    pub async fn device_behaviour(&self, body: Value) -> Value {
        self.control("/__test/device/behaviour", body).await
    }

    /// Every device-code poll the token endpoint saw: `[{"at": ms, "answer": "…"}]`.
    pub async fn device_polls(&self) -> Vec<Value> {
        self.control("/__test/device/polls", json!({})).await["polls"].as_array().cloned().unwrap_or_default()
    }

    /// Makes the next `count` requests to `route` fail with `status`.
    pub async fn fault(&self, route: &str, status: u16, count: u32) {
        self.control("/__test/fault", json!({"route": route, "status": status, "count": count})).await;
    }
}

impl Drop for TestProvider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A plain HTTP client for tests.
pub fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    // No idle connections kept: Node closes them after 5 s, and a request that races that close
    // fails with "incomplete message" (seen in the long SIGKILL soak).
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(0)
        .build()
        .expect("client")
}

/// The private Secret Service of this test process.
#[derive(Debug)]
pub struct SecretService {
    /// Environment to give child processes so they use the same keychain.
    pub env: Vec<(String, String)>,
    _keepalive: Mutex<(Child, ChildStdin)>,
}

static SECRET_SERVICE: OnceLock<SecretService> = OnceLock::new();

/// Starts (once per test process) a private session bus with an unlocked gnome-keyring and
/// points this process's `DBUS_SESSION_BUS_ADDRESS` at it. Call it before the first keychain
/// access.
pub fn secret_service() -> &'static SecretService {
    SECRET_SERVICE.get_or_init(|| {
        let script = repo_root().join("tests/keyring-session.sh");
        let mut child = Command::new(&script)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e} (needs dbus-x11 and gnome-keyring)", script.display()));
        let stdin = child.stdin.take().expect("stdin");
        let mut env = vec![];
        let mut out = BufReader::new(child.stdout.take().expect("stdout"));
        loop {
            let mut line = String::new();
            assert!(out.read_line(&mut line).expect("keyring session output") > 0, "the keyring session ended early");
            let line = line.trim();
            if line == "READY" {
                break;
            }
            if let Some((k, v)) = line.split_once('=') {
                env.push((k.to_owned(), v.to_owned()));
            }
        }
        for (k, v) in &env {
            // SAFETY: set once, inside the OnceLock initialiser, before the test touches the
            // keychain; Rust's own env access is synchronised, and nothing in the tests reads
            // the environment from C concurrently.
            unsafe { std::env::set_var(k, v) };
        }
        SecretService { env, _keepalive: Mutex::new((child, stdin)) }
    })
}

/// A fresh temporary directory.
pub fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("latchkey-test-{name}-{}-{:x}", std::process::id(), rand_u32()));
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

fn rand_u32() -> u32 {
    use std::time::{SystemTime, UNIX_EPOCH};
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0)
}

/// Reads a query parameter.
pub fn query(url: &str, key: &str) -> Option<String> {
    url::Url::parse(url).ok()?.query_pairs().find(|(k, _)| k == key).map(|(_, v)| v.into_owned())
}

/// Locks the test keychain's collection (as a screen lock or `Lock` from a desktop would).
pub fn lock_keychain() {
    let conn = zbus::blocking::Connection::session().expect("session bus");
    let svc = secrets(&conn, "org.freedesktop.Secret.Service");
    let login = zbus::zvariant::ObjectPath::try_from(LOGIN).unwrap();
    let _: (Vec<zbus::zvariant::OwnedObjectPath>, zbus::zvariant::OwnedObjectPath) =
        svc.call("Lock", &(vec![login],)).expect("Lock");
    assert_eq!(keychain_locked(), Some(true));
}

/// Unlocks it again without a prompt (gnome-keyring's `UnlockWithMasterPassword`, with the
/// password `tests/keyring-session.sh` started it with).
pub fn unlock_keychain() {
    let conn = zbus::blocking::Connection::session().expect("session bus");
    let svc = secrets(&conn, "org.freedesktop.Secret.Service");
    let (_, session): (zbus::zvariant::OwnedValue, zbus::zvariant::OwnedObjectPath) =
        svc.call("OpenSession", &("plain", zbus::zvariant::Value::from(""))).expect("OpenSession");
    let internal = secrets(&conn, "org.gnome.keyring.InternalUnsupportedGuiltRiddenInterface");
    let login = zbus::zvariant::ObjectPath::try_from(LOGIN).unwrap();
    let secret = (session.as_ref(), Vec::<u8>::new(), b"latchkey-test-keyring".to_vec(), "text/plain");
    let () = internal.call("UnlockWithMasterPassword", &(login, secret)).expect("UnlockWithMasterPassword");
    assert_eq!(keychain_locked(), Some(false));
}

const LOGIN: &str = "/org/freedesktop/secrets/collection/login";

/// The Secret Service object with `interface`.
fn secrets<'a>(conn: &zbus::blocking::Connection, interface: &'a str) -> zbus::blocking::Proxy<'a> {
    zbus::blocking::Proxy::new(conn, "org.freedesktop.secrets", "/org/freedesktop/secrets", interface)
        .expect("Secret Service proxy")
}

/// The collection's `Locked` property.
pub fn keychain_locked() -> Option<bool> {
    let conn = zbus::blocking::Connection::session().ok()?;
    let c = zbus::blocking::Proxy::new(&conn, "org.freedesktop.secrets", LOGIN, "org.freedesktop.Secret.Collection")
        .ok()?;
    c.get_property::<bool>("Locked").ok()
}

/// CPU time (user + system) a process has used, from /proc.
pub fn cpu_time(pid: u32) -> std::time::Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat.rsplit_once(')').unwrap().1.split_whitespace().collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    std::time::Duration::from_millis(ticks * 10)
}
