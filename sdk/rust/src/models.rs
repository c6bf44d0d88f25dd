//! The API's models, as the server's OpenAPI document describes them
//! (tests/drift.rs checks them against /v1/openapi.json). A field that
//! fields= may leave out, or that the server may omit, is an Option.
//! Timestamps are RFC 3339 strings.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

macro_rules! string_enum {
    ($(#[$m:meta])* $name:ident { $($variant:ident = $text:literal),* $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name { $(#[serde(rename = $text)] $variant),* }
        impl $name {
            /// Every value, in the order the API lists them.
            pub const ALL: &'static [$name] = &[$($name::$variant),*];
            /// The value as the API writes it.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),* }
            }
        }
    };
}

string_enum!(
    /// An agent's status: where it is, or the transition it is in.
    AgentStatus {
        Deploying = "deploying",
        Running = "running",
        Stopped = "stopped",
        Error = "error",
        Stopping = "stopping",
        Starting = "starting",
        Restarting = "restarting",
    }
);

string_enum!(
    Role { Admin = "admin", Developer = "developer", Viewer = "viewer" }
);

string_enum!(
    ServiceStatus { Healthy = "healthy", Degraded = "degraded", Unhealthy = "unhealthy" }
);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentConfig {
    pub cpu: String,
    pub memory: String,
    pub replicas: u32,
}

/// An agent as lists show it (no environment or endpoints).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentSummary {
    pub id: Option<String>,
    pub name: Option<String>,
    pub status: Option<AgentStatus>,
    pub replicas: Option<u32>,
    pub region: Option<String>,
    pub runtime: Option<String>,
    pub binary_url: Option<String>,
    pub config: Option<AgentConfig>,
    pub created_at: Option<String>,
    pub updated_at: Option<String>,
}

/// One agent; environment is None for viewers. etag is the ETag header,
/// for if_match.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Agent {
    pub id: String,
    pub name: String,
    pub status: AgentStatus,
    pub replicas: u32,
    pub region: String,
    pub runtime: String,
    pub binary_url: String,
    pub binary_sha256: String,
    pub config: AgentConfig,
    pub environment: Option<BTreeMap<String, String>>,
    pub endpoints: Vec<String>,
    pub created_at: String,
    pub updated_at: String,
    #[serde(skip)]
    pub etag: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CreatedAgent {
    pub id: String,
    pub name: String,
    pub status: AgentStatus,
    pub created_at: String,
}

/// The optional configuration of a create or update.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AgentConfigInput {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replicas: Option<u32>,
}

/// The body of POST /agents.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CreateAgent {
    pub name: String,
    pub runtime: String,
    pub binary_url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub binary_sha256: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config: Option<AgentConfigInput>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub environment: Option<BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
}

/// The body of PUT /agents/{id}: only the fields given change.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UpdateAgent {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub runtime: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub binary_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub binary_sha256: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config: Option<AgentConfigInput>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub environment: Option<BTreeMap<String, String>>,
}

/// A user; every field may be left out by fields=.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct User {
    pub id: Option<String>,
    pub email: Option<String>,
    pub role: Option<Role>,
    pub organization_id: Option<String>,
    pub created_at: Option<String>,
    pub updated_at: Option<String>,
}

/// The body of POST /users.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CreateUser {
    pub email: String,
    pub password: String,
    pub role: Role,
}

/// The body of PUT /users/{id}.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UpdateUser {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
}

/// A platform component and its health.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Service {
    pub name: Option<String>,
    pub status: Option<ServiceStatus>,
    /// What is wrong, or the component's figures; from status() only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    pub version: Option<String>,
    pub uptime: Option<String>,
    /// The API instance that ran the check; from status() only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
}

/// One log line; replica 0 is the platform's own lines about the agent.
/// id is the stream's event id (follow_logs only).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogLine {
    pub timestamp: String,
    pub level: String,
    pub message: String,
    pub replica: u32,
    #[serde(skip)]
    pub id: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Point {
    pub timestamp: String,
    pub value: f64,
}

/// An agent's series; one not asked for is None.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    pub cpu: Option<Vec<Point>>,
    pub memory: Option<Vec<Point>>,
    pub network: Option<Vec<Point>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Token {
    pub access_token: String,
    pub token_type: String,
    pub expires_in: u64,
}

/// An uploaded agent binary; url (neuais://binaries/{id}) is what an
/// agent's binary_url names it by. Every field may be left out by fields=.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Binary {
    pub id: Option<String>,
    /// SHA-256 of the content, hex.
    pub sha256: Option<String>,
    pub size: Option<u64>,
    pub url: Option<String>,
    pub created_at: Option<String>,
}

/// An API token without its secret; every field may be left out by fields=.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiToken {
    pub id: Option<String>,
    pub name: Option<String>,
    pub role: Option<Role>,
    pub user_id: Option<String>,
    pub created_at: Option<String>,
    pub expires_at: Option<String>,
    /// To the minute.
    pub last_used_at: Option<String>,
}

/// A token just created, with its secret (nat_…), shown this once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewApiToken {
    pub id: String,
    pub name: String,
    pub role: Role,
    pub user_id: String,
    pub token: String,
    pub created_at: String,
    pub expires_at: Option<String>,
}

/// The body of POST /tokens: role at most the caller's; expires_at (RFC
/// 3339) None for never.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CreateApiToken {
    pub name: String,
    pub role: Role,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
}

/// The X-RateLimit-* figures of an answer; reset in Unix seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub limit: u64,
    pub remaining: u64,
    pub reset: u64,
}

/// One page of a list.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub total: u64,
    pub limit: u64,
    pub offset: u64,
    pub has_more: bool,
}

impl<T> IntoIterator for Page<T> {
    type Item = T;
    type IntoIter = std::vec::IntoIter<T>;
    fn into_iter(self) -> Self::IntoIter {
        self.items.into_iter()
    }
}

/// Paging and ordering of every list; None takes the server's default.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ListOptions {
    pub limit: Option<u32>,
    pub offset: Option<u32>,
    /// e.g. "created_at:desc"
    pub sort: Option<String>,
    pub fields: Option<Vec<String>>,
}

/// The filters of the agents' list, beside paging.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AgentFilter {
    pub status: Option<AgentStatus>,
    pub region: Option<String>,
    pub name_prefix: Option<String>,
}

/// Which log lines; None takes the server's default (the last 100 lines of
/// every level).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LogOptions {
    pub tail: Option<u32>,
    /// A duration such as "1h" or "30m".
    pub since: Option<String>,
    /// debug, info, warn or error: that level and more severe.
    pub level: Option<String>,
}

/// The agent an event is about: status its status after the event,
/// changed the fields an agent.updated changed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventData {
    pub agent_id: String,
    pub name: String,
    pub status: Option<String>,
    pub reason: Option<String>,
    pub changed: Option<Vec<String>>,
}

/// An event of the durable log: the webhook payload with its id, which only
/// grows (the deliveries' webhook-id, the follow stream's event id).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub id: String,
    /// agent.created, agent.updated, agent.deleted, agent.started, agent.stopped or agent.error.
    pub event: String,
    pub timestamp: String,
    pub data: EventData,
}

/// The filters of the event log, beside paging.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EventFilter {
    pub event_type: Option<String>,
    pub agent_id: Option<String>,
}

/// A webhook without its secret; status is active, inactive (paused) or
/// disabled (by the platform: disabled_reason). Every field may be left out
/// by fields=.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Webhook {
    pub id: Option<String>,
    pub url: Option<String>,
    /// Event types, or "*" for all.
    pub events: Option<Vec<String>>,
    pub active: Option<bool>,
    pub status: Option<String>,
    pub disabled_reason: Option<String>,
    pub failing_since: Option<String>,
    /// Until when the rotated-out secret signs beside the new one.
    pub previous_secret_expires_at: Option<String>,
    pub created_at: Option<String>,
    pub updated_at: Option<String>,
}

/// A webhook just created or rotated, with its secret, shown this once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewWebhook {
    pub id: String,
    pub url: String,
    pub events: Vec<String>,
    pub active: bool,
    pub status: String,
    /// whsec_… unless chosen at creation.
    pub secret: String,
    pub previous_secret_expires_at: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

/// The body of POST /webhooks: secret is whsec_ and base64 of 24 to 64
/// bytes, or 8 to 256 characters signing as they are; None, one is generated.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CreateWebhook {
    pub url: String,
    pub events: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

/// The body of PUT /webhooks/{id}: only the fields given change; active
/// true also enables a disabled webhook again.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UpdateWebhook {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub events: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub active: Option<bool>,
}

/// One event (or webhook.test message) to one webhook; message_id is the
/// webhook-id of every attempt; status is pending, succeeded or failed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebhookDelivery {
    pub id: String,
    pub webhook_id: String,
    pub message_id: String,
    pub event: String,
    pub status: String,
    pub attempt_count: u32,
    pub next_attempt_at: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    /// Oldest first.
    pub attempts: Vec<WebhookAttempt>,
}

/// One attempt of a delivery; status_code is None without an answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebhookAttempt {
    pub attempted_at: String,
    pub status_code: Option<u16>,
    pub duration_ms: u64,
    pub error: Option<String>,
    /// The answer's first KiB.
    pub response: String,
    pub next_retry_at: Option<String>,
}

/// Money in whole cents. The API writes it as a number with two decimals,
/// read here as the nearest double and rounded to the cent once, which
/// gives its exact figure back (doubles tell cents apart far beyond any
/// bill); Display prints it as the API does ("65.00").
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Money(pub i64);

impl Money {
    pub fn cents(self) -> i64 {
        self.0
    }
}

impl std::fmt::Display for Money {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let c = self.0.unsigned_abs();
        write!(f, "{sign}{}.{:02}", c / 100, c % 100)
    }
}

impl Serialize for Money {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(self.0 as f64 / 100.0)
    }
}

impl<'de> Deserialize<'de> for Money {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Money, D::Error> {
        let v = f64::deserialize(d)?;
        let cents = (v * 100.0).round();
        // A thousandth of a cent is far above a double's error in any bill.
        if !cents.is_finite() || (v * 100.0 - cents).abs() > 1e-3 {
            return Err(serde::de::Error::custom(format!("money {v}: not a whole number of cents")));
        }
        Ok(Money(cents as i64))
    }
}

string_enum!(
    InvoiceStatus { Open = "open", Paid = "paid", Void = "void" }
);

/// A month's measured quantities, to six decimals.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UsageFigures {
    pub compute_hours: f64,
    pub storage_gb: f64,
    pub network_gb: f64,
}

/// UsageFigures priced: each line rounded to cents, total their sum.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UsageCost {
    pub compute: Money,
    pub storage: Money,
    pub network: Money,
    pub total: Money,
}

/// One agent's share of a month's compute and network.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentUsage {
    pub agent_id: String,
    pub compute_hours: f64,
    pub network_gb: f64,
    pub compute_cost: Money,
    pub network_cost: Money,
}

/// The organization's usage in a UTC month (period, YYYY-MM) and its cost;
/// agents only with UsageOptions::by_agent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Usage {
    pub period: String,
    pub usage: UsageFigures,
    pub cost: UsageCost,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agents: Option<Vec<AgentUsage>>,
}

/// Which month Billing::usage measures, and whether per agent.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UsageOptions {
    /// current (None), last_month or YYYY-MM.
    pub period: Option<String>,
    /// Adds Usage::agents (breakdown=agent).
    pub by_agent: bool,
}

/// A closed month's bill; due_date (YYYY-MM-DD) is the first of the next month.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Invoice {
    pub id: String,
    pub period: String,
    pub amount: Money,
    pub status: InvoiceStatus,
    pub due_date: String,
}

/// One priced line: item compute, storage or network; unit hour or GB.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InvoiceLine {
    pub item: String,
    pub quantity: f64,
    pub unit: String,
    pub amount: Money,
}

/// An invoice with its lines.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InvoiceDetail {
    pub id: String,
    pub period: String,
    pub amount: Money,
    pub status: InvoiceStatus,
    pub due_date: String,
    pub lines: Vec<InvoiceLine>,
    pub created_at: String,
}
