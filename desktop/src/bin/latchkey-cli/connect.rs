//! `latchkey-cli connect`: sign in through a loopback listener, a pasted code, or — with no
//! browser on this machine — a device code (RFC 8628). Errors exit with the code their kind
//! has in the README's table (a missing scope 7, the keychain 6, the network 5, …).

use std::io::BufRead;
use std::time::Duration;

use clap::Args;
use latchkey_core::{ConnectionView, Error, Event, Latchkey, RedirectMode};

use crate::{Failure, code_for_code, exit, print_json, resolve_app, wait_words};

#[derive(Args)]
pub(crate) struct ConnectArgs {
    /// Provider app id or name.
    app: String,
    /// Complete through a loopback listener (http://127.0.0.1:PORT/oauth/callback/APP);
    /// gives up after 10 minutes (exit code 1).
    #[arg(long, conflicts_with_all = ["paste", "device"])]
    loopback: bool,
    /// Read the code the provider shows from standard input.
    #[arg(long, conflicts_with = "device")]
    paste: bool,
    /// Sign in on another device (RFC 8628): prints a code and where to enter it, then waits.
    /// For machines without a browser; the provider app needs a device authorization endpoint.
    #[arg(long)]
    device: bool,
    /// Print the link only; do not open the browser.
    #[arg(long)]
    no_browser: bool,
    /// Machine-readable output.
    #[arg(long)]
    json: bool,
}

const PASTE_HINT: &str = "\nStill waiting for the code. If the provider showed an error page instead of a code, \
press Ctrl-C and check what it says: usually the provider app's settings (client id, the redirect URI \
registered at the provider, the scopes) — `latchkey-cli apps` shows them, `latchkey-cli apps edit` changes them.\n\
Paste the code the provider shows: ";

/// Reads one line from standard input on a thread of its own, printing the hint once if
/// nothing has come after `hint_after` ([`latchkey_core::Config::paste_hint_secs`]).
async fn read_code(hint_after: Duration) -> Result<String, Failure> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let r = std::io::stdin().lock().read_line(&mut line).map(|_| line);
        let _ = tx.send(r);
    });
    let mut rx = rx;
    let line = tokio::select! {
        r = &mut rx => r,
        () = tokio::time::sleep(hint_after) => {
            eprint!("{PASTE_HINT}");
            rx.await
        }
    };
    match line {
        Ok(Ok(l)) if !l.trim().is_empty() => Ok(l),
        Ok(Ok(_)) => Err(Failure::usage("no code was pasted")),
        Ok(Err(e)) => Err(Error::Internal(format!("cannot read standard input: {e}")).into()),
        Err(_) => Err(Error::Internal("lost standard input".into()).into()),
    }
}

pub(crate) async fn run(lk: &Latchkey, args: ConnectArgs) -> Result<(), Failure> {
    let a = resolve_app(lk, &args.app)?;
    let conn = if args.device {
        device(lk, &a.id, args.json).await?
    } else {
        let mode = if args.paste {
            RedirectMode::Paste
        } else if args.loopback || a.redirect_mode == RedirectMode::DeepLink {
            // The app link goes to the desktop app, not to this process.
            RedirectMode::Loopback
        } else {
            a.redirect_mode
        };
        let mut events = lk.subscribe();
        let start = lk.start_connect_as(&a.id, None, Some(mode)).await?;
        eprintln!("Sign in at {} in your browser:", a.name);
        println!("{}", start.authorize_url);
        if !args.no_browser && open::that_detached(&start.authorize_url).is_err() {
            eprintln!("(could not open a browser; open the link above yourself)");
        }
        if mode == RedirectMode::Paste {
            eprint!("Paste the code the provider shows: ");
            let line = read_code(Duration::from_secs(lk.config().paste_hint_secs)).await?;
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
                            // The error crossed as `{ code, message }`: its code picks the exit code.
                            break result
                                .map(|b| *b)
                                .map_err(|e| Failure { code: code_for_code(e.code), message: Some(e.message) });
                        }
                        Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                        Err(_) => break Err(Error::Internal("lost track of the sign-in".into()).into()),
                    }
                }
            };
            match tokio::time::timeout(Duration::from_secs(secs as u64 + 5), wait).await {
                Ok(r) => r?,
                Err(_) => {
                    lk.cancel_connect(&start.flow_id);
                    return Err(Failure {
                        code: exit::FAILED,
                        message: Some(format!(
                            "the sign-in was not completed within {} and was stopped; start again",
                            wait_words(secs)
                        )),
                    });
                }
            }
        }
    };
    if args.json {
        print_json(&conn);
    } else {
        eprintln!(
            "Connected {} ({}) as {}",
            conn.name.as_deref().unwrap_or("-"),
            conn.email.as_deref().unwrap_or("-"),
            conn.id
        );
    }
    Ok(())
}

/// RFC 8628: show the code and where to enter it, then wait for the approval.
async fn device(lk: &Latchkey, app_id: &str, json: bool) -> Result<ConnectionView, Failure> {
    let start = lk.start_device(app_id).await?;
    let secs = (start.expires_at - lk.now()).max(1);
    if json {
        // One line first, so a script can show the code while this process waits.
        println!("{}", serde_json::to_string(&start).expect("serialisable"));
    } else {
        println!("To sign in, open {}", start.verification_uri);
        println!("and enter the code: {}", start.user_code);
        if let Some(c) = &start.verification_uri_complete {
            println!("(or open {c})");
        }
    }
    eprintln!("Waiting for the sign-in on the other device (up to {}; Ctrl-C to stop)…", wait_words(secs));
    let flow = start.flow_id.clone();
    let r = tokio::select! {
        r = lk.wait_device(&start.flow_id) => r,
        _ = tokio::signal::ctrl_c() => {
            lk.cancel_device(&flow);
            return Err(Failure { code: exit::FAILED, message: Some("cancelled".into()) });
        }
    };
    Ok(r?)
}
