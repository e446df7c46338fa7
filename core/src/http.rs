//! The HTTP client every provider request goes through: timeouts on everything, no
//! redirects followed (token, revoke and profile requests must not be bounced elsewhere,
//! RFC 9700 §4.11), bounded bodies.

use std::time::Duration;

use reqwest::{RequestBuilder, Response, StatusCode};

use crate::error::{Error, Result};
use crate::token::{MAX_TOKEN_RESPONSE, parse_error_response};

/// The largest body Latchkey reads from a provider.
pub const MAX_BODY: usize = 2 * 1024 * 1024;

/// Builds the shared client with the default request time limit.
pub fn client() -> reqwest::Client {
    client_with_timeout(Duration::from_secs(crate::config::HTTP_TIMEOUT_SECS))
}

/// Builds the shared client; `timeout` bounds each request ([`crate::Config::http_timeout_secs`]).
pub fn client_with_timeout(timeout: Duration) -> reqwest::Client {
    // reqwest is built with `rustls-no-provider` and rustls with `ring` only; install it as
    // the process default (a second call finds it installed, which is fine).
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(10))
        .timeout(timeout)
        .user_agent(concat!("Latchkey/", env!("CARGO_PKG_VERSION")))
        .build()
        .expect("the HTTP client configuration is valid")
}

/// A response read in full.
#[derive(Debug)]
pub struct Answer {
    /// The HTTP status.
    pub status: StatusCode,
    /// `Retry-After` in seconds, when given as a number.
    pub retry_after: Option<u64>,
    /// The `scope` a `WWW-Authenticate: Bearer … scope="…"` challenge names (RFC 6750 §3).
    pub scope_needed: Option<String>,
    /// The body (at most [`MAX_BODY`] bytes).
    pub body: Vec<u8>,
}

/// Sends a request and reads the whole answer, bounded.
///
/// # Errors
/// [`Error::Network`] when no answer comes; [`Error::BadResponse`] for an answer over the size limit.
pub async fn send(what: &'static str, req: RequestBuilder) -> Result<Answer> {
    let resp = req.send().await.map_err(|source| Error::Network { what, source })?;
    read(what, resp).await
}

async fn read(what: &'static str, mut resp: Response) -> Result<Answer> {
    let status = resp.status();
    let retry_after = resp
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let scope_needed =
        resp.headers().get(reqwest::header::WWW_AUTHENTICATE).and_then(|v| v.to_str().ok()).and_then(challenge_scope);
    if resp.content_length().is_some_and(|l| l as usize > MAX_BODY) {
        return Err(Error::BadResponse { what, detail: "the answer is too large".into() });
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|source| Error::Network { what, source })? {
        if body.len() + chunk.len() > MAX_BODY {
            return Err(Error::BadResponse { what, detail: "the answer is too large".into() });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Answer { status, retry_after, scope_needed, body })
}

/// The `scope="…"` parameter of a Bearer challenge, if it is a plain scope list.
fn challenge_scope(header: &str) -> Option<String> {
    let at = header.find("scope=\"")?;
    // `scope=` and not the tail of another name (`insufficient_scope` is a value, not a name).
    if at > 0 && !matches!(header.as_bytes()[at - 1], b' ' | b',') {
        return None;
    }
    let rest = &header[at + 7..];
    let value = &rest[..rest.find('"')?];
    let ok = !value.trim().is_empty() && value.len() <= 200 && value.chars().all(|c| c.is_ascii_graphic() || c == ' ');
    ok.then(|| value.trim().to_owned())
}

impl Answer {
    /// Turns a non-success answer into the right error: an OAuth error body, or an HTTP error
    /// with a short excerpt (never for token endpoints, whose bodies may hold tokens).
    pub fn error(&self, what: &'static str, quote_body: bool) -> Error {
        if let Some(oauth) = parse_error_response(&self.body, self.status.as_u16())
            && !self.status.is_server_error()
        {
            return Error::OAuth(oauth);
        }
        let detail = quote_body.then(|| excerpt(&self.body)).flatten();
        Error::Http { what, status: self.status.as_u16(), detail, retry_after: self.retry_after }
    }

    /// The body as JSON, for resource endpoints.
    ///
    /// # Errors
    /// [`Error::BadResponse`] when the body is not JSON or too large.
    pub fn json(&self, what: &'static str) -> Result<serde_json::Value> {
        if self.body.len() > MAX_TOKEN_RESPONSE * 8 {
            return Err(Error::BadResponse { what, detail: "the answer is too large".into() });
        }
        serde_json::from_slice(&self.body).map_err(|e| Error::BadResponse { what, detail: format!("not JSON: {e}") })
    }
}

fn excerpt(body: &[u8]) -> Option<String> {
    let s = String::from_utf8_lossy(body);
    let s: String = s.chars().filter(|c| !c.is_control()).take(160).collect();
    (!s.trim().is_empty()).then_some(s)
}

#[cfg(test)]
mod tests {
    use super::challenge_scope;

    #[test]
    fn the_scope_a_bearer_challenge_names() {
        let doorkeeper =
            r#"Bearer realm="Doorkeeper", error="insufficient_scope", error_description="x", scope="user:read""#;
        assert_eq!(challenge_scope(doorkeeper).as_deref(), Some("user:read"));
        assert_eq!(challenge_scope(r#"Bearer scope="a b""#).as_deref(), Some("a b"));
        assert_eq!(challenge_scope(r#"Bearer error="insufficient_scope""#), None);
        assert_eq!(challenge_scope(r#"Bearer xscope="a""#), None);
        assert_eq!(challenge_scope(r#"Bearer scope="""#), None);
        assert_eq!(challenge_scope(r#"Bearer scope="unterminated"#), None);
    }
}
