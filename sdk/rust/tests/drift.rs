//! The models against the server's /v1/openapi.json: a body with every
//! property the schema names goes through the model and back unchanged
//! (no field missing, none extra), one with only the required properties
//! decodes, and the enums hold the schema's values.

use std::collections::BTreeSet;

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};

use neuais_sdk::models::*;

async fn document() -> Option<Value> {
    let root = std::env::var("NEUAIS_URL").ok().filter(|u| !u.is_empty())?;
    let res = reqwest::get(format!("{root}/v1/openapi.json")).await.unwrap();
    Some(serde_json::from_slice(&res.bytes().await.unwrap()).unwrap())
}

fn types(s: &Value) -> Vec<&str> {
    match &s["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => vec!["object"],
    }
}

/// A value of schema s: every property when all, else only the required.
fn sample(s: &Value, all: bool) -> Value {
    let ts = types(s);
    if let Some(e) = s["enum"].as_array() {
        return e[0].clone();
    }
    if ts.contains(&"object") {
        let Some(props) = s["properties"].as_object() else { return json!({"KEY": "value"}) };
        let required: Vec<&str> = s["required"].as_array().map(|r| r.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
        return props
            .iter()
            .filter(|(k, _)| all || required.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), sample(v, all)))
            .collect::<serde_json::Map<_, _>>()
            .into();
    }
    if ts.contains(&"array") {
        return json!([sample(&s["items"], all)]);
    }
    if ts.contains(&"integer") {
        return json!(1);
    }
    if ts.contains(&"number") {
        return json!(1.5);
    }
    if ts.contains(&"boolean") {
        return json!(true);
    }
    if s["format"] == "date-time" {
        return json!("2024-01-15T10:00:00Z");
    }
    json!("text")
}

/// The property names of v and of every object under it, by path.
fn shape(v: &Value, at: &str, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(_) if at.ends_with("environment") => {} // variables, not fields
        Value::Object(m) => {
            for (k, v) in m {
                out.insert(format!("{at}.{k}"));
                shape(v, &format!("{at}.{k}"), out);
            }
        }
        Value::Array(a) => a.iter().for_each(|v| shape(v, &format!("{at}[]"), out)),
        _ => {}
    }
}

fn check<T: DeserializeOwned + Serialize>(doc: &Value, name: &str, method: &str, path: &str, pointer: &str) {
    let op = &doc["paths"][path][method];
    let ok = op["responses"].as_object().unwrap().iter().find(|(k, _)| k.starts_with('2')).unwrap().1;
    let s = ok["content"]["application/json"]["schema"].pointer(pointer).unwrap_or_else(|| panic!("{method} {path}{pointer}"));
    roundtrip::<T>(s, &format!("{name} ({method} {path}{pointer})"));
}

fn roundtrip<T: DeserializeOwned + Serialize>(s: &Value, what: &str) {
    let full = sample(s, true);
    let model: T = serde_json::from_value(full.clone()).unwrap_or_else(|e| panic!("{what}: {e}"));
    let (mut want, mut got) = (BTreeSet::new(), BTreeSet::new());
    shape(&full, "", &mut want);
    shape(&serde_json::to_value(&model).unwrap(), "", &mut got);
    assert_eq!(got, want, "{what}: the model's fields differ from the schema's");
    serde_json::from_value::<T>(sample(s, false)).unwrap_or_else(|e| panic!("{what}: with only the required fields: {e}"));
}

fn enum_values<T: DeserializeOwned + PartialEq + std::fmt::Debug>(s: &Value, all: &[T], what: &str) {
    let values: Vec<&Value> = s["enum"].as_array().unwrap().iter().filter(|v| !v.is_null()).collect();
    for v in &values {
        serde_json::from_value::<T>((*v).clone()).unwrap_or_else(|e| panic!("{what}: {v}: {e}"));
    }
    assert_eq!(values.len(), all.len(), "{what}: the enum has values the schema has not");
}

#[tokio::test]
async fn models_match_openapi() {
    let Some(doc) = document().await else { return };
    check::<AgentSummary>(&doc, "AgentSummary", "get", "/agents", "/properties/agents/items");
    check::<CreatedAgent>(&doc, "CreatedAgent", "post", "/agents", "");
    for (m, p) in [
        ("get", "/agents/{id}"),
        ("put", "/agents/{id}"),
        ("post", "/agents/{id}/start"),
        ("post", "/agents/{id}/stop"),
        ("post", "/agents/{id}/restart"),
        ("post", "/agents/{id}/scale"),
        ("get", "/agents/{id}/wait"),
    ] {
        check::<Agent>(&doc, "Agent", m, p, "");
    }
    check::<LogLine>(&doc, "LogLine", "get", "/agents/{id}/logs", "/properties/logs/items");
    check::<Metrics>(&doc, "Metrics", "get", "/agents/{id}/metrics", "/properties/metrics");
    check::<Service>(&doc, "Service", "get", "/services", "/properties/services/items");
    check::<Service>(&doc, "Service", "get", "/services/{name}/status", "");
    check::<User>(&doc, "User", "get", "/users", "/properties/users/items");
    check::<User>(&doc, "User", "get", "/users/{id}", "");
    check::<User>(&doc, "User", "post", "/users", "");
    check::<User>(&doc, "User", "put", "/users/{id}", "");
    check::<Token>(&doc, "Token", "post", "/auth/token", "");
    check::<Binary>(&doc, "Binary", "get", "/binaries", "/properties/binaries/items");
    check::<Binary>(&doc, "Binary", "get", "/binaries/{id}", "");
    check::<Binary>(&doc, "Binary", "post", "/binaries", "");
    check::<ApiToken>(&doc, "ApiToken", "get", "/tokens", "/properties/tokens/items");
    check::<NewApiToken>(&doc, "NewApiToken", "post", "/tokens", "");
    check::<Event>(&doc, "Event", "get", "/events", "/properties/events/items");
    check::<Webhook>(&doc, "Webhook", "get", "/webhooks", "/properties/webhooks/items");
    check::<Webhook>(&doc, "Webhook", "get", "/webhooks/{id}", "");
    check::<Webhook>(&doc, "Webhook", "put", "/webhooks/{id}", "");
    check::<NewWebhook>(&doc, "NewWebhook", "post", "/webhooks", "");
    check::<NewWebhook>(&doc, "NewWebhook", "post", "/webhooks/{id}/rotate-secret", "");
    check::<WebhookDelivery>(&doc, "WebhookDelivery", "post", "/webhooks/{id}/test", "");
    check::<WebhookDelivery>(&doc, "WebhookDelivery", "post", "/webhooks/{id}/deliveries/{delivery_id}/retry", "");
    check::<WebhookDelivery>(&doc, "WebhookDelivery", "get", "/webhooks/{id}/deliveries", "/properties/deliveries/items");
    check::<Usage>(&doc, "Usage", "get", "/billing/usage", "");
    check::<Invoice>(&doc, "Invoice", "get", "/billing/invoices", "/properties/invoices/items");
    check::<InvoiceDetail>(&doc, "InvoiceDetail", "get", "/billing/invoices/{id}", "");

    let body = |m: &str, p: &str| doc["paths"][p][m]["requestBody"]["content"]["application/json"]["schema"].clone();
    roundtrip::<CreateAgent>(&body("post", "/agents"), "CreateAgent");
    roundtrip::<UpdateAgent>(&body("put", "/agents/{id}"), "UpdateAgent");
    roundtrip::<AgentConfigInput>(&body("post", "/agents")["properties"]["config"], "AgentConfigInput");
    roundtrip::<CreateUser>(&body("post", "/users"), "CreateUser");
    roundtrip::<UpdateUser>(&body("put", "/users/{id}"), "UpdateUser");
    roundtrip::<CreateApiToken>(&body("post", "/tokens"), "CreateApiToken");
    roundtrip::<CreateWebhook>(&body("post", "/webhooks"), "CreateWebhook");
    roundtrip::<UpdateWebhook>(&body("put", "/webhooks/{id}"), "UpdateWebhook");

    let agent = &doc["paths"]["/agents/{id}"]["get"]["responses"]["200"]["content"]["application/json"]["schema"];
    enum_values(&agent["properties"]["status"], AgentStatus::ALL, "AgentStatus");
    let user = &doc["paths"]["/users"]["post"]["requestBody"]["content"]["application/json"]["schema"];
    enum_values(&user["properties"]["role"], Role::ALL, "Role");
    enum_values(&body("post", "/tokens")["properties"]["role"], Role::ALL, "Role (tokens)");
    let service = &doc["paths"]["/services/{name}/status"]["get"]["responses"]["200"]["content"]["application/json"]["schema"];
    enum_values(&service["properties"]["status"], ServiceStatus::ALL, "ServiceStatus");
    let invoice = &doc["paths"]["/billing/invoices/{id}"]["get"]["responses"]["200"]["content"]["application/json"]["schema"];
    enum_values(&invoice["properties"]["status"], InvoiceStatus::ALL, "InvoiceStatus");
}

#[tokio::test]
async fn pages_and_parameters_match_openapi() {
    let Some(doc) = document().await else { return };
    for (path, key) in [
        ("/agents", "agents"),
        ("/services", "services"),
        ("/users", "users"),
        ("/binaries", "binaries"),
        ("/tokens", "tokens"),
        ("/events", "events"),
        ("/webhooks", "webhooks"),
        ("/webhooks/{id}/deliveries", "deliveries"),
        ("/billing/invoices", "invoices"),
    ] {
        let op = &doc["paths"][path]["get"];
        let s = &op["responses"]["200"]["content"]["application/json"]["schema"];
        let keys: BTreeSet<&str> = s["properties"].as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys, BTreeSet::from([key, "total", "limit", "offset", "has_more"]), "{path}");
        let params: BTreeSet<&str> = op["parameters"].as_array().unwrap().iter().filter(|p| p["in"] == "query").filter_map(|p| p["name"].as_str()).collect();
        // ListOptions (fields where the route takes it), plus each list's filters
        let mut sent = BTreeSet::from(["limit", "offset", "sort"]);
        match path {
            "/agents" => sent.extend(["fields", "status", "region", "name_prefix"]),
            "/events" => sent.extend(["type", "agent_id", "follow"]), // EventFilter, and follow for Events::follow
            "/webhooks/{id}/deliveries" => sent.extend(["status"]),
            "/billing/invoices" => {} // no fields
            _ => sent.extend(["fields"]),
        }
        assert_eq!(params, sent, "{path}");
    }
    let logs: BTreeSet<&str> = doc["paths"]["/agents/{id}/logs"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["in"] == "query")
        .filter_map(|p| p["name"].as_str())
        .collect();
    // LogOptions, and follow for follow_logs
    assert_eq!(logs, BTreeSet::from(["tail", "since", "level", "follow"]));
}
