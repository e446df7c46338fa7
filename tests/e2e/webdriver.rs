//! A small W3C WebDriver client (the subset the end-to-end tests use) over reqwest.
//!
//! Spec: <https://www.w3.org/TR/webdriver2/>. Every command answers `{"value": ...}`; errors
//! answer a non-2xx status with `{"value": {"error", "message"}}`.

use std::fmt;
use std::time::Duration;

use serde_json::{Value, json};

/// The key under which W3C drivers return element references.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A WebDriver error (`error` is the W3C error code, e.g. `no such element`).
#[derive(Debug, Clone)]
pub struct WdError {
    pub error: String,
    pub message: String,
}

impl fmt::Display for WdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.error, self.message)
    }
}

pub type WdResult<T> = Result<T, WdError>;

fn transport(e: impl fmt::Display) -> WdError {
    WdError { error: "transport".into(), message: e.to_string() }
}

/// How to find an element.
#[derive(Debug, Clone, Copy)]
pub enum By<'a> {
    Css(&'a str),
    XPath(&'a str),
}

impl By<'_> {
    fn body(&self) -> Value {
        match self {
            By::Css(s) => json!({"using": "css selector", "value": s}),
            By::XPath(s) => json!({"using": "xpath", "value": s}),
        }
    }
}

impl fmt::Display for By<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            By::Css(s) => write!(f, "css `{s}`"),
            By::XPath(s) => write!(f, "xpath `{s}`"),
        }
    }
}

/// A reference to an element of the current page.
#[derive(Debug, Clone)]
pub struct Element(pub String);

impl Element {
    /// The element as an argument of [`Session::execute`].
    pub fn arg(&self) -> Value {
        json!({ ELEMENT_KEY: self.0 })
    }
}

/// One WebDriver session.
#[derive(Debug)]
pub struct Session {
    http: reqwest::Client,
    base: String,
    id: String,
}

async fn send(http: &reqwest::Client, method: reqwest::Method, url: &str, body: Option<Value>) -> WdResult<Value> {
    let mut req = http.request(method, url);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.map_err(transport)?;
    let status = resp.status();
    let text = resp.text().await.map_err(transport)?;
    let v: Value = serde_json::from_str(&text).map_err(|e| transport(format!("{e}: {text}")))?;
    let value = v.get("value").cloned().unwrap_or(Value::Null);
    if !status.is_success() || value.get("error").and_then(Value::as_str).is_some() {
        return Err(WdError {
            error: value["error"].as_str().unwrap_or("unknown error").to_owned(),
            message: value["message"].as_str().unwrap_or(&text).to_owned(),
        });
    }
    Ok(value)
}

impl Session {
    /// Creates a session at the driver on `base` (`http://127.0.0.1:PORT`) with `capabilities`
    /// (the `alwaysMatch` object).
    pub async fn new(base: &str, always_match: Value) -> WdResult<Self> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(transport)?;
        let v = send(
            &http,
            reqwest::Method::POST,
            &format!("{base}/session"),
            Some(json!({"capabilities": {"alwaysMatch": always_match}})),
        )
        .await?;
        let id = v["sessionId"].as_str().ok_or_else(|| transport(format!("no sessionId in {v}")))?.to_owned();
        Ok(Self { http, base: base.to_owned(), id })
    }

    async fn cmd(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> WdResult<Value> {
        send(&self.http, method, &format!("{}/session/{}{path}", self.base, self.id), body).await
    }

    async fn get(&self, path: &str) -> WdResult<Value> {
        self.cmd(reqwest::Method::GET, path, None).await
    }

    async fn post(&self, path: &str, body: Value) -> WdResult<Value> {
        self.cmd(reqwest::Method::POST, path, Some(body)).await
    }

    fn element(v: &Value) -> WdResult<Element> {
        v[ELEMENT_KEY].as_str().map(|s| Element(s.to_owned())).ok_or_else(|| transport(format!("not an element: {v}")))
    }

    /// Finds the first element matching `by`.
    pub async fn find(&self, by: By<'_>) -> WdResult<Element> {
        Self::element(&self.post("/element", by.body()).await?)
    }

    /// Finds every element matching `by`.
    pub async fn find_all(&self, by: By<'_>) -> WdResult<Vec<Element>> {
        let v = self.post("/elements", by.body()).await?;
        v.as_array().ok_or_else(|| transport(format!("not a list: {v}")))?.iter().map(Self::element).collect()
    }

    pub async fn click(&self, el: &Element) -> WdResult<()> {
        self.post(&format!("/element/{}/click", el.0), json!({})).await.map(drop)
    }

    pub async fn clear(&self, el: &Element) -> WdResult<()> {
        self.post(&format!("/element/{}/clear", el.0), json!({})).await.map(drop)
    }

    pub async fn send_keys(&self, el: &Element, text: &str) -> WdResult<()> {
        self.post(&format!("/element/{}/value", el.0), json!({"text": text})).await.map(drop)
    }

    pub async fn attribute(&self, el: &Element, name: &str) -> WdResult<Option<String>> {
        Ok(self.get(&format!("/element/{}/attribute/{name}", el.0)).await?.as_str().map(str::to_owned))
    }

    /// A DOM property (e.g. an input's current `value`).
    pub async fn property(&self, el: &Element, name: &str) -> WdResult<Value> {
        self.get(&format!("/element/{}/property/{name}", el.0)).await
    }

    pub async fn is_displayed(&self, el: &Element) -> WdResult<bool> {
        Ok(self.get(&format!("/element/{}/displayed", el.0)).await?.as_bool().unwrap_or(false))
    }

    /// Runs `script` (a function body; `arguments` holds `args`) and returns its result.
    pub async fn execute(&self, script: &str, args: Vec<Value>) -> WdResult<Value> {
        self.post("/execute/sync", json!({"script": script, "args": args})).await
    }

    /// Runs `script` asynchronously: it ends by calling its last argument with the result.
    pub async fn execute_async(&self, script: &str, args: Vec<Value>) -> WdResult<Value> {
        self.post("/execute/async", json!({"script": script, "args": args})).await
    }

    /// Presses keys as a keyboard does (W3C "Perform Actions", one key input source): each
    /// key of `keys` down then up, in order; a key given in `held` (e.g. [`key::SHIFT`]) stays down meanwhile.
    pub async fn press(&self, held: Option<&str>, keys: &[&str]) -> WdResult<()> {
        let mut actions = vec![];
        if let Some(h) = held {
            actions.push(json!({"type": "keyDown", "value": h}));
        }
        for k in keys {
            actions.push(json!({"type": "keyDown", "value": k}));
            actions.push(json!({"type": "keyUp", "value": k}));
        }
        if let Some(h) = held {
            actions.push(json!({"type": "keyUp", "value": h}));
        }
        self.post("/actions", json!({"actions": [{"type": "key", "id": "keyboard", "actions": actions}]}))
            .await
            .map(drop)
    }

    /// A PNG of the current page.
    pub async fn screenshot(&self) -> WdResult<Vec<u8>> {
        let v = self.get("/screenshot").await?;
        base64_decode(v.as_str().unwrap_or_default()).ok_or_else(|| transport("screenshot is not base64"))
    }

    /// Ends the session (the driver closes the app).
    pub async fn delete(&self) -> WdResult<()> {
        send(&self.http, reqwest::Method::DELETE, &format!("{}/session/{}", self.base, self.id), None).await.map(drop)
    }
}

/// Standard base64 (RFC 4648, with or without padding); `None` on a bad character.
pub fn base64_decode(s: &str) -> Option<Vec<u8>> {
    fn val(c: u8) -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    }
    let bytes: Vec<u8> = s.bytes().filter(|c| !c.is_ascii_whitespace() && *c != b'=').collect();
    let mut out = Vec::with_capacity(bytes.len() * 3 / 4);
    for chunk in bytes.chunks(4) {
        let mut n = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            n |= val(c)? << (18 - 6 * i);
        }
        let b = n.to_be_bytes();
        out.extend_from_slice(&b[1..chunk.len()]);
    }
    Some(out)
}

#[test]
fn base64_round_trip() {
    assert_eq!(base64_decode("aGVsbG8=").unwrap(), b"hello");
    assert_eq!(base64_decode("aGVsbG8h").unwrap(), b"hello!");
    assert_eq!(base64_decode("aGk").unwrap(), b"hi");
    assert!(base64_decode("a$==").is_none());
}

/// WebDriver's key codes (W3C WebDriver §17.4.2).
pub mod key {
    pub const TAB: &str = "\u{E004}";
    pub const ENTER: &str = "\u{E007}";
    pub const SHIFT: &str = "\u{E008}";
    pub const ESCAPE: &str = "\u{E00C}";
    pub const SPACE: &str = " ";
}
