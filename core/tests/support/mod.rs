//! A loopback HTTP listener that records each request and answers from a script — the
//! exact-request check of the orchestration tests (oauth2-rs's `mock_http_client`, over a real
//! socket so the real client and its encodings are what is checked).
#![allow(dead_code)]

use std::collections::BTreeMap;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use url::Url;

/// One recorded request.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub headers: BTreeMap<String, String>,
    pub body: String,
}

impl Seen {
    pub fn form(&self) -> Vec<(String, String)> {
        url::form_urlencoded::parse(self.body.as_bytes()).into_owned().collect()
    }
}

/// Reads one request (line, headers, body) off `socket`; the reader is kept for the answer.
async fn read_request(socket: tokio::net::TcpStream) -> (BufReader<tokio::net::TcpStream>, Seen) {
    let mut r = BufReader::new(socket);
    let mut line = String::new();
    r.read_line(&mut line).await.unwrap();
    let mut parts = line.split_whitespace();
    let (method, path) = (parts.next().unwrap().to_owned(), parts.next().unwrap().to_owned());
    let mut headers = BTreeMap::new();
    loop {
        let mut h = String::new();
        r.read_line(&mut h).await.unwrap();
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (k, v) = h.split_once(':').unwrap();
        headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
    }
    let len = headers.get("content-length").map_or(0, |l| l.parse().unwrap());
    let mut buf = vec![0; len];
    r.read_exact(&mut buf).await.unwrap();
    (r, Seen { method, path, headers, body: String::from_utf8(buf).unwrap() })
}

/// Writes a JSON answer and closes.
async fn answer(r: &mut BufReader<tokio::net::TcpStream>, status: u16, body: &str) {
    let answer = format!(
        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = r.get_mut().write_all(answer.as_bytes()).await;
}

/// Serves `answers` (status, body) in order, one per connection, and returns what it saw.
pub async fn script(answers: Vec<(u16, &'static str)>) -> (Url, tokio::task::JoinHandle<Vec<Seen>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = Url::parse(&format!("http://{}", listener.local_addr().unwrap())).unwrap();
    let task = tokio::spawn(async move {
        let mut seen = vec![];
        for (status, body) in answers {
            let (socket, _) = listener.accept().await.unwrap();
            let (mut r, request) = read_request(socket).await;
            seen.push(request);
            answer(&mut r, status, body).await;
        }
        seen
    });
    (base, task)
}

/// Answers every request by its path from `routes` (path, status, body), concurrently and for
/// as long as the test runs; unknown paths get 404. Returns the base URL and what it saw.
pub async fn routes(
    routes: &'static [(&'static str, u16, &'static str)],
) -> (Url, std::sync::Arc<std::sync::Mutex<Vec<Seen>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = Url::parse(&format!("http://{}", listener.local_addr().unwrap())).unwrap();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        loop {
            let (socket, _) = listener.accept().await.unwrap();
            let log = log.clone();
            tokio::spawn(async move {
                let (mut r, request) = read_request(socket).await;
                let (status, body) =
                    routes.iter().find(|(p, ..)| *p == request.path).map_or((404, "{}"), |(_, s, b)| (*s, *b));
                log.lock().unwrap().push(request);
                answer(&mut r, status, body).await;
            });
        }
    });
    (base, seen)
}
