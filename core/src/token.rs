//! Token sets and the tolerant token-response parser (RFC 6749 §5.1, §5.2, §6).
//!
//! Tolerant where providers differ (`token_type` case, `expires_in` as a string, a float or an
//! absolute timestamp, comma-separated `scope`, TextMaster's `created_at`), strict where
//! security depends on it: the tokens must be non-empty strings of visible ASCII (they end up
//! in `Authorization` headers and in scripts' shell substitutions), the type must be `bearer`,
//! the body a JSON object.
//!
//! Expiry is the local time of receipt plus `expires_in` (RFC 6749 §5.1: the lifetime
//! remaining when the answer is sent); `created_at` is not used for it (a server that hands back
//! a reused token sends its original `created_at` with the *remaining* lifetime). A lifetime
//! that is zero, negative, or an absolute time already in the past is treated as unknown.

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::Value;

use crate::clock::Timestamp;
use crate::error::{Error, OAuthError, Result};

/// Ten years: an `expires_in` larger than this is an absolute unix timestamp (old Fusio).
const ABSOLUTE_EXPIRY_THRESHOLD: i64 = 10 * 365 * 24 * 3600;
/// Taken off every lifetime (at most 1 %): the answer was sent a little before it arrived.
const SKEW_ALLOWANCE_SECS: i64 = 5;
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
    /// When this set was received (unix seconds, local clock).
    pub issued_at: Timestamp,
    /// The scopes granted, when the provider listed them (RFC 6749 §3.3, §5.1).
    pub scope: Option<Vec<String>>,
    /// Counts the sets stored for this connection: each write to the keychain stores the
    /// previous generation + 1, so "someone refreshed meanwhile" is a comparison of counters,
    /// never of clocks.
    pub generation: u64,
    /// The provider's `expires_in`, quoted, when it was not usable (≤ 0, absurd, in the past)
    /// and the lifetime is treated as unknown. Not stored; the caller logs it.
    pub ignored_expires_in: Option<String>,
}

impl std::fmt::Debug for TokenSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSet")
            .field("access_token", &"[redacted]")
            .field("refresh_token", &self.refresh_token.as_ref().map(|_| "[redacted]"))
            .field("expires_at", &self.expires_at)
            .field("issued_at", &self.issued_at)
            .field("scope", &self.scope)
            .field("generation", &self.generation)
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
    generation: u64,
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
            generation: self.generation,
        };
        SecretString::from(serde_json::to_string(&form).expect("plain struct serialises"))
    }

    /// Reads what [`TokenSet::to_vault_string`] wrote.
    ///
    /// # Errors
    /// [`Error::Keychain`] when the keychain entry is not a token set this version understands.
    pub fn from_vault_string(s: &SecretString) -> Result<Self> {
        let form: VaultForm = serde_json::from_str(s.expose_secret())
            .map_err(|e| Error::Keychain(format!("a keychain entry is damaged ({})", e.classify_name())))?;
        Ok(Self {
            access_token: form.access_token.into(),
            refresh_token: form.refresh_token.map(Into::into),
            expires_at: form.expires_at,
            issued_at: form.issued_at,
            scope: form.scope,
            generation: form.generation,
            ignored_expires_in: None,
        })
    }

    /// Merges a refresh response into the previous set: a response without a refresh token
    /// keeps the old one; a new one replaces it (RFC 6749 §6). The granted scope is kept when
    /// the refresh response does not repeat it.
    ///
    /// The result is the next generation after `previous`.
    pub fn merged_after_refresh(mut self, previous: &TokenSet) -> TokenSet {
        if self.refresh_token.is_none() {
            self.refresh_token = previous.refresh_token.clone();
        }
        if self.scope.is_none() {
            self.scope = previous.scope.clone();
        }
        self.generation = previous.generation + 1;
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
    let f = match v {
        Value::Number(n) => return n.as_i64().or_else(|| n.as_f64().filter(|f| f.is_finite()).map(|f| f as i64)),
        Value::String(s) => s.trim().parse::<f64>().ok()?,
        _ => return None,
    };
    // `as` saturates; NaN and infinities are not numbers anyone meant.
    f.is_finite().then_some(f as i64)
}

/// A token value that is safe to store and to put in an `Authorization` header or a shell
/// substitution: a non-empty string of visible ASCII (a superset of RFC 6750's `b64token`,
/// which some providers exceed with `|`, `$` or `!`), at most 16 KiB.
fn valid_token(v: &Value) -> Option<String> {
    let s = v.as_str()?;
    let ok = !s.is_empty() && s.len() <= 16 * 1024 && s.bytes().all(|b| b.is_ascii_graphic());
    ok.then(|| s.to_owned())
}

/// Turns `expires_in` into an expiry time: receipt time + lifetime; a value over ten years is
/// an absolute unix time (old Fusio). `Err(quoted value)` when unusable (unknown lifetime).
fn expiry(raw: &Value, now: Timestamp) -> std::result::Result<Timestamp, String> {
    let quoted = || raw.to_string().chars().take(40).collect::<String>();
    let secs = number_like(raw).ok_or_else(quoted)?;
    if secs <= 0 {
        return Err(quoted());
    }
    if secs > ABSOLUTE_EXPIRY_THRESHOLD {
        // An absolute time: usable only if it lies ahead, and not absurdly far.
        return if secs > now && secs - now <= ABSOLUTE_EXPIRY_THRESHOLD { Ok(secs) } else { Err(quoted()) };
    }
    // A small allowance for the time the answer spent on the wire.
    Ok(now + secs - (secs / 100).min(SKEW_ALLOWANCE_SECS))
}

/// Parses a successful token endpoint body (RFC 6749 §5.1) received at `now`.
///
/// # Errors
/// [`Error::BadResponse`] when the body is not a JSON object, has no usable `access_token`,
/// has a `refresh_token` that is not a usable token string, or names a token type other than
/// `bearer` (compared case-insensitively, as §5.1 requires; a missing type means bearer).
pub fn parse_token_response(body: &[u8], now: Timestamp) -> Result<TokenSet> {
    const WHAT: &str = "the token endpoint";
    let bad = |detail: &str| Error::BadResponse { what: WHAT, detail: detail.to_owned() };
    if body.len() > MAX_TOKEN_RESPONSE {
        return Err(Error::BadResponse {
            what: WHAT,
            detail: format!("the answer is too large ({} bytes)", body.len()),
        });
    }
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| Error::BadResponse { what: WHAT, detail: format!("not JSON ({})", e.classify_name()) })?;
    let obj = v.as_object().ok_or_else(|| bad("not a JSON object"))?;
    let access = match obj.get("access_token") {
        None => return Err(bad("no access_token")),
        Some(v) => valid_token(v)
            .ok_or_else(|| bad("the access_token is not a token (empty, not a string, or not visible ASCII)"))?,
    };
    match obj.get("token_type") {
        Some(Value::String(t)) if t.eq_ignore_ascii_case("bearer") => {}
        // Some providers omit it; the token is still used as a bearer token.
        None | Some(Value::Null) => {}
        Some(other) => {
            let shown: String = other
                .as_str()
                .map_or("(not a string)".into(), |s| s.chars().filter(|c| !c.is_control()).take(20).collect());
            return Err(Error::BadResponse { what: WHAT, detail: format!("unsupported token_type {shown}") });
        }
    }
    let refresh = match obj.get("refresh_token") {
        None | Some(Value::Null) => None,
        // An empty string is how some servers say "none".
        Some(Value::String(s)) if s.is_empty() => None,
        Some(v) => Some(SecretString::from(
            valid_token(v)
                .ok_or_else(|| bad("the refresh_token is not a token (not a string, or not visible ASCII)"))?,
        )),
    };
    let (expires_at, ignored_expires_in) = match obj.get("expires_in") {
        None | Some(Value::Null) => (None, None),
        Some(raw) => match expiry(raw, now) {
            Ok(at) => (Some(at), None),
            Err(quoted) => (None, Some(quoted)),
        },
    };
    let scope = match obj.get("scope") {
        Some(Value::String(s)) => Some(split_scopes(s)),
        // A list is what some servers send; read it rather than drop it.
        Some(Value::Array(a)) => Some(a.iter().filter_map(Value::as_str).flat_map(split_scopes).collect()),
        _ => None,
    };
    Ok(TokenSet {
        access_token: access.into(),
        refresh_token: refresh,
        expires_at,
        issued_at: now,
        scope,
        generation: 1,
        ignored_expires_in,
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
    fn textmaster_response_expiry_from_receipt_not_created_at() {
        // A reused token: the original created_at, and the remaining lifetime.
        let body = br#"{"access_token":"a","token_type":"Bearer","expires_in":28800,"refresh_token":"r","scope":"public user:read","created_at":1699990000}"#;
        let t = parse_token_response(body, NOW).unwrap();
        assert_eq!(t.issued_at, NOW);
        assert_eq!(t.expires_at, Some(NOW + 28800 - 5));
        assert_eq!(t.scope.unwrap(), vec!["public", "user:read"]);
        assert_eq!(t.refresh_token.unwrap().expose_secret(), "r");
    }

    #[test]
    fn fusio_response_commas_lowercase_and_string_or_float_expiry() {
        let body = br#"{"access_token":"a","token_type":"bearer","expires_in":"172800","refresh_token":"r","scope":"backend,consumer"}"#;
        let t = parse_token_response(body, NOW).unwrap();
        assert_eq!(t.expires_at, Some(NOW + 172800 - 5));
        assert_eq!(t.scope.unwrap(), vec!["backend", "consumer"]);
        let t = parse_token_response(br#"{"access_token":"a","expires_in":59.9}"#, NOW).unwrap();
        assert_eq!(t.expires_at, Some(NOW + 59));
        let t = parse_token_response(br#"{"access_token":"a","expires_in":" 30 "}"#, NOW).unwrap();
        assert_eq!(t.expires_at, Some(NOW + 30));
    }

    #[test]
    fn absolute_expiry_from_old_fusio() {
        let body = br#"{"access_token":"a","token_type":"bearer","expires_in":1700172800}"#;
        let t = parse_token_response(body, NOW).unwrap();
        assert_eq!(t.expires_at, Some(1_700_172_800));
        assert!(t.ignored_expires_in.is_none());
    }

    #[test]
    fn unusable_lifetimes_are_unknown_and_quoted() {
        for (raw, quoted) in [
            ("0", "0"),
            ("-100", "-100"),
            ("400000000", "400000000"),
            ("99999999999", "99999999999"),
            ("\"soon\"", "\"soon\""),
            ("1e400", "1e400"),
            ("true", "true"),
            ("{}", "{}"),
        ] {
            let body = format!(r#"{{"access_token":"a","expires_in":{raw}}}"#);
            let Ok(t) = parse_token_response(body.as_bytes(), NOW) else {
                // 1e400 is not valid JSON for serde_json: rejected as a body, which is fine.
                assert_eq!(raw, "1e400");
                continue;
            };
            assert_eq!(t.expires_at, None, "{raw}");
            assert_eq!(t.ignored_expires_in.as_deref(), Some(quoted), "{raw}");
        }
        let t = parse_token_response(br#"{"access_token":"a","expires_in":null}"#, NOW).unwrap();
        assert_eq!((t.expires_at, t.ignored_expires_in), (None, None));
    }

    #[test]
    fn strict_parts() {
        let rejected = [
            &br#"{"token_type":"bearer"}"#[..],
            br#"{"access_token":"","token_type":"bearer"}"#,
            br#"{"access_token":"a","token_type":"mac"}"#,
            br#"{"access_token":"a","token_type":7}"#,
            br#"{"access_token":"a\r\nX-Evil: 1"}"#,
            br#"{"access_token":"a b"}"#,
            br#"{"access_token":"caf\u00e9"}"#,
            br#"{"access_token":12345}"#,
            br#"{"access_token":["a"]}"#,
            br#"{"access_token":"a","refresh_token":12345}"#,
            br#"{"access_token":"a","refresh_token":"r\n"}"#,
            br#"{"access_token":"a","refresh_token":{"v":"r"}}"#,
            b"<html>",
            b"[1,2]",
            b"\"a\"",
            b"",
        ];
        for body in rejected {
            let e = parse_token_response(body, NOW).unwrap_err();
            assert_eq!(e.code(), crate::ErrorCode::ProviderRejected, "{}", String::from_utf8_lossy(body));
        }
        let big = vec![b' '; MAX_TOKEN_RESPONSE + 1];
        assert!(parse_token_response(&big, NOW).is_err());
        // Tolerated: a missing or null type, any case of bearer, an empty refresh token.
        for body in [
            &br#"{"access_token":"a.b-c_d~e+f/g="}"#[..],
            br#"{"access_token":"a","token_type":null}"#,
            br#"{"access_token":"a","token_type":"BEARER","refresh_token":""}"#,
        ] {
            let t = parse_token_response(body, NOW).unwrap();
            assert!(t.refresh_token.is_none());
        }
    }

    #[test]
    fn scope_as_a_list_is_read() {
        let t = parse_token_response(br#"{"access_token":"a","scope":["read","write"]}"#, NOW).unwrap();
        assert_eq!(t.scope.unwrap(), vec!["read", "write"]);
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
        assert_eq!(rotated.generation, old.generation + 1);
        // The scopes of a refresh answer replace the previous ones when it lists them.
        let narrowed =
            parse_token_response(br#"{"access_token":"d","scope":"x"}"#, NOW).unwrap().merged_after_refresh(&old);
        assert_eq!(narrowed.scope.as_deref().unwrap(), ["x"]);
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
        assert!(e.is_terminal_for_refresh(crate::PresetId::Fusio.preset().terminal_refresh_errors));
        assert!(parse_error_response(b"oops", 500).is_none());
    }
}
