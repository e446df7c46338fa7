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
    let again = req.try_clone();
    let resp = match (req.send().await, again) {
        (Err(e), Some(again)) if closed_without_answer(&e) => {
            log::info!("{what}: the connection closed before an answer came; sending the request again");
            again.send().await
        }
        (sent, _) => sent,
    };
    read(what, resp.map_err(|source| Error::Network { what, source })?).await
}

/// Whether the connection died after the request went out and before any answer: a server
/// ending an idle kept-alive connection (after 5 s in Node and Apache, 1 s in the test
/// provider) just as a pooled connection is taken for a new request resets it, and the
/// request was never read (hyper resends by itself only what was not written yet). Sent again
/// once, on a new connection. For a refresh this is no riskier than the scheduled retry it
/// would otherwise get: both send the only refresh token there is, and if the server did read
/// it, the answer is the same `invalid_grant` either way. Not a timeout (the server may still be
/// working on it) and not a failed connect (nothing to gain from asking again at once).
fn closed_without_answer(e: &reqwest::Error) -> bool {
    if e.is_timeout() || e.is_connect() {
        return false;
    }
    let mut cause: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(c) = cause {
        if let Some(h) = c.downcast_ref::<hyper::Error>()
            && h.is_incomplete_message()
        {
            return true;
        }
        if let Some(io) = c.downcast_ref::<std::io::Error>()
            && matches!(
                io.kind(),
                std::io::ErrorKind::ConnectionReset
                    | std::io::ErrorKind::ConnectionAborted
                    | std::io::ErrorKind::BrokenPipe
            )
        {
            return true;
        }
        cause = c.source();
    }
    false
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
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    use tokio::net::{TcpListener, TcpStream};

    /// Reads one request (headers and a `Content-Length` body); `None` at end of stream.
    async fn read_request(s: &mut TcpStream) -> Option<String> {
        let mut buf = Vec::new();
        let mut byte = [0u8; 1];
        while !buf.ends_with(b"\r\n\r\n") {
            if s.read(&mut byte).await.ok()? == 0 {
                return None;
            }
            buf.push(byte[0]);
        }
        let head = String::from_utf8_lossy(&buf).to_lowercase();
        let len = head.lines().find_map(|l| l.strip_prefix("content-length:")).map_or(0, |v| v.trim().parse().unwrap());
        let mut body = vec![0u8; len];
        s.read_exact(&mut body).await.ok()?;
        Some(String::from_utf8_lossy(&body).into_owned())
    }

    async fn answer(s: &mut TcpStream, body: &str) {
        let head =
            format!("HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n", body.len());
        s.write_all(format!("{head}{body}").as_bytes()).await.unwrap();
    }

    /// A server that answers a connection's first request and then ends the connection as
    /// the second one arrives, the way a server's keep-alive timer does: with `reset`, before
    /// reading it (the peer gets a reset); without, after reading it (the connection closes
    /// with no answer). A new connection gets its requests answered. Counts the requests read
    /// or received.
    async fn closing_server(reset: bool) -> (String, Arc<AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/token", listener.local_addr().unwrap());
        let seen = Arc::new(AtomicUsize::new(0));
        let counter = seen.clone();
        tokio::spawn(async move {
            let (mut first, _) = listener.accept().await.unwrap();
            read_request(&mut first).await.unwrap();
            counter.fetch_add(1, Ordering::SeqCst);
            answer(&mut first, r#"{"n":1}"#).await;
            if reset {
                first.readable().await.unwrap();
                first.set_zero_linger().unwrap();
            } else {
                read_request(&mut first).await.unwrap();
            }
            counter.fetch_add(1, Ordering::SeqCst);
            drop(first);
            let (mut second, _) = listener.accept().await.unwrap();
            while read_request(&mut second).await.is_some() {
                counter.fetch_add(1, Ordering::SeqCst);
                answer(&mut second, r#"{"n":2}"#).await;
            }
        });
        (url, seen)
    }

    /// A kept-alive connection that dies under a request (reset, or closed with no answer) is
    /// not a failed request: it is sent again, once, on a new connection.
    #[tokio::test]
    async fn a_request_the_server_closed_the_connection_under_is_sent_again() {
        for reset in [true, false] {
            let (url, seen) = closing_server(reset).await;
            let client = super::client();
            let form = [("grant_type", "refresh_token"), ("refresh_token", "r")];
            let first = super::send("the token endpoint", client.post(&url).form(&form)).await.unwrap();
            assert_eq!(first.body, br#"{"n":1}"#);
            let second = super::send("the token endpoint", client.post(&url).form(&form)).await;
            let second = second.unwrap_or_else(|e| panic!("reset {reset}: {e}"));
            assert_eq!(second.body, br#"{"n":2}"#, "reset {reset}");
            assert_eq!(seen.load(Ordering::SeqCst), 3, "reset {reset}: the second request went out twice");
        }
    }

    /// A request the server is slow to answer is not sent again: the server may be acting on
    /// it (a refresh token it is rotating).
    #[tokio::test]
    async fn a_request_that_timed_out_is_not_sent_again() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/token", listener.local_addr().unwrap());
        let seen = Arc::new(AtomicUsize::new(0));
        let counter = seen.clone();
        tokio::spawn(async move {
            loop {
                let (mut s, _) = listener.accept().await.unwrap();
                let counter = counter.clone();
                tokio::spawn(async move {
                    while read_request(&mut s).await.is_some() {
                        counter.fetch_add(1, Ordering::SeqCst);
                    }
                });
            }
        });
        let client = super::client_with_timeout(std::time::Duration::from_millis(300));
        let e = super::send("the token endpoint", client.post(&url).form(&[("a", "b")])).await.unwrap_err();
        assert!(e.to_string().contains("timed out"), "{e}");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        assert_eq!(seen.load(Ordering::SeqCst), 1, "sent once");
    }

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
