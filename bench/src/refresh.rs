//! Refresh throughput: N connections all due at once, refreshed by latchkey-core's refresher
//! (`refresher::run`, which refreshes `refresher::CONCURRENCY` at a time), against a baseline
//! that sends the same N refresh requests at the same concurrency with plain reqwest and writes
//! N keychain entries with plain `keyring`. Rounds alternate: the baseline spends the refresh
//! tokens the refresher stored, and writes the entries the refresher then reads.
//!
//! Beside it, how the refresher's cost per connection grows with the number due: the same
//! rounds with 10 and 100 connections (worlds of their own, in the same keychain collection,
//! interleaved with the big one so that they share its conditions).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use futures_util::StreamExt as _;
use latchkey_core::store::{Data, Store};
use latchkey_core::vault::{KeyringVault, Vault, app_secret_key, connection_key};
use latchkey_core::{Config, Latchkey};
use latchkey_harness::TestProvider;
use oauth2::PkceCodeChallenge;
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::seed;

/// Where the connections and their keychain entries live.
#[derive(Debug, Clone)]
pub struct World {
    pub data_dir: PathBuf,
    pub service: String,
}

/// The refresh token etc. of one connection, as the baseline keeps it.
#[derive(Debug, Clone)]
struct Grant {
    refresh_token: String,
}

/// What the keychain entry holds: the same JSON form latchkey-core writes, so that the
/// refresher can read what the baseline stored.
#[derive(Serialize)]
struct VaultForm<'a> {
    v: u32,
    access_token: &'a str,
    refresh_token: Option<&'a str>,
    expires_at: Option<i64>,
    issued_at: i64,
    scope: Option<Vec<&'a str>>,
    generation: u64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Outcome {
    pub n: usize,
    pub concurrency: usize,
    pub sign_in_secs: f64,
    pub latchkey_secs: Vec<f64>,
    pub baseline_secs: Vec<f64>,
    pub latchkey_failures: usize,
    pub baseline_failures: usize,
    /// Medians (ms) of the pieces a refresh is made of, measured after the rounds.
    pub pieces_ms: std::collections::BTreeMap<String, f64>,
    /// Latchkey's time per connection (ms), one entry per round, by the number due at once.
    pub per_connection_ms: std::collections::BTreeMap<usize, Vec<f64>>,
    /// Connections not refreshed in the rounds with fewer due.
    pub scale_failures: usize,
    /// CPU time per refresh (ms, over all rounds) by process: the keychain daemon, the session
    /// bus, the provider, and this process (Latchkey's refresher runs in it; so does the
    /// baseline).
    pub cpu_ms_per_refresh_latchkey: std::collections::BTreeMap<String, f64>,
    pub cpu_ms_per_refresh_baseline: std::collections::BTreeMap<String, f64>,
    /// The baseline that reads each refresh token from the keychain before it sends it, as a
    /// refresher that keeps its tokens there must (the plain baseline has them in memory): its
    /// time per round, failures, and CPU per refresh by process.
    pub baseline_read_secs: Vec<f64>,
    pub baseline_read_failures: usize,
    pub cpu_ms_per_refresh_baseline_read: std::collections::BTreeMap<String, f64>,
}

/// CPU ms so far of the processes a refresh round keeps busy, by role.
fn cpu_by_role() -> std::collections::BTreeMap<String, f64> {
    use crate::procfs::{cpu_sample, pids_by_comm};
    let sum = |pids: Vec<i32>| pids.into_iter().filter_map(cpu_sample).map(|c| c.cpu_ms).sum::<f64>();
    [
        ("gnome-keyring-daemon", sum(pids_by_comm("gnome-keyring"))),
        ("dbus-daemon", sum(pids_by_comm("dbus-daemon"))),
        ("test provider (node)", sum(pids_by_comm("node"))),
        ("bench process (refresher or baseline)", sum(vec![std::process::id() as i32])),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// Adds one round's CPU ms per refresh (`per` = refreshes over all rounds) to `into`.
fn add_cpu(
    into: &mut std::collections::BTreeMap<String, f64>,
    before: &std::collections::BTreeMap<String, f64>,
    after: &std::collections::BTreeMap<String, f64>,
    per: usize,
) {
    for (k, a) in after {
        let d = (a - before.get(k).copied().unwrap_or(0.0)).max(0.0);
        *into.entry(k.clone()).or_default() += d / per.max(1) as f64;
    }
}

fn endpoint(p: &TestProvider, path: &str) -> String {
    format!("{}{path}", p.url)
}

const AUTHORIZE: &str = "/api/v1/auth/oauth2/authorize/";
pub const TOKEN: &str = "/api/v1/auth/oauth2/token/";
pub const PROFILE: &str = "/api/v1/account/";
pub const REDIRECT: &str = "app.latchkey:/oauth/callback";
const SCOPES: &str = "read offline_access";

/// Signs in once as `login` (the provider plays the browser) and returns the code and the
/// PKCE verifier.
pub async fn sign_in(p: &TestProvider, login: &str, state: &str) -> (String, String) {
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let mut url = url::Url::parse(&endpoint(p, AUTHORIZE)).expect("authorize URL");
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", &p.client_id)
        .append_pair("redirect_uri", REDIRECT)
        .append_pair("scope", SCOPES)
        .append_pair("state", state)
        .append_pair("code_challenge", challenge.as_str())
        .append_pair("code_challenge_method", "S256");
    let answer = p.sign_in(url.as_str(), login, true).await;
    let code = answer["code"].as_str().unwrap_or_else(|| panic!("sign-in gave no code: {answer}")).to_owned();
    (code, verifier.secret().to_owned())
}

/// The code exchange, with plain reqwest.
pub async fn exchange(http: &reqwest::Client, p: &TestProvider, code: &str, verifier: &str) -> Value {
    let resp = http
        .post(endpoint(p, TOKEN))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", verifier),
            ("client_id", &p.client_id),
            ("client_secret", &p.client_secret),
        ])
        .send()
        .await
        .expect("token request");
    let status = resp.status();
    let v: Value = resp.json().await.expect("token JSON");
    assert!(status.is_success(), "code exchange answered {status}: {}", v["error"]);
    v
}

/// The keychain entry for a token response.
pub fn vault_json(v: &Value) -> String {
    let now = seed::now();
    let form = VaultForm {
        v: 1,
        access_token: v["access_token"].as_str().unwrap_or_default(),
        refresh_token: v["refresh_token"].as_str(),
        expires_at: v["expires_in"].as_i64().map(|s| now + s),
        issued_at: now,
        scope: v["scope"].as_str().map(|s| s.split_whitespace().collect()),
        generation: 0,
    };
    serde_json::to_string(&form).expect("plain struct")
}

fn id(i: usize) -> String {
    seed::connection(i, 0, 0).id
}

/// One baseline round: N refresh requests, N keychain writes, `CONCURRENCY` at a time. With
/// `grants`, the refresh tokens come from memory; without, each is read from the keychain
/// first (one plain `keyring` read), as the last round stored it.
async fn baseline(
    http: &reqwest::Client,
    p: &TestProvider,
    service: &str,
    n: usize,
    grants: Option<&[Grant]>,
) -> (f64, usize) {
    let t0 = Instant::now();
    let results: Vec<bool> = futures_util::stream::iter(0..n)
        .map(|i| {
            let http = http.clone();
            let service = service.to_owned();
            let known = grants.map(|g| g[i].refresh_token.clone());
            async move {
                let refresh_token = match known {
                    Some(t) => t,
                    None => {
                        let service = service.clone();
                        let read = tokio::task::spawn_blocking(move || {
                            keyring::Entry::new(&service, &connection_key(&id(i))).and_then(|e| e.get_password())
                        })
                        .await;
                        let Ok(Ok(entry)) = read else { return false };
                        let Ok(v) = serde_json::from_str::<Value>(&entry) else { return false };
                        let Some(t) = v["refresh_token"].as_str() else { return false };
                        t.to_owned()
                    }
                };
                let resp = http
                    .post(endpoint(p, TOKEN))
                    .form(&[
                        ("grant_type", "refresh_token"),
                        ("refresh_token", refresh_token.as_str()),
                        ("client_id", &p.client_id),
                        ("client_secret", &p.client_secret),
                    ])
                    .send()
                    .await;
                let Ok(resp) = resp else { return false };
                if !resp.status().is_success() {
                    return false;
                }
                let Ok(v) = resp.json::<Value>().await else { return false };
                let entry = vault_json(&v);
                tokio::task::spawn_blocking(move || {
                    keyring::Entry::new(&service, &connection_key(&id(i))).and_then(|e| e.set_password(&entry)).is_ok()
                })
                .await
                .unwrap_or(false)
            }
        })
        .buffer_unordered(latchkey_core::refresh::CONCURRENCY)
        .collect()
        .await;
    (t0.elapsed().as_secs_f64(), results.iter().filter(|ok| !**ok).count())
}

/// Reads the refresh tokens the last round stored (not timed).
async fn stored_grants(service: &str, n: usize) -> Vec<Grant> {
    let service = service.to_owned();
    tokio::task::spawn_blocking(move || {
        let vault = KeyringVault::new(service);
        (0..n)
            .map(|i| {
                let s = vault.get(&connection_key(&id(i))).expect("keychain").expect("an entry per connection");
                let v: Value = serde_json::from_str(s.expose_secret()).expect("entry JSON");
                Grant { refresh_token: v["refresh_token"].as_str().expect("refresh token").to_owned() }
            })
            .collect()
    })
    .await
    .expect("join")
}

/// Makes every connection due now (not timed).
fn mark_all_due(dir: &Path, n: usize) {
    let store = Store::open(dir).expect("store");
    let t = seed::now();
    store
        .update(move |d: &mut Data| {
            if d.connections.len() != n {
                d.connections = (0..n).map(|i| seed::connection(i, t + 300, t - 1)).collect();
            }
            for c in &mut d.connections {
                c.next_refresh_at = Some(t - 1);
                c.expires_at = Some(t + 300);
                c.last_refresh_at = None;
                c.last_error = None;
                c.refresh_log.clear();
            }
            Ok(())
        })
        .expect("mark due");
}

/// One refresher round: from starting the refresher until the store shows every connection
/// refreshed (tokens are stored in the keychain before the metadata).
async fn latchkey_round(w: &World, n: usize) -> (f64, usize) {
    mark_all_due(&w.data_dir, n);
    let lk = Latchkey::open(&Config::new(&w.data_dir, &w.service)).expect("open latchkey");
    let path = lk.data_dir().join("latchkey.json");
    let cancel = CancellationToken::new();
    let t0 = Instant::now();
    let task = tokio::spawn(latchkey_core::refresh::run(lk.clone(), cancel.clone()));
    let deadline = t0 + Duration::from_secs(900);
    // Fine enough for 10 connections (a fraction of a second), cheap enough for 1000.
    let poll = Duration::from_millis((n as u64 / 20).clamp(2, 50));
    let mut failures;
    loop {
        tokio::time::sleep(poll).await;
        // Counting in the file's text is cheap next to parsing 1000 connections every 50 ms.
        let text = tokio::fs::read_to_string(&path).await.unwrap_or_default();
        let waiting = text.matches("\"lastRefreshAt\": null").count();
        failures = text.matches("\"ok\": false").count();
        if waiting <= failures || Instant::now() > deadline {
            break;
        }
    }
    let secs = t0.elapsed().as_secs_f64();
    cancel.cancel();
    let _ = task.await;
    let data = lk.load().expect("load");
    let done = data.connections.iter().filter(|c| c.last_refresh_at.is_some() && c.last_error.is_none()).count();
    let mut errors: Vec<&str> = data.connections.iter().filter_map(|c| c.last_error.as_deref()).collect();
    errors.sort_unstable();
    errors.dedup();
    for e in errors {
        eprintln!("  refresh: a connection failed: {e}");
    }
    (secs, failures.max(n - done))
}

/// A world with the provider app and its secret, and `n` sign-ins: returns each one's token
/// response (not timed).
async fn prepare(http: &reqwest::Client, p: &TestProvider, w: &World, n: usize) -> Vec<Value> {
    let store = Store::open(&w.data_dir).expect("store");
    let app = seed::app(&p.url, &p.client_id);
    store
        .update(move |d| {
            d.apps = vec![app];
            Ok(())
        })
        .expect("app");
    let (service, secret) = (w.service.clone(), p.client_secret.clone());
    tokio::task::spawn_blocking(move || {
        KeyringVault::new(service).set(&app_secret_key(seed::APP_ID), &SecretString::from(secret)).expect("secret")
    })
    .await
    .expect("join");
    let mut answers: Vec<(usize, Value)> = futures_util::stream::iter(0..n)
        .map(|i| {
            let http = http.clone();
            let state = format!("{}-{i}", w.service);
            async move {
                let (code, verifier) = sign_in(p, "alice", &state).await;
                (i, exchange(&http, p, &code, &verifier).await)
            }
        })
        .buffer_unordered(8)
        .collect()
        .await;
    answers.sort_by_key(|(i, _)| *i);
    answers.into_iter().map(|(_, v)| v).collect()
}

/// Runs the comparison, and the refresher alone at each of `scale` (the number due at once).
pub async fn run(p: &TestProvider, w: &World, n: usize, rounds: usize, scale: &[usize]) -> Outcome {
    let http = latchkey_harness::client();
    eprintln!("  refresh: signing in {n} times (8 at a time) ...");
    let t0 = Instant::now();
    let answers = prepare(&http, p, w, n).await;
    let mut grants: Vec<Grant> = answers
        .iter()
        .map(|v| Grant { refresh_token: v["refresh_token"].as_str().expect("refresh token").to_owned() })
        .collect();
    let mut out = Outcome {
        n,
        concurrency: latchkey_core::refresh::CONCURRENCY,
        sign_in_secs: t0.elapsed().as_secs_f64(),
        ..Outcome::default()
    };
    eprintln!("  refresh: {n} sign-ins took {:.1} s", out.sign_in_secs);
    // The smaller worlds: their tokens go straight into the keychain, as a sign-in leaves them.
    let mut small = Vec::new();
    for &k in scale.iter().filter(|&&k| k != n) {
        let wk = World {
            data_dir: w.data_dir.with_file_name(format!("data-refresh-{k}")),
            service: format!("{}.{k}", w.service),
        };
        let entries: Vec<(String, String)> =
            prepare(&http, p, &wk, k).await.iter().enumerate().map(|(i, v)| (id(i), vault_json(v))).collect();
        let service = wk.service.clone();
        tokio::task::spawn_blocking(move || {
            for (id, entry) in entries {
                keyring::Entry::new(&service, &connection_key(&id))
                    .and_then(|e| e.set_password(&entry))
                    .expect("keychain: tokens");
            }
        })
        .await
        .expect("join");
        small.push((k, wk));
    }
    // The three sides take turns at going first (the order rotates each round), so no side
    // always meets the keychain just after the same one: a round's position is not its figure.
    // The plain baseline holds its refresh tokens in memory: it takes the ones stored last,
    // read (not timed) just before it runs whenever another side rotated them since.
    let mut grants_fresh = true;
    for r in 0..rounds {
        for side in side_order(r) {
            match side {
                Side::Baseline => {
                    if !grants_fresh {
                        grants = stored_grants(&w.service, n).await;
                    }
                    let before = cpu_by_role();
                    let (secs, failed) = baseline(&http, p, &w.service, n, Some(&grants)).await;
                    add_cpu(&mut out.cpu_ms_per_refresh_baseline, &before, &cpu_by_role(), n * rounds);
                    eprintln!("  refresh round {}: baseline {secs:.2} s ({failed} failed)", r + 1);
                    out.baseline_secs.push(secs);
                    out.baseline_failures += failed;
                }
                Side::BaselineRead => {
                    let before = cpu_by_role();
                    let (secs, failed) = baseline(&http, p, &w.service, n, None).await;
                    add_cpu(&mut out.cpu_ms_per_refresh_baseline_read, &before, &cpu_by_role(), n * rounds);
                    eprintln!(
                        "  refresh round {}: baseline reading each token first {secs:.2} s ({failed} failed)",
                        r + 1
                    );
                    out.baseline_read_secs.push(secs);
                    out.baseline_read_failures += failed;
                }
                Side::Latchkey => {
                    let before = cpu_by_role();
                    let (secs, failed) = latchkey_round(w, n).await;
                    add_cpu(&mut out.cpu_ms_per_refresh_latchkey, &before, &cpu_by_role(), n * rounds);
                    eprintln!("  refresh round {}: latchkey {secs:.2} s ({failed} failed)", r + 1);
                    out.latchkey_secs.push(secs);
                    out.latchkey_failures += failed;
                    if scale.contains(&n) {
                        out.per_connection_ms.entry(n).or_default().push(secs * 1000.0 / n as f64);
                    }
                }
            }
            grants_fresh = false;
        }
        for (k, wk) in &small {
            let (secs, failed) = latchkey_round(wk, *k).await;
            eprintln!("  refresh round {}: latchkey, {k} due: {secs:.3} s ({failed} failed)", r + 1);
            out.scale_failures += failed;
            out.per_connection_ms.entry(*k).or_default().push(secs * 1000.0 / *k as f64);
        }
    }
    out.pieces_ms = pieces(w, n).await;
    // The one request Latchkey sends per refresh that the baseline does not: the profile call
    // with the new access token (it completes lazy rotations and is the health check, #17).
    out.pieces_ms.insert("profile request (check after a refresh)".into(), profile_ms(&http, p, &w.service).await);
    out
}

/// One side of the comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Baseline,
    BaselineRead,
    Latchkey,
}

/// The sides' order in round `r`: rotated one place each round.
fn side_order(r: usize) -> [Side; 3] {
    let mut order = [Side::Baseline, Side::BaselineRead, Side::Latchkey];
    order.rotate_left(r % 3);
    order
}

fn median_of(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// What one refresh costs besides the HTTP request, piece by piece: a metadata load and a
/// metadata update with `n` connections (and with one), a keychain read and a keychain write.
/// The median time of the profile request with a stored access token, one at a time.
async fn profile_ms(http: &reqwest::Client, p: &TestProvider, service: &str) -> f64 {
    let service = service.to_owned();
    let entry = tokio::task::spawn_blocking(move || KeyringVault::new(service).get(&connection_key(&id(0))))
        .await
        .expect("join")
        .expect("keychain")
        .expect("entry");
    let v: Value = serde_json::from_str(entry.expose_secret()).expect("entry JSON");
    let access = v["access_token"].as_str().expect("access token").to_owned();
    let mut times = Vec::new();
    for _ in 0..21 {
        let t = Instant::now();
        let ok =
            http.get(endpoint(p, PROFILE)).bearer_auth(&access).send().await.is_ok_and(|r| r.status().is_success());
        if ok {
            times.push(t.elapsed().as_secs_f64() * 1000.0);
        }
    }
    if times.is_empty() { f64::NAN } else { median_of(times) }
}

async fn pieces(w: &World, n: usize) -> std::collections::BTreeMap<String, f64> {
    let dir = w.data_dir.clone();
    let service = w.service.clone();
    tokio::task::spawn_blocking(move || {
        let mut out = std::collections::BTreeMap::new();
        let time = |f: &mut dyn FnMut()| -> f64 {
            median_of(
                (0..21)
                    .map(|_| {
                        let t = Instant::now();
                        f();
                        t.elapsed().as_secs_f64() * 1000.0
                    })
                    .collect(),
            )
        };
        let store = Store::open(&dir).expect("store");
        let mut k = 0i64;
        out.insert(format!("store load, {n} connections"), time(&mut || drop(store.load().expect("load"))));
        out.insert(
            format!("store update, {n} connections"),
            time(&mut || {
                k += 1;
                store
                    .update(|d| {
                        d.connections[0].updated_at = k;
                        Ok(())
                    })
                    .expect("update")
            }),
        );
        let small = Store::open(dir.join("one")).expect("store");
        small
            .update(|d| {
                d.connections = vec![seed::connection(0, 0, 0)];
                Ok(())
            })
            .expect("seed one");
        out.insert(
            "store update, 1 connection".to_owned(),
            time(&mut || {
                k += 1;
                small
                    .update(|d| {
                        d.connections[0].updated_at = k;
                        Ok(())
                    })
                    .expect("update")
            }),
        );
        let vault = KeyringVault::new(service);
        let key = connection_key(&id(0));
        out.insert("keychain read".to_owned(), time(&mut || drop(vault.get(&key).expect("get"))));
        let value = vault.get(&key).expect("get").expect("entry");
        out.insert("keychain write".to_owned(), time(&mut || vault.set(&key, &value).expect("set")));
        out
    })
    .await
    .expect("join")
}
