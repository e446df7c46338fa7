//! `latchkey-cli apps`: list, add, edit and remove provider apps — every field of the window's
//! form. Validation and discovery are the window's own (`Latchkey::save_app`). The client
//! secret comes from standard input or from an environment variable, never from the command
//! line (which any local user can read in `ps`), and goes to the keychain only.

use std::io::{IsTerminal, Read, Write};

use clap::{Args, Subcommand, ValueEnum};
use latchkey_core::provider::AuthMethod;
use latchkey_core::{AppInput, AppView, Error, Latchkey, PresetId, RedirectMode};
use secrecy::SecretString;

use crate::{Failure, mode_word, print_json, resolve_app};

#[derive(Args)]
#[command(args_conflicts_with_subcommands = true)]
pub(crate) struct AppsArgs {
    #[command(subcommand)]
    command: Option<AppsCommand>,
    /// Machine-readable output (for the list).
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand)]
enum AppsCommand {
    /// List provider apps.
    List {
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Register a provider app (the client secret from --client-secret-stdin or
    /// --client-secret-env, never from the command line).
    Add {
        /// The provider preset.
        #[arg(long, value_enum)]
        preset: Preset,
        /// The client id the provider gave you.
        #[arg(long)]
        client_id: String,
        #[command(flatten)]
        fields: Fields,
    },
    /// Change a provider app; fields not given stay as they are.
    Edit {
        /// Provider app id or name.
        app: String,
        /// A new client id.
        #[arg(long)]
        client_id: Option<String>,
        #[command(flatten)]
        fields: Fields,
    },
    /// Remove a provider app (its client secret leaves the keychain). When accounts are
    /// connected through it, say whether to revoke them at the provider or keep them.
    Remove {
        /// Provider app id or name.
        app: String,
        /// Revoke its connections at the provider first, then remove them.
        #[arg(long, conflicts_with = "keep")]
        revoke: bool,
        /// Keep its connections (they stay listed but can no longer be refreshed).
        #[arg(long)]
        keep: bool,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
}

/// The form's fields shared by `add` and `edit`.
#[derive(Args)]
struct Fields {
    /// Display name (default: the preset's).
    #[arg(long)]
    name: Option<String>,
    /// Base URL (required for Fusio, and for Generic without explicit endpoints; an override
    /// for the others). "" clears it on edit.
    #[arg(long)]
    base_url: Option<String>,
    /// Authorization endpoint (overrides the preset's or discovery's). "" clears it on edit.
    #[arg(long)]
    authorize_url: Option<String>,
    /// Token endpoint. "" clears it on edit.
    #[arg(long)]
    token_url: Option<String>,
    /// RFC 7009 revocation endpoint. "" clears it on edit.
    #[arg(long)]
    revocation_url: Option<String>,
    /// Userinfo / profile endpoint. "" clears it on edit.
    #[arg(long)]
    userinfo_url: Option<String>,
    /// RFC 8628 device authorization endpoint (enables `connect --device`). "" clears it.
    #[arg(long)]
    device_authorization_url: Option<String>,
    /// Scopes, space-separated (default: the preset's).
    #[arg(long)]
    scopes: Option<String>,
    /// How the sign-in comes back to Latchkey (default: the preset's first).
    #[arg(long, value_enum)]
    redirect: Option<Redirect>,
    /// A fixed loopback port (1024–65535) for servers that match the redirect URI exactly;
    /// 0 clears it on edit (any free port per sign-in).
    #[arg(long)]
    loopback_port: Option<u16>,
    /// Token-endpoint client authentication (default: discovery's or the preset's).
    #[arg(long, value_enum)]
    auth_method: Option<Auth>,
    /// Read the client secret from standard input (one line; a trailing newline is dropped).
    #[arg(long, conflicts_with = "client_secret_env")]
    client_secret_stdin: bool,
    /// Read the client secret from this environment variable.
    #[arg(long, value_name = "NAME")]
    client_secret_env: Option<String>,
    /// Machine-readable output.
    #[arg(long)]
    json: bool,
}

#[derive(Clone, Copy, ValueEnum)]
enum Preset {
    Rememberizer,
    Textmaster,
    Fusio,
    Generic,
}

impl From<Preset> for PresetId {
    fn from(p: Preset) -> Self {
        match p {
            Preset::Rememberizer => PresetId::Rememberizer,
            Preset::Textmaster => PresetId::Textmaster,
            Preset::Fusio => PresetId::Fusio,
            Preset::Generic => PresetId::Generic,
        }
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum Redirect {
    /// The app's own URL scheme (app.latchkey:/oauth/callback/ID), delivered to the window.
    AppLink,
    /// http://127.0.0.1:PORT/oauth/callback/ID (RFC 8252 §7.3).
    Loopback,
    /// The provider shows a code to paste.
    Paste,
}

impl From<Redirect> for RedirectMode {
    fn from(r: Redirect) -> Self {
        match r {
            Redirect::AppLink => RedirectMode::DeepLink,
            Redirect::Loopback => RedirectMode::Loopback,
            Redirect::Paste => RedirectMode::Paste,
        }
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum Auth {
    /// client_id and client_secret in the form body.
    #[value(name = "client_secret_post", alias = "post")]
    ClientSecretPost,
    /// HTTP Basic.
    #[value(name = "client_secret_basic", alias = "basic")]
    ClientSecretBasic,
}

impl From<Auth> for AuthMethod {
    fn from(a: Auth) -> Self {
        match a {
            Auth::ClientSecretPost => AuthMethod::ClientSecretPost,
            Auth::ClientSecretBasic => AuthMethod::ClientSecretBasic,
        }
    }
}

/// The secret from standard input or an environment variable; `None` when neither was asked.
fn read_secret(f: &Fields) -> Result<Option<SecretString>, Failure> {
    let raw = if f.client_secret_stdin {
        if std::io::stdin().is_terminal() {
            eprint!("Client secret (then Enter): ");
            let _ = std::io::stderr().flush();
        }
        let mut s = String::new();
        std::io::stdin()
            .lock()
            .take(64 * 1024)
            .read_to_string(&mut s)
            .map_err(|e| Failure::usage(format!("cannot read the client secret from standard input: {e}")))?;
        // One line: what a script pipes in (`printf %s "$SECRET" |`, `echo`, a here-string).
        s.lines().next().unwrap_or_default().to_owned()
    } else if let Some(name) = &f.client_secret_env {
        std::env::var(name).map_err(|_| Failure::usage(format!("the environment variable {name} is not set")))?
    } else {
        return Ok(None);
    };
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Err(Failure::usage("the client secret is empty"));
    }
    Ok(Some(SecretString::from(trimmed.to_owned())))
}

/// `""` means "clear" on edit; absent means "keep".
fn keep_or(new: &Option<String>, old: Option<String>) -> Option<String> {
    match new {
        Some(v) => Some(v.clone()),
        None => old,
    }
}

fn show(a: &AppView, json: bool, verb: &str) {
    if json {
        print_json(a);
        return;
    }
    eprintln!("{verb} provider app {} ({})", a.name, a.id);
    match &a.redirect_uri {
        Some(uri) => eprintln!("Register this redirect URI at the provider: {uri}"),
        None => eprintln!("This provider app sends no redirect URI (the provider shows a code to paste)."),
    }
    if a.device_authorization_url.is_some() {
        eprintln!("Sign-in on another device is offered: `latchkey-cli connect {} --device`.", a.id);
    }
    println!("{}", a.id);
}

pub(crate) async fn run(lk: &Latchkey, args: AppsArgs) -> Result<(), Failure> {
    match args.command {
        None => list(lk, args.json),
        Some(AppsCommand::List { json }) => list(lk, json || args.json),
        Some(AppsCommand::Add { preset, client_id, fields }) => {
            let secret = read_secret(&fields)?;
            let input = AppInput {
                id: None,
                preset: preset.into(),
                name: fields.name.clone().unwrap_or_default(),
                base_url: fields.base_url.clone(),
                client_id,
                client_secret: secret,
                scopes: fields.scopes.clone(),
                redirect_mode: fields.redirect.map(Into::into),
                authorize_url: fields.authorize_url.clone(),
                token_url: fields.token_url.clone(),
                revocation_url: fields.revocation_url.clone(),
                userinfo_url: fields.userinfo_url.clone(),
                callback_id: None,
                auth_method: fields.auth_method.map(Into::into),
                loopback_port: fields.loopback_port.filter(|p| *p != 0),
                device_authorization_url: fields.device_authorization_url.clone(),
            };
            let a = lk.save_app(input).await?;
            show(&a, fields.json, "Added");
            Ok(())
        }
        Some(AppsCommand::Edit { app, client_id, fields }) => {
            let old = resolve_app(lk, &app)?;
            let secret = read_secret(&fields)?;
            let url = |u: Option<url::Url>| u.map(|u| u.to_string());
            let base_changed = fields.base_url.is_some();
            let input = AppInput {
                id: Some(old.id.clone()),
                preset: old.preset,
                name: fields.name.clone().unwrap_or(old.name.clone()),
                base_url: keep_or(&fields.base_url, url(old.base_url.clone())),
                client_id: client_id.unwrap_or(old.client_id.clone()),
                // Absent keeps the stored secret.
                client_secret: secret,
                scopes: Some(fields.scopes.clone().unwrap_or(old.scopes.clone())),
                redirect_mode: Some(fields.redirect.map(Into::into).unwrap_or(old.redirect_mode)),
                authorize_url: keep_or(&fields.authorize_url, url(old.authorize_url.clone())),
                token_url: keep_or(&fields.token_url, url(old.token_url.clone())),
                revocation_url: keep_or(&fields.revocation_url, url(old.revocation_url.clone())),
                userinfo_url: keep_or(&fields.userinfo_url, url(old.userinfo_url.clone())),
                callback_id: None,
                // The method in force stays unless asked otherwise — or the server changed
                // (discovery decides again).
                auth_method: fields.auth_method.map(Into::into).or((!base_changed).then_some(old.auth_method)),
                loopback_port: match fields.loopback_port {
                    Some(0) => None,
                    Some(p) => Some(p),
                    None => old.loopback_port,
                },
                device_authorization_url: keep_or(
                    &fields.device_authorization_url,
                    url(old.device_authorization_url.clone()),
                ),
            };
            let a = lk.save_app(input).await?;
            show(&a, fields.json, "Saved");
            Ok(())
        }
        Some(AppsCommand::Remove { app, revoke, keep, json }) => {
            let a = resolve_app(lk, &app)?;
            let revoke_connections = if a.connection_count == 0 {
                false
            } else if revoke || keep {
                revoke
            } else if std::io::stdin().is_terminal() && std::io::stderr().is_terminal() {
                ask_revoke(&a)?
            } else {
                return Err(Failure::usage(format!(
                    "{} account(s) are connected through {}: pass --revoke to revoke them at the provider, or --keep to keep them (they can no longer be refreshed)",
                    a.connection_count, a.name
                )));
            };
            lk.remove_app(&a.id, revoke_connections).await?;
            if json {
                print_json(&serde_json::json!({
                    "id": a.id,
                    "removed": true,
                    "connectionsRevoked": revoke_connections,
                    "connectionsKept": if revoke_connections { 0 } else { a.connection_count },
                }));
            } else {
                eprintln!("Removed provider app {} ({}).", a.name, a.id);
                if a.connection_count > 0 && !revoke_connections {
                    eprintln!("Its {} connection(s) were kept; they can no longer be refreshed.", a.connection_count);
                }
            }
            Ok(())
        }
    }
}

/// The window's question: revoke the connected accounts, keep them, or cancel.
fn ask_revoke(a: &AppView) -> Result<bool, Failure> {
    let n = a.connection_count;
    eprintln!(
        "{} connected through {}. Revoke {} at the provider too, or keep {}?",
        if n == 1 { "One account is".to_owned() } else { format!("{n} accounts are") },
        a.name,
        if n == 1 { "it" } else { "them" },
        if n == 1 { "it" } else { "them" },
    );
    eprintln!("Kept accounts stay in the list, but cannot be refreshed or reconnected without a provider app.");
    loop {
        eprint!("[r]evoke / [k]eep / [c]ancel: ");
        let _ = std::io::stderr().flush();
        let mut line = String::new();
        if std::io::stdin().read_line(&mut line).map_err(|e| Failure::from(Error::Internal(e.to_string())))? == 0 {
            return Err(Failure::usage("cancelled"));
        }
        match line.trim().to_ascii_lowercase().as_str() {
            "r" | "revoke" => return Ok(true),
            "k" | "keep" => return Ok(false),
            "c" | "cancel" | "" => {
                return Err(Failure { code: crate::exit::FAILED, message: Some("cancelled".into()) });
            }
            _ => {}
        }
    }
}

fn list(lk: &Latchkey, json: bool) -> Result<(), Failure> {
    let apps = lk.list_apps()?;
    if json {
        print_json(&apps);
    } else if apps.is_empty() {
        eprintln!("No provider apps yet. Add one with `latchkey-cli apps add` or in the app's Settings.");
    } else {
        println!("{:<18} {:<14} {:<28} {:<10} CONNECTIONS", "ID", "PRESET", "NAME", "REDIRECT");
        for a in apps {
            println!(
                "{:<18} {:<14} {:<28} {:<10} {}",
                a.id,
                a.preset.as_str(),
                a.name,
                mode_word(a.redirect_mode),
                a.connection_count
            );
        }
    }
    Ok(())
}
