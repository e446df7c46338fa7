//! Shared setup for the core's integration tests: a real Secret Service, a real provider.
#![allow(dead_code)]

use std::sync::Arc;

use latchkey_core::AppInput;
use latchkey_core::token::TokenSet;
use latchkey_core::vault::{KeyringVault, Vault, connection_key};
use latchkey_core::{Clock, Latchkey, PresetId, RedirectMode};
use latchkey_harness::{TestProvider, secret_service, temp_dir};
use secrecy::ExposeSecret;

pub struct World {
    pub lk: Latchkey,
    pub data_dir: std::path::PathBuf,
    pub service: String,
    pub provider: TestProvider,
    pub vault: KeyringVault,
}

pub fn world(profile: &str) -> World {
    world_with_clock(profile, Clock::system())
}

pub fn world_with_clock(profile: &str, clock: Clock) -> World {
    world_full(profile, clock, &[])
}

pub fn world_full(profile: &str, clock: Clock, provider_args: &[&str]) -> World {
    secret_service();
    let provider = TestProvider::start_with(profile, provider_args);
    let service = format!("app.latchkey.test.{}", temp_dir("svc").file_name().unwrap().to_string_lossy());
    let vault = KeyringVault::new(&service);
    let data_dir = temp_dir(profile);
    let store = latchkey_core::store::Store::open(&data_dir).unwrap();
    let lk = Latchkey::with_parts(store, Arc::new(vault.clone()), clock, &service).unwrap();
    // The tests' tokens live seconds, not hours: allow a refresh every second.
    lk.set_min_refresh_interval(1);
    World { lk, data_dir, service, provider, vault }
}

pub fn app_input(w: &World, preset: PresetId, mode: RedirectMode, scopes: &str) -> AppInput {
    AppInput {
        id: None,
        preset,
        name: format!("Test {}", preset.as_str()),
        base_url: Some(w.provider.url.clone()),
        client_id: w.provider.client_id.clone(),
        client_secret: Some(w.provider.client_secret.clone().into()),
        scopes: Some(scopes.to_owned()),
        redirect_mode: Some(mode),
        authorize_url: None,
        token_url: None,
        revocation_url: None,
        userinfo_url: None,
        callback_id: None,
        auth_method: None,
        loopback_port: None,
        device_authorization_url: None,
    }
}

impl World {
    /// The token set stored in the keychain for a connection.
    pub fn tokens(&self, connection_id: &str) -> Option<TokenSet> {
        self.vault.get(&connection_key(connection_id)).unwrap().map(|s| TokenSet::from_vault_string(&s).unwrap())
    }

    pub async fn assert_tokens_work(&self, connection_id: &str) {
        let t = self.tokens(connection_id).expect("tokens in the keychain");
        assert!(self.provider.is_active(t.access_token.expose_secret()).await, "access token accepted by the provider");
        let r = t.refresh_token.expect("a refresh token");
        assert!(self.provider.is_active(r.expose_secret()).await, "refresh token accepted by the provider");
    }
}

/// Every byte of every file under `dir`, for "no token on disk" checks.
pub fn files_under(dir: &std::path::Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut out = vec![];
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push((p.clone(), std::fs::read(&p).unwrap()));
        }
    }
    out
}

impl World {
    /// Environment for a child process (agent, command line) that shares this world.
    pub fn child_env(&self) -> Vec<(String, String)> {
        let mut env = secret_service().env.clone();
        env.push(("LATCHKEY_DATA_DIR".into(), self.data_dir.display().to_string()));
        env.push(("LATCHKEY_KEYRING_SERVICE".into(), self.service.clone()));
        env.push(("LATCHKEY_MIN_REFRESH_INTERVAL_SECS".into(), "1".into()));
        env.push(("LATCHKEY_NO_NOTIFICATIONS".into(), "1".into()));
        env
    }

    /// Connects `login` through the app's own entry point (the deep-link handler).
    pub async fn connect(
        &self,
        preset: PresetId,
        mode: RedirectMode,
        scopes: &str,
        login: &str,
    ) -> latchkey_core::ConnectionView {
        let app = match self.lk.list_apps().unwrap().into_iter().find(|a| a.preset == preset) {
            Some(a) => a,
            None => self.lk.save_app(app_input(self, preset, mode, scopes)).await.unwrap(),
        };
        let start = self.lk.start_connect(&app.id, None).await.unwrap();
        let answer = self.provider.sign_in(&start.authorize_url, login, true).await;
        match mode {
            RedirectMode::Paste => self.lk.submit_code(&start.flow_id, answer["code"].as_str().unwrap()).await.unwrap(),
            _ => self.lk.handle_callback(answer["location"].as_str().unwrap()).await.unwrap(),
        }
    }

    /// Reconnects a connection (deep link or loopback app) by signing in as `login` again.
    pub async fn reconnect(&self, connection_id: &str, login: &str) -> latchkey_core::ConnectionView {
        let app = self.lk.list_connections().unwrap().into_iter().find(|c| c.id == connection_id).unwrap().app_id;
        let start = self.lk.start_connect(&app, Some(connection_id)).await.unwrap();
        let answer = self.provider.sign_in(&start.authorize_url, login, true).await;
        self.lk.handle_callback(answer["location"].as_str().unwrap()).await.unwrap()
    }

    pub async fn refreshes(&self) -> i64 {
        self.provider.stats().await["token"]["refresh_token"].as_i64().unwrap()
    }
}

#[allow(unused_imports)]
pub use latchkey_harness::{cpu_time, keychain_locked, lock_keychain, unlock_keychain};

/// A world whose provider issues access tokens living `ttl` seconds.
pub fn short_lived(profile: &str, ttl: &str) -> World {
    world_full(profile, Clock::system(), &["--access-ttl", ttl])
}

/// Polls `f` every 200 ms until it holds, failing the test after `secs`.
pub async fn wait_for(what: &str, secs: u64, mut f: impl AsyncFnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(secs);
    while !f().await {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

impl World {
    /// Starts `latchkey-cli` (`cli`: its path, `CARGO_BIN_EXE_latchkey-cli` of the calling test)
    /// with `args` in this world and reads the first line it prints (a sign-in link, or the
    /// device code as JSON); stdout stays open for the rest.
    pub fn spawn_cli(
        &self,
        cli: &str,
        args: &[&str],
        stdin: std::process::Stdio,
        stderr: std::process::Stdio,
    ) -> (std::process::Child, std::io::BufReader<std::process::ChildStdout>, String) {
        use std::io::BufRead as _;
        let mut child = std::process::Command::new(cli)
            .args(args)
            .envs(self.child_env())
            .stdin(stdin)
            .stdout(std::process::Stdio::piped())
            .stderr(stderr)
            .spawn()
            .unwrap();
        let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
        let mut first = String::new();
        out.read_line(&mut first).unwrap();
        (child, out, first)
    }
}
