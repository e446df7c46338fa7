//! Token sets and the tolerant token-response parser (RFC 6749 §5.1, §5.2, §6).
//!
//! Tolerant where providers differ (`token_type` case, `expires_in` as a string or an absolute
//! timestamp, comma-separated `scope`, TextMaster's `created_at`), strict where security
//! depends on it (an access token must be present, the type must be `bearer`).

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::Value;

use crate::clock::Timestamp;
use crate::error::{Error, OAuthError, Result};

/// Ten years: an `expires_in` larger than this is an absolute unix timestamp (old Fusio).
const ABSOLUTE_EXPIRY_THRESHOLD: i64 = 10 * 365 * 24 * 3600;
/// The largest token response Latchkey reads; anything bigger is refused, not parsed.
pub const MAX_TOKEN_RESPONSE: usize = 256 * 1024;

/// A connection's tokens. Debug is redacted; there is deliberately no `Serialize`: the only
/// way out is [`TokenSet::to_vault_string`], used by the vault.
#[derive(Clone)]
pub struct TokenSet {
    /// The access token.
    pub access_token: SecretString,
    /// The refresh token, if the provider issued one.
    pub refresh_token: Option<SecretString>,
    /// When the access token expires (unix seconds), if the provider said.
    pub expires_at: Option<Timestamp>,
    /// When the token was issued (unix seconds).
    pub issued_at: Timestamp,
    /// The scopes granted, when the provider listed them (RFC 6749 §3.3, §5.1).
    pub scope: Option<Vec<String>>,
    /// When this process received the set, in milliseconds of the local clock: tells a caller
    /// that waited for a refresh whether one happened meanwhile.
    pub obtained_at_ms: u128,
}

/// Milliseconds since the epoch on the local clock.
pub fn now_ms() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or(0)
}

impl std::fmt::Debug for TokenSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSet")
            .field("access_token", &"[redacted]")
            .field("refresh_token", &self.refresh_token.as_ref().map(|_| "[redacted]"))
            .field("expires_at", &self.expires_at)
            .field("issued_at", &self.issued_at)
            .field("scope", &self.scope)
            .field("obtained_at_ms", &self.obtained_at_ms)
            .finish()
    }
}

#[derive(serde::Serialize, Deserialize)]
struct VaultForm {
    v: u32,
    access_token: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    refresh_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    expires_at: Option<Timestamp>,
    issued_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    scope: Option<Vec<String>>,
    #[serde(default)]
    obtained_at_ms: u128,
}

impl TokenSet {
    /// The form stored in the keychain entry (JSON). Only the vault calls this.
    pub fn to_vault_string(&self) -> SecretString {
        let form = VaultForm {
            v: 1,
            access_token: self.access_token.expose_secret().to_owned(),
            refresh_token: self.refresh_token.as_ref().map(|r| r.expose_secret().to_owned()),
            expires_at: self.expires_at,
            issued_at: self.issued_at,
            scope: self.scope.clone(),
            obtained_at_ms: self.obtained_at_ms,
        };
        SecretString::from(serde_json::to_string(&form).expect("plain struct serialises"))
    }

    /// Reads what [`TokenSet::to_vault_string`] wrote.
    pub fn from_vault_string(s: &SecretString) -> Result<Self> {
        let form: VaultForm = serde_json::from_str(s.expose_secret())
            .map_err(|e| Error::Keychain(format!("a keychain entry is damaged ({})", e.classify_name())))?;
        Ok(Self {
            access_token: form.access_token.into(),
            refresh_token: form.refresh_token.map(Into::into),
            expires_at: form.expires_at,
            issued_at: form.issued_at,
            scope: form.scope,
            obtained_at_ms: form.obtained_at_ms,
        })
    }

    /// Merges a refresh response into the previous set: a response without a refresh token
    /// keeps the old one; a new one replaces it (RFC 6749 §6). The granted scope is kept when
    /// the refresh response does not repeat it.
    pub fn merged_after_refresh(mut self, previous: &TokenSet) -> TokenSet {
        if self.refresh_token.is_none() {
            self.refresh_token = previous.refresh_token.clone();
        }
        if self.scope.is_none() {
            self.scope = previous.scope.clone();
        }
        self
    }

    /// Seconds the access token stays valid after `now` (negative when expired).
    pub fn remaining(&self, now: Timestamp) -> Option<i64> {
        self.expires_at.map(|e| e - now)
    }
}

trait ClassifyName {
    fn classify_name(&self) -> &'static str;
}
impl ClassifyName for serde_json::Error {
    fn classify_name(&self) -> &'static str {
        match self.classify() {
            serde_json::error::Category::Io => "io",
            serde_json::error::Category::Syntax => "syntax",
            serde_json::error::Category::Data => "data",
            serde_json::error::Category::Eof => "truncated",
        }
    }
}

/// Splits a `scope` value on spaces and commas (Fusio uses commas).
pub fn split_scopes(s: &str) -> Vec<String> {
    s.split([' ', ',', '+']).map(str::trim).filter(|x| !x.is_empty()).map(str::to_owned).collect()
}

fn number_like(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        Value::String(s) => s.trim().parse::<f64>().ok().map(|f| f as i64),
        _ => None,
    }
}

/// Parses a successful token endpoint body (RFC 6749 §5.1) received at `now`.
///
/// # Errors
/// [`Error::BadResponse`] when the body is not JSON, has no `access_token`, or names a token
/// type other than `bearer` (compared case-insensitively, as §5.1 requires).
pub fn parse_token_response(body: &[u8], now: Timestamp) -> Result<TokenSet> {
    const WHAT: &str = "the token endpoint";
    if body.len() > MAX_TOKEN_RESPONSE {
        return Err(Error::BadResponse {
            what: WHAT,
            detail: format!("the answer is too large ({} bytes)", body.len()),
        });
    }
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| Error::BadResponse { what: WHAT, detail: format!("not JSON ({})", e.classify_name()) })?;
    let obj = v.as_object().ok_or(Error::BadResponse { what: WHAT, detail: "not a JSON object".into() })?;
    let access = match obj.get("access_token") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        _ => return Err(Error::BadResponse { what: WHAT, detail: "no access_token".into() }),
    };
    match obj.get("token_type") {
        Some(Value::String(t)) if t.eq_ignore_ascii_case("bearer") => {}
        // Some providers omit it; the token is still used as a bearer token.
        None => {}
        Some(other) => {
            return Err(Error::BadResponse {
                what: WHAT,
                detail: format!("unsupported token_type {}", other.as_str().unwrap_or("(not a string)")),
            });
        }
    }
    let refresh = match obj.get("refresh_token") {
        Some(Value::String(s)) if !s.is_empty() => Some(SecretString::from(s.clone())),
        _ => None,
    };
    // TextMaster reports when it issued the token; otherwise it is now.
    let issued_at = obj.get("created_at").and_then(number_like).filter(|c| *c > 0 && *c <= now + 300).unwrap_or(now);
    let expires_at = obj
        .get("expires_in")
        .and_then(number_like)
        .map(|e| if e > ABSOLUTE_EXPIRY_THRESHOLD { e } else { issued_at + e.max(0) });
    let scope = obj.get("scope").and_then(Value::as_str).map(split_scopes);
    Ok(TokenSet {
        access_token: access.into(),
        refresh_token: refresh,
        expires_at,
        issued_at,
        scope,
        obtained_at_ms: now_ms(),
    })
}

/// Parses an error body (RFC 6749 §5.2). `None` when the body is not an OAuth error.
pub fn parse_error_response(body: &[u8], status: u16) -> Option<OAuthError> {
    let v: Value = serde_json::from_slice(body).ok()?;
    let error = v.get("error")?.as_str()?.to_owned();
    let description = v.get("error_description").and_then(Value::as_str).map(|d| d.chars().take(300).collect());
    Some(OAuthError { error, description, status })
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_700_000_000;

    #[test]
    fn textmaster_response_with_created_at() {
        let body = br#"{"access_token":"a","token_type":"Bearer","expires_in":28800,"refresh_token":"r","scope":"public user:read","created_at":1699999000}"#;
        let t = parse_token_response(body, NOW).unwrap();
        assert_eq!(t.issued_at, 1_699_999_000);
        assert_eq!(t.expires_at, Some(1_699_999_000 + 28800));
        assert_eq!(t.scope.unwrap(), vec!["public", "user:read"]);
        assert_eq!(t.refresh_token.unwrap().expose_secret(), "r");
    }

    #[test]
    fn fusio_response_commas_lowercase_and_string_expiry() {
        let body = br#"{"access_token":"a","token_type":"bearer","expires_in":"172800","refresh_token":"r","scope":"backend,consumer"}"#;
        let t = parse_token_response(body, NOW).unwrap();
        assert_eq!(t.expires_at, Some(NOW + 172800));
        assert_eq!(t.scope.unwrap(), vec!["backend", "consumer"]);
    }

    #[test]
    fn absolute_expiry_from_old_fusio() {
        let body = br#"{"access_token":"a","token_type":"bearer","expires_in":1700172800}"#;
        let t = parse_token_response(body, NOW).unwrap();
        assert_eq!(t.expires_at, Some(1_700_172_800));
    }

    #[test]
    fn created_at_in_the_future_is_ignored() {
        let body = br#"{"access_token":"a","token_type":"bearer","expires_in":60,"created_at":1800000000}"#;
        assert_eq!(parse_token_response(body, NOW).unwrap().issued_at, NOW);
    }

    #[test]
    fn strict_parts() {
        assert!(parse_token_response(br#"{"token_type":"bearer"}"#, NOW).is_err());
        assert!(parse_token_response(br#"{"access_token":"","token_type":"bearer"}"#, NOW).is_err());
        assert!(parse_token_response(br#"{"access_token":"a","token_type":"mac"}"#, NOW).is_err());
        assert!(parse_token_response(b"<html>", NOW).is_err());
        assert!(parse_token_response(b"[1,2]", NOW).is_err());
        let big = vec![b' '; MAX_TOKEN_RESPONSE + 1];
        assert!(parse_token_response(&big, NOW).is_err());
    }

    #[test]
    fn refresh_without_refresh_token_keeps_the_old_one() {
        let old = parse_token_response(br#"{"access_token":"a","refresh_token":"r1","scope":"x y"}"#, NOW).unwrap();
        let new = parse_token_response(br#"{"access_token":"b"}"#, NOW).unwrap().merged_after_refresh(&old);
        assert_eq!(new.refresh_token.as_ref().unwrap().expose_secret(), "r1");
        assert_eq!(new.scope.as_deref().unwrap(), ["x", "y"]);
        let rotated = parse_token_response(br#"{"access_token":"c","refresh_token":"r2"}"#, NOW)
            .unwrap()
            .merged_after_refresh(&old);
        assert_eq!(rotated.refresh_token.unwrap().expose_secret(), "r2");
    }

    #[test]
    fn debug_is_redacted_and_vault_form_round_trips() {
        let t = parse_token_response(br#"{"access_token":"sekrit-a","refresh_token":"sekrit-r"}"#, NOW).unwrap();
        let dbg = format!("{t:?}");
        assert!(!dbg.contains("sekrit"), "{dbg}");
        let back = TokenSet::from_vault_string(&t.to_vault_string()).unwrap();
        assert_eq!(back.access_token.expose_secret(), "sekrit-a");
        assert_eq!(back.refresh_token.unwrap().expose_secret(), "sekrit-r");
    }

    #[test]
    fn error_bodies() {
        let e =
            parse_error_response(br#"{"error":"invalid_request","error_description":"Invalid refresh token"}"#, 400)
                .unwrap();
        assert!(e.is_terminal_for_refresh());
        assert!(parse_error_response(b"oops", 500).is_none());
    }
}
