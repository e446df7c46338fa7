//! `latchkey-cli status`: the health of every connection (like `gh auth status`), the agent
//! and the keychain. Exit 0 when all is well; otherwise the code of the most pressing problem
//! (keychain 6, needs reconnect 4, provider rejected 7, unreachable 5; no connection 3).
//! Token values are never read into the output: only whether a refresh token is held.

use std::path::Path;

use clap::Args;
use latchkey_core::vault::connection_key;
use latchkey_core::{ConnectionView, ErrorCode, Latchkey, Status};
use serde::Serialize;

use crate::{Failure, code_for_code, exit, fmt_time, print_json, resolve, status_word};

#[derive(Args)]
pub(crate) struct StatusArgs {
    /// Only this connection (id, account email, name or label).
    connection: Option<String>,
    /// Prove each token works: one authenticated request to the provider's profile endpoint
    /// (refreshing first if the access token has expired).
    #[arg(long)]
    check: bool,
    /// Machine-readable output.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Report {
    ok: bool,
    exit_code: u8,
    keychain: Keychain,
    agent: Agent,
    connections: Vec<ConnStatus>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Keychain {
    service: String,
    /// The Secret Service answered.
    reachable: bool,
    /// `None`: cannot tell without touching an item (no prompt is raised for it).
    unlocked: Option<bool>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Agent {
    pub running: bool,
    pub pid: Option<u32>,
    /// `latchkey-agent`, or `latchkey` (the app refreshes by itself while no agent runs).
    pub process: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ConnStatus {
    id: String,
    account: String,
    email: Option<String>,
    name: Option<String>,
    label: Option<String>,
    app_id: String,
    app_name: String,
    status: &'static str,
    expires_at: Option<i64>,
    /// Seconds until the access token expires (negative: expired).
    expires_in: Option<i64>,
    next_refresh_at: Option<i64>,
    last_refresh_at: Option<i64>,
    /// Whether the keychain holds a refresh token (`None`: keychain locked or unreachable).
    has_refresh_token: Option<bool>,
    scopes_granted: Vec<String>,
    last_error: Option<String>,
    app_credentials_rejected: Option<String>,
    /// With `--check`: the profile request's outcome.
    check: Option<Check>,
    /// What needs doing, in plain words (empty: nothing).
    attention: Vec<String>,
    #[serde(skip)]
    code: u8,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Check {
    ok: bool,
    code: Option<ErrorCode>,
    message: Option<String>,
}

/// The process holding the agent's instance lock: found through `/proc/*/fd` (Linux), so
/// neither the agent nor the app has to write its pid anywhere.
pub(crate) fn agent(data_dir: &Path) -> Agent {
    let running = latchkey_core::agent::is_running(data_dir);
    let mut pid = None;
    let mut process = None;
    if running {
        let lock = data_dir.join("agent.lock");
        let lock = lock.canonicalize().unwrap_or(lock);
        if let Ok(procs) = std::fs::read_dir("/proc") {
            'outer: for p in procs.flatten() {
                let Some(n) = p.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else { continue };
                let Ok(fds) = std::fs::read_dir(p.path().join("fd")) else { continue };
                for fd in fds.flatten() {
                    if std::fs::read_link(fd.path()).is_ok_and(|t| t == lock) && n != std::process::id() {
                        pid = Some(n);
                        process = std::fs::read_to_string(p.path().join("comm")).ok().map(|s| s.trim().to_owned());
                        break 'outer;
                    }
                }
            }
        }
    }
    Agent { running, pid, process }
}

fn attention_code(c: &ConnectionView) -> (u8, Vec<String>) {
    let mut words = vec![];
    let mut code = exit::OK;
    match c.status {
        Status::NeedsReconnect => {
            code = exit::NEEDS_RECONNECT;
            words.push(format!("needs reconnect: `latchkey-cli connect {}` or Reconnect in the app", c.app_id));
        }
        Status::WaitingToSave => {
            code = exit::KEYCHAIN;
            words.push("refreshed tokens wait to be saved: unlock the keychain".into());
        }
        Status::RevocationPending => {
            code = exit::UNREACHABLE;
            words.push("revocation pending: `latchkey-cli revoke` retries it".into());
        }
        Status::Connected | Status::Refreshing => {}
    }
    if let Some(why) = &c.app_credentials_rejected {
        if code == exit::OK {
            code = exit::REJECTED;
        }
        words.push(format!(
            "the provider rejected the provider app's credentials ({why}): `latchkey-cli apps edit {} --client-secret-stdin`",
            c.app_id
        ));
    }
    (code, words)
}

/// The most pressing of several exit codes: keychain, needs reconnect, rejected, unreachable.
fn worst(codes: impl IntoIterator<Item = u8>) -> u8 {
    const ORDER: [u8; 4] = [exit::KEYCHAIN, exit::NEEDS_RECONNECT, exit::REJECTED, exit::UNREACHABLE];
    let codes: Vec<u8> = codes.into_iter().collect();
    ORDER.into_iter().find(|c| codes.contains(c)).unwrap_or(exit::OK)
}

async fn check(lk: &Latchkey, c: &ConnectionView) -> Check {
    let run = async {
        let data = lk.load()?;
        let app = data.app(&c.app_id)?.clone();
        let endpoints = app.endpoints()?;
        let token = lk.access_token(&c.id, 5).await?;
        let http = latchkey_core::http::client();
        latchkey_core::resources::fetch_profile(&http, &endpoints, app.preset.preset().profile_style, &token).await
    };
    match run.await {
        Ok(_) => Check { ok: true, code: None, message: None },
        Err(e) => Check { ok: false, code: Some(e.code()), message: Some(e.to_string()) },
    }
}

pub(crate) async fn run(lk: &Latchkey, args: &StatusArgs) -> Result<(), Failure> {
    let mut list = lk.list_connections()?;
    if let Some(which) = &args.connection {
        let c = resolve(lk, which)?;
        list.retain(|x| x.id == c.id);
    }
    let service = lk.keyring_service().to_owned();
    let locked = lk.keychain_locked().await;
    // Items are read only when the keychain says it is unlocked: a locked one would prompt.
    let vault = (locked == Some(false)).then(|| latchkey_core::vault::platform_vault(&service));
    let keychain = Keychain { service: service.clone(), reachable: locked.is_some(), unlocked: locked.map(|l| !l) };
    let agent = agent(lk.data_dir());
    let now = lk.now();
    let mut out = vec![];
    for c in &list {
        let has_refresh_token = match &vault {
            Some(v) => match v.get(&connection_key(&c.id)) {
                Ok(Some(s)) => {
                    latchkey_core::token::TokenSet::from_vault_string(&s).ok().map(|t| t.refresh_token.is_some())
                }
                Ok(None) => Some(false),
                Err(_) => None,
            },
            None => None,
        };
        let (mut code, mut attention) = attention_code(c);
        if has_refresh_token == Some(false) && c.status == Status::Connected {
            attention.push("no refresh token is held: the connection ends when its access token expires".into());
        }
        let check = if args.check && matches!(c.status, Status::Connected | Status::Refreshing) {
            let r = check(lk, c).await;
            if let Some(ec) = r.code {
                code = worst([code, code_for_code(ec)]);
                attention.push(format!("the check failed: {}", r.message.clone().unwrap_or_default()));
            }
            Some(r)
        } else {
            None
        };
        out.push(ConnStatus {
            id: c.id.clone(),
            account: c.email.clone().or(c.name.clone()).unwrap_or_else(|| c.account_id.clone()),
            email: c.email.clone(),
            name: c.name.clone(),
            label: c.label.clone(),
            app_id: c.app_id.clone(),
            app_name: c.app_name.clone(),
            status: status_word(c.status),
            expires_at: c.expires_at,
            expires_in: c.expires_at.map(|e| e - now),
            next_refresh_at: c.next_refresh_at,
            last_refresh_at: c.last_refresh_at,
            has_refresh_token,
            scopes_granted: c.scopes_granted.clone(),
            last_error: c.last_error.clone(),
            app_credentials_rejected: c.app_credentials_rejected.clone(),
            check,
            attention,
            code,
        });
    }
    let keychain_code = if locked == Some(false) { exit::OK } else { exit::KEYCHAIN };
    let mut exit_code = worst(out.iter().map(|c| c.code).chain([keychain_code]));
    if out.is_empty() && exit_code == exit::OK {
        exit_code = exit::NOT_FOUND;
    }
    let report = Report { ok: exit_code == exit::OK, exit_code, keychain, agent, connections: out };
    if args.json {
        print_json(&report);
    } else {
        print_human(&report, now);
    }
    if report.ok {
        Ok(())
    } else {
        // The report said it all; only the code is left to give.
        Err(Failure { code: exit_code, message: None })
    }
}

fn print_human(r: &Report, now: i64) {
    let k = &r.keychain;
    let kc = match (k.reachable, k.unlocked) {
        (false, _) => "NOT reachable (no Secret Service on the session bus?) — `latchkey-cli doctor` tells more",
        (true, Some(true)) => "reachable, unlocked",
        (true, _) => "reachable, LOCKED — unlock it (your desktop's keyring, or `secret-tool`)",
    };
    println!("Keychain: {kc} (service {})", k.service);
    match (&r.agent.running, r.agent.pid) {
        (true, Some(pid)) => println!(
            "Agent: running ({} pid {pid}): tokens are refreshed in the background",
            r.agent.process.as_deref().unwrap_or("process")
        ),
        (true, None) => println!("Agent: running"),
        (false, _) => println!(
            "Agent: not running — tokens are refreshed only when used (`latchkey-cli token`) or while the app is open"
        ),
    }
    if r.connections.is_empty() {
        println!("No connections. Add a provider app (`latchkey-cli apps add`) and connect (`latchkey-cli connect`).");
    }
    for c in &r.connections {
        println!();
        let mark = if c.attention.is_empty() { "✓" } else { "X" };
        println!("{mark} {} — {} ({})", c.account, c.app_name, c.id);
        println!("  status: {}", c.status);
        println!(
            "  access token: expires {}; next refresh {}",
            fmt_time(now, c.expires_at),
            fmt_time(now, c.next_refresh_at)
        );
        println!(
            "  refresh token: {}",
            match c.has_refresh_token {
                Some(true) => "held",
                Some(false) => "none",
                None => "unknown (keychain not readable)",
            }
        );
        println!("  scopes: {}", if c.scopes_granted.is_empty() { "-".into() } else { c.scopes_granted.join(" ") });
        if let Some(e) = &c.last_error {
            println!("  last error: {e}");
        }
        if let Some(ch) = &c.check {
            println!("  check: {}", if ch.ok { "the provider accepted the token" } else { "FAILED" });
        }
        for a in &c.attention {
            println!("  ! {a}");
        }
    }
}
