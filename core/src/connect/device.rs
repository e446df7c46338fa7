//! Sign-in on another device: the OAuth 2.0 device authorization grant (RFC 8628).
//!
//! For machines without a browser (servers, containers) and for "sign in with your phone":
//! Latchkey asks the provider's device authorization endpoint for a user code, shows it with
//! the verification URI, and polls the token endpoint until the person has approved (or
//! denied) on any device. The tokens then take the same path as every other sign-in
//! (`Latchkey::store_signed_in`): profile, keychain, metadata.
//!
//! The parser is tolerant where providers differ (`verification_url` for Google's older name,
//! numbers as strings) and strict where it matters: a device code is a token (visible ASCII,
//! bounded), a user code is short printable text, the verification URI is `https` (or
//! loopback `http`), and every time value is clamped — an `interval` of 0 or 10⁹ would
//! otherwise make a busy loop or a sign-in that never ends.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};
use std::time::Duration;

use secrecy::SecretString;
use serde::Serialize;
use serde_json::Value;
use tokio_util::sync::CancellationToken;
use url::Url;

use crate::clock::Timestamp;
use crate::error::{Error, Result};
use crate::provider::check_endpoint;
use crate::token::{MAX_TOKEN_RESPONSE, split_scopes};
use crate::token_endpoint::{self, Client};
use crate::{ConnectionView, ErrorView, Event, Latchkey};

/// RFC 8628 §3.2: the default polling interval when the provider names none.
pub const DEFAULT_INTERVAL_SECS: u64 = 5;
/// The slowest polling Latchkey accepts (a larger `interval` is clamped to it).
pub const MAX_INTERVAL_SECS: u64 = 60;
/// RFC 8628 §3.5: `slow_down` adds 5 seconds to the interval, for this and every later poll.
pub const SLOW_DOWN_SECS: u64 = 5;
/// How long a code lives when the provider's `expires_in` is missing or unusable.
pub const DEFAULT_EXPIRES_SECS: i64 = 600;
/// The longest sign-in Latchkey waits for (a larger `expires_in` is clamped to it).
pub const MAX_EXPIRES_SECS: i64 = 1800;

const WHAT: &str = "the device authorization endpoint";

/// A device authorization response (RFC 8628 §3.2), checked and clamped.
#[derive(Clone)]
pub struct DeviceAuthorization {
    /// The device verification code (secret: it is exchanged for tokens).
    pub device_code: SecretString,
    /// The code the person types at the verification URI.
    pub user_code: String,
    /// Where to type it.
    pub verification_uri: Url,
    /// The URI with the code in it, when the provider gives one (for a QR code or a click).
    pub verification_uri_complete: Option<Url>,
    /// Seconds the codes stay valid (clamped to 1 ..= [`MAX_EXPIRES_SECS`]).
    pub expires_in: i64,
    /// Seconds between polls (clamped to 1 ..= [`MAX_INTERVAL_SECS`]).
    pub interval: u64,
}

impl std::fmt::Debug for DeviceAuthorization {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceAuthorization")
            .field("device_code", &"[redacted]")
            .field("user_code", &self.user_code)
            .field("verification_uri", &self.verification_uri.as_str())
            .field("expires_in", &self.expires_in)
            .field("interval", &self.interval)
            .finish_non_exhaustive()
    }
}

fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    }
    .filter(|f| f.is_finite())
}

/// A verification URI a person may be sent to: `https`, or `http` on loopback (tests).
fn verification_url(v: Option<&Value>) -> Option<Url> {
    let s = v?.as_str()?;
    if s.len() > 2048 {
        return None;
    }
    Url::parse(s).ok().filter(|u| check_endpoint(u).is_ok())
}

/// Parses a device authorization response body (RFC 8628 §3.2).
///
/// # Errors
/// [`Error::BadResponse`] when the body is not a JSON object, or lacks a usable
/// `device_code`, `user_code` or `verification_uri`.
pub fn parse_device_authorization(body: &[u8]) -> Result<DeviceAuthorization> {
    let bad = |detail: &str| Error::BadResponse { what: WHAT, detail: detail.to_owned() };
    if body.len() > MAX_TOKEN_RESPONSE {
        return Err(bad(&format!("the answer is too large ({} bytes)", body.len())));
    }
    let v: Value = serde_json::from_slice(body).map_err(|_| bad("not JSON"))?;
    let o = v.as_object().ok_or_else(|| bad("not a JSON object"))?;
    let device_code = o
        .get("device_code")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty() && s.len() <= 16 * 1024 && s.bytes().all(|b| b.is_ascii_graphic()))
        .ok_or_else(|| bad("no usable device_code"))?;
    let user_code = o
        .get("user_code")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty() && s.chars().count() <= 64 && !s.chars().any(char::is_control))
        .ok_or_else(|| bad("no usable user_code"))?;
    // `verification_url`: the name some providers (Google) used before the RFC.
    let verification_uri = verification_url(o.get("verification_uri"))
        .or_else(|| verification_url(o.get("verification_url")))
        .ok_or_else(|| bad("no usable verification_uri (https)"))?;
    let verification_uri_complete = verification_url(o.get("verification_uri_complete"));
    let expires_in = o
        .get("expires_in")
        .and_then(number)
        .filter(|s| *s >= 1.0)
        .map_or(DEFAULT_EXPIRES_SECS, |s| s.min(MAX_EXPIRES_SECS as f64) as i64);
    let interval = match o.get("interval").and_then(number) {
        // 0, negative or missing: the RFC's default (a 0 would poll in a busy loop).
        Some(s) if s >= 1.0 => s.min(MAX_INTERVAL_SECS as f64) as u64,
        _ => DEFAULT_INTERVAL_SECS,
    };
    Ok(DeviceAuthorization {
        device_code: SecretString::from(device_code.to_owned()),
        user_code: user_code.to_owned(),
        verification_uri,
        verification_uri_complete,
        expires_in,
        interval,
    })
}

/// What one poll's error means (RFC 8628 §3.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PollError {
    /// `authorization_pending`: keep polling.
    Pending,
    /// `slow_down`: keep polling, 5 seconds slower from now on.
    SlowDown,
    /// Anything else ends the sign-in (`access_denied`, `expired_token`, …).
    Final,
}

/// Classifies a token-endpoint error during device polling.
pub fn classify(e: &Error) -> PollError {
    match e {
        Error::OAuth(o) if o.error == "authorization_pending" => PollError::Pending,
        Error::OAuth(o) if o.error == "slow_down" => PollError::SlowDown,
        _ => PollError::Final,
    }
}

/// The next interval after a `slow_down` (clamped).
pub fn slowed(interval: u64) -> u64 {
    (interval + SLOW_DOWN_SECS).min(MAX_INTERVAL_SECS + SLOW_DOWN_SECS)
}

/// A started device sign-in, for the window and the command line (no device code).
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub struct DeviceStart {
    /// Id for [`Latchkey::wait_device`] and [`Latchkey::cancel_device`].
    pub flow_id: String,
    /// The code to type.
    pub user_code: String,
    /// Where to type it.
    pub verification_uri: String,
    /// The URI with the code in it, if the provider gave one.
    pub verification_uri_complete: Option<String>,
    /// When the code expires.
    pub expires_at: Timestamp,
    /// Seconds between polls at the start.
    pub interval: u64,
}

struct DeviceFlow {
    app_id: String,
    auth: DeviceAuthorization,
    expires_at: Timestamp,
    scopes: Vec<String>,
    cancel: CancellationToken,
}

/// Device sign-ins started and not yet finished, by flow id (random, so one map serves every
/// `Latchkey` in the process).
static FLOWS: LazyLock<Mutex<HashMap<String, DeviceFlow>>> = LazyLock::new(Default::default);
/// Cancellation of flows being polled.
static POLLING: LazyLock<Mutex<HashMap<String, CancellationToken>>> = LazyLock::new(Default::default);

impl Latchkey {
    /// Starts a device sign-in at a provider app that has a device authorization endpoint
    /// (RFC 8628 §3.1). Show `user_code` and `verification_uri`, then call
    /// [`Latchkey::wait_device`].
    ///
    /// # Errors
    /// [`Error::InvalidInput`] when the app has no device authorization endpoint; the
    /// provider's errors otherwise.
    pub async fn start_device(&self, app_id: &str) -> Result<DeviceStart> {
        let app = self.load()?.app(app_id)?.clone();
        let url = app.device_authorization_url.clone().ok_or_else(|| {
            Error::InvalidInput(format!(
                "{} offers no sign-in on another device (no device authorization endpoint); edit the app to add one, or sign in with the browser",
                app.name
            ))
        })?;
        check_endpoint(&url)?;
        let endpoints = app.endpoints()?;
        let secret = self.client_secret(&app.id).await?;
        let client = Client { id: &app.client_id, secret: secret.as_ref() };
        let scopes = split_scopes(&app.scopes);
        let answer =
            token_endpoint::device_authorization(&self.inner.http, &url, &endpoints, &client, &scopes.join(" "))
                .await?;
        if !answer.status.is_success() {
            return Err(answer.error(WHAT, false));
        }
        let auth = parse_device_authorization(&answer.body)?;
        let flow_id = format!("{:032x}", rand::random::<u128>());
        let expires_at = self.now() + auth.expires_in;
        let start = DeviceStart {
            flow_id: flow_id.clone(),
            user_code: auth.user_code.clone(),
            verification_uri: auth.verification_uri.to_string(),
            verification_uri_complete: auth.verification_uri_complete.as_ref().map(Url::to_string),
            expires_at,
            interval: auth.interval,
        };
        let flow = DeviceFlow { app_id: app.id.clone(), auth, expires_at, scopes, cancel: CancellationToken::new() };
        FLOWS.lock().expect("device flows").insert(flow_id.clone(), flow);
        log::info!("device sign-in {flow_id} started for app {}", app.id);
        Ok(start)
    }

    /// Polls until the person approves (the connection is stored like any other sign-in),
    /// denies (`access_denied`), the code expires (`expired_token`, or its `expires_in`
    /// passes), or [`Latchkey::cancel_device`]. Honours `interval` and `slow_down` (+5 s).
    /// Emits [`Event::ConnectFinished`] either way.
    ///
    /// # Errors
    /// The provider's `access_denied` or `expired_token`, the code's deadline, and the errors of storing a connection.
    pub async fn wait_device(&self, flow_id: &str) -> Result<ConnectionView> {
        let flow =
            FLOWS.lock().expect("device flows").remove(flow_id).ok_or_else(|| {
                Error::NotFound("no such device sign-in (it finished, expired or was cancelled)".into())
            })?;
        POLLING.lock().expect("device polling").insert(flow_id.to_owned(), flow.cancel.clone());
        let result = tokio::select! {
            r = self.poll_device(flow_id, &flow) => r,
            () = flow.cancel.cancelled() => Err(Error::Flow("the sign-in was cancelled".into())),
        };
        POLLING.lock().expect("device polling").remove(flow_id);
        match &result {
            Ok(v) => {
                log::info!("device sign-in {flow_id} finished: connection {}", v.id);
                self.emit(Event::ConnectFinished { flow_id: flow_id.to_owned(), result: Ok(Box::new(v.clone())) });
                self.emit(Event::ConnectionsChanged);
            }
            Err(e) => {
                log::warn!("device sign-in {flow_id} failed: {}", e.code());
                self.emit(Event::ConnectFinished { flow_id: flow_id.to_owned(), result: Err(ErrorView::from(e)) });
            }
        }
        result
    }

    /// Stops a device sign-in (started or being polled); whether there was one.
    pub fn cancel_device(&self, flow_id: &str) -> bool {
        let waiting = FLOWS.lock().expect("device flows").remove(flow_id).is_some();
        let polling = POLLING.lock().expect("device polling").remove(flow_id);
        if let Some(c) = &polling {
            c.cancel();
        }
        waiting || polling.is_some()
    }

    async fn poll_device(&self, flow_id: &str, flow: &DeviceFlow) -> Result<ConnectionView> {
        let expired =
            || Error::Flow("the code expired before the sign-in was approved; start again to get a new code".into());
        let mut interval = flow.auth.interval;
        loop {
            // RFC 8628 §3.5: wait `interval` before each request, the first one included.
            let left = flow.expires_at - self.now();
            if left <= 0 {
                return Err(expired());
            }
            tokio::time::sleep(Duration::from_secs(interval.min(left as u64).max(1))).await;
            if flow.expires_at - self.now() <= 0 {
                return Err(expired());
            }
            // The app may have been edited (a new secret) while the person was signing in.
            let app = self.load()?.app(&flow.app_id)?.clone();
            let endpoints = app.endpoints()?;
            let secret = self.client_secret(&app.id).await?;
            let client = Client { id: &app.client_id, secret: secret.as_ref() };
            let now = self.now();
            match token_endpoint::exchange_device_code(
                &self.inner.http,
                &endpoints,
                &client,
                &flow.auth.device_code,
                now,
            )
            .await
            {
                Ok(tokens) => {
                    return self.store_signed_in(&app, &client, flow_id, &flow.scopes, tokens, Ok(())).await;
                }
                Err(e) => match classify(&e) {
                    PollError::Pending => {}
                    PollError::SlowDown => {
                        interval = slowed(interval);
                        log::info!("device sign-in {flow_id}: slow_down, polling every {interval} s");
                    }
                    PollError::Final => {
                        return Err(match &e {
                            Error::OAuth(o) if o.error == "expired_token" => expired(),
                            // A connection hiccup or a 5xx is not the end: try again at the
                            // interval (the deadline still holds).
                            _ if e.is_transient() => {
                                log::warn!("device sign-in {flow_id}: poll failed ({}), retrying", e.code());
                                continue;
                            }
                            _ => e,
                        });
                    }
                },
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: Value) -> Result<DeviceAuthorization> {
        parse_device_authorization(v.to_string().as_bytes())
    }

    fn good() -> Value {
        json!({
            "device_code": "GmRhmhcxhwAzkoEqiMEg_DnyEysNkuNhszIySk9eS",
            "user_code": "WDJB-MJHT",
            "verification_uri": "https://example.com/device",
            "verification_uri_complete": "https://example.com/device?user_code=WDJB-MJHT",
            "expires_in": 1800,
            "interval": 5
        })
    }

    #[test]
    fn parses_the_rfc_example() {
        let d = parse(good()).unwrap();
        assert_eq!(d.user_code, "WDJB-MJHT");
        assert_eq!(d.verification_uri.as_str(), "https://example.com/device");
        assert_eq!(d.verification_uri_complete.unwrap().query(), Some("user_code=WDJB-MJHT"));
        assert_eq!((d.expires_in, d.interval), (1800, 5));
        assert!(!format!("{:?}", parse(good()).unwrap()).contains("GmRhmh"), "the device code is redacted");
    }

    #[test]
    fn clamps_times() {
        for (interval, want) in [
            (json!(0), DEFAULT_INTERVAL_SECS),
            (json!(-3), DEFAULT_INTERVAL_SECS),
            (json!(1e9), MAX_INTERVAL_SECS),
            (json!("7"), 7),
            (json!("soon"), DEFAULT_INTERVAL_SECS),
            (json!(null), DEFAULT_INTERVAL_SECS),
            (json!(2.5), 2),
        ] {
            let mut v = good();
            v["interval"] = interval.clone();
            assert_eq!(parse(v).unwrap().interval, want, "interval {interval}");
        }
        for (expires, want) in
            [(json!(0), DEFAULT_EXPIRES_SECS), (json!(-1), DEFAULT_EXPIRES_SECS), (json!(1e12), MAX_EXPIRES_SECS)]
        {
            let mut v = good();
            v["expires_in"] = expires.clone();
            assert_eq!(parse(v).unwrap().expires_in, want, "expires_in {expires}");
        }
        let mut v = good();
        v.as_object_mut().unwrap().remove("expires_in");
        assert_eq!(parse(v).unwrap().expires_in, DEFAULT_EXPIRES_SECS);
        assert_eq!(slowed(5), 10);
        assert_eq!(slowed(MAX_INTERVAL_SECS + SLOW_DOWN_SECS), MAX_INTERVAL_SECS + SLOW_DOWN_SECS);
    }

    #[test]
    fn rejects_what_cannot_be_used() {
        for (k, val) in [
            ("user_code", json!(null)),
            ("user_code", json!(42)),
            ("user_code", json!("")),
            ("user_code", json!("x".repeat(65))),
            ("user_code", json!("AB\nCD")),
            ("device_code", json!("")),
            ("device_code", json!("has space")),
            ("device_code", json!(7)),
            ("verification_uri", json!("javascript:alert(1)")),
            ("verification_uri", json!("http://evil.example/device")),
            ("verification_uri", json!(null)),
        ] {
            let mut v = good();
            v[k] = val.clone();
            assert!(parse(v).is_err(), "{k} = {val}");
        }
        assert!(parse_device_authorization(b"[]").is_err());
        assert!(parse_device_authorization(b"").is_err());
        assert!(parse_device_authorization(&vec![b' '; MAX_TOKEN_RESPONSE + 1]).is_err());
        // Google's older name.
        let mut v = good();
        let uri = v.as_object_mut().unwrap().remove("verification_uri").unwrap();
        v["verification_url"] = uri;
        assert_eq!(parse(v).unwrap().verification_uri.host_str(), Some("example.com"));
        // An unusable complete URI is dropped, not fatal.
        let mut v = good();
        v["verification_uri_complete"] = json!("ftp://x");
        assert!(parse(v).unwrap().verification_uri_complete.is_none());
    }

    #[test]
    fn classifies_poll_errors() {
        let oauth =
            |e: &str| Error::OAuth(crate::error::OAuthError { error: e.into(), description: None, status: 400 });
        assert_eq!(classify(&oauth("authorization_pending")), PollError::Pending);
        assert_eq!(classify(&oauth("slow_down")), PollError::SlowDown);
        assert_eq!(classify(&oauth("access_denied")), PollError::Final);
        assert_eq!(classify(&oauth("expired_token")), PollError::Final);
    }
}
