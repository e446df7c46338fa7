//! The loopback redirect listener (RFC 8252 §7.3, §8.3): bound to 127.0.0.1 only, on an
//! ephemeral port, listening until the answer of *its* sign-in arrives.
//!
//! Any local process (or a web page, with an `<img>`) can reach a loopback port, so nothing a
//! request says is trusted: the caller decides per request whether it is the awaited answer
//! ([`Answer::Done`], the listener stops) or not ([`Answer::Again`], it is answered — 400 for
//! another `state` — and the listener keeps waiting). Connections are served concurrently,
//! each with a short read timeout, and at most [`MAX_CONNECTIONS`] at a time, so idle or
//! slow connections cannot delay the browser by more than [`READ_TIMEOUT`]. The caller bounds
//! the whole wait (cancel, the flow's timeout) by dropping the [`Loopback::serve`] future,
//! which also ends every open connection.
//!
//! A small HTTP/1.1 request-line reader on tokio written here: a server framework for a
//! single GET would cost more build time than the few lines below.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinSet;

use crate::error::{Error, Result};

/// Longest request head read.
pub const MAX_HEAD: usize = 16 * 1024;
/// How long one connection may take to send its request head.
pub const READ_TIMEOUT: Duration = Duration::from_secs(3);
/// How many connections are served at once; more wait in the kernel's accept queue.
pub const MAX_CONNECTIONS: usize = 16;

/// A bound listener.
#[derive(Debug)]
pub struct Loopback {
    listener: TcpListener,
    port: u16,
    path: String,
}

/// What to do with a request to the callback path.
#[derive(Debug)]
pub enum Answer<T> {
    /// The awaited answer: respond, then stop listening and hand `value` to the caller.
    Done {
        /// HTTP status.
        status: u16,
        /// HTML page.
        body: String,
        /// What [`Loopback::serve`] returns.
        value: T,
    },
    /// Not it: respond and keep listening.
    Again {
        /// HTTP status.
        status: u16,
        /// HTML page.
        body: String,
    },
}

/// Why a request head was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BadRequest {
    /// No complete request line (no line break within [`MAX_HEAD`] bytes).
    Incomplete,
    /// Longer than [`MAX_HEAD`].
    TooLong,
    /// A method other than `GET`.
    Method,
    /// A target that is not an origin-form path of visible ASCII.
    Target,
    /// Not `HTTP/1.x`, or extra words on the request line.
    Version,
}

impl std::fmt::Display for BadRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Incomplete => "incomplete request line",
            Self::TooLong => "request head too long",
            Self::Method => "method other than GET",
            Self::Target => "request target is not a path",
            Self::Version => "not an HTTP/1.x request line",
        })
    }
}

impl std::error::Error for BadRequest {}

/// Parses the request line at the start of an HTTP/1.x request head (RFC 9112 §3) and returns
/// its target: `GET SP origin-form SP HTTP/1.x CRLF`. The target must start with `/` and
/// consist of visible ASCII (no spaces, controls or bytes ≥ 0x80). Never panics, whatever the
/// bytes.
///
/// # Errors
/// `BadRequest` saying what is wrong.
pub fn parse_request_head(bytes: &[u8]) -> std::result::Result<String, BadRequest> {
    let window = &bytes[..bytes.len().min(MAX_HEAD)];
    let Some(end) = window.iter().position(|&b| b == b'\n') else {
        return Err(if bytes.len() >= MAX_HEAD { BadRequest::TooLong } else { BadRequest::Incomplete });
    };
    let line = window[..end].strip_suffix(b"\r").unwrap_or(&window[..end]);
    let mut parts = line.split(|&b| b == b' ');
    let (Some(method), Some(target), Some(version), None) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(if line.starts_with(b"GET ") { BadRequest::Version } else { BadRequest::Method });
    };
    if method != b"GET" {
        return Err(BadRequest::Method);
    }
    if !(version.len() == 8 && version.starts_with(b"HTTP/1.") && version[7].is_ascii_digit()) {
        return Err(BadRequest::Version);
    }
    if target.first() != Some(&b'/') || !target.iter().all(|b| b.is_ascii_graphic()) {
        return Err(BadRequest::Target);
    }
    // Visible ASCII only: valid UTF-8 by construction.
    Ok(target.iter().map(|&b| char::from(b)).collect())
}

impl Loopback {
    /// Binds `127.0.0.1` on `port` (`None`: any free port); the listener answers on `path`
    /// (e.g. `/oauth/callback/<app>`).
    ///
    /// # Errors
    /// When the port is taken (the message names it and what to do) or no port can be opened.
    pub async fn bind(path: &str, port: Option<u16>) -> Result<Self> {
        if !path.starts_with('/') || path.contains(['?', '#', ' ']) {
            return Err(Error::Internal(format!("bad loopback path {path:?}")));
        }
        let listener = TcpListener::bind(("127.0.0.1", port.unwrap_or(0))).await.map_err(|e| match port {
            Some(p) if e.kind() == std::io::ErrorKind::AddrInUse => Error::InvalidInput(format!(
                "Port {p} on 127.0.0.1 is in use by another program, and this provider app signs in on exactly \
                 that port. Close the program using it (or a sign-in already waiting there), or give the app \
                 another port and register the new redirect URI at the provider."
            )),
            _ => Error::io("cannot open a loopback port for the sign-in", e),
        })?;
        let port = listener.local_addr().map_err(|e| Error::io("loopback port", e))?.port();
        Ok(Self { listener, port, path: path.to_owned() })
    }

    /// The port.
    #[cfg(test)]
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The redirect URI to send: literal IP, never `localhost` (RFC 8252 §8.3).
    pub fn redirect_uri(&self) -> String {
        format!("http://127.0.0.1:{}{}", self.port, self.path)
    }

    /// Serves connections until `on_callback` answers a request to the callback path with
    /// `Answer::Done`; returns its value once that response is written. Requests to other
    /// paths get 404, malformed or too slow ones 400; both leave the listener waiting.
    ///
    /// This never ends on its own otherwise: bound it (timeout, cancel) by dropping the future,
    /// which closes the port and every connection still open.
    pub async fn serve<T, F>(self, on_callback: F) -> T
    where
        T: Send + 'static,
        F: Fn(&str) -> Answer<T> + Send + Sync + 'static,
    {
        let on_callback = Arc::new(on_callback);
        let limit = Arc::new(Semaphore::new(MAX_CONNECTIONS));
        let (tx, mut done) = mpsc::unbounded_channel::<T>();
        let mut tasks = JoinSet::new();
        loop {
            let permit = tokio::select! {
                Some(v) = done.recv() => return v,
                p = limit.clone().acquire_owned() => p.expect("the semaphore is never closed"),
            };
            let stream = tokio::select! {
                Some(v) = done.recv() => return v,
                a = self.listener.accept() => match a {
                    Ok((s, _)) => s,
                    Err(e) => {
                        // Out of file descriptors and the like: try again shortly.
                        log::warn!("loopback accept: {e}");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                },
            };
            // Reap finished connection tasks so the set does not grow.
            while tasks.try_join_next().is_some() {}
            let (port, path, on_callback, tx) = (self.port, self.path.clone(), on_callback.clone(), tx.clone());
            tasks.spawn(async move {
                let _permit = permit;
                serve_one(stream, port, &path, &*on_callback, &tx).await;
            });
        }
    }
}

async fn serve_one<T>(
    mut stream: TcpStream,
    port: u16,
    path: &str,
    on_callback: &(dyn Fn(&str) -> Answer<T> + Send + Sync),
    done: &mpsc::UnboundedSender<T>,
) {
    let target = match tokio::time::timeout(READ_TIMEOUT, read_head(&mut stream)).await {
        Ok(Ok(head)) => parse_request_head(&head),
        _ => Err(BadRequest::Incomplete),
    };
    let (status, body, value) = match target {
        Err(_) => (400, browser_page(false, "Latchkey could not read this request."), None),
        Ok(target) if target.split('?').next() != Some(path) => {
            (404, browser_page(false, "There is nothing here."), None)
        }
        Ok(target) => match on_callback(&format!("http://127.0.0.1:{port}{target}")) {
            Answer::Done { status, body, value } => (status, body, Some(value)),
            Answer::Again { status, body } => (status, body, None),
        },
    };
    let _ = tokio::time::timeout(READ_TIMEOUT, respond(&mut stream, status, &body)).await;
    if let Some(v) = value {
        let _ = done.send(v);
    }
}

/// Reads up to the end of the request head (or [`MAX_HEAD`] bytes).
async fn read_head(stream: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 2048];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < MAX_HEAD {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Ok(buf)
}

async fn respond(stream: &mut TcpStream, status: u16, body: &str) -> std::io::Result<()> {
    let reason = match status {
        200 => "OK",
        404 => "Not Found",
        _ => "Bad Request",
    };
    let resp = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nCache-Control: no-store\r\nReferrer-Policy: no-referrer\r\nContent-Security-Policy: default-src 'none'; style-src 'unsafe-inline'\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(resp.as_bytes()).await?;
    stream.shutdown().await
}

/// The page the browser shows after the redirect.
pub fn browser_page(ok: bool, message: &str) -> String {
    let esc = message.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
    let title = if ok { "You are signed in" } else { "Sign-in did not finish" };
    format!(
        "<!doctype html><html lang=\"en\"><meta charset=\"utf-8\"><title>Latchkey — {title}</title>\
<style>body{{font:16px system-ui,sans-serif;max-width:32rem;margin:15vh auto;padding:0 1rem;color:#1c2333}}\
@media(prefers-color-scheme:dark){{body{{background:#161a22;color:#e7ecff}}}}</style>\
<h1>{title}</h1><p>{esc}</p></html>"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    async fn get(port: u16, target: &str) -> String {
        let mut s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        s.write_all(format!("GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").as_bytes()).await.unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).await.unwrap();
        out
    }

    /// Done for `state=good`, 400 for anything else.
    fn only_good(url: &str) -> Answer<String> {
        if url.ends_with("state=good") {
            Answer::Done { status: 200, body: browser_page(true, "close this tab"), value: url.to_owned() }
        } else {
            Answer::Again { status: 400, body: browser_page(false, "not yours") }
        }
    }

    #[tokio::test]
    async fn waits_for_the_awaited_answer_and_ignores_everything_else() {
        let lb = Loopback::bind("/oauth/callback/abc", None).await.unwrap();
        let port = lb.port();
        assert_eq!(lb.redirect_uri(), format!("http://127.0.0.1:{port}/oauth/callback/abc"));
        let task = tokio::spawn(lb.serve(only_good));
        assert!(get(port, "/favicon.ico").await.starts_with("HTTP/1.1 404"));
        // Another app's path is not this listener's.
        assert!(get(port, "/oauth/callback/xyz?state=good").await.starts_with("HTTP/1.1 404"));
        assert!(get(port, "/oauth/callback?state=good").await.starts_with("HTTP/1.1 404"));
        // Garbage is answered and does not end the wait.
        let mut s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        s.write_all(b"BREW /coffee HTCPCP/1.0\r\n\r\n").await.unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).await.unwrap();
        assert!(out.starts_with("HTTP/1.1 400"), "{out}");
        // Another state: 400, and still listening.
        let page = get(port, "/oauth/callback/abc?code=a&state=forged").await;
        assert!(page.starts_with("HTTP/1.1 400") && page.contains("not yours"), "{page}");
        assert!(!task.is_finished());
        let page = get(port, "/oauth/callback/abc?code=a&state=good").await;
        assert!(page.starts_with("HTTP/1.1 200") && page.contains("close this tab"), "{page}");
        let url = task.await.unwrap();
        assert_eq!(url, format!("http://127.0.0.1:{port}/oauth/callback/abc?code=a&state=good"));
        // Closed after its answer.
        assert!(TcpStream::connect(("127.0.0.1", port)).await.is_err());
    }

    #[tokio::test]
    async fn idle_connections_do_not_delay_the_browser() {
        let lb = Loopback::bind("/oauth/callback/abc", None).await.unwrap();
        let port = lb.port();
        let task = tokio::spawn(lb.serve(only_good));
        // More idle connections than the cap, and one dripping a byte at a time.
        let mut idle = vec![];
        for _ in 0..MAX_CONNECTIONS + 4 {
            idle.push(TcpStream::connect(("127.0.0.1", port)).await.unwrap());
        }
        let mut slow = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        slow.write_all(b"G").await.unwrap();
        let t0 = Instant::now();
        let page = get(port, "/oauth/callback/abc?code=a&state=good").await;
        assert!(page.starts_with("HTTP/1.1 200"), "{page}");
        // At most one read timeout (the cap) plus scheduling slack.
        assert!(t0.elapsed() < READ_TIMEOUT + Duration::from_secs(2), "{:?}", t0.elapsed());
        task.await.unwrap();
        drop(idle);
    }

    #[tokio::test]
    async fn dropping_the_future_closes_the_port() {
        let lb = Loopback::bind("/oauth/callback", None).await.unwrap();
        let port = lb.port();
        let r = tokio::time::timeout(Duration::from_millis(200), lb.serve(only_good)).await;
        assert!(r.is_err());
        assert!(TcpStream::connect(("127.0.0.1", port)).await.is_err());
    }

    #[test]
    fn request_lines() {
        let ok = |s: &str| parse_request_head(s.as_bytes());
        assert_eq!(ok("GET /oauth/callback?code=a HTTP/1.1\r\nHost: x\r\n\r\n").unwrap(), "/oauth/callback?code=a");
        assert_eq!(ok("GET / HTTP/1.0\n\n").unwrap(), "/");
        assert_eq!(ok("GET /a HTTP/1.1"), Err(BadRequest::Incomplete));
        assert_eq!(ok("POST /a HTTP/1.1\r\n"), Err(BadRequest::Method));
        assert_eq!(ok("GET  /a HTTP/1.1\r\n"), Err(BadRequest::Version));
        assert_eq!(ok("GET /a HTTP/1.1 x\r\n"), Err(BadRequest::Version));
        assert_eq!(ok("GET /a HTTP/2.0\r\n"), Err(BadRequest::Version));
        assert_eq!(ok("GET /a HTTP/1.x\r\n"), Err(BadRequest::Version));
        assert_eq!(ok("GET http://127.0.0.1/a HTTP/1.1\r\n"), Err(BadRequest::Target));
        assert_eq!(ok("GET /é HTTP/1.1\r\n"), Err(BadRequest::Target));
        assert_eq!(ok("GET /a\u{0}b HTTP/1.1\r\n"), Err(BadRequest::Target));
        assert_eq!(parse_request_head(&[b'a'; MAX_HEAD + 10]), Err(BadRequest::TooLong));
        assert_eq!(parse_request_head(b""), Err(BadRequest::Incomplete));
        assert_eq!(parse_request_head(b"\n"), Err(BadRequest::Method));
        assert_eq!(parse_request_head(b"GET \xff\xfe HTTP/1.1\r\n"), Err(BadRequest::Target));
    }

    #[test]
    fn request_line_parser_never_panics() {
        let pieces: [&[u8]; 12] =
            [b"GET", b" ", b"/", b"HTTP/1.1", b"\r\n", b"\n", b"?", b"\xff", b"\x00", b"%", b"/oauth/callback", b"\r"];
        let mut seed: u64 = 0x2545f4914f6cdd1d;
        for _ in 0..20_000 {
            let mut s = vec![];
            for _ in 0..(seed % 11) {
                seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                s.extend_from_slice(pieces[(seed >> 33) as usize % pieces.len()]);
            }
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
            if let Ok(t) = parse_request_head(&s) {
                assert!(t.starts_with('/') && t.bytes().all(|b| b.is_ascii_graphic()), "{t:?}");
            }
        }
    }

    #[test]
    fn the_page_escapes_messages() {
        assert!(browser_page(false, "<script>").contains("&lt;script&gt;"));
    }
}
