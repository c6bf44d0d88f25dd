//! Every method against the real server that the Go test (test/sdk)
//! started; without its environment each test returns at once. The Go
//! test runs them one at a time, since some stop and restart the server.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use neuais_sdk::*;

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

macro_rules! need {
    ($name:expr) => {
        match env($name) {
            Some(v) => v,
            None => {
                eprintln!("{} is not set: run through go test ./test/sdk", $name);
                return;
            }
        }
    };
}

/// Asks the Go test to stop, start or restart the server; returns once done.
async fn control(action: &str) {
    let url = format!("{}/{action}", env("NEUAIS_TEST_CONTROL").unwrap());
    let res = reqwest::Client::new().post(url).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 204);
}

fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() % 1_000_000_000;
    format!("{prefix}-rs{t}-{}", N.fetch_add(1, Ordering::Relaxed))
}

fn new_agent(name: &str, tick_ms: u32) -> CreateAgent {
    CreateAgent {
        name: name.into(),
        runtime: "go".into(),
        binary_url: env("NEUAIS_TEST_AGENT_URL").unwrap(),
        config: Some(AgentConfigInput { replicas: Some(1), ..Default::default() }),
        environment: Some([("TICK_MS".to_string(), tick_ms.to_string())].into()),
        ..Default::default()
    }
}

async fn running_agent(c: &Client, name: &str) -> String {
    let id = c.agents().create(&new_agent(&unique(name), 20)).await.unwrap().id;
    c.agents().wait(&id, AgentStatus::Running, Some("30s")).await.unwrap();
    id
}

type Retries = Arc<Mutex<Vec<(u32, Duration, Error)>>>;

fn recording(token: &str) -> (ClientBuilder, Retries) {
    let log: Retries = Arc::default();
    let l = log.clone();
    let b = Client::builder(token).on_retry(move |e| l.lock().unwrap().push((e.attempt, e.delay, e.error.clone())));
    (b, log)
}

fn code(r: Result<impl std::fmt::Debug, Error>) -> (ErrorCode, u16) {
    let e = r.expect_err("an error");
    let api = e.api().expect("an API error").clone();
    (api.code, api.status)
}

#[tokio::test]
async fn login_and_bad_credentials() {
    let email = need!("NEUAIS_TEST_EMAIL");
    let tok = login(&email, &env("NEUAIS_TEST_PASSWORD").unwrap(), None).await.unwrap();
    assert_eq!(tok.token_type, "Bearer");
    assert!(tok.expires_in > 0);
    let users = Client::new(tok.access_token).unwrap().users().list().await.unwrap();
    assert!(users.items.iter().any(|u| u.email.as_deref() == Some(email.as_str())));
    assert_eq!(code(login(&email, "wrong-password", None).await), (ErrorCode::Unauthorized, 401));
    assert_eq!(code(Client::new("not-a-token").unwrap().agents().list().await), (ErrorCode::Unauthorized, 401));
}

#[tokio::test]
async fn base_url_forms() {
    let root = need!("NEUAIS_URL");
    let token = env("NEUAIS_TOKEN").unwrap();
    assert_eq!(Client::new(&token).unwrap().base_url(), format!("{root}/v1"));
    for base in [root.clone(), format!("{root}/"), format!("{root}/v1"), format!("{root}/v1/")] {
        let c = Client::builder(&token).base_url(base).build().unwrap();
        assert_eq!(c.base_url(), format!("{root}/v1"));
        c.services().list().await.unwrap();
    }
}

#[tokio::test]
async fn agent_lifecycle() {
    let token = need!("NEUAIS_TOKEN");
    let c = Client::new(token).unwrap();
    let a = c.agents();
    let name = unique("life");
    let mut input = new_agent(&name, 200);
    input.config.as_mut().unwrap().memory = Some("64Mi".into());
    let created = a.create(&input).await.unwrap();
    assert_eq!((created.name.as_str(), created.status), (name.as_str(), AgentStatus::Deploying));
    let agent = a.wait(&created.id, AgentStatus::Running, Some("30s")).await.unwrap();
    assert_eq!((agent.status, agent.replicas, agent.config.memory.as_str()), (AgentStatus::Running, 1, "64Mi"));
    assert!(agent.etag.is_some());
    let got = a.get(&created.id).await.unwrap();
    assert_eq!((got.runtime.as_str(), got.binary_url.clone()), ("go", env("NEUAIS_TEST_AGENT_URL").unwrap()));
    assert_eq!(got.endpoints.len(), 1);

    let change = UpdateAgent { environment: Some([("TICK_MS".into(), "300".into())].into()), ..Default::default() };
    let updated = a.update(&created.id, &change, got.etag.as_deref()).await.unwrap();
    assert_eq!(updated.environment.unwrap()["TICK_MS"], "300");
    assert_eq!(code(a.update(&created.id, &change, got.etag.as_deref()).await), (ErrorCode::PreconditionFailed, 412));

    assert_eq!(a.scale(&created.id, 2).await.unwrap().replicas, 2);
    assert_eq!(a.wait(&created.id, AgentStatus::Running, Some("30s")).await.unwrap().config.replicas, 2);
    assert_eq!(a.stop(&created.id).await.unwrap().status, AgentStatus::Stopping);
    a.wait(&created.id, AgentStatus::Stopped, Some("30s")).await.unwrap();
    assert_eq!(a.start(&created.id).await.unwrap().status, AgentStatus::Starting);
    a.wait(&created.id, AgentStatus::Running, Some("30s")).await.unwrap();
    assert_eq!(a.restart(&created.id).await.unwrap().status, AgentStatus::Restarting);
    let current = a.wait(&created.id, AgentStatus::Running, Some("30s")).await.unwrap();
    assert_eq!(a.delete(&created.id, current.etag.as_deref()).await.unwrap(), "Agent deleted successfully");
    assert_eq!(code(a.get(&created.id).await), (ErrorCode::NotFound, 404));
}

#[tokio::test]
async fn wait_timeout() {
    let c = Client::new(need!("NEUAIS_TOKEN")).unwrap();
    let id = c.agents().create(&new_agent(&unique("idle"), 200)).await.unwrap().id;
    let e = c.agents().wait(&id, AgentStatus::Stopped, Some("10ms")).await.unwrap_err();
    let api = e.api().unwrap();
    assert_eq!((api.code.clone(), api.status), (ErrorCode::Timeout, 408));
    assert!(["deploying", "running"].contains(&api.details["status"].as_str().unwrap()));
    c.agents().delete(&id, None).await.unwrap();
}

#[tokio::test]
async fn errors() {
    let c = Client::new(need!("NEUAIS_TOKEN")).unwrap();
    let mut bad = new_agent(&unique("bad"), 200);
    bad.config = Some(AgentConfigInput { replicas: Some(0), ..Default::default() });
    let e = c.agents().create(&bad).await.unwrap_err();
    let api = e.api().unwrap();
    assert_eq!((api.code.clone(), api.status, api.field()), (ErrorCode::InvalidRequest, 400, Some("config.replicas")));
    assert!(!api.message.is_empty());
    let name = unique("twice");
    let first = c.agents().create(&new_agent(&name, 200)).await.unwrap();
    assert_eq!(code(c.agents().create(&new_agent(&name, 200)).await), (ErrorCode::Conflict, 409));
    let email = format!("{}@example.com", unique("viewer"));
    c.users().create(&CreateUser { email: email.clone(), password: "viewer-password-1".into(), role: Role::Viewer }).await.unwrap();
    let viewer = Client::new(login(&email, "viewer-password-1", None).await.unwrap().access_token).unwrap();
    assert_eq!(code(viewer.agents().delete(&first.id, None).await), (ErrorCode::Forbidden, 403));
    assert_eq!(viewer.agents().get(&first.id).await.unwrap().environment, None);
    c.agents().delete(&first.id, None).await.unwrap();
}

#[tokio::test]
async fn idempotency_key() {
    let c = Client::new(need!("NEUAIS_TOKEN")).unwrap();
    let name = unique("idem");
    let key = format!("key-{name}");
    let a = c.agents().create_with_key(&new_agent(&name, 200), &key).await.unwrap();
    let b = c.agents().create_with_key(&new_agent(&name, 200), &key).await.unwrap();
    assert_eq!(a.id, b.id);
    let filter = AgentFilter { name_prefix: Some(name), ..Default::default() };
    assert_eq!(c.agents().list_with(&filter, &ListOptions::default()).await.unwrap().total, 1);
    c.agents().delete(&a.id, None).await.unwrap();
}

#[tokio::test]
async fn lists_filters_and_pages() {
    let c = Client::new(need!("NEUAIS_TOKEN")).unwrap();
    let prefix = unique("page");
    let mut ids = Vec::new();
    for i in 0..3 {
        ids.push(c.agents().create(&new_agent(&format!("{prefix}-{i}"), 200)).await.unwrap().id);
    }
    let filter = AgentFilter { name_prefix: Some(prefix.clone()), ..Default::default() };
    let two = ListOptions { limit: Some(2), sort: Some("name:asc".into()), fields: Some(vec!["id".into(), "name".into()]), ..Default::default() };
    let page = c.agents().list_with(&filter, &two).await.unwrap();
    assert_eq!((page.total, page.limit, page.offset, page.has_more, page.items.len()), (3, 2, 0, true, 2));
    assert_eq!(page.items[0].status, None); // not selected
    let names: Vec<_> = page.into_iter().map(|a| a.name.unwrap()).collect();
    assert_eq!(names, [format!("{prefix}-0"), format!("{prefix}-1")]);
    let mut all: Vec<_> = c.agents().all(&filter, &two).await.unwrap().into_iter().map(|a| a.id.unwrap()).collect();
    all.sort();
    ids.sort();
    assert_eq!(all, ids);
    let rest = c.agents().list_with(&filter, &ListOptions { offset: Some(2), sort: Some("name".into()), ..Default::default() }).await.unwrap();
    assert_eq!(rest.items[0].name.as_deref(), Some(format!("{prefix}-2").as_str()));
    let stopped = AgentFilter { status: Some(AgentStatus::Stopped), ..filter.clone() };
    assert_eq!(c.agents().list_with(&stopped, &ListOptions::default()).await.unwrap().total, 0);
    let local = AgentFilter { region: Some("local".into()), ..filter.clone() };
    assert_eq!(c.agents().list_with(&local, &ListOptions::default()).await.unwrap().total, 3);
    for id in ids {
        c.agents().delete(&id, None).await.unwrap();
    }

    // services and users page alike
    let one = ListOptions { limit: Some(1), ..Default::default() };
    let services = c.services().list().await.unwrap();
    assert!(services.total >= 3 && c.services().list_with(&one).await.unwrap().has_more);
    assert_eq!(c.services().all(&one).await.unwrap(), services.items);
    let api = c.services().status("api").await.unwrap();
    assert_eq!((api.name.as_deref(), api.status), (Some("api"), Some(ServiceStatus::Healthy)));
    assert_eq!(code(c.services().status("no-such-component").await), (ErrorCode::NotFound, 404));
    let users = c.users().list().await.unwrap();
    assert_eq!(c.users().all(&one).await.unwrap().len() as u64, users.total);
}

#[tokio::test]
async fn users_crud() {
    let c = Client::new(need!("NEUAIS_TOKEN")).unwrap();
    let email = format!("{}@example.com", unique("dev"));
    let u = c.users().create(&CreateUser { email: email.clone(), password: "dev-password-1".into(), role: Role::Developer }).await.unwrap();
    let id = u.id.clone().unwrap();
    assert_eq!((u.email.as_deref(), u.role), (Some(email.as_str()), Some(Role::Developer)));
    let only = c.users().get(&id, Some(&["email"])).await.unwrap();
    assert_eq!((only.email.as_deref(), only.id), (Some(email.as_str()), None));
    let viewer = c.users().update(&id, &UpdateUser { role: Some(Role::Viewer), ..Default::default() }).await.unwrap();
    assert_eq!(viewer.role, Some(Role::Viewer));
    let own = Client::new(login(&email, "dev-password-1", None).await.unwrap().access_token).unwrap();
    assert_eq!(own.users().get(&id, None).await.unwrap().role, Some(Role::Viewer));
    assert_eq!(c.users().delete(&id).await.unwrap(), "User deleted successfully");
    assert_eq!(code(c.users().get(&id, None).await), (ErrorCode::NotFound, 404));
}

#[tokio::test]
async fn logs_and_metrics() {
    let c = Client::new(need!("NEUAIS_TOKEN")).unwrap();
    let id = running_agent(&c, "logs").await;
    let mut follow = c.agents().follow_logs(&id, &LogOptions::default(), None);
    for _ in 0..10 {
        assert!(follow.next().await.unwrap().id.is_some());
    }
    let tail = c.agents().logs(&id, &LogOptions { tail: Some(3), ..Default::default() }).await.unwrap();
    assert_eq!(tail.len(), 3);
    let warn = LogOptions { level: Some("warn".into()), since: Some("1h".into()), tail: Some(1000) };
    let warns = c.agents().logs(&id, &warn).await.unwrap();
    assert!(!warns.is_empty() && warns.iter().all(|l| l.level == "warn"));
    let cpu = c.agents().metrics(&id, Some("1h"), Some("cpu")).await.unwrap();
    assert!(cpu.cpu.is_some() && cpu.memory.is_none());
    let every = c.agents().metrics(&id, None, None).await.unwrap();
    assert!(every.cpu.is_some() && every.memory.is_some() && every.network.is_some());
    c.agents().delete(&id, None).await.unwrap();
}

#[tokio::test]
async fn follow_across_a_restart() {
    let (b, retries) = recording(&need!("NEUAIS_TOKEN"));
    let c = b.build().unwrap();
    let id = running_agent(&c, "follow").await;
    let mut follow = c.agents().follow_logs(&id, &LogOptions { tail: Some(5), ..Default::default() }, None);
    let mut got = Vec::new();
    for _ in 0..15 {
        got.push(follow.next().await.unwrap());
    }
    control("restart").await;
    for _ in 0..40 {
        got.push(follow.next().await.unwrap());
    }
    assert!(!retries.lock().unwrap().is_empty(), "the stream was never reconnected");
    let stored = c.agents().logs(&id, &LogOptions { tail: Some(10000), ..Default::default() }).await.unwrap();
    let key = |l: &LogLine| (l.timestamp.clone(), l.message.clone(), l.replica);
    let stored: Vec<_> = stored.iter().map(key).collect();
    let followed: Vec<_> = got.iter().map(key).collect();
    let start = stored.iter().position(|l| *l == followed[0]).expect("first line stored");
    assert_eq!(followed[..], stored[start..start + followed.len()], "a line lost or repeated");
    let ids: Vec<_> = got.iter().map(|l| l.id.unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]));
    c.agents().delete(&id, None).await.unwrap();
}

#[tokio::test]
async fn connection_errors() {
    let (b, retries) = recording(&need!("NEUAIS_TOKEN"));
    let c = b.max_retries(20).build().unwrap();
    let id = c.agents().create(&new_agent(&unique("down"), 200)).await.unwrap().id;
    control("stop").await;
    assert!(matches!(c.agents().restart(&id).await, Err(Error::Connection(_)))); // not idempotent
    assert!(retries.lock().unwrap().is_empty());
    let name = unique("during");
    let create = tokio::spawn({
        let c = c.clone();
        let input = new_agent(&name, 200);
        async move { c.agents().create(&input).await }
    });
    let began = Instant::now();
    while retries.lock().unwrap().is_empty() {
        assert!(began.elapsed() < Duration::from_secs(30), "no retry");
        tokio::task::yield_now().await;
    }
    assert!(matches!(retries.lock().unwrap()[0].2, Error::Connection(_)));
    control("start").await;
    create.await.unwrap().unwrap();
    let filter = AgentFilter { name_prefix: Some(name), ..Default::default() };
    assert_eq!(c.agents().list_with(&filter, &ListOptions::default()).await.unwrap().total, 1);
    assert_eq!(c.agents().get(&id).await.unwrap().id, id);
}

#[tokio::test]
async fn rate_limit() {
    let base = need!("NEUAIS_TEST_LIMITED_URL");
    let token = env("NEUAIS_TEST_LIMITED_TOKEN").unwrap();
    let budget: u64 = env("NEUAIS_TEST_LIMITED_BUDGET").unwrap().parse().unwrap();
    for _ in 0..3 {
        // a window that ends between refusal and retry: again
        let once = Client::builder(&token).base_url(&base).max_retries(0).build().unwrap();
        let mut refused = None;
        for _ in 0..2 * budget + 2 {
            if let Err(e) = once.users().list().await {
                refused = Some(e);
                break;
            }
        }
        let refused = refused.expect("never refused");
        let api = refused.api().unwrap();
        assert_eq!((api.code.clone(), api.status), (ErrorCode::RateLimitExceeded, 429));
        assert!(api.retry_after().unwrap() >= 1);
        let limits = once.rate_limit().unwrap();
        assert_eq!((limits.limit, limits.remaining), (budget, 0));
        let impatient = Client::builder(&token).base_url(&base).max_retry_wait(Duration::ZERO).build().unwrap();
        assert_eq!(code(impatient.users().list().await), (ErrorCode::RateLimitExceeded, 429));

        let (b, retries) = recording(&token);
        let patient = b.base_url(&base).build().unwrap();
        let began = Instant::now();
        patient.users().list().await.unwrap();
        let elapsed = began.elapsed();
        let log = retries.lock().unwrap();
        let Some((_, delay, err)) = log.first() else { continue };
        assert_eq!(err.code(), Some(&ErrorCode::RateLimitExceeded));
        assert!(*delay >= Duration::from_secs(1));
        assert!(elapsed >= *delay);
        assert!(patient.rate_limit().unwrap().reset > limits.reset);
        return;
    }
    panic!("every window ended before the retry");
}

fn script(text: &str) -> Vec<u8> {
    format!("#!/bin/sh\n{text}\n").into_bytes()
}

#[tokio::test]
async fn binaries() {
    let c = Client::new(need!("NEUAIS_TOKEN")).unwrap();
    let data = script(&format!("echo {}", unique("bytes")));
    let key = unique("upload");
    let b = c.binaries().upload_with_key(&data, &key).await.unwrap();
    let (id, url) = (b.id.clone().unwrap(), b.url.clone().unwrap());
    assert_eq!((b.size, url.as_str()), (Some(data.len() as u64), format!("neuais://binaries/{id}").as_str()));
    assert_eq!(c.binaries().upload_with_key(&data, &key).await.unwrap().id, b.id);
    assert_eq!(code(c.binaries().upload_with_key(&script("other"), &key).await), (ErrorCode::Conflict, 409));
    assert_eq!(code(c.binaries().upload(b"<html>").await), (ErrorCode::InvalidRequest, 400));

    let dir = std::env::temp_dir().join(unique("neuais-rs"));
    tokio::fs::create_dir_all(&dir).await.unwrap();
    let path = dir.join("agent.sh");
    let file_data = script(&format!("echo {}", unique("file")));
    tokio::fs::write(&path, &file_data).await.unwrap();
    let from_file = c.binaries().upload_file(&path).await.unwrap();
    assert_eq!(from_file.size, Some(file_data.len() as u64));
    let out = dir.join("downloaded");
    assert_eq!(c.binaries().download(from_file.id.as_deref().unwrap(), &out).await.unwrap(), file_data.len() as u64);
    assert_eq!(tokio::fs::read(&out).await.unwrap(), file_data);
    tokio::fs::remove_dir_all(&dir).await.unwrap();
    assert_eq!(c.binaries().content(&id).await.unwrap(), data);
    assert_eq!(c.binaries().get(from_file.id.as_deref().unwrap()).await.unwrap(), from_file);

    let all = c.binaries().all(&ListOptions { limit: Some(1), ..Default::default() }).await.unwrap();
    assert!(all.contains(&b) && all.contains(&from_file), "{all:?}");
    let opts = ListOptions { limit: Some(1), fields: Some(vec!["id".into()]), ..Default::default() };
    let p = c.binaries().list_with(&opts).await.unwrap();
    assert!(p.has_more);
    assert_eq!((p.items.len(), p.items[0].url.clone()), (1, None));
    assert_eq!(code(c.binaries().get("bin_missing").await), (ErrorCode::NotFound, 404));
    assert_eq!(code(c.binaries().content("bin_missing").await), (ErrorCode::NotFound, 404));

    let agent = CreateAgent { name: unique("uploaded"), runtime: "native".into(), binary_url: url.clone(), ..Default::default() };
    let agent = c.agents().create(&agent).await.unwrap();
    assert_eq!(c.agents().get(&agent.id).await.unwrap().binary_url, url);
    let refused = c.binaries().delete(&id).await.unwrap_err();
    assert_eq!((refused.code(), refused.status()), (Some(&ErrorCode::Conflict), Some(409)));
    c.agents().delete(&agent.id, None).await.unwrap();
    c.binaries().delete(&id).await.unwrap();
    assert_eq!(code(c.binaries().get(&id).await), (ErrorCode::NotFound, 404));
}

#[tokio::test]
async fn tokens() {
    let c = Client::new(need!("NEUAIS_TOKEN")).unwrap();
    let name = unique("ci");
    let input = CreateApiToken { name: name.clone(), role: Role::Developer, expires_at: Some("2099-01-01T00:00:00Z".into()) };
    let key = unique("token");
    let tok = c.tokens().create_with_key(&input, &key).await.unwrap();
    assert!(tok.token.starts_with("nat_"), "{tok:?}");
    assert_eq!((tok.role, tok.expires_at.as_deref()), (Role::Developer, Some("2099-01-01T00:00:00Z")));
    let again = c.tokens().create_with_key(&input, &key).await.unwrap();
    assert_eq!((again.id.as_str(), again.token.as_str()), (tok.id.as_str(), tok.token.as_str()));
    let other = c.tokens().create(&CreateApiToken { name: unique("other"), role: Role::Viewer, expires_at: None }).await.unwrap();
    assert_eq!(other.expires_at, None);

    let ci = Client::new(&tok.token).unwrap();
    assert_eq!(ci.services().status("database").await.unwrap().name.as_deref(), Some("database"));
    let all = c.tokens().all(&ListOptions { limit: Some(1), ..Default::default() }).await.unwrap();
    let listed = all.iter().find(|t| t.id.as_deref() == Some(tok.id.as_str())).expect("listed");
    assert_eq!((listed.name.as_deref(), listed.user_id.as_deref()), (Some(name.as_str()), Some(tok.user_id.as_str())));
    assert!(all.iter().any(|t| t.id.as_deref() == Some(other.id.as_str())));
    assert!(c.tokens().list_with(&ListOptions { limit: Some(1), ..Default::default() }).await.unwrap().has_more);

    c.tokens().revoke(&tok.id).await.unwrap();
    assert_eq!(code(ci.services().status("database").await), (ErrorCode::Unauthorized, 401));
    assert_eq!(code(c.tokens().revoke(&tok.id).await), (ErrorCode::NotFound, 404));
    c.tokens().revoke(&other.id).await.unwrap();
}

/// The proxy answers each method and URL's first request 503 with
/// Retry-After: 1, and a retry sooner than that 400 retried_early.
#[tokio::test]
async fn unavailable() {
    let base = need!("NEUAIS_TEST_UNAVAILABLE_URL");
    let token = env("NEUAIS_TOKEN").unwrap();
    let once = Client::builder(&token).base_url(&base).max_retries(0).build().unwrap();
    assert_eq!(code(once.services().status("api").await), (ErrorCode::ServiceUnavailable, 503));

    let (b, retries) = recording(&token);
    let c = b.base_url(&base).build().unwrap();
    assert_eq!(c.services().status("database").await.unwrap().name.as_deref(), Some("database"));
    {
        let log = retries.lock().unwrap();
        assert_eq!(log.len(), 1);
        let (attempt, delay, err) = &log[0];
        assert_eq!((*attempt, *delay, err.code()), (1, Duration::from_secs(1), Some(&ErrorCode::ServiceUnavailable)));
    }

    // An upload from a file is opened again for its retry.
    let path = std::env::temp_dir().join(unique("neuais-rs-retried"));
    let data = script(&format!("echo {}", unique("retried")));
    tokio::fs::write(&path, &data).await.unwrap();
    let b = c.binaries().upload_file(&path).await.unwrap();
    tokio::fs::remove_file(&path).await.unwrap();
    assert_eq!((b.size, retries.lock().unwrap().len()), (Some(data.len() as u64), 2));
    let direct = Client::new(&token).unwrap();
    assert_eq!(direct.binaries().content(b.id.as_deref().unwrap()).await.unwrap(), data);
}

/// A webhook receiver on 127.0.0.1 answering 200: each request's path,
/// headers and body, in the order received.
struct Receiver {
    url: String,
    seen: Arc<Mutex<Vec<(String, reqwest::header::HeaderMap, Vec<u8>)>>>,
}

impl Receiver {
    fn start() -> Receiver {
        use std::io::{BufRead, BufReader, Read, Write};
        let ln = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", ln.local_addr().unwrap());
        let seen: Arc<Mutex<Vec<_>>> = Arc::default();
        let s = seen.clone();
        std::thread::spawn(move || {
            for conn in ln.incoming() {
                let Ok(mut conn) = conn else { continue };
                let mut r = BufReader::new(conn.try_clone().unwrap());
                let mut line = String::new();
                r.read_line(&mut line).unwrap();
                let path = line.split(' ').nth(1).unwrap_or_default().to_string();
                let mut headers = reqwest::header::HeaderMap::new();
                loop {
                    line.clear();
                    r.read_line(&mut line).unwrap();
                    let Some((k, v)) = line.trim_end().split_once(": ") else { break };
                    headers.append(reqwest::header::HeaderName::from_bytes(k.to_lowercase().as_bytes()).unwrap(), v.parse().unwrap());
                }
                let len = headers.get("content-length").and_then(|v| v.to_str().ok()?.parse().ok()).unwrap_or(0);
                let mut body = vec![0; len];
                r.read_exact(&mut body).unwrap();
                let _ = conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
                s.lock().unwrap().push((path, headers, body));
            }
        });
        Receiver { url, seen }
    }

    /// Takes the first delivery to path of an event type, received or to come.
    async fn next(&self, path: &str, event: &str) -> (reqwest::header::HeaderMap, Vec<u8>) {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            {
                let mut seen = self.seen.lock().unwrap();
                let kind = |b: &[u8]| serde_json::from_slice::<serde_json::Value>(b).ok().and_then(|v| v["event"].as_str().map(String::from));
                if let Some(i) = seen.iter().position(|(p, _, b)| p == path && kind(b).as_deref() == Some(event)) {
                    let (_, h, b) = seen.remove(i);
                    return (h, b);
                }
            }
            assert!(Instant::now() < deadline, "no {event} delivery to {path}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

fn hook(url: String, events: &[&str], secret: Option<&str>) -> CreateWebhook {
    CreateWebhook { url, events: events.iter().map(|e| e.to_string()).collect(), secret: secret.map(String::from) }
}

fn plain_agent(name: &str) -> CreateAgent {
    CreateAgent { name: unique(name), runtime: "go".into(), binary_url: "https://example.com/a".into(), ..Default::default() }
}

#[tokio::test]
async fn webhooks() {
    let c = Client::new(need!("NEUAIS_TOKEN")).unwrap();
    let hooks = c.webhooks();
    let recv = Receiver::start();
    let input = hook(format!("{}/raw", recv.url), &["agent.created"], Some("your-webhook-secret"));
    let key = unique("hook");
    let raw = hooks.create_with_key(&input, &key).await.unwrap();
    assert_eq!((raw.secret.as_str(), raw.status.as_str(), raw.active), ("your-webhook-secret", "active", true));
    assert_eq!(hooks.create_with_key(&input, &key).await.unwrap().id, raw.id);
    let gen = hooks.create(&hook(format!("{}/gen", recv.url), &["*"], None)).await.unwrap();
    assert!(gen.secret.starts_with("whsec_"), "{gen:?}");
    let bad = hooks.create(&hook("ftp://example.com".into(), &["*"], None)).await.expect_err("bad url");
    assert_eq!(bad.api().unwrap().details.get("field").and_then(|v| v.as_str()), Some("url"));

    let agent = c.agents().create(&plain_agent("hooked")).await.unwrap();
    for (path, secret) in [("/raw", &raw.secret), ("/gen", &gen.secret)] {
        let (h, body) = recv.next(path, "agent.created").await;
        verify_webhook(secret, &h, &body).unwrap_or_else(|e| panic!("{path}: {e}"));
        let payload: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(payload["data"]["agent_id"], agent.id.as_str());
        assert_eq!(verify_webhook("another-secret", &h, &body), Err(WebhookError::Signature));
        let tampered = String::from_utf8(body.clone()).unwrap().replace(&agent.id, "agt_other");
        assert_eq!(verify_webhook(secret, &h, tampered.as_bytes()), Err(WebhookError::Signature));
        let mut stale = h.clone();
        let ts: u64 = h["webhook-timestamp"].to_str().unwrap().parse().unwrap();
        stale.insert("webhook-timestamp", (ts - 360).to_string().parse().unwrap());
        assert_eq!(verify_webhook(secret, &stale, &body), Err(WebhookError::Timestamp));
    }

    let test = hooks.test(&raw.id).await.unwrap();
    assert_eq!((test.event.as_str(), test.webhook_id.as_str()), ("webhook.test", raw.id.as_str()));
    let (h, body) = recv.next("/raw", "webhook.test").await;
    verify_webhook(&raw.secret, &h, &body).unwrap();
    assert_eq!(h["webhook-id"].to_str().unwrap(), test.message_id);
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let done = hooks.deliveries(&raw.id, Some("succeeded"), &ListOptions::default()).await.unwrap();
        if done.total == 2 && done.items[0].attempts.first().and_then(|a| a.status_code) == Some(200) {
            assert_eq!(done.items[0].id, test.id);
            break;
        }
        assert!(Instant::now() < deadline, "deliveries not recorded: {done:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let one = ListOptions { limit: Some(1), ..Default::default() };
    let all: Vec<String> = hooks.all_deliveries(&raw.id, None, &one).await.unwrap().into_iter().map(|d| d.event).collect();
    assert_eq!(all, ["webhook.test", "agent.created"]);
    assert_eq!(code(hooks.deliveries(&raw.id, Some("lost"), &one).await), (ErrorCode::InvalidRequest, 400));
    let again = hooks.retry_delivery(&raw.id, &test.id).await.unwrap();
    assert_eq!((again.id.as_str(), again.status.as_str()), (test.id.as_str(), "pending"));
    assert_eq!(recv.next("/raw", "webhook.test").await.0["webhook-id"].to_str().unwrap(), test.message_id);
    assert_eq!(code(hooks.retry_delivery(&raw.id, "dlv_missing").await), (ErrorCode::NotFound, 404));

    let rotated = hooks.rotate_secret(&gen.id).await.unwrap();
    assert!(rotated.secret.starts_with("whsec_") && rotated.secret != gen.secret && rotated.previous_secret_expires_at.is_some());
    hooks.test(&gen.id).await.unwrap();
    let (h, body) = recv.next("/gen", "webhook.test").await;
    assert_eq!(h["webhook-signature"].to_str().unwrap().split(' ').count(), 2);
    for secret in [&gen.secret, &rotated.secret] {
        verify_webhook(secret, &h, &body).unwrap();
    }

    let moved = format!("{}/moved", recv.url);
    let paused = hooks.update(&raw.id, &UpdateWebhook { active: Some(false), url: Some(moved.clone()), ..Default::default() }).await.unwrap();
    assert_eq!((paused.status.as_deref(), paused.url.as_deref()), (Some("inactive"), Some(moved.as_str())));
    assert_eq!(code(hooks.retry_delivery(&raw.id, &test.id).await), (ErrorCode::Conflict, 409));
    assert_eq!(hooks.get(&raw.id).await.unwrap().status.as_deref(), Some("inactive"));
    let by_age = ListOptions { limit: Some(1), sort: Some("created_at".into()), ..Default::default() };
    let page = hooks.list_with(&by_age).await.unwrap();
    assert_eq!((page.total, page.has_more, page.items[0].id.as_deref()), (2, true, Some(raw.id.as_str())));
    let ids: Vec<String> = hooks.all(&by_age).await.unwrap().into_iter().filter_map(|w| w.id).collect();
    assert_eq!(ids, [raw.id.clone(), gen.id.clone()]);
    assert_eq!(hooks.list().await.unwrap().total, 2);
    for w in [&raw.id, &gen.id] {
        hooks.delete(w).await.unwrap();
    }
    assert_eq!(code(hooks.get(&raw.id).await), (ErrorCode::NotFound, 404));
}

#[tokio::test]
async fn events_follow_across_a_restart() {
    let c = Client::new(need!("NEUAIS_TOKEN")).unwrap();
    let created = EventFilter { event_type: Some("agent.created".into()), ..Default::default() };
    let mut stream = c.events().follow(&created, None);
    // The follow starts with the events written after it connected: create
    // agents until one arrives.
    let first = loop {
        c.agents().create(&plain_agent("rs-ev")).await.unwrap();
        if let Ok(ev) = tokio::time::timeout(Duration::from_millis(100), stream.next()).await {
            break ev.unwrap();
        }
    };
    async fn named(s: &mut EventStream, name: &str) -> Event {
        loop {
            let ev = s.next().await.unwrap();
            if ev.data.name == name {
                return ev;
            }
        }
    }
    let last = c.agents().create(&plain_agent("rs-ev-last")).await.unwrap();
    assert_eq!(named(&mut stream, &last.name).await.data.agent_id, last.id);
    control("restart").await;
    let after = c.agents().create(&plain_agent("rs-ev-restarted")).await.unwrap();
    assert_eq!(named(&mut stream, &after.name).await.event, "agent.created");
    assert!(stream.last_event_id().is_some());

    c.agents().update(&last.id, &UpdateAgent { environment: Some([("MODE".to_string(), "fast".to_string())].into()), ..Default::default() }, None).await.unwrap();
    // The runtime adds agent.error events (the binary cannot be fetched).
    let updated = EventFilter { event_type: Some("agent.updated".into()), agent_id: Some(last.id.clone()) };
    let mine = c.events().list_with(&updated, &ListOptions::default()).await.unwrap();
    assert_eq!((mine.total, mine.items[0].data.changed.clone()), (1, Some(vec!["environment".to_string()])));
    let total = c.events().list_with(&created, &ListOptions::default()).await.unwrap();
    let all = c.events().all(&created, &ListOptions { limit: Some(2), ..Default::default() }).await.unwrap();
    assert_eq!((all.len() as u64, &all[0].id), (total.total, &total.items[0].id));
    assert!(c.events().list().await.unwrap().total > total.total);
    let bad = EventFilter { event_type: Some("agent.exploded".into()), ..Default::default() };
    assert_eq!(code(c.events().list_with(&bad, &ListOptions::default()).await), (ErrorCode::InvalidRequest, 400));

    let mine = EventFilter { agent_id: Some(last.id.clone()), ..Default::default() };
    let mut resumed = c.events().follow(&mine, Some(&first.id));
    let mut kinds = Vec::new();
    while kinds.last().map(String::as_str) != Some("agent.updated") {
        kinds.push(resumed.next().await.unwrap().event);
    }
    assert_eq!(kinds[0], "agent.created");
}

/// The month after a YYYY-MM.
fn next_month(period: &str) -> String {
    let (y, m) = period.split_once('-').unwrap();
    let (y, m): (u32, u32) = (y.parse().unwrap(), m.parse().unwrap());
    if m == 12 { format!("{}-01", y + 1) } else { format!("{y}-{:02}", m + 1) }
}

/// Against the months the Go test had the month close invoice: the
/// admin's organization's (NEUAIS_TEST_INVOICES of them, the last with
/// NEUAIS_TEST_BILLED_BYTES of network) and another's.
#[tokio::test]
async fn billing() {
    let c = Client::new(need!("NEUAIS_TOKEN")).unwrap();
    let billed_gb = env("NEUAIS_TEST_BILLED_BYTES").unwrap().parse::<f64>().unwrap() / 1e9;
    let count: u64 = env("NEUAIS_TEST_INVOICES").unwrap().parse().unwrap();
    let b = c.billing();

    let page = b.invoices_with(&ListOptions { limit: Some(1), ..Default::default() }).await.unwrap();
    assert_eq!((page.total, page.has_more, page.items.len()), (count, count > 1, 1));
    let last = page.items[0].clone();
    let all = b.all_invoices(&ListOptions { limit: Some(1), ..Default::default() }).await.unwrap();
    let periods: Vec<&str> = all.iter().map(|i| i.period.as_str()).collect();
    let mut newest_first = periods.clone();
    newest_first.sort_by(|a, b| b.cmp(a));
    assert_eq!((periods.len() as u64, &periods), (count, &newest_first));
    assert_eq!(b.invoices().await.unwrap().items, all);

    let current = b.usage(&UsageOptions::default()).await.unwrap();
    assert_eq!((current.period.as_str(), current.agents.as_ref()), (next_month(&last.period).as_str(), None));
    let cost = &current.cost;
    assert_eq!(cost.total.cents(), cost.compute.cents() + cost.storage.cents() + cost.network.cents());
    assert!(b.usage(&UsageOptions { by_agent: true, ..Default::default() }).await.unwrap().agents.is_some());

    let month = b.usage(&UsageOptions { period: Some(last.period.clone()), by_agent: true }).await.unwrap();
    assert_eq!((month.period.as_str(), month.usage.network_gb), (last.period.as_str(), billed_gb));
    assert!(month.cost.network.cents() > 0);
    assert_eq!(month.cost.total, last.amount);
    let agents = month.agents.clone().unwrap();
    assert_eq!(agents.len(), 1);
    assert_eq!((agents[0].network_gb, agents[0].network_cost), (billed_gb, month.cost.network));
    let last_month = b.usage(&UsageOptions { period: Some("last_month".into()), by_agent: false }).await.unwrap();
    assert_eq!(last_month.cost, month.cost);

    let inv = b.invoice(&last.id).await.unwrap();
    assert_eq!((&inv.id, &inv.period, inv.amount, inv.status, &inv.due_date), (&last.id, &last.period, last.amount, last.status, &last.due_date));
    assert_eq!(inv.lines.iter().map(|l| l.item.as_str()).collect::<Vec<_>>(), ["compute", "storage", "network"]);
    assert_eq!(inv.lines.iter().map(|l| l.amount.cents()).sum::<i64>(), inv.amount.cents());
    assert_eq!(inv.lines[2].quantity, billed_gb);
    // Display gives the answer's own figures, to the cent.
    let raw = reqwest::Client::new()
        .get(format!("{}/v1/billing/invoices/{}", env("NEUAIS_URL").unwrap(), last.id))
        .bearer_auth(env("NEUAIS_TOKEN").unwrap())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(raw.contains(&format!("\"amount\":{}", inv.amount)), "{raw}");
    assert!(raw.contains(&format!("\"amount\":{},", inv.lines[2].amount)), "{raw}");

    for bad in ["2024-13", "yesterday", "3000-01"] {
        let e = b.usage(&UsageOptions { period: Some(bad.into()), by_agent: false }).await.unwrap_err();
        let api = e.api().unwrap();
        assert_eq!((api.code.clone(), api.status, api.field()), (ErrorCode::InvalidRequest, 400, Some("period")), "{bad}");
    }
    assert_eq!(code(b.invoice(&env("NEUAIS_TEST_OTHER_INVOICE").unwrap()).await), (ErrorCode::NotFound, 404));

    let email = format!("{}@example.com", unique("billing-dev"));
    let dev = c.users().create(&CreateUser { email: email.clone(), password: "dev-password-1".into(), role: Role::Developer }).await.unwrap();
    let d = Client::new(login(&email, "dev-password-1", None).await.unwrap().access_token).unwrap().billing();
    assert_eq!(code(d.usage(&UsageOptions::default()).await), (ErrorCode::Forbidden, 403));
    assert_eq!(code(d.invoices().await), (ErrorCode::Forbidden, 403));
    assert_eq!(code(d.invoice(&last.id).await), (ErrorCode::Forbidden, 403));
    c.users().delete(&dev.id.unwrap()).await.unwrap();
}

#[test]
fn money() {
    for (json, cents, shown) in [("65.00", 6500, "65.00"), ("6.17", 617, "6.17"), ("0.07", 7, "0.07"), ("12", 1200, "12.00"), ("-1.05", -105, "-1.05")] {
        let m: Money = serde_json::from_str(json).unwrap();
        assert_eq!((m.cents(), m.to_string()), (cents, shown.to_string()), "{json}");
        assert_eq!(serde_json::to_string(&m).unwrap().parse::<f64>().unwrap(), json.parse::<f64>().unwrap());
    }
    assert!(serde_json::from_str::<Money>("6.175").is_err());
}
