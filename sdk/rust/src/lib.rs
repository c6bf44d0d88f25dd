//! Client of the neuais REST API (/v1), async on tokio.
//!
//! ```no_run
//! # async fn run() -> Result<(), neuais_sdk::Error> {
//! use neuais_sdk::Client;
//! let client = Client::new("your-token")?;
//! let agents = client.agents().list().await?;
//! # Ok(()) }
//! ```
//!
//! The base URL is the builder's, else `NEUAIS_URL` (the server's root,
//! with or without /v1), else `http://localhost:8000`. 429 and 503 answers
//! are retried after their Retry-After; idempotent requests (GET, PUT,
//! DELETE, and creates, which carry an Idempotency-Key) are retried on
//! connection errors too.

mod agents;
mod billing;
mod binaries;
mod error;
pub mod models;
mod signature;
mod users;
mod webhooks;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde_json::Value;

pub use agents::{Agents, LogStream};
pub use billing::Billing;
pub use binaries::{Binaries, Tokens};
pub use error::{ApiError, Error, ErrorCode};
pub use models::*;
pub use signature::{verify_webhook, WebhookError, WEBHOOK_TOLERANCE_SECS};
pub use users::{Services, Users};
pub use webhooks::{EventStream, Events, Webhooks};

/// The server used when neither the builder nor NEUAIS_URL names one.
pub const DEFAULT_URL: &str = "http://localhost:8000";

/// What on_retry is told before each retry.
#[derive(Debug)]
pub struct RetryEvent<'a> {
    /// 1 for the first retry.
    pub attempt: u32,
    pub delay: Duration,
    pub error: &'a Error,
}

type RetryHook = dyn Fn(&RetryEvent<'_>) + Send + Sync;

/// A client of the API with one bearer token; cheap to clone.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    root: String,
    token: String,
    http: reqwest::Client,
    timeout: Duration,
    max_retries: u32,
    max_retry_wait: Duration,
    on_retry: Option<Box<RetryHook>>,
    rate_limit: Mutex<Option<RateLimit>>,
}

/// Builds a Client with other settings than Client::new's.
pub struct ClientBuilder {
    token: String,
    base_url: Option<String>,
    timeout: Duration,
    max_retries: u32,
    max_retry_wait: Duration,
    on_retry: Option<Box<RetryHook>>,
}

impl ClientBuilder {
    /// The server's root, with or without /v1.
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = Some(url.into());
        self
    }

    /// Bounds each request (not a followed log stream). Default 60 s.
    pub fn timeout(mut self, t: Duration) -> Self {
        self.timeout = t;
        self
    }

    /// Retries after the first attempt. Default 3.
    pub fn max_retries(mut self, n: u32) -> Self {
        self.max_retries = n;
        self
    }

    /// A Retry-After longer than this is not waited for. Default 120 s.
    pub fn max_retry_wait(mut self, d: Duration) -> Self {
        self.max_retry_wait = d;
        self
    }

    /// Called before each retry (and each reconnect of a log stream).
    pub fn on_retry(mut self, f: impl Fn(&RetryEvent<'_>) + Send + Sync + 'static) -> Self {
        self.on_retry = Some(Box::new(f));
        self
    }

    pub fn build(self) -> Result<Client, Error> {
        let url = self
            .base_url
            .or_else(|| std::env::var("NEUAIS_URL").ok().filter(|u| !u.is_empty()))
            .unwrap_or_else(|| DEFAULT_URL.to_string());
        let url = url.trim_end_matches('/');
        let root = if url.ends_with("/v1") { url.to_string() } else { format!("{url}/v1") };
        reqwest::Url::parse(&root).map_err(|e| Error::Config(format!("base URL {root}: {e}")))?;
        let http = reqwest::Client::builder()
            .connect_timeout(self.timeout)
            .build()
            .map_err(|e| Error::Config(e.to_string()))?;
        Ok(Client {
            inner: Arc::new(Inner {
                root,
                token: self.token,
                http,
                timeout: self.timeout,
                max_retries: self.max_retries,
                max_retry_wait: self.max_retry_wait,
                on_retry: self.on_retry,
                rate_limit: Mutex::new(None),
            }),
        })
    }
}

impl Client {
    /// A client sending token, with the default settings.
    pub fn new(token: impl Into<String>) -> Result<Client, Error> {
        Client::builder(token).build()
    }

    pub fn builder(token: impl Into<String>) -> ClientBuilder {
        ClientBuilder {
            token: token.into(),
            base_url: None,
            timeout: Duration::from_secs(60),
            max_retries: 3,
            max_retry_wait: Duration::from_secs(120),
            on_retry: None,
        }
    }

    /// The API root requests go to, ending in /v1.
    pub fn base_url(&self) -> &str {
        &self.inner.root
    }

    /// The X-RateLimit-* figures of the last answer, None before one.
    pub fn rate_limit(&self) -> Option<RateLimit> {
        *self.inner.rate_limit.lock().unwrap()
    }

    pub fn agents(&self) -> Agents {
        Agents::new(self.clone())
    }

    pub fn services(&self) -> Services {
        Services::new(self.clone())
    }

    pub fn users(&self) -> Users {
        Users::new(self.clone())
    }

    pub fn binaries(&self) -> Binaries {
        Binaries::new(self.clone())
    }

    pub fn tokens(&self) -> Tokens {
        Tokens::new(self.clone())
    }

    pub fn events(&self) -> Events {
        Events::new(self.clone())
    }

    pub fn webhooks(&self) -> Webhooks {
        Webhooks::new(self.clone())
    }

    pub fn billing(&self) -> Billing {
        Billing::new(self.clone())
    }

    /// Sends a request, retrying 429 and 503 after Retry-After and, for
    /// idempotent requests, connection errors; answers a 2xx response.
    pub(crate) async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        headers: HeaderMap,
        stream: bool,
    ) -> Result<reqwest::Response, Error> {
        let payload = body.map_or(Payload::None, Payload::Json);
        let accept = if stream { "text/event-stream" } else { "application/json" };
        self.send_payload(method, path, payload, headers, accept, stream).await
    }

    /// send with any payload and Accept; a long answer (stream) has no timeout.
    pub(crate) async fn send_payload(
        &self,
        method: Method,
        path: &str,
        payload: Payload<'_>,
        headers: HeaderMap,
        accept: &str,
        stream: bool,
    ) -> Result<reqwest::Response, Error> {
        let inner = &self.inner;
        let idempotent = matches!(method, Method::GET | Method::HEAD | Method::PUT | Method::DELETE)
            || headers.contains_key("Idempotency-Key");
        let mut attempt = 0;
        loop {
            let mut req = inner
                .http
                .request(method.clone(), format!("{}{}", inner.root, path))
                .headers(headers.clone())
                .header("Accept", accept);
            if !stream {
                req = req.timeout(inner.timeout);
            }
            if !inner.token.is_empty() {
                req = req.bearer_auth(&inner.token);
            }
            match payload {
                Payload::None => {}
                Payload::Json(b) => req = req.header("Content-Type", "application/json").body(b.to_string()),
                Payload::Bytes(b) => req = req.header("Content-Type", "application/octet-stream").body(b.to_vec()),
                Payload::File(p) => {
                    // Opened again for each attempt, so that a retry sends it whole.
                    let f = tokio::fs::File::open(p).await.map_err(|e| Error::Io(format!("{}: {e}", p.display())))?;
                    let len = f.metadata().await.map_err(|e| Error::Io(format!("{}: {e}", p.display())))?.len();
                    req = req
                        .header("Content-Type", "application/octet-stream")
                        .header("Content-Length", len)
                        .body(reqwest::Body::from(f));
                }
            }
            let (err, wait) = match req.send().await {
                Ok(res) => {
                    self.note_limits(res.headers());
                    if res.status().is_success() {
                        return Ok(res);
                    }
                    let status = res.status();
                    let retry_after = res
                        .headers()
                        .get("Retry-After")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.trim().parse::<u64>().ok())
                        .map(Duration::from_secs);
                    let bytes = res.bytes().await.map_err(|e| Error::Connection(e.to_string()))?;
                    let err = Error::Api(ApiError::from_body(status.as_u16(), &bytes));
                    let retryable = status == StatusCode::TOO_MANY_REQUESTS || status == StatusCode::SERVICE_UNAVAILABLE;
                    let wait = retry_after.unwrap_or_else(|| backoff(attempt));
                    if !retryable || attempt >= inner.max_retries || wait > inner.max_retry_wait {
                        return Err(err);
                    }
                    (err, wait)
                }
                Err(e) => {
                    let err = Error::Connection(format!("{method} {path}: {e}"));
                    if !idempotent || attempt >= inner.max_retries {
                        return Err(err);
                    }
                    (err, backoff(attempt))
                }
            };
            attempt += 1;
            self.retrying(attempt, wait, &err);
            tokio::time::sleep(wait).await;
        }
    }

    pub(crate) fn retrying(&self, attempt: u32, delay: Duration, error: &Error) {
        if let Some(f) = &self.inner.on_retry {
            f(&RetryEvent { attempt, delay, error });
        }
    }

    /// send, then the JSON answer.
    pub(crate) async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        headers: HeaderMap,
    ) -> Result<(T, HeaderMap), Error> {
        let res = self.send(method, path, body, headers, false).await?;
        let h = res.headers().clone();
        let bytes = res.bytes().await.map_err(|e| Error::Connection(e.to_string()))?;
        let out = serde_json::from_slice(&bytes).map_err(|e| Error::Decode(format!("{path}: {e}")))?;
        Ok((out, h))
    }

    pub(crate) async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, Error> {
        Ok(self.call(Method::GET, path, None, HeaderMap::new()).await?.0)
    }

    fn note_limits(&self, h: &HeaderMap) {
        let num = |k: &str| h.get(k).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
        if let (Some(limit), Some(remaining), Some(reset)) =
            (num("X-RateLimit-Limit"), num("X-RateLimit-Remaining"), num("X-RateLimit-Reset"))
        {
            *self.inner.rate_limit.lock().unwrap() = Some(RateLimit { limit, remaining, reset });
        }
    }
}

/// A request body.
#[derive(Clone, Copy)]
pub(crate) enum Payload<'a> {
    None,
    Json(&'a Value),
    /// Sent as application/octet-stream.
    Bytes(&'a [u8]),
    /// A file's content, streamed from disk as application/octet-stream.
    File(&'a Path),
}

pub(crate) fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(250u64.saturating_mul(1 << attempt.min(5))).min(Duration::from_secs(8))
}

/// Exchanges an e-mail and password for a token; base_url as for the builder.
pub async fn login(email: &str, password: &str, base_url: Option<&str>) -> Result<Token, Error> {
    let mut b = Client::builder("");
    if let Some(u) = base_url {
        b = b.base_url(u);
    }
    let body = serde_json::json!({"email": email, "password": password});
    Ok(b.build()?.call(Method::POST, "/auth/token", Some(&body), HeaderMap::new()).await?.0)
}

/// A query string of the given pairs, values already strings.
pub(crate) fn query(pairs: &[(&str, Option<String>)]) -> String {
    let mut u = reqwest::Url::parse("http://x/").unwrap();
    {
        let mut q = u.query_pairs_mut();
        for (k, v) in pairs {
            if let Some(v) = v {
                q.append_pair(k, v);
            }
        }
    }
    match u.query() {
        Some(q) if !q.is_empty() => format!("?{q}"),
        _ => String::new(),
    }
}

/// One path segment, escaped.
pub(crate) fn seg(s: &str) -> String {
    let mut u = reqwest::Url::parse("http://x/").unwrap();
    u.path_segments_mut().unwrap().push(s);
    u.path()[1..].to_string()
}

pub(crate) fn list_pairs(o: &ListOptions) -> Vec<(&'static str, Option<String>)> {
    vec![
        ("limit", o.limit.map(|v| v.to_string())),
        ("offset", o.offset.map(|v| v.to_string())),
        ("sort", o.sort.clone()),
        ("fields", o.fields.as_ref().map(|f| f.join(","))),
    ]
}

pub(crate) fn header(name: &'static str, value: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_str(value) {
        h.insert(name, v);
    }
    h
}

/// Decodes a list answer whose items are under key.
pub(crate) fn page<T: DeserializeOwned>(key: &str, mut body: Value) -> Result<Page<T>, Error> {
    let items = body.get_mut(key).map(Value::take).unwrap_or(Value::Null);
    let num = |k: &str| body.get(k).and_then(Value::as_u64).ok_or_else(|| Error::Decode(format!("list without {k}")));
    Ok(Page {
        items: serde_json::from_value(items).map_err(|e| Error::Decode(e.to_string()))?,
        total: num("total")?,
        limit: num("limit")?,
        offset: num("offset")?,
        has_more: body.get("has_more").and_then(Value::as_bool).unwrap_or(false),
    })
}
