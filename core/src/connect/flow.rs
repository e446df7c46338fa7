//! Pending authorizations: `state` and the PKCE verifier kept in memory (RFC 6749 §10.12,
//! RFC 7636, RFC 9700 §2.1), the authorization URL, and the callback checks.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};

use oauth2::{CsrfToken, PkceCodeChallenge, PkceCodeVerifier};
use tokio_util::sync::CancellationToken;
use url::Url;

use crate::clock::Timestamp;
use crate::error::{Error, OAuthError, Result};
use crate::provider::Endpoints;
use crate::provider::RedirectMode;

/// A pending authorization expires after ten minutes unless configured otherwise
/// ([`crate::Config::flow_timeout_secs`]).
pub const FLOW_TTL_SECS: i64 = 600;
/// The message for a callback when nothing is waiting for one.
pub const NO_FLOW: &str = "No sign-in is in progress, so the link was ignored. Start one with Connect account.";

/// One authorization in progress.
pub struct PendingFlow {
    /// Id the UI and the command line use for cancel / paste.
    pub id: String,
    verifier: PkceCodeVerifier,
    /// The provider app.
    pub app_id: String,
    /// The redirect URI exactly as sent (`None`: Fusio paste mode sends none).
    pub redirect_uri: Option<String>,
    /// How the answer comes back.
    pub mode: RedirectMode,
    /// When it stops being accepted.
    pub expires_at: Timestamp,
    /// Scopes asked for.
    pub scopes_requested: Vec<String>,
    /// Cancelled when the flow ends (answered, cancelled): its loopback listener, if it has
    /// one, stops with it.
    pub(crate) stop: CancellationToken,
    issuer: Option<String>,
    iss_required: bool,
    /// OpenID Connect `nonce`, sent when the scopes ask for `openid`.
    nonce: Option<String>,
}

impl std::fmt::Debug for PendingFlow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingFlow")
            .field("id", &self.id)
            .field("app_id", &self.app_id)
            .field("mode", &self.mode)
            .field("redirect_uri", &self.redirect_uri)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

impl PendingFlow {
    /// The PKCE verifier, for the token request.
    pub fn verifier(&self) -> &str {
        self.verifier.secret()
    }

    /// The OpenID Connect `nonce` sent, if the flow asked for `openid`.
    pub fn nonce(&self) -> Option<&str> {
        self.nonce.as_deref()
    }
}

/// What the flow asks the authorization endpoint for.
#[derive(Debug, Clone)]
pub struct FlowRequest<'a> {
    /// The provider app that signs in.
    pub app_id: &'a str,
    /// The client id sent as `client_id`.
    pub client_id: &'a str,
    /// The scopes asked for (sent space-separated; none: no `scope`).
    pub scopes: Vec<String>,
    /// Redirect URI, exactly as registered (`None` to omit it).
    pub redirect_uri: Option<String>,
    /// How the answer comes back.
    pub mode: RedirectMode,
}

/// The set of pending flows.
#[derive(Debug)]
pub struct Flows {
    pending: Mutex<HashMap<String, PendingFlow>>,
    ttl: AtomicI64,
}

impl Default for Flows {
    fn default() -> Self {
        Self { pending: Mutex::default(), ttl: AtomicI64::new(FLOW_TTL_SECS) }
    }
}

/// What a callback carried (RFC 6749 §4.1.2, §4.1.2.1; RFC 9207).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallbackParams {
    /// `code`.
    pub code: Option<String>,
    /// `state`.
    pub state: Option<String>,
    /// `error`.
    pub error: Option<String>,
    /// `error_description`.
    pub error_description: Option<String>,
    /// `iss`.
    pub iss: Option<String>,
}

/// Longest callback URL accepted.
pub const MAX_CALLBACK_LEN: usize = 8 * 1024;

/// Parses a callback URL's query. Repeated parameters are rejected (RFC 6749 §3.1: "MUST NOT
/// be included more than once").
///
/// # Errors
/// [`Error::InvalidInput`] for a URL that is not a callback (no `state`, another scheme or path).
pub fn parse_callback(url: &str) -> Result<(String, CallbackParams)> {
    if url.len() > MAX_CALLBACK_LEN {
        return Err(Error::UnknownCallback("the sign-in link is too long; it was ignored".into()));
    }
    let u = Url::parse(url.trim())
        .map_err(|_| Error::UnknownCallback("the sign-in link is not a valid URL; it was ignored".into()))?;
    let mut p = CallbackParams::default();
    for (k, v) in u.query_pairs() {
        let slot = match k.as_ref() {
            "code" => &mut p.code,
            "state" => &mut p.state,
            "error" => &mut p.error,
            "error_description" => &mut p.error_description,
            "iss" => &mut p.iss,
            _ => continue,
        };
        if slot.is_some() {
            return Err(Error::UnknownCallback(format!("the sign-in link repeats {k:?}; it was ignored")));
        }
        *slot = Some(v.into_owned());
    }
    let mut base = u.clone();
    base.set_query(None);
    base.set_fragment(None);
    Ok((base.to_string(), p))
}

impl Flows {
    /// How long a flow started from now on stays pending, in seconds (at least 1).
    pub fn set_ttl(&self, secs: i64) {
        self.ttl.store(secs.max(1), Ordering::Relaxed);
    }

    /// The current lifetime of a new flow, in seconds.
    pub fn ttl(&self) -> i64 {
        self.ttl.load(Ordering::Relaxed)
    }

    /// Starts a flow: a fresh `state` (256 random bits) and PKCE S256 pair; returns the flow's
    /// id and authorization URL.
    pub fn begin(&self, endpoints: &Endpoints, req: FlowRequest<'_>, now: Timestamp) -> (String, Url, Timestamp) {
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let state = CsrfToken::new_random_len(32).secret().clone();
        let id = CsrfToken::new_random_len(12).secret().clone();
        let mut url = endpoints.authorize.clone();
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("response_type", "code");
            q.append_pair("client_id", req.client_id);
            if let Some(r) = &req.redirect_uri {
                q.append_pair("redirect_uri", r);
            }
            if !req.scopes.is_empty() {
                q.append_pair("scope", &req.scopes.join(" "));
            }
            q.append_pair("state", &state);
            q.append_pair("code_challenge", challenge.as_str());
            q.append_pair("code_challenge_method", "S256");
        }
        // OpenID Connect: a fresh nonce whenever `openid` is asked for (some servers refuse
        // without one); an ID token that comes back must carry it (see `token_endpoint::exchange_code`).
        let nonce = req.scopes.iter().any(|s| s == "openid").then(|| CsrfToken::new_random_len(24).secret().clone());
        if let Some(n) = &nonce {
            url.query_pairs_mut().append_pair("nonce", n);
        }
        let expires_at = now + self.ttl();
        let flow = PendingFlow {
            id: id.clone(),
            verifier,
            app_id: req.app_id.to_owned(),
            redirect_uri: req.redirect_uri,
            mode: req.mode,
            expires_at,
            scopes_requested: req.scopes,
            stop: CancellationToken::new(),
            issuer: endpoints.issuer.clone(),
            iss_required: endpoints.iss_required,
            nonce,
        };
        let mut pending = self.pending.lock().expect("flows lock");
        pending.retain(|_, f| f.expires_at > now);
        pending.insert(state, flow);
        (id, url, expires_at)
    }

    /// Whether any flow is waiting.
    pub fn is_empty(&self) -> bool {
        self.pending.lock().expect("flows lock").is_empty()
    }

    /// Removes a flow (Cancel, timeout). Returns whether it existed.
    pub fn cancel(&self, flow_id: &str) -> bool {
        let mut pending = self.pending.lock().expect("flows lock");
        let before = pending.len();
        pending.retain(|_, f| {
            let keep = f.id != flow_id;
            if !keep {
                f.stop.cancel();
            }
            keep
        });
        before != pending.len()
    }

    /// What stops a pending flow's loopback listener (cancelled when the flow ends).
    pub(crate) fn stop_token(&self, flow_id: &str) -> Option<CancellationToken> {
        self.pending.lock().expect("flows lock").values().find(|f| f.id == flow_id).map(|f| f.stop.clone())
    }

    /// Takes the flow a redirect belongs to, checking `state` (RFC 6749 §10.12), `iss` (RFC 9207), the app's own callback path
    /// (RFC 9700 §4.4.2) and the flow's age. An unknown
    /// `state`, or an answer that arrived at another address than its flow's redirect URI
    /// (another provider app's path: a mix-up, RFC 9700 §4.4.2), changes nothing; a known state
    /// at the right address is used up whatever the outcome (one use).
    ///
    /// On success returns the flow and the authorization code. An `error` from the provider
    /// returns the flow with the error, so the caller can report it on that flow.
    ///
    /// # Errors
    /// [`Error::UnknownCallback`] when the answer belongs to no pending sign-in; a malformed URL.
    pub fn take_callback(&self, url: &str, now: Timestamp) -> Result<(PendingFlow, Result<String>)> {
        self.take_callback_for(url, now, None)
    }

    /// [`Flows::take_callback`] that accepts only the flow `only` (a loopback listener answers
    /// its own sign-in, never another one's): another flow's state is treated as unknown.
    ///
    /// # Errors
    /// As [`Flows::take_callback`], and when the answer belongs to another sign-in than `only`.
    pub fn take_callback_for(
        &self,
        url: &str,
        now: Timestamp,
        only: Option<&str>,
    ) -> Result<(PendingFlow, Result<String>)> {
        let (base, p) = parse_callback(url)?;
        let mut pending = self.pending.lock().expect("flows lock");
        pending.retain(|_, f| f.expires_at > now);
        if pending.is_empty() {
            return Err(Error::UnknownCallback(NO_FLOW.into()));
        }
        let Some(state) = p.state.as_deref() else {
            return Err(Error::UnknownCallback("the sign-in link carries no state; it was ignored".into()));
        };
        let not_ours = || {
            Error::UnknownCallback("the sign-in link does not belong to the sign-in in progress; it was ignored".into())
        };
        let Some(flow) = pending.get(state) else {
            return Err(not_ours());
        };
        if only.is_some_and(|id| id != flow.id) {
            return Err(not_ours());
        }
        // The answer must arrive where the request said it should (RFC 6749 §3.1.2); with one
        // redirect path per provider app this is also the mix-up defence of RFC 9700 §4.4.2.
        if let Some(expected) = &flow.redirect_uri
            && flow.mode != RedirectMode::Paste
            && base != *expected
            && !same_loopback(&base, expected)
        {
            return Err(Error::UnknownCallback(
                "the sign-in answer arrived at another address than the sign-in in progress expects \
                 (another provider app's); it was ignored"
                    .into(),
            ));
        }
        let flow = pending.remove(state).expect("found above");
        drop(pending);
        let outcome = check(&flow, &p);
        Ok((flow, outcome))
    }

    /// Takes a flow by id for a pasted code (the provider's page shows only the code).
    /// `input` is the bare code or the whole redirect URL (then its state must match).
    ///
    /// # Errors
    /// No such pending sign-in, it expired, or the pasted text holds no code (or another sign-in's `state`).
    pub fn take_pasted(&self, flow_id: &str, input: &str, now: Timestamp) -> Result<(PendingFlow, Result<String>)> {
        let input = input.trim();
        if input.is_empty() {
            return Err(Error::InvalidInput("paste the code the provider showed you".into()));
        }
        if input.len() > MAX_CALLBACK_LEN || input.chars().any(char::is_control) {
            return Err(Error::InvalidInput("that does not look like a code".into()));
        }
        let mut pending = self.pending.lock().expect("flows lock");
        pending.retain(|_, f| f.expires_at > now);
        let state = pending
            .iter()
            .find(|(_, f)| f.id == flow_id)
            .map(|(s, _)| s.clone())
            .ok_or_else(|| Error::Flow("this sign-in has ended or expired; start again".into()))?;
        if input.contains('?') && input.contains("code=") {
            drop(pending);
            let (_, p) = parse_callback(input)?;
            if p.state.as_deref() != Some(state.as_str()) && p.state.is_some() {
                return Err(Error::Flow("that link belongs to another sign-in".into()));
            }
            let flow = self
                .pending
                .lock()
                .expect("flows lock")
                .remove(&state)
                .ok_or_else(|| Error::Flow("this sign-in has ended".into()))?;
            let outcome = p.code.ok_or_else(|| Error::InvalidInput("that link carries no code".into()));
            return Ok((flow, outcome));
        }
        if input.contains(char::is_whitespace) {
            return Err(Error::InvalidInput("that does not look like a code (it contains spaces)".into()));
        }
        let flow = pending.remove(&state).expect("found above");
        Ok((flow, Ok(input.to_owned())))
    }
}

fn check(flow: &PendingFlow, p: &CallbackParams) -> Result<String> {
    // RFC 9207 mix-up defence.
    match (&p.iss, &flow.issuer) {
        (Some(iss), Some(expected)) if iss != expected => {
            return Err(Error::Flow(format!(
                "the sign-in answer came from {iss}, not from {expected}; it was rejected"
            )));
        }
        (None, Some(_)) if flow.iss_required => {
            return Err(Error::Flow(
                "the provider always names itself in its answer, but this one did not; it was rejected".into(),
            ));
        }
        _ => {}
    }
    if let Some(error) = &p.error {
        return Err(Error::OAuth(OAuthError {
            error: error.clone(),
            description: p.error_description.clone(),
            status: 0,
        }));
    }
    match &p.code {
        Some(c) if !c.is_empty() => Ok(c.clone()),
        _ => Err(Error::Flow("the sign-in answer carries no code".into())),
    }
}

/// `http://127.0.0.1:PORT/oauth/callback` vs the same with a trailing `/` normalised by `Url`.
fn same_loopback(a: &str, b: &str) -> bool {
    match (Url::parse(a), Url::parse(b)) {
        (Ok(a), Ok(b)) => a.scheme() == "http" && a == b,
        _ => false,
    }
}

// The tests are in a file of their own: they are as long as the code.
#[cfg(test)]
#[path = "flow_tests.rs"]
mod tests;
