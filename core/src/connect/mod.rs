//! Connecting an account: the authorization request, its pending flow (with the loopback
//! listener it owns), the callback or pasted code, and the code exchange.

use serde::Serialize;

use crate::apps::redirect_uri_for;
use crate::clock::Timestamp;
use crate::connect::loopback::{Answer, browser_page};
use crate::error::{Error, Result};
use crate::event::Event;
use crate::latchkey::Latchkey;
use crate::provider::{RedirectMode, callback_path};
use crate::token::split_scopes;
use crate::token_endpoint::{self, Client};
use crate::views::{ConnectionView, ErrorView};

/// A started connect flow.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub struct ConnectStart {
    /// Flow id.
    pub flow_id: String,
    /// Open this in the browser.
    pub authorize_url: String,
    /// How the answer comes back.
    pub mode: RedirectMode,
    /// The redirect URI sent, if any.
    pub redirect_uri: Option<String>,
    /// When the flow expires.
    pub expires_at: Timestamp,
}

/// "10 minutes", "5 seconds" (minutes rounded).(minutes rounded).
fn human_duration(secs: i64) -> String {
    let plural = |n: i64, unit: &str| format!("{n} {unit}{}", if n == 1 { "" } else { "s" });
    if secs >= 60 { plural((secs + 30) / 60, "minute") } else { plural(secs, "second") }
}

impl Latchkey {
    /// Starts connecting an account at a provider app (or reconnecting `reconnect`). The caller
    /// opens `authorize_url` in the browser. For loopback flows a listener is waiting already.
    ///
    /// # Errors
    /// No such app or connection; endpoints that do not resolve; a fixed loopback port that is taken.
    pub async fn start_connect(&self, app_id: &str, reconnect: Option<&str>) -> Result<ConnectStart> {
        self.start_connect_as(app_id, reconnect, None).await
    }

    /// [`Latchkey::start_connect`] with another redirect mode than the app's (the command line
    /// completes sign-ins through a loopback listener or a pasted code).
    ///
    /// # Errors
    /// As [`Latchkey::start_connect`], and a redirect mode the preset does not accept.
    pub async fn start_connect_as(
        &self,
        app_id: &str,
        reconnect: Option<&str>,
        mode: Option<RedirectMode>,
    ) -> Result<ConnectStart> {
        let data = self.load()?;
        let mut app = data.app(app_id)?.clone();
        if let Some(mode) = mode {
            if !app.preset.preset().redirect_modes.contains(&mode) {
                return Err(Error::InvalidInput(format!(
                    "{} does not accept this redirect mode",
                    app.preset.preset().name
                )));
            }
            app.redirect_mode = mode;
        }
        if let Some(c) = reconnect {
            let c = data.connection(c)?;
            if c.app_id != app.id {
                return Err(Error::InvalidInput("that connection belongs to another provider app".into()));
            }
        }
        let endpoints = app.endpoints()?;
        let (redirect_uri, loopback) = match app.redirect_mode {
            RedirectMode::Loopback => {
                let lb = Loopback::bind(&callback_path(app.callback_id.as_deref()), app.loopback_port).await?;
                (Some(lb.redirect_uri()), Some(lb))
            }
            mode => (redirect_uri_for(app.preset, mode, app.callback_id.as_deref(), None), None),
        };
        let (flow_id, url, expires_at) = self.inner.flows.begin(
            &endpoints,
            FlowRequest {
                app_id: &app.id,
                client_id: &app.client_id,
                scopes: split_scopes(&app.scopes),
                redirect_uri: redirect_uri.clone(),
                mode: app.redirect_mode,
            },
            self.now(),
        );
        if let Some(lb) = loopback {
            self.spawn_loopback(flow_id.clone(), lb, expires_at);
        }
        log::info!("sign-in {flow_id} started for app {} ({:?})", app.id, app.redirect_mode);
        Ok(ConnectStart { flow_id, authorize_url: url.to_string(), mode: app.redirect_mode, redirect_uri, expires_at })
    }

    /// Serves the flow's loopback listener until its own answer arrives, the flow is cancelled,
    /// or it times out — the timeout is always enforced, whatever reaches the port meanwhile
    /// (RFC 8252 §8.3: any local process can). A request with another or no `state` gets a
    /// 400 page and changes nothing.
    fn spawn_loopback(&self, flow_id: String, lb: Loopback, expires_at: Timestamp) {
        // The flow owns its listener's stop: cancelling or finishing the flow closes the port.
        let cancel = self.inner.flows.stop_token(&flow_id).unwrap_or_default();
        let this = self.clone();
        let secs = (expires_at - self.now()).max(1);
        tokio::spawn(async move {
            let lk = this.clone();
            let id = flow_id.clone();
            let answered =
                lb.serve(move |url: &str| match lk.inner.flows.take_callback_for(url, lk.now(), Some(&id)) {
                    Ok((flow, outcome)) => {
                        let msg = if outcome.is_ok() {
                            "Latchkey received your sign-in. You can close this tab and return to Latchkey."
                        } else {
                            "The sign-in was not accepted. Return to Latchkey to see why."
                        };
                        Answer::Done { status: 200, body: browser_page(outcome.is_ok(), msg), value: (flow, outcome) }
                    }
                    Err(e) => {
                        log::warn!("loopback: ignored a request that is not the answer of sign-in {id}");
                        let msg = format!("{e}. Nothing was changed; finish the sign-in in the tab Latchkey opened.");
                        Answer::Again { status: 400, body: browser_page(false, &msg) }
                    }
                });
            tokio::select! {
                (flow, outcome) = answered => { let _ = this.finish_flow(flow, outcome).await; }
                () = cancel.cancelled() => {}
                () = tokio::time::sleep(std::time::Duration::from_secs(secs as u64)) => {
                    this.inner.flows.cancel(&flow_id);
                    log::warn!("sign-in {flow_id} timed out");
                    let e = Error::Flow(format!(
                        "the sign-in was not completed within {} and was stopped; start again",
                        human_duration(secs)
                    ));
                    this.fail_flow(&flow_id, &e);
                }
            }
        });
    }

    fn fail_flow(&self, flow_id: &str, e: &Error) {
        self.emit(Event::ConnectFinished { flow_id: flow_id.to_owned(), result: Err(ErrorView::from(e)) });
    }

    /// Cancels a flow; its loopback listener closes.
    pub fn cancel_connect(&self, flow_id: &str) -> bool {
        self.inner.flows.cancel(flow_id)
    }

    /// Handles a redirect (deep link or loopback). A callback that matches no flow is
    /// rejected and changes nothing ([`crate::connect::flow::NO_FLOW`] when nothing is waiting).
    ///
    /// # Errors
    /// An answer for no pending sign-in; the provider's error; a failed code exchange, profile or save (its tokens are revoked where possible).
    pub async fn handle_callback(&self, url: &str) -> Result<ConnectionView> {
        let (flow, outcome) = self.inner.flows.take_callback(url, self.now())?;
        self.finish_flow(flow, outcome).await
    }

    /// Completes a paste-the-code flow.
    ///
    /// # Errors
    /// As [`Latchkey::handle_callback`], and a pasted text without a code.
    pub async fn submit_code(&self, flow_id: &str, code: &str) -> Result<ConnectionView> {
        let (flow, outcome) = self.inner.flows.take_pasted(flow_id, code, self.now())?;
        self.finish_flow(flow, outcome).await
    }

    async fn finish_flow(&self, flow: PendingFlow, outcome: Result<String>) -> Result<ConnectionView> {
        flow.stop.cancel();
        let flow_id = flow.id.clone();
        let result = match outcome {
            Ok(code) => self.complete(&flow, &code).await,
            Err(e) => Err(e),
        };
        match &result {
            Ok(v) => {
                log::info!("sign-in {flow_id} finished: connection {}", v.id);
                self.emit(Event::ConnectFinished { flow_id, result: Ok(Box::new(v.clone())) });
                self.emit(Event::ConnectionsChanged);
            }
            Err(e) => {
                log::warn!("sign-in {flow_id} failed: {}", e.code());
                self.fail_flow(&flow_id, e);
            }
        }
        result
    }

    /// Code exchange, profile, then save: tokens in the keychain first, then the metadata.
    async fn complete(&self, flow: &PendingFlow, code: &str) -> Result<ConnectionView> {
        let app = self.load()?.app(&flow.app_id)?.clone();
        let endpoints = app.endpoints()?;
        let secret = self.client_secret(&app.id).await?;
        let client = Client { id: &app.client_id, secret: secret.as_ref() };
        let now = self.now();
        let exchanged = token_endpoint::exchange_code(
            &self.inner.http,
            &endpoints,
            &client,
            token_endpoint::CodeGrant {
                code,
                redirect_uri: flow.redirect_uri.as_deref(),
                verifier: flow.verifier(),
                nonce: flow.nonce(),
            },
            now,
        )
        .await?;
        self.store_signed_in(&app, &client, &flow.id, &flow.scopes_requested, exchanged.tokens, exchanged.id_token)
            .await
    }
}
pub(crate) mod device;
pub(crate) mod flow;
pub(crate) mod loopback;
mod sign_in;

pub use device::{DeviceStart, MAX_EXPIRES_SECS, MAX_INTERVAL_SECS, parse_device_authorization};
pub use flow::{
    CallbackParams, FLOW_TTL_SECS, FlowRequest, Flows, MAX_CALLBACK_LEN, NO_FLOW, PendingFlow, parse_callback,
};
pub use loopback::{Loopback, READ_TIMEOUT, parse_request_head};
