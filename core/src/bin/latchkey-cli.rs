//! `latchkey-cli`: the command-line companion. Lists connections, prints a fresh access
//! token for scripts, refreshes, revokes, and connects. Shares the app's data directory and
//! keychain entries, and the same per-connection refresh lock, so it never races the app or
//! the agent on a rotating refresh token.

use std::io::{BufRead, Write};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use latchkey_core::{Config, ConnectionView, Error, ErrorCode, Event, Latchkey, RedirectMode};
use secrecy::ExposeSecret;

/// Exit codes (documented in the README).
mod exit {
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
    about = "Latchkey from the command line: tokens for scripts, connections, revocation."
)]
struct Cli {
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
    /// List provider apps.
    Apps {
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
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
    Connect {
        /// Provider app id or name.
        app: String,
        /// Complete through a loopback listener (http://127.0.0.1:PORT/oauth/callback/APP);
        /// gives up after 10 minutes (exit code 1).
        #[arg(long, conflicts_with = "paste")]
        loopback: bool,
        /// Read the code the provider shows from standard input.
        #[arg(long)]
        paste: bool,
        /// Print the link only; do not open the browser.
        #[arg(long)]
        no_browser: bool,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
}

fn code_for(e: &Error) -> u8 {
    match e.code() {
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

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { exit::USAGE } else { exit::OK });
        }
    };
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime");
    match rt.block_on(run(cli)) {
        Ok(()) => ExitCode::from(exit::OK),
        Err(e) => {
            eprintln!("latchkey-cli: {e}");
            if e.code() == ErrorCode::NeedsReconnect {
                eprintln!("Open Latchkey and click Reconnect on this connection, or run `latchkey-cli connect`.");
            }
            if let Error::DamagedData { backup_available, .. } = &e {
                if *backup_available {
                    eprintln!("Run `latchkey-cli restore` to restore the last good copy (or open Latchkey).");
                } else {
                    eprintln!("Run `latchkey-cli restore --start-empty` to start empty (or open Latchkey).");
                }
            }
            ExitCode::from(code_for(&e))
        }
    }
}

/// Finds a connection by id, email, label or name; ambiguity is an error.
fn resolve(lk: &Latchkey, what: &str) -> Result<ConnectionView, Error> {
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

fn fmt_time(now: i64, at: Option<i64>) -> String {
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
fn wait_words(secs: i64) -> String {
    let plural = |n: i64, unit: &str| format!("{n} {unit}{}", if n == 1 { "" } else { "s" });
    if secs >= 60 { plural((secs + 30) / 60, "minute") } else { plural(secs, "second") }
}

fn status_word(c: &ConnectionView) -> &'static str {
    match c.status {
        latchkey_core::Status::Connected => "connected",
        latchkey_core::Status::Refreshing => "refreshing",
        latchkey_core::Status::NeedsReconnect => "needs-reconnect",
        latchkey_core::Status::RevocationPending => "revocation-pending",
        latchkey_core::Status::WaitingToSave => "waiting-to-save",
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

fn print_json(v: &impl serde::Serialize) {
    println!("{}", serde_json::to_string_pretty(v).expect("serialisable"));
}

async fn run(cli: Cli) -> Result<(), Error> {
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
                        status_word(&c),
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
                return Err(Error::Http {
                    what: "the revocation endpoint",
                    status: 503,
                    detail: Some("revocation pending".into()),
                    retry_after: None,
                });
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
        Command::Apps { json } => {
            let apps = lk.list_apps()?;
            if json {
                print_json(&apps);
            } else if apps.is_empty() {
                eprintln!("No provider apps yet. Add one in the app's Settings.");
            } else {
                println!("{:<18} {:<14} {:<28} {:<10} CONNECTIONS", "ID", "PRESET", "NAME", "REDIRECT");
                for a in apps {
                    let mode = match a.redirect_mode {
                        RedirectMode::DeepLink => "app-link",
                        RedirectMode::Loopback => "loopback",
                        RedirectMode::Paste => "paste",
                    };
                    println!(
                        "{:<18} {:<14} {:<28} {:<10} {}",
                        a.id,
                        a.preset.as_str(),
                        a.name,
                        mode,
                        a.connection_count
                    );
                }
            }
        }
        Command::Restore { start_empty, json } => {
            let done = if start_empty { lk.start_empty().await? } else { lk.restore_backup().await? };
            if json {
                print_json(&done);
            } else {
                eprintln!("{}", done.message);
            }
        }
        Command::Connect { app, loopback, paste, no_browser, json } => {
            let apps = lk.list_apps()?;
            let found: Vec<_> = apps.iter().filter(|a| a.id == app || a.name.eq_ignore_ascii_case(&app)).collect();
            let a = match found.as_slice() {
                [one] => (*one).clone(),
                [] => return Err(Error::NotFound(format!("no provider app {app:?}; `latchkey-cli apps` shows them"))),
                _ => return Err(Error::InvalidInput(format!("{app:?} names several provider apps; use an id"))),
            };
            let mode = if paste {
                RedirectMode::Paste
            } else if loopback || a.redirect_mode == RedirectMode::DeepLink {
                // The app link goes to the desktop app, not to this process.
                RedirectMode::Loopback
            } else {
                a.redirect_mode
            };
            let mut events = lk.subscribe();
            let start = lk.start_connect_as(&a.id, None, Some(mode)).await?;
            eprintln!("Sign in at {} in your browser:", a.name);
            println!("{}", start.authorize_url);
            if !no_browser && open::that_detached(&start.authorize_url).is_err() {
                eprintln!("(could not open a browser; open the link above yourself)");
            }
            let conn = if mode == RedirectMode::Paste {
                eprint!("Paste the code the provider shows: ");
                let mut line = String::new();
                std::io::stdin().lock().read_line(&mut line).map_err(|e| Error::Internal(e.to_string()))?;
                lk.submit_code(&start.flow_id, &line).await?
            } else {
                // The listener stops the flow when it times out and says so as ConnectFinished;
                // the extra seconds only guard against that event never coming.
                let secs = (start.expires_at - lk.now()).max(1);
                eprintln!("Waiting for the browser (up to {}; Ctrl-C to stop)…", wait_words(secs));
                let wait = async {
                    loop {
                        match events.recv().await {
                            Ok(Event::ConnectFinished { flow_id, result }) if flow_id == start.flow_id => {
                                break result.map(|b| *b).map_err(|e| match e.code {
                                    ErrorCode::Network => Error::Http {
                                        what: "the provider",
                                        status: 503,
                                        detail: Some(e.message),
                                        retry_after: None,
                                    },
                                    ErrorCode::NotFound => Error::NotFound(e.message),
                                    _ => Error::Flow(e.message),
                                });
                            }
                            Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                            Err(_) => break Err(Error::Internal("lost track of the sign-in".into())),
                        }
                    }
                };
                match tokio::time::timeout(std::time::Duration::from_secs(secs as u64 + 5), wait).await {
                    Ok(r) => r?,
                    Err(_) => {
                        lk.cancel_connect(&start.flow_id);
                        return Err(Error::Flow(format!(
                            "the sign-in was not completed within {} and was stopped; start again",
                            wait_words(secs)
                        )));
                    }
                }
            };
            if json {
                print_json(&conn);
            } else {
                eprintln!(
                    "Connected {} ({}) as {}",
                    conn.name.as_deref().unwrap_or("-"),
                    conn.email.as_deref().unwrap_or("-"),
                    conn.id
                );
            }
        }
    }
    Ok(())
}
