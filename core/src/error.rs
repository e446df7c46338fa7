//! One error type for the core, with a small set of codes the UI and the command line act on.

use std::fmt;

/// What the caller can do about an error. Generated into `ui/src/lib/generated/` (`make types`)
/// and mirrored in the command line's exit codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The refresh token is dead: the person must sign in again (Reconnect).
    NeedsReconnect,
    /// The OS keychain could not be reached or is locked.
    KeychainUnavailable,
    /// The provider answered with an OAuth error (RFC 6749 §4.1.2.1, §5.2) or an unexpected status.
    ProviderRejected,
    /// The provider could not be reached (DNS, connect, timeout, 5xx).
    Network,
    /// Something the person typed or a URL that arrived is not acceptable.
    InvalidInput,
    /// No such connection, provider app or sign-in.
    NotFound,
    /// The sign-in flow is over, was cancelled, expired, or the callback was forged.
    Flow,
    /// The token lacks a scope the request needs (HTTP 403).
    MissingScope,
    /// A bug or an I/O failure on this machine.
    Internal,
    /// The metadata file is damaged: restore the last good copy or start empty.
    DamagedData,
}

impl ErrorCode {
    /// The stable wire name (`needs_reconnect`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NeedsReconnect => "needs_reconnect",
            Self::KeychainUnavailable => "keychain_unavailable",
            Self::ProviderRejected => "provider_rejected",
            Self::Network => "network",
            Self::InvalidInput => "invalid_input",
            Self::NotFound => "not_found",
            Self::Flow => "flow",
            Self::MissingScope => "missing_scope",
            Self::Internal => "internal",
            Self::DamagedData => "damaged_data",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which error exactly, within a code, where the advice differs: the window's hint follows
/// it (a declined consent is not a misconfigured app). Generated into `ui/src/lib/generated/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
pub enum ErrorReason {
    /// The person declined at the provider (RFC 6749 §4.1.2.1 `access_denied`).
    AccessDenied,
    /// The provider refused the requested scopes (`invalid_scope`).
    InvalidScope,
    /// The provider rejected the provider app itself (`invalid_client`, `unauthorized_client`).
    ClientRejected,
    /// The code or refresh token is no longer accepted (`invalid_grant`).
    InvalidGrant,
    /// The provider does not support this kind of sign-in (`unsupported_*`).
    Unsupported,
    /// The provider had a problem of its own (`server_error`, `temporarily_unavailable`, 5xx, 429).
    ProviderUnavailable,
    /// No answer came (DNS, connect, timeout).
    Unreachable,
    /// Another Latchkey process holds the connection.
    Busy,
    /// The keychain is locked.
    KeychainLocked,
}

/// An OAuth 2.0 error response (RFC 6749 §5.2 and §4.1.2.1), as the provider sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthError {
    /// The `error` code, e.g. `invalid_grant`.
    pub error: String,
    /// The provider's `error_description`, if any.
    pub description: Option<String>,
    /// The HTTP status of the response (0 for an authorization-redirect error).
    pub status: u16,
}

impl OAuthError {
    /// Whether this error means the refresh token (or the grant behind it) is dead for good:
    /// `invalid_grant` (RFC 6749 §5.2), or one of a provider's own ways of saying so — `also`,
    /// pairs of error code and a fragment of its description, from the preset table (Fusio's
    /// `invalid_request` "Refresh token is expired"). (`invalid_client` is the app's problem,
    /// not the grant's: see [`OAuthError::is_client_rejected`].)
    pub fn is_terminal_for_refresh(&self, also: &[(&str, &str)]) -> bool {
        let description = self.description.as_deref().unwrap_or("").to_ascii_lowercase();
        self.error == "invalid_grant"
            || also.iter().any(|(code, fragment)| self.error == *code && description.contains(fragment))
    }

    /// Whether the provider rejected the client itself (RFC 6749 §5.2 `invalid_client`,
    /// `unauthorized_client`): the fix is the provider app's credentials, for every connection
    /// of that app at once.
    pub fn is_client_rejected(&self) -> bool {
        matches!(self.error.as_str(), "invalid_client" | "unauthorized_client")
    }

    /// Plain words for a person, with the provider's own description.
    pub fn plain(&self) -> String {
        let what = match self.error.as_str() {
            "access_denied" => "You declined the request at the provider",
            "invalid_grant" => "The provider no longer accepts this sign-in",
            "invalid_client" => "The provider did not accept the client id or secret",
            "unauthorized_client" => "The provider does not allow this app to sign in this way",
            "invalid_scope" => "The provider rejected the requested scopes",
            "invalid_request" => "The provider rejected the request",
            "unsupported_response_type" | "unsupported_grant_type" => {
                "The provider does not support this kind of sign-in"
            }
            "server_error" | "temporarily_unavailable" => "The provider had a problem; try again later",
            _ => "The provider refused",
        };
        match &self.description {
            Some(d) if !d.is_empty() => format!("{what}: {d} ({})", self.error),
            _ => format!("{what} ({})", self.error),
        }
    }
}

fn scope_words(scope: Option<&str>, label: Option<&str>) -> String {
    match (scope, label) {
        (Some(s), Some(l)) => format!("the permission “{s}” ({l})"),
        (Some(s), None) => format!("the permission “{s}”"),
        (None, _) => "a permission".into(),
    }
}

/// Every failure in the core.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The provider answered with an OAuth error.
    #[error("{}", .0.plain())]
    OAuth(OAuthError),
    /// A refresh failed for good; the connection needs Reconnect.
    #[error("{reason}")]
    NeedsReconnect {
        /// Plain words, with the provider's description.
        reason: String,
    },
    /// A provider endpoint answered with an unexpected status.
    #[error("{what} answered HTTP {status}{}", .detail.as_deref().map(|d| format!(": {d}")).unwrap_or_default())]
    Http {
        /// Which request, e.g. "the token endpoint".
        what: &'static str,
        /// The status code.
        status: u16,
        /// A short excerpt of the body (never a token: token bodies are not quoted).
        detail: Option<String>,
        /// `Retry-After` in seconds, if the provider sent one.
        retry_after: Option<u64>,
    },
    /// The request could not be sent or no answer came.
    #[error("could not reach {what}: {}", transport(source))]
    Network {
        /// Which request.
        what: &'static str,
        /// The transport error.
        #[source]
        source: reqwest::Error,
    },
    /// The provider's answer could not be understood.
    #[error("{what} sent an answer Latchkey cannot read: {detail}")]
    BadResponse {
        /// Which request.
        what: &'static str,
        /// What was wrong with it.
        detail: String,
    },
    /// The keychain could not be used.
    #[error("the system keychain is not available: {0}")]
    Keychain(String),
    /// Bad input from the person or from a URL.
    #[error("{0}")]
    InvalidInput(String),
    /// A thing that does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The sign-in flow failed.
    #[error("{0}")]
    Flow(String),
    /// A redirect that belongs to no sign-in in progress (stray, forged, replayed or late);
    /// it was ignored and changed nothing.
    #[error("{0}")]
    UnknownCallback(String),
    /// The connection's refresh lock is held by another process for longer than a caller
    /// waits (it may be stopped, or waiting at a keychain prompt); try again later.
    #[error("{0}")]
    Busy(String),
    /// The provider rejected the provider app's credentials on refresh; the app is marked and
    /// its connections wait until it is edited.
    #[error("{0}")]
    CredentialsRejected(String),
    /// A 403 from a resource endpoint.
    #[error("the connection lacks a permission{} this needs; reconnect and grant it{}", .scope.as_deref().map(|s| format!(" (scope “{s}”)")).unwrap_or_else(|| " (scope)".into()), .detail.as_deref().map(|d| format!(": {d}")).unwrap_or_default())]
    MissingScope {
        /// The scope, when the provider's challenge names it.
        scope: Option<String>,
        /// The provider's words.
        detail: Option<String>,
    },
    /// A sign-in was granted without the scope Latchkey needs to identify the account (the
    /// profile endpoint answered 403). Its tokens are revoked where the provider allows.
    #[error("{provider} did not grant {}, which Latchkey needs to identify your account. Connect again with it, and allow it on {provider}'s consent page.", scope_words(.scope.as_deref(), .label.as_deref()))]
    ScopeNotGranted {
        /// The provider app's name.
        provider: String,
        /// The scope (from the provider's challenge, else the preset's profile scope).
        scope: Option<String>,
        /// Its plain-language label, when the preset knows it.
        label: Option<&'static str>,
    },
    /// Local I/O.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A bug.
    #[error("internal error: {0}")]
    Internal(String),
    /// The metadata file cannot be read. It is left as it is (never overwritten) until the
    /// person restores the last good copy or starts empty.
    #[error(
        "Latchkey's data file {} is damaged ({detail}); it was left as it is. {}",
        .path.display(),
        if *.backup_available {
            "Restore the last good copy, or start empty (the damaged file is kept aside)."
        } else {
            "There is no last good copy: start empty (the damaged file is kept aside)."
        }
    )]
    DamagedData {
        /// The damaged file.
        path: std::path::PathBuf,
        /// Whether a readable last good copy is there to restore.
        backup_available: bool,
        /// What is wrong, in plain words (never the content).
        detail: String,
    },
}

impl Error {
    /// The code the UI and command line act on.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::OAuth(_) => ErrorCode::ProviderRejected,
            Self::NeedsReconnect { .. } => ErrorCode::NeedsReconnect,
            Self::Http { status, .. } if *status >= 500 || *status == 429 => ErrorCode::Network,
            Self::Http { .. } => ErrorCode::ProviderRejected,
            Self::Network { .. } | Self::Busy(_) => ErrorCode::Network,
            Self::CredentialsRejected(_) => ErrorCode::ProviderRejected,
            Self::BadResponse { .. } => ErrorCode::ProviderRejected,
            Self::Keychain(_) => ErrorCode::KeychainUnavailable,
            Self::InvalidInput(_) => ErrorCode::InvalidInput,
            Self::NotFound(_) => ErrorCode::NotFound,
            Self::Flow(_) | Self::UnknownCallback(_) => ErrorCode::Flow,
            Self::MissingScope { .. } | Self::ScopeNotGranted { .. } => ErrorCode::MissingScope,
            Self::Io { .. } | Self::Internal(_) => ErrorCode::Internal,
            Self::DamagedData { .. } => ErrorCode::DamagedData,
        }
    }

    /// The finer reason, where the advice differs from the code's.
    pub fn reason(&self) -> Option<ErrorReason> {
        match self {
            Self::OAuth(o) => match o.error.as_str() {
                "access_denied" => Some(ErrorReason::AccessDenied),
                "invalid_scope" => Some(ErrorReason::InvalidScope),
                "invalid_client" | "unauthorized_client" => Some(ErrorReason::ClientRejected),
                "invalid_grant" => Some(ErrorReason::InvalidGrant),
                "unsupported_response_type" | "unsupported_grant_type" => Some(ErrorReason::Unsupported),
                "server_error" | "temporarily_unavailable" => Some(ErrorReason::ProviderUnavailable),
                _ => None,
            },
            Self::Http { status, .. } if *status >= 500 || *status == 429 => Some(ErrorReason::ProviderUnavailable),
            Self::Network { .. } => Some(ErrorReason::Unreachable),
            Self::Busy(_) => Some(ErrorReason::Busy),
            Self::CredentialsRejected(_) => Some(ErrorReason::ClientRejected),
            Self::Keychain(m) if m.contains("locked") => Some(ErrorReason::KeychainLocked),
            _ => None,
        }
    }

    /// Whether trying again later may help (network trouble, 5xx, 429).
    pub fn is_transient(&self) -> bool {
        self.code() == ErrorCode::Network
    }

    /// `Retry-After` the provider asked for, in seconds.
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            Self::Http { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io { context: context.into(), source }
    }
}

/// The core's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A transport error with what lay under it: reqwest's own words ("error sending request for
/// url (…)") say nothing of why; the innermost cause does ("connection refused", "connection
/// reset by peer", "connection closed before message completed"). URLs and socket errors only:
/// no request body, so no token, is ever part of it.
fn transport(e: &reqwest::Error) -> String {
    let mut cause: &dyn std::error::Error = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    let (top, root) = (e.to_string(), cause.to_string());
    // Without a source the cause is `e` itself, whose words are `top`.
    if top.contains(&root) { top } else { format!("{top}: {root}") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_network_error_says_why_the_request_failed() {
        // A port nobody listens on: reqwest says "error sending request for url (…)"; the
        // reason is three causes down.
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let req = crate::http::client().post(format!("http://127.0.0.1:{port}/token"));
        let e = crate::http::send("the token endpoint", req).await.unwrap_err();
        let message = e.to_string();
        assert!(message.starts_with("could not reach the token endpoint: error sending request"), "{message}");
        assert!(message.to_lowercase().contains("connection refused"), "{message}");
    }

    fn oauth(error: &str, description: Option<&str>) -> OAuthError {
        OAuthError { error: error.into(), description: description.map(Into::into), status: 400 }
    }

    #[test]
    fn terminal_refresh_errors() {
        let fusio = crate::PresetId::Fusio.preset().terminal_refresh_errors;
        assert!(oauth("invalid_grant", None).is_terminal_for_refresh(&[]));
        assert!(oauth("invalid_request", Some("Refresh token is expired")).is_terminal_for_refresh(fusio));
        assert!(oauth("invalid_request", Some("Invalid refresh token")).is_terminal_for_refresh(fusio));
        assert!(!oauth("invalid_request", Some("Invalid refresh token")).is_terminal_for_refresh(&[]));
        assert!(!oauth("invalid_request", Some("Missing parameter")).is_terminal_for_refresh(fusio));
        assert!(!oauth("temporarily_unavailable", None).is_terminal_for_refresh(fusio));
        assert!(!oauth("invalid_client", None).is_terminal_for_refresh(fusio));
        assert!(oauth("invalid_client", None).is_client_rejected());
        assert!(oauth("unauthorized_client", None).is_client_rejected());
        assert!(!oauth("invalid_grant", None).is_client_rejected());
    }

    #[test]
    fn plain_words_keep_the_provider_description() {
        let msg = oauth("access_denied", Some("The user denied the request")).plain();
        assert!(msg.starts_with("You declined"), "{msg}");
        assert!(msg.contains("The user denied the request"), "{msg}");
    }

    #[test]
    fn every_oauth_error_has_its_own_reason() {
        let r = |e: &str| Error::OAuth(oauth(e, None)).reason();
        assert_eq!(r("access_denied"), Some(ErrorReason::AccessDenied));
        assert_eq!(r("invalid_scope"), Some(ErrorReason::InvalidScope));
        assert_eq!(r("invalid_client"), Some(ErrorReason::ClientRejected));
        assert_eq!(r("unauthorized_client"), Some(ErrorReason::ClientRejected));
        assert_eq!(r("server_error"), Some(ErrorReason::ProviderUnavailable));
        assert_eq!(r("temporarily_unavailable"), Some(ErrorReason::ProviderUnavailable));
        assert_eq!(r("something_else"), None);
        let e = Error::Http { what: "x", status: 502, detail: None, retry_after: None };
        assert_eq!(e.reason(), Some(ErrorReason::ProviderUnavailable));
        assert_eq!(
            Error::Keychain("access was refused (is the keychain locked?)".into()).reason(),
            Some(ErrorReason::KeychainLocked)
        );
        assert_eq!(Error::Keychain("no keychain service is running".into()).reason(), None);
    }

    #[test]
    fn codes() {
        let e = Error::Http { what: "x", status: 503, detail: None, retry_after: Some(3) };
        assert_eq!(e.code(), ErrorCode::Network);
        assert!(e.is_transient());
        assert_eq!(e.retry_after(), Some(3));
        let e = Error::Http { what: "x", status: 404, detail: None, retry_after: None };
        assert_eq!(e.code(), ErrorCode::ProviderRejected);
    }
}
