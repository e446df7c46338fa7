//! Property-based fuzzing (proptest, stable Rust) of every parser that meets the outside
//! world: callback URLs and the flow's checks, token and error responses, discovery metadata,
//! profiles, mementos and grants, the loopback request head, and the deep-link argv handler.
//!
//! Each target draws generated inputs — arbitrary bytes and strings, JSON built from the
//! fields providers send, and mutations of real answers — from a fixed seed, runs each under
//! `catch_unwind` so a panic is counted and reported with its input instead of ending the run,
//! and checks invariants where they are cheap. `cargo test` runs a sample of
//! `LATCHKEY_FUZZ_CASES` inputs per target (default 2000, a few seconds); `make fuzz` runs
//! more and prints the totals (`LATCHKEY_FUZZ_SEED` picks another seed).

use std::fmt::Debug;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Mutex;
use std::time::Instant;

use latchkey_core::connect::{FlowRequest, Flows};
use latchkey_core::provider::{AuthMethod, ProfileStyle};
use latchkey_core::provider::{Endpoints, Revocation, apply_metadata, parse_metadata};
use latchkey_core::store::ProviderApp;
use latchkey_core::{RedirectMode, connect as loopback, resources as api, token};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use url::Url;

const NOW: i64 = 1_700_000_000;

fn cases() -> u64 {
    std::env::var("LATCHKEY_FUZZ_CASES").ok().and_then(|s| s.parse().ok()).unwrap_or(2000)
}

fn seed() -> u64 {
    std::env::var("LATCHKEY_FUZZ_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0x1a7c_4e11)
}

/// Bytes that print as an escaped string in reports.
struct Bytes(Vec<u8>);

impl Debug for Bytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "b\"{}\"", self.0.escape_ascii())
    }
}

impl std::ops::Deref for Bytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.0
    }
}

#[derive(Debug, Default)]
struct Stats {
    inputs: u64,
    panics: Vec<String>,
    violations: Vec<String>,
}

/// Totals of all targets in this process, for the summary `make fuzz` prints.
static TOTALS: Mutex<(u64, u64, u64)> = Mutex::new((0, 0, 0));

/// Runs `check` on `cases()` inputs drawn from `strategy`. A panic or a broken invariant is
/// recorded with its input; the run goes on.
fn fuzz<T: Debug>(name: &str, strategy: impl Strategy<Value = T>, check: impl Fn(&T) -> Result<(), String>) {
    let n = cases();
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&seed().to_le_bytes());
    bytes[8..8 + name.len().min(24)].copy_from_slice(&name.as_bytes()[..name.len().min(24)]);
    let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &bytes);
    let mut runner = TestRunner::new_with_rng(Config { failure_persistence: None, ..Config::default() }, rng);
    let mut stats = Stats::default();
    let started = Instant::now();
    // Panics are counted and reported below with their input, not printed as they happen.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    for _ in 0..n {
        let input = strategy.new_tree(&mut runner).expect("a strategy that never rejects").current();
        stats.inputs += 1;
        match catch_unwind(AssertUnwindSafe(|| check(&input))) {
            Ok(Ok(())) => {}
            Ok(Err(why)) => stats.violations.push(format!("{why}\n    input: {input:?}")),
            Err(p) => {
                let msg = p
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| p.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                stats.panics.push(format!("panic: {msg}\n    input: {input:?}"));
            }
        }
    }
    std::panic::set_hook(hook);
    println!(
        "fuzz {name:<22} {:>9} inputs {:>3} panics {:>3} invariant failures {:>7.1} s",
        stats.inputs,
        stats.panics.len(),
        stats.violations.len(),
        started.elapsed().as_secs_f64()
    );
    {
        let mut t = TOTALS.lock().unwrap_or_else(|p| p.into_inner());
        t.0 += stats.inputs;
        t.1 += stats.panics.len() as u64;
        t.2 += stats.violations.len() as u64;
        write_summary(&t);
    }
    let report: Vec<&String> = stats.panics.iter().chain(&stats.violations).take(5).collect();
    assert!(
        report.is_empty(),
        "fuzz {name}: {} panics, {} invariant failures; first ones:\n{}",
        stats.panics.len(),
        stats.violations.len(),
        report.iter().map(|s| s.as_str()).collect::<Vec<_>>().join("\n")
    );
}

/// `target/fuzz-summary.txt`: the running totals, read by `make fuzz`.
fn write_summary(t: &(u64, u64, u64)) {
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("../fuzz-summary.txt");
    let _ = std::fs::write(path, format!("{} {} {}\n", t.0, t.1, t.2));
}

// ---- input generators ------------------------------------------------------------------

/// Mutations of a seed: flip, insert, delete and duplicate bytes, splice another seed in.
fn mutated(seeds: Vec<Vec<u8>>) -> impl Strategy<Value = Vec<u8>> {
    let n = seeds.len();
    (0..n, 0..n, proptest::collection::vec((0u8..5, any::<usize>(), any::<u8>()), 0..8)).prop_map(
        move |(a, b, edits)| {
            let mut v = seeds[a].clone();
            for (op, at, byte) in edits {
                let i = if v.is_empty() { 0 } else { at % (v.len() + 1) };
                match op {
                    0 if i < v.len() => v[i] ^= byte | 1,
                    1 => v.insert(i, byte),
                    2 if i < v.len() => {
                        v.remove(i);
                    }
                    3 => {
                        let tail = v[i..].to_vec();
                        v.extend_from_slice(&tail[..tail.len().min(64)]);
                    }
                    _ => {
                        let other = &seeds[b];
                        let j = at % (other.len() + 1);
                        v.truncate(i);
                        v.extend_from_slice(&other[j..]);
                    }
                }
            }
            v
        },
    )
}

/// JSON built from the keys providers send, with values of every type.
fn json_value(keys: &'static [&'static str]) -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        any::<u64>().prop_map(|n| json!(n)),
        "[ -~]{0,20}".prop_map(Value::String),
        any::<String>().prop_map(Value::String),
        "(https?|app\\.latchkey|javascript|file)://(127\\.0\\.0\\.1|localhost|[a-z]{1,8}\\.example)(:[0-9]{1,5})?(/[a-z/._%-]{0,20})?"
            .prop_map(Value::String),
        Just(json!("Bearer")),
        Just(json!("bearer")),
        Just(json!("")),
        Just(json!("3600")),
        Just(json!("1e400")),
        Just(json!("-5")),
    ];
    let key = prop_oneof![3 => proptest::sample::select(keys).prop_map(str::to_owned), 1 => "[a-z_]{1,12}"];
    leaf.prop_recursive(3, 40, 8, move |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::btree_map(key.clone(), inner, 0..8)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Bytes: arbitrary, JSON text from `json`, or mutated seeds.
fn body(keys: &'static [&'static str], seeds: &[&str]) -> impl Strategy<Value = Bytes> {
    let seeds: Vec<Vec<u8>> = seeds.iter().map(|s| s.as_bytes().to_vec()).collect();
    prop_oneof![
        1 => proptest::collection::vec(any::<u8>(), 0..256),
        3 => json_value(keys).prop_map(|v| serde_json::to_vec(&v).unwrap()),
        3 => mutated(seeds),
    ]
    .prop_map(Bytes)
}

// ---- targets -----------------------------------------------------------------------------

const TOKEN_KEYS: &[&str] = &[
    "access_token",
    "token_type",
    "expires_in",
    "refresh_token",
    "scope",
    "created_at",
    "error",
    "error_description",
    "id_token",
];
const TOKEN_SEEDS: &[&str] = &[
    r#"{"access_token":"a1b2c3","token_type":"Bearer","expires_in":28800,"refresh_token":"r1","scope":"public user:read","created_at":1699999000}"#,
    r#"{"access_token":"xyz","token_type":"bearer","expires_in":"172800","refresh_token":"r","scope":"backend,consumer"}"#,
    r#"{"access_token":"q","expires_in":1700172800}"#,
    r#"{"error":"invalid_grant","error_description":"Refresh token is expired"}"#,
    r#"{"access_token":"a\r\nX-Evil: 1","token_type":"Bearer"}"#,
];

/// Token responses (RFC 6749 §5.1) and error responses (§5.2).
#[test]
fn fuzz_token_responses() {
    fuzz("token response", body(TOKEN_KEYS, TOKEN_SEEDS), |b| {
        if let Ok(t) = token::parse_token_response(b, NOW) {
            if t.access_token.expose_secret().is_empty() {
                return Err("an empty access token was accepted".into());
            }
            if t.expires_at.is_some_and(|e| e < 0) {
                return Err(format!("expiry {:?} before 1970", t.expires_at));
            }
        }
        let _ = token::parse_error_response(b, 400);
        Ok(())
    });
}

/// ID tokens in code-exchange answers: the nonce check never panics, and accepts only the
/// nonce that was sent.
#[test]
fn fuzz_id_token_nonce() {
    let seeds = [
        // {"alg":"none"}.{"nonce":"n-1","sub":"1"}.sig
        r#"{"access_token":"a","id_token":"eyJhbGciOiJub25lIn0.eyJub25jZSI6Im4tMSIsInN1YiI6IjEifQ.c2ln"}"#,
        r#"{"access_token":"a","id_token":"x.eyJub25jZSI6MX0.y"}"#,
        r#"{"access_token":"a","id_token":12}"#,
    ];
    fuzz("id token nonce", body(TOKEN_KEYS, &seeds), |b| {
        let ok = latchkey_core::token_endpoint::check_id_token_nonce(b, "n-1").is_ok();
        let other = latchkey_core::token_endpoint::check_id_token_nonce(b, "n-2").is_ok();
        // Both accepted only when there is no ID token to check at all.
        let has_id_token = serde_json::from_slice::<Value>(b).ok().is_some_and(|v| v.get("id_token").is_some());
        if ok && other && has_id_token {
            return Err("an ID token matched two different nonces".into());
        }
        Ok(())
    });
}

/// The issue's rule for the lead's strict token parsing (RFC 6750 `b64token`): a token that
/// parses is non-empty visible ASCII.
#[test]
fn fuzz_token_responses_give_visible_ascii_tokens() {
    fuzz("token response (strict)", body(TOKEN_KEYS, TOKEN_SEEDS), |b| {
        if let Ok(t) = token::parse_token_response(b, NOW) {
            let visible = |s: &str| !s.is_empty() && s.bytes().all(|c| c.is_ascii_graphic());
            if !visible(t.access_token.expose_secret()) {
                return Err("an access token that is not visible ASCII was accepted".into());
            }
            if t.refresh_token.as_ref().is_some_and(|r| !visible(r.expose_secret())) {
                return Err("a refresh token that is not visible ASCII was accepted".into());
            }
        }
        Ok(())
    });
}

const DEVICE_KEYS: &[&str] = &[
    "device_code",
    "user_code",
    "verification_uri",
    "verification_url",
    "verification_uri_complete",
    "expires_in",
    "interval",
    "error",
];
const DEVICE_SEEDS: &[&str] = &[
    r#"{"device_code":"GmRhmhcxhwAzkoEqiMEg_DnyEysNkuNhszIySk9eS","user_code":"WDJB-MJHT","verification_uri":"https://example.com/device","verification_uri_complete":"https://example.com/device?user_code=WDJB-MJHT","expires_in":1800,"interval":5}"#,
    r#"{"device_code":"d","user_code":"1234","verification_url":"http://127.0.0.1:9/device","expires_in":"600","interval":0}"#,
    r#"{"device_code":"d","user_code":"AB\nCD","verification_uri":"javascript:alert(1)","expires_in":-1,"interval":1e9}"#,
];

/// Device authorization responses (RFC 8628 §3.2): whatever the provider sends, what is
/// accepted is usable — a visible-ASCII device code, a short printable user code, an HTTPS (or
/// loopback) verification URI, and times clamped so polling neither spins nor waits forever.
#[test]
fn fuzz_device_authorization_responses() {
    use latchkey_core::connect::{MAX_EXPIRES_SECS, MAX_INTERVAL_SECS, parse_device_authorization};
    fuzz("device authorization response", body(DEVICE_KEYS, DEVICE_SEEDS), |b| {
        let Ok(d) = parse_device_authorization(b) else { return Ok(()) };
        let code = d.device_code.expose_secret();
        if code.is_empty() || !code.bytes().all(|c| c.is_ascii_graphic()) {
            return Err("a device code that is not visible ASCII was accepted".into());
        }
        if d.user_code.is_empty() || d.user_code.chars().count() > 64 || d.user_code.chars().any(char::is_control) {
            return Err(format!("user code {:?} accepted", d.user_code));
        }
        for u in std::iter::once(&d.verification_uri).chain(d.verification_uri_complete.as_ref()) {
            if u.scheme() != "https" && u.scheme() != "http" {
                return Err(format!("verification URI {u} accepted"));
            }
        }
        if !(1..=MAX_INTERVAL_SECS).contains(&d.interval) || !(1..=MAX_EXPIRES_SECS).contains(&d.expires_in) {
            return Err(format!("interval {} / expires_in {} not clamped", d.interval, d.expires_in));
        }
        Ok(())
    });
}

const META_KEYS: &[&str] = &[
    "issuer",
    "authorization_endpoint",
    "token_endpoint",
    "revocation_endpoint",
    "userinfo_endpoint",
    "device_authorization_endpoint",
    "token_endpoint_auth_methods_supported",
    "authorization_response_iss_parameter_supported",
    "client_secret_post",
    "client_secret_basic",
];

fn generic_app() -> ProviderApp {
    serde_json::from_value(json!({
        "id": "a", "preset": "generic", "name": "A", "baseUrl": "https://a.example", "clientId": "c",
        "scopes": "read", "redirectMode": "deep_link", "createdAt": 0
    }))
    .unwrap()
}

/// RFC 8414 metadata: parsed, applied to an app, and the app's endpoints resolved. Endpoints
/// taken from metadata are HTTPS or loopback (SPEC §2).
#[test]
fn fuzz_discovery_metadata() {
    let seeds = [
        r#"{"issuer":"https://a.example","authorization_endpoint":"https://a.example/authorize","token_endpoint":"https://a.example/token","token_endpoint_auth_methods_supported":["client_secret_basic"],"authorization_response_iss_parameter_supported":true}"#,
        r#"{"issuer":"http://127.0.0.1:8080","token_endpoint":"http://127.0.0.1:8080/t","revocation_endpoint":"http://evil.example/r"}"#,
    ];
    fuzz("discovery metadata", body(META_KEYS, &seeds), |b| {
        let Ok(v) = serde_json::from_slice::<Value>(b) else { return Ok(()) };
        let m = parse_metadata(&v);
        for u in [
            &m.authorization_endpoint,
            &m.token_endpoint,
            &m.revocation_endpoint,
            &m.userinfo_endpoint,
            &m.device_authorization_endpoint,
        ]
        .into_iter()
        .flatten()
        {
            // Loopback: 127.0.0.0/8, ::1, localhost.
            let loopback = match u.host() {
                Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
                Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
                Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
                None => false,
            };
            if u.host().is_none() || (u.scheme() != "https" && !(u.scheme() == "http" && loopback)) {
                return Err(format!("endpoint {u} accepted"));
            }
        }
        let mut app = generic_app();
        apply_metadata(&mut app, &m);
        let _ = app.endpoints();
        Ok(())
    });
}

const PROFILE_KEYS: &[&str] = &[
    "id",
    "sub",
    "email",
    "name",
    "preferred_username",
    "ident",
    "locale",
    "contact_information",
    "first_name",
    "last_name",
    "scopes",
    "results",
    "entry",
    "description",
    "documents_count",
    "app",
    "url",
    "createDate",
    "totalResults",
];

/// Profiles (each preset's shape), mementos and grants: never a panic; a profile that parses
/// has an id; every memento and grant read has an id.
#[test]
fn fuzz_profiles_mementos_and_grants() {
    let seeds = [
        r#"{"id":42,"email":"alice@example.com","name":"Alice"}"#,
        r#"{"id":"u1","ident":"AL","locale":"en","email":"a@b","contact_information":{"first_name":"A","last_name":"L"}}"#,
        r#"{"sub":"s","preferred_username":"al"}"#,
        r#"{"id":1,"name":"x","scopes":["a","b"]}"#,
        r#"{"results":[{"id":1,"name":"Memento","description":"d","documents_count":3}]}"#,
        r#"{"totalResults":1,"entry":[{"id":7,"allow":1,"createDate":"2024-01-01","app":{"id":2,"name":"App","url":"https://x"}}]}"#,
    ];
    fuzz("profile/memento/grant", body(PROFILE_KEYS, &seeds), |b| {
        let Ok(v) = serde_json::from_slice::<Value>(b) else { return Ok(()) };
        for style in [ProfileStyle::Rememberizer, ProfileStyle::Textmaster, ProfileStyle::Fusio, ProfileStyle::UserInfo]
        {
            if let Ok(p) = api::parse_profile(style, &v)
                && p.id.is_empty()
            {
                return Err(format!("{style:?}: a profile without an id"));
            }
        }
        if api::parse_mementos(&v).iter().any(|m| m.id.is_empty()) {
            return Err("a memento without an id".into());
        }
        if api::parse_grants(&v).iter().any(|g| g.id.is_empty()) {
            return Err("a grant without an id".into());
        }
        Ok(())
    });
}

/// The loopback listener's request-head reader: a target it returns is a path.
#[test]
fn fuzz_loopback_request_head() {
    let seeds = [
        "GET /oauth/callback?code=abc&state=xyz HTTP/1.1\r\nHost: 127.0.0.1:5000\r\n\r\n",
        "GET / HTTP/1.0\r\n\r\n",
        "POST /oauth/callback HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello",
        "GET http://evil.example/oauth/callback HTTP/1.1\r\n\r\n",
    ];
    let heads = prop_oneof![
        mutated(seeds.iter().map(|s| s.as_bytes().to_vec()).collect()),
        "(GET|POST|get|HEAD)? ?/?[ -~]{0,60} ?(HTTP/1\\.[01]|HTTP/2)?\r?\n?([A-Za-z-]{1,10}: [ -~]{0,20}\r\n){0,4}\r?\n?"
            .prop_map(String::into_bytes),
        proptest::collection::vec(any::<u8>(), 0..128),
    ]
    .prop_map(Bytes);
    fuzz("loopback request head", heads, |b| {
        if let Ok(target) = loopback::parse_request_head(b)
            && !target.starts_with('/')
        {
            return Err(format!("target {target:?} is not a path"));
        }
        Ok(())
    });
}

fn endpoints() -> Endpoints {
    let u = |s: &str| Url::parse(s).unwrap();
    Endpoints {
        authorize: u("https://a.example/authorize"),
        token: u("https://a.example/token"),
        profile: u("https://a.example/me"),
        api_base: u("https://a.example"),
        revocation: Revocation::None(None),
        auth_method: AuthMethod::ClientSecretPost,
        issuer: Some("https://a.example".into()),
        iss_required: true,
    }
}

/// Callback URLs: parsing never panics, and a callback whose `state` is not the pending
/// flow's changes nothing (the flow still waits, and still completes afterwards); nor does a
/// pasted input for another flow id.
#[test]
fn fuzz_callbacks() {
    let flows = Flows::default();
    let begin = || {
        let req = FlowRequest {
            app_id: "a",
            client_id: "c",
            scopes: vec!["read".into()],
            redirect_uri: Some("app.latchkey:/oauth/callback".into()),
            mode: RedirectMode::DeepLink,
        };
        let (id, url, _) = flows.begin(&endpoints(), req, NOW);
        let state = url.query_pairs().find(|(k, _)| k == "state").unwrap().1.into_owned();
        (id, state)
    };
    let (flow_id, state) = begin();
    let seeds = vec![
        format!("app.latchkey:/oauth/callback?code=abc&state={state}&iss=https%3A%2F%2Fa.example").into_bytes(),
        b"app.latchkey:/oauth/callback?code=abc&state=other&iss=https%3A%2F%2Fa.example".to_vec(),
        b"app.latchkey:/oauth/callback?error=access_denied&error_description=no&state=x".to_vec(),
        b"http://127.0.0.1:4000/oauth/callback?code=%00%ff&state=%E2%80%AE&state=y".to_vec(),
        b"app.latchkey://oauth/callback/../x?code=1#state=2".to_vec(),
    ];
    let urls = prop_oneof![
        3 => mutated(seeds).prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
        2 => "(app\\.latchkey|APP\\.LATCHKEY|http|https):/{0,3}[ -~]{0,30}\\?((code|state|iss|error|error_description)=[ -~]{0,30}&?){0,6}",
        1 => any::<String>(),
        1 => "[a-z]{1,6}".prop_map(|k| format!("app.latchkey:/oauth/callback?{}", format!("{k}=%ZZ&").repeat(400))),
    ];
    fuzz("callback url", urls, |u| {
        let _ = latchkey_core::connect::parse_callback(u);
        let carries_state = url::Url::parse(u.trim())
            .map(|p| p.query_pairs().any(|(k, v)| k == "state" && v == state.as_str()))
            .unwrap_or(false);
        if !carries_state {
            if flows.take_callback(u, NOW).is_ok() {
                return Err("a callback without the pending state was accepted".into());
            }
            if flows.take_pasted("not-the-flow", u, NOW).is_ok() {
                return Err("a pasted code for another flow was accepted".into());
            }
            if flows.is_empty() {
                return Err("a hostile callback used up the pending flow".into());
            }
        }
        Ok(())
    });
    // The pending flow survived every hostile input and completes now.
    let ok = format!("app.latchkey:/oauth/callback?code=abc&state={state}&iss=https%3A%2F%2Fa.example");
    if !flows.is_empty() {
        let (flow, outcome) = flows.take_callback(&ok, NOW).expect("the real redirect still completes");
        assert_eq!(flow.id, flow_id);
        assert_eq!(outcome.unwrap(), "abc");
    }
}

/// The deep-link argv handler: a URL is picked only as the single argument and with the
/// app's scheme; connection ids picked are plain.
#[test]
fn fuzz_deep_link_argv() {
    use latchkey_core::connect::MAX_CALLBACK_LEN;
    let arg = prop_oneof![
        any::<String>(),
        "(?i)app\\.latchkey:[ -~]{0,80}",
        " ?app\\.latchkey:/oauth/callback\\?(code|state|iss|error)=[^ ]{0,40}(&[a-z_]{1,8}=[^&]{0,20}){0,6}",
        "--show-connection=[ -~]{0,80}",
        "[a-z]{1,10}:[^ ]{0,60}",
        Just(format!("app.latchkey:/{}", "x".repeat(MAX_CALLBACK_LEN))),
    ];
    fuzz("deep-link argv", proptest::collection::vec(arg, 0..4), |argv| {
        let l = latchkey_core::launch::parse(argv);
        if let Some(u) = &l.url
            && (argv.len() != 2 || !u.to_ascii_lowercase().starts_with("app.latchkey:"))
        {
            return Err(format!("picked {u:?}"));
        }
        if l.show_connections
            .iter()
            .any(|id| id.is_empty() || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
        {
            return Err(format!("picked ids {:?}", l.show_connections));
        }
        Ok(())
    });
}
