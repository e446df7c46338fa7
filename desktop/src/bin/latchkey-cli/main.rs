//! `latchkey-cli`: the command-line companion. Lists connections, prints a fresh access
//! token for scripts, refreshes, revokes, connects (also by device code, RFC 8628), manages
//! provider apps, reports health (`status`) and checks the environment (`doctor`). Shares the
//! app's data directory and keychain entries, and the same per-connection refresh lock, so it
//! never races the app or the agent on a rotating refresh token.

mod apps;
mod connect;
mod doctor;
mod status;

use std::io::Write;
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};
use latchkey_core::{Config, ConnectionView, Error, ErrorCode, Latchkey, RedirectMode};
use secrecy::ExposeSecret;

/// Exit codes (documented in the README).
pub(crate) mod exit {
    pub const OK: u8 = 0;
    pub const FAILED: u8 = 1;
    pub const USAGE: u8 = 2;
    pub const NOT_FOUND: u8 = 3;
    pub const NEEDS_RECONNECT: u8 = 4;
    pub const UNREACHABLE: u8 = 5;
    pub const KEYCHAIN: u8 = 6;
    pub const REJECTED: u8 = 7;
    pub const DAMAGED_DATA: u8 = 8;
}

#[derive(Parser)]
#[command(
    name = "latchkey-cli",
    version,
    about = "Latchkey from the command line: provider apps, connections, tokens for scripts, health.",
    after_help = "Exit codes: 0 done · 1 failed otherwise · 2 bad usage · 3 no such connection or provider app · \
4 needs reconnect · 5 provider unreachable or busy · 6 keychain unavailable or locked · \
7 provider rejected the request · 8 the data file is damaged."
)]
pub(crate) struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// List connections.
    List {
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Print a valid access token on stdout (refreshing first if it expires soon).
    Token {
        /// Connection id, account email, name or label.
        connection: String,
        /// Refresh first when the token expires within this many seconds.
        #[arg(long, default_value_t = 60)]
        min_valid: i64,
    },
    /// Refresh a connection now.
    Refresh {
        /// Connection id, account email, name or label.
        connection: String,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a connection (at the provider where it can be), then remove it.
    Revoke {
        /// Connection id, account email, name or label.
        connection: String,
        /// Remove it here only, without asking the provider.
        #[arg(long)]
        local_only: bool,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Give a connection a label to name it by (`work`, `personal`…); "" removes it.
    Label {
        /// Connection id, account email, name or label.
        connection: String,
        /// The new label.
        label: String,
    },
    /// Provider apps: list (the default), add, edit, remove.
    Apps(Box<apps::AppsArgs>),
    /// Health of every connection, the agent and the keychain (exit 0 when all is well).
    Status(status::StatusArgs),
    /// Check the environment Latchkey needs: session bus, keychain, URL handler, agent, files,
    /// notifications, clock.
    Doctor(doctor::DoctorArgs),
    /// Recover from a damaged data file: restore the last good copy (the damaged file is kept
    /// aside as latchkey.json.damaged-TIME).
    Restore {
        /// Start empty instead (no provider apps or connections; the damaged file is kept aside).
        #[arg(long)]
        start_empty: bool,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Connect an account at a provider app (id or name).
    Connect(connect::ConnectArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell) on stdout.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff) on stdout.
    #[command(hide = true)]
    Man,
}

pub(crate) fn code_for(e: &Error) -> u8 {
    code_for_code(e.code())
}

/// The exit code for an error code (the README's table).
pub(crate) fn code_for_code(code: ErrorCode) -> u8 {
    match code {
        ErrorCode::NotFound => exit::NOT_FOUND,
        ErrorCode::NeedsReconnect => exit::NEEDS_RECONNECT,
        ErrorCode::Network => exit::UNREACHABLE,
        ErrorCode::KeychainUnavailable => exit::KEYCHAIN,
        ErrorCode::InvalidInput => exit::USAGE,
        ErrorCode::ProviderRejected | ErrorCode::MissingScope => exit::REJECTED,
        ErrorCode::Flow | ErrorCode::Internal => exit::FAILED,
        ErrorCode::DamagedData => exit::DAMAGED_DATA,
    }
}

/// A failure that carries its exit code and message as they are (commands that report
/// several findings, or errors that came back as `{ code, message }`).
#[derive(Debug)]
pub(crate) struct Failure {
    pub code: u8,
    pub message: Option<String>,
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        let mut message = e.to_string();
        if e.code() == ErrorCode::NeedsReconnect {
            message.push_str("\nOpen Latchkey and click Reconnect on this connection, or run `latchkey-cli connect`.");
        }
        if let Error::DamagedData { backup_available, .. } = &e {
            message.push('\n');
            message.push_str(if *backup_available {
                "Run `latchkey-cli restore` to restore the last good copy (or open Latchkey)."
            } else {
                "Run `latchkey-cli restore --start-empty` to start empty (or open Latchkey)."
            });
        }
        Self { code: code_for(&e), message: Some(message) }
    }
}

impl Failure {
    /// Bad usage (exit 2) with what to do.
    pub fn usage(message: impl Into<String>) -> Self {
        Self { code: exit::USAGE, message: Some(message.into()) }
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { exit::USAGE } else { exit::OK });
        }
    };
    // Generated from the definitions above; need no data directory or keychain.
    match &cli.command {
        Command::Completions { shell } => {
            clap_complete::generate(*shell, &mut Cli::command(), "latchkey-cli", &mut std::io::stdout());
            return ExitCode::from(exit::OK);
        }
        Command::Man => {
            let man = clap_mangen::Man::new(Cli::command());
            return match man.render(&mut std::io::stdout()) {
                Ok(()) => ExitCode::from(exit::OK),
                Err(_) => ExitCode::from(exit::FAILED),
            };
        }
        _ => {}
    }
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime");
    match rt.block_on(run(cli)) {
        Ok(()) => ExitCode::from(exit::OK),
        Err(f) => {
            if let Some(m) = &f.message {
                for (i, line) in m.lines().enumerate() {
                    if i == 0 {
                        eprintln!("latchkey-cli: {line}");
                    } else {
                        eprintln!("{line}");
                    }
                }
            }
            ExitCode::from(f.code)
        }
    }
}

/// Finds a connection by id, email, label or name; ambiguity is an error.
pub(crate) fn resolve(lk: &Latchkey, what: &str) -> Result<ConnectionView, Error> {
    let all = lk.list_connections()?;
    if let Some(c) = all.iter().find(|c| c.id == what) {
        return Ok(c.clone());
    }
    let eq = |v: &Option<String>| v.as_deref().is_some_and(|v| v.eq_ignore_ascii_case(what));
    let matches: Vec<&ConnectionView> = all.iter().filter(|c| eq(&c.label) || eq(&c.email) || eq(&c.name)).collect();
    match matches.as_slice() {
        [one] => Ok((*one).clone()),
        [] => Err(Error::NotFound(format!("no connection {what:?}; `latchkey-cli list` shows them"))),
        many => Err(Error::InvalidInput(format!(
            "{what:?} matches {} connections ({}); use an id",
            many.len(),
            many.iter().map(|c| c.id.as_str()).collect::<Vec<_>>().join(", ")
        ))),
    }
}

/// Finds a provider app by id or name; ambiguity is an error.
pub(crate) fn resolve_app(lk: &Latchkey, what: &str) -> Result<latchkey_core::AppView, Error> {
    let apps = lk.list_apps()?;
    let found: Vec<_> = apps.iter().filter(|a| a.id == what || a.name.eq_ignore_ascii_case(what)).collect();
    match found.as_slice() {
        [one] => Ok((*one).clone()),
        [] => Err(Error::NotFound(format!("no provider app {what:?}; `latchkey-cli apps` shows them"))),
        _ => Err(Error::InvalidInput(format!("{what:?} names several provider apps; use an id"))),
    }
}

pub(crate) fn fmt_time(now: i64, at: Option<i64>) -> String {
    match at {
        None => "-".into(),
        Some(t) if t <= now => "expired".into(),
        Some(t) => {
            let s = t - now;
            if s < 120 {
                format!("in {s} s")
            } else if s < 7200 {
                format!("in {} min", s / 60)
            } else {
                format!("in {} h", s / 3600)
            }
        }
    }
}

/// "10 minutes", "5 seconds" (minutes rounded).
pub(crate) fn wait_words(secs: i64) -> String {
    let plural = |n: i64, unit: &str| format!("{n} {unit}{}", if n == 1 { "" } else { "s" });
    if secs >= 60 { plural((secs + 30) / 60, "minute") } else { plural(secs, "second") }
}

pub(crate) fn status_word(s: latchkey_core::Status) -> &'static str {
    match s {
        latchkey_core::Status::Connected => "connected",
        latchkey_core::Status::Refreshing => "refreshing",
        latchkey_core::Status::NeedsReconnect => "needs-reconnect",
        latchkey_core::Status::RevocationPending => "revocation-pending",
        latchkey_core::Status::WaitingToSave => "waiting-to-save",
    }
}

pub(crate) fn mode_word(m: RedirectMode) -> &'static str {
    match m {
        RedirectMode::DeepLink => "app-link",
        RedirectMode::Loopback => "loopback",
        RedirectMode::Paste => "paste",
    }
}

/// A refresh whose new tokens the keychain refused (locked) left them in this process's
/// memory: the provider has already replaced the old refresh token, so they must reach the
/// keychain before the process ends. Waits (the keychain is polled, never prompted) up to two
/// minutes.
async fn save_before_exit(lk: &Latchkey) -> Result<(), Error> {
    if lk.unsaved_connections().is_empty() {
        return Ok(());
    }
    eprintln!(
        "latchkey-cli: the keychain is locked; waiting up to 2 minutes to save the refreshed tokens — unlock it now."
    );
    if lk.wait_saved(std::time::Duration::from_secs(120)).await {
        eprintln!("latchkey-cli: saved.");
        return Ok(());
    }
    Err(Error::Keychain(
        "the refreshed tokens could not be saved; the connection may need reconnecting once the keychain is unlocked"
            .into(),
    ))
}

pub(crate) fn print_json(v: &impl serde::Serialize) {
    println!("{}", serde_json::to_string_pretty(v).expect("serialisable"));
}

async fn run(cli: Cli) -> Result<(), Failure> {
    // `doctor` diagnoses even what keeps Latchkey from opening (a damaged file, no data dir).
    if let Command::Doctor(args) = &cli.command {
        return doctor::run(args).await;
    }
    let lk = Latchkey::open(&Config::from_env()?)?;
    let now = lk.now();
    match cli.command {
        Command::List { json } => {
            let list = lk.list_connections()?;
            if json {
                print_json(&list);
            } else if list.is_empty() {
                eprintln!("No connections yet. Connect one in the app or with `latchkey-cli connect APP`.");
            } else {
                println!("{:<18} {:<14} {:<32} {:<19} EXPIRES", "ID", "PROVIDER", "ACCOUNT", "STATUS");
                for c in list {
                    let who = c.email.clone().or(c.name.clone()).unwrap_or_else(|| c.account_id.clone());
                    println!(
                        "{:<18} {:<14} {:<32} {:<19} {}",
                        c.id,
                        c.app_name,
                        who,
                        status_word(c.status),
                        fmt_time(now, c.expires_at)
                    );
                }
            }
        }
        Command::Token { connection, min_valid } => {
            let c = resolve(&lk, &connection)?;
            let token = lk.access_token(&c.id, min_valid.max(0)).await?;
            {
                let mut out = std::io::stdout().lock();
                writeln!(out, "{}", token.expose_secret()).map_err(|e| Error::Internal(e.to_string()))?;
            }
            save_before_exit(&lk).await?;
        }
        Command::Refresh { connection, json } => {
            let c = resolve(&lk, &connection)?;
            let v = lk.refresh(&c.id).await?;
            save_before_exit(&lk).await?;
            if json {
                print_json(&v)
            } else {
                println!("refreshed {}: expires {}", v.id, fmt_time(lk.now(), v.expires_at))
            }
        }
        Command::Revoke { connection, local_only, json } => {
            let c = resolve(&lk, &connection)?;
            let out = lk.revoke_connection(&c.id, local_only).await?;
            if json {
                print_json(&out);
            } else {
                println!("{}", out.message);
                if let Some(u) = &out.manage_url {
                    println!("{u}");
                }
            }
            if out.pending {
                return Err(Failure { code: exit::UNREACHABLE, message: Some("revocation pending".into()) });
            }
        }
        Command::Label { connection, label } => {
            let c = resolve(&lk, &connection)?;
            let v = lk.set_label(&c.id, &label).await?;
            match v.label {
                Some(l) => eprintln!("{} is now labelled {l:?}", v.id),
                None => eprintln!("{} has no label", v.id),
            }
        }
        Command::Apps(args) => apps::run(&lk, *args).await?,
        Command::Status(args) => status::run(&lk, &args).await?,
        Command::Restore { start_empty, json } => {
            let done = if start_empty { lk.start_empty().await? } else { lk.restore_backup().await? };
            if json {
                print_json(&done);
            } else {
                eprintln!("{}", done.message);
            }
        }
        Command::Connect(args) => connect::run(&lk, args).await?,
        Command::Doctor(_) | Command::Completions { .. } | Command::Man => unreachable!("handled above"),
    }
    Ok(())
}
