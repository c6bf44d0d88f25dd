use std::collections::VecDeque;
use std::hash::{BuildHasher, Hasher};

use reqwest::header::HeaderMap;
use reqwest::Method;
use serde_json::Value;

use crate::models::*;
use crate::{backoff, header, list_pairs, page, query, seg, ApiError, Client, Error, ErrorCode};

/// The agents of the caller's organization, with their logs and metrics.
pub struct Agents {
    c: Client,
}

fn agent(body: Agent, h: &HeaderMap) -> Agent {
    Agent { etag: h.get("ETag").and_then(|v| v.to_str().ok()).map(String::from), ..body }
}

fn json<T: serde::Serialize>(v: &T) -> Value {
    serde_json::to_value(v).expect("request models serialize")
}

/// A new Idempotency-Key: 128 random bits from the standard library's
/// randomly seeded hasher.
pub(crate) fn new_key() -> String {
    let mut a = std::collections::hash_map::RandomState::new().build_hasher();
    a.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos());
    let hi = a.finish();
    let mut b = std::collections::hash_map::RandomState::new().build_hasher();
    b.write_u64(hi);
    format!("{:016x}{:016x}", hi, b.finish())
}

impl Agents {
    pub(crate) fn new(c: Client) -> Agents {
        Agents { c }
    }

    /// The first page of agents, with the server's defaults.
    pub async fn list(&self) -> Result<Page<AgentSummary>, Error> {
        self.list_with(&AgentFilter::default(), &ListOptions::default()).await
    }

    /// One page of the agents that pass filter.
    pub async fn list_with(&self, filter: &AgentFilter, opts: &ListOptions) -> Result<Page<AgentSummary>, Error> {
        let mut pairs = vec![
            ("status", filter.status.map(|s| s.as_str().to_string())),
            ("region", filter.region.clone()),
            ("name_prefix", filter.name_prefix.clone()),
        ];
        pairs.extend(list_pairs(opts));
        page("agents", self.c.get(&format!("/agents{}", query(&pairs))).await?)
    }

    /// Every agent that passes filter, page after page (opts.limit a page's size).
    pub async fn all(&self, filter: &AgentFilter, opts: &ListOptions) -> Result<Vec<AgentSummary>, Error> {
        let mut opts = opts.clone();
        let mut out = Vec::new();
        loop {
            let p = self.list_with(filter, &opts).await?;
            let n = p.items.len() as u32;
            out.extend(p.items);
            if !p.has_more || n == 0 {
                return Ok(out);
            }
            opts.offset = Some(p.offset as u32 + n);
        }
    }

    pub async fn get(&self, id: &str) -> Result<Agent, Error> {
        let (a, h) = self.c.call(Method::GET, &format!("/agents/{}", seg(id)), None, HeaderMap::new()).await?;
        Ok(agent(a, &h))
    }

    /// Creates an agent with a new Idempotency-Key, so that a retry after a
    /// lost answer never creates twice.
    pub async fn create(&self, input: &CreateAgent) -> Result<CreatedAgent, Error> {
        self.create_with_key(input, &new_key()).await
    }

    /// create with the caller's Idempotency-Key: the same key and body
    /// within 24 h answer the first agent.
    pub async fn create_with_key(&self, input: &CreateAgent, key: &str) -> Result<CreatedAgent, Error> {
        Ok(self.c.call(Method::POST, "/agents", Some(&json(input)), header("Idempotency-Key", key)).await?.0)
    }

    /// Changes the fields given; with if_match, only while the agent has that ETag.
    pub async fn update(&self, id: &str, input: &UpdateAgent, if_match: Option<&str>) -> Result<Agent, Error> {
        let h = if_match.map(|e| header("If-Match", e)).unwrap_or_default();
        let (a, h) = self.c.call(Method::PUT, &format!("/agents/{}", seg(id)), Some(&json(input)), h).await?;
        Ok(agent(a, &h))
    }

    pub async fn delete(&self, id: &str, if_match: Option<&str>) -> Result<String, Error> {
        let h = if_match.map(|e| header("If-Match", e)).unwrap_or_default();
        let (v, _): (Value, _) = self.c.call(Method::DELETE, &format!("/agents/{}", seg(id)), None, h).await?;
        Ok(v["message"].as_str().unwrap_or_default().to_string())
    }

    async fn action(&self, id: &str, action: &str, body: Option<Value>) -> Result<Agent, Error> {
        let path = format!("/agents/{}/{action}", seg(id));
        let (a, h) = self.c.call(Method::POST, &path, body.as_ref(), HeaderMap::new()).await?;
        Ok(agent(a, &h))
    }

    pub async fn start(&self, id: &str) -> Result<Agent, Error> {
        self.action(id, "start", None).await
    }

    pub async fn stop(&self, id: &str) -> Result<Agent, Error> {
        self.action(id, "stop", None).await
    }

    pub async fn restart(&self, id: &str) -> Result<Agent, Error> {
        self.action(id, "restart", None).await
    }

    pub async fn scale(&self, id: &str, replicas: u32) -> Result<Agent, Error> {
        self.action(id, "scale", Some(serde_json::json!({ "replicas": replicas }))).await
    }

    /// Answers once the agent has status; an ErrorCode::Timeout error at the
    /// timeout (a duration such as "30s"; None: the server's default).
    pub async fn wait(&self, id: &str, status: AgentStatus, timeout: Option<&str>) -> Result<Agent, Error> {
        let q = query(&[("status", Some(status.as_str().to_string())), ("timeout", timeout.map(String::from))]);
        let (a, h) = self.c.call(Method::GET, &format!("/agents/{}/wait{q}", seg(id)), None, HeaderMap::new()).await?;
        Ok(agent(a, &h))
    }

    /// Log lines, oldest first.
    pub async fn logs(&self, id: &str, opts: &LogOptions) -> Result<Vec<LogLine>, Error> {
        let q = query(&[("tail", opts.tail.map(|t| t.to_string())), ("since", opts.since.clone()), ("level", opts.level.clone())]);
        let mut v: Value = self.c.get(&format!("/agents/{}/logs{q}", seg(id))).await?;
        serde_json::from_value(v["logs"].take()).map_err(|e| Error::Decode(e.to_string()))
    }

    /// Follows the log over Server-Sent Events, from last_event_id when given.
    pub fn follow_logs(&self, id: &str, opts: &LogOptions, last_event_id: Option<i64>) -> LogStream {
        let level = ("level", opts.level.clone());
        let first = vec![level.clone(), ("tail", opts.tail.map(|t| t.to_string())), ("since", opts.since.clone())];
        let path = format!("/agents/{}/logs", seg(id));
        LogStream { sse: Sse::new(self.c.clone(), path, first, vec![level], last_event_id.map(|id| id.to_string())) }
    }

    /// An agent's series over period ("1h", "24h", "7d"), all of them or
    /// only metric ("cpu", "memory", "network").
    pub async fn metrics(&self, id: &str, period: Option<&str>, metric: Option<&str>) -> Result<Metrics, Error> {
        let q = query(&[("period", period.map(String::from)), ("metric", metric.map(String::from))]);
        let mut v: Value = self.c.get(&format!("/agents/{}/metrics{q}", seg(id))).await?;
        serde_json::from_value(v["metrics"].take()).map_err(|e| Error::Decode(e.to_string()))
    }
}

/// A followed log. A broken stream, or a server shutting down, is
/// reconnected with Last-Event-ID, so no line is lost or repeated; after
/// max_reconnects failed attempts in a row the last error is returned. The
/// stream ends with the agent (NotFound) or the token (Unauthorized).
pub struct LogStream {
    sse: Sse,
}

impl LogStream {
    /// Failed reconnects in a row before an error is returned (default 10).
    pub fn max_reconnects(mut self, n: u32) -> Self {
        self.sse.max_reconnects = n;
        self
    }

    /// The id of the last line returned.
    pub fn last_event_id(&self) -> Option<i64> {
        self.sse.last.as_deref().and_then(|id| id.parse().ok())
    }

    /// The next line, waiting for it to be written.
    pub async fn next(&mut self) -> Result<LogLine, Error> {
        let (id, data) = self.sse.next().await?;
        let mut line: LogLine = serde_json::from_str(&data).map_err(|e| Error::Decode(e.to_string()))?;
        line.id = id.and_then(|id| id.parse().ok());
        Ok(line)
    }
}

/// A followed Server-Sent Events stream, reconnected as LogStream says:
/// its query is first's while no event id is known, else resume's, with
/// Last-Event-ID.
pub(crate) struct Sse {
    c: Client,
    path: String,
    first: Vec<(&'static str, Option<String>)>,
    resume: Vec<(&'static str, Option<String>)>,
    pub(crate) last: Option<String>,
    res: Option<reqwest::Response>,
    buf: Vec<u8>,
    ready: VecDeque<(Option<String>, String)>,
    failures: u32,
    pub(crate) max_reconnects: u32,
}

impl Sse {
    pub(crate) fn new(
        c: Client,
        path: String,
        first: Vec<(&'static str, Option<String>)>,
        resume: Vec<(&'static str, Option<String>)>,
        last: Option<String>,
    ) -> Sse {
        Sse { c, path, first, resume, last, res: None, buf: Vec::new(), ready: VecDeque::new(), failures: 0, max_reconnects: 10 }
    }

    /// The next event's id and data, waiting for it.
    pub(crate) async fn next(&mut self) -> Result<(Option<String>, String), Error> {
        loop {
            if let Some((id, data)) = self.ready.pop_front() {
                if id.is_some() {
                    self.last = id.clone();
                }
                return Ok((id, data));
            }
            let err = match self.read().await {
                Ok(()) => continue,
                Err(e) => e,
            };
            self.res = None;
            self.buf.clear();
            let transient = match &err {
                Error::Connection(_) => true,
                Error::Api(e) => e.code == ErrorCode::ServiceUnavailable,
                _ => false,
            };
            self.failures += 1;
            if !transient || self.failures > self.max_reconnects {
                return Err(err);
            }
            let wait = backoff(self.failures - 1);
            self.c.retrying(self.failures, wait, &err);
            tokio::time::sleep(wait).await;
        }
    }

    /// Connects when needed and reads until at least one event is ready.
    async fn read(&mut self) -> Result<(), Error> {
        if self.res.is_none() {
            let (mut pairs, h) = match &self.last {
                Some(last) => (self.resume.clone(), header("Last-Event-ID", last)),
                None => (self.first.clone(), HeaderMap::new()),
            };
            pairs.push(("follow", Some("true".to_string())));
            let path = format!("{}{}", self.path, query(&pairs));
            self.res = Some(self.c.send(Method::GET, &path, None, h, true).await?);
            self.failures = 0;
        }
        let res = self.res.as_mut().expect("connected above");
        let chunk = res.chunk().await.map_err(|e| Error::Connection(e.to_string()))?;
        let chunk = chunk.ok_or_else(|| Error::Connection("stream ended".into()))?;
        self.buf.extend_from_slice(&chunk);
        while let Some(end) = find_event_end(&self.buf) {
            let event: Vec<u8> = self.buf.drain(..end).collect();
            self.event(&String::from_utf8_lossy(&event))?;
        }
        Ok(())
    }

    fn event(&mut self, text: &str) -> Result<(), Error> {
        let (mut id, mut kind, mut data) = (None, "", Vec::new());
        for line in text.lines() {
            if line.starts_with(':') {
                continue;
            }
            let (name, value) = line.split_once(':').unwrap_or((line, ""));
            let value = value.strip_prefix(' ').unwrap_or(value);
            match name {
                "id" => id = Some(value.to_string()),
                "event" => kind = value,
                "data" => data.push(value),
                _ => {}
            }
        }
        if data.is_empty() {
            return Ok(());
        }
        let data = data.join("\n");
        if kind == "error" {
            return Err(Error::Api(ApiError::from_body(0, data.as_bytes())));
        }
        self.ready.push_back((id, data));
        Ok(())
    }
}

/// The end of the first complete event in buf (past its blank line).
fn find_event_end(buf: &[u8]) -> Option<usize> {
    (0..buf.len()).find_map(|i| {
        if buf[i..].starts_with(b"\n\n") {
            Some(i + 2)
        } else if buf[i..].starts_with(b"\r\n\r\n") {
            Some(i + 4)
        } else {
            None
        }
    })
}
