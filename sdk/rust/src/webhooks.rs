use reqwest::header::HeaderMap;
use reqwest::Method;
use serde_json::Value;

use crate::agents::{new_key, Sse};
use crate::models::*;
use crate::{header, list_pairs, page, query, seg, Client, Error};

/// The organization's durable event log.
pub struct Events {
    c: Client,
}

fn filter_pairs(f: &EventFilter) -> Vec<(&'static str, Option<String>)> {
    vec![("type", f.event_type.clone()), ("agent_id", f.agent_id.clone())]
}

impl Events {
    pub(crate) fn new(c: Client) -> Events {
        Events { c }
    }

    /// The first page of events, newest first.
    pub async fn list(&self) -> Result<Page<Event>, Error> {
        self.list_with(&EventFilter::default(), &ListOptions::default()).await
    }

    /// A page of the events that match filter; sort "id:asc" for oldest
    /// first (opts.fields is not taken: invalid_request).
    pub async fn list_with(&self, filter: &EventFilter, opts: &ListOptions) -> Result<Page<Event>, Error> {
        let mut pairs = filter_pairs(filter);
        pairs.extend(list_pairs(opts));
        page("events", self.c.get(&format!("/events{}", query(&pairs))).await?)
    }

    /// Every event that matches filter, page after page (opts.limit a page's size).
    pub async fn all(&self, filter: &EventFilter, opts: &ListOptions) -> Result<Vec<Event>, Error> {
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

    /// Follows the log over Server-Sent Events: the events written from now
    /// on, or after last_event_id. Reconnected as a LogStream is, with
    /// Last-Event-ID, so no event is lost or repeated, also across a
    /// restart of the server.
    pub fn follow(&self, filter: &EventFilter, last_event_id: Option<&str>) -> EventStream {
        let pairs = filter_pairs(filter);
        EventStream { sse: Sse::new(self.c.clone(), "/events".into(), pairs.clone(), pairs, last_event_id.map(String::from)) }
    }
}

/// A followed event log (Events::follow).
pub struct EventStream {
    sse: Sse,
}

impl EventStream {
    /// Failed reconnects in a row before an error is returned (default 10).
    pub fn max_reconnects(mut self, n: u32) -> Self {
        self.sse.max_reconnects = n;
        self
    }

    /// The id of the last event returned.
    pub fn last_event_id(&self) -> Option<&str> {
        self.sse.last.as_deref()
    }

    /// The next event, waiting for it to be written.
    pub async fn next(&mut self) -> Result<Event, Error> {
        let (_, data) = self.sse.next().await?;
        serde_json::from_str(&data).map_err(|e| Error::Decode(e.to_string()))
    }
}

/// The organization's webhooks and their deliveries.
pub struct Webhooks {
    c: Client,
}

impl Webhooks {
    pub(crate) fn new(c: Client) -> Webhooks {
        Webhooks { c }
    }

    /// Creates a webhook, which receives the events written from then on,
    /// with a new Idempotency-Key; its secret is in this answer only.
    pub async fn create(&self, input: &CreateWebhook) -> Result<NewWebhook, Error> {
        self.create_with_key(input, &new_key()).await
    }

    /// create with the caller's Idempotency-Key: the same key and body
    /// within 24 h answer the same webhook.
    pub async fn create_with_key(&self, input: &CreateWebhook, key: &str) -> Result<NewWebhook, Error> {
        let body = serde_json::to_value(input).expect("request models serialize");
        Ok(self.c.call(Method::POST, "/webhooks", Some(&body), header("Idempotency-Key", key)).await?.0)
    }

    /// The first page of webhooks, oldest first.
    pub async fn list(&self) -> Result<Page<Webhook>, Error> {
        self.list_with(&ListOptions::default()).await
    }

    /// A page; sort by created_at, updated_at or url.
    pub async fn list_with(&self, opts: &ListOptions) -> Result<Page<Webhook>, Error> {
        page("webhooks", self.c.get(&format!("/webhooks{}", query(&list_pairs(opts)))).await?)
    }

    /// Every webhook, page after page (opts.limit a page's size).
    pub async fn all(&self, opts: &ListOptions) -> Result<Vec<Webhook>, Error> {
        let mut opts = opts.clone();
        let mut out = Vec::new();
        loop {
            let p = self.list_with(&opts).await?;
            let n = p.items.len() as u32;
            out.extend(p.items);
            if !p.has_more || n == 0 {
                return Ok(out);
            }
            opts.offset = Some(p.offset as u32 + n);
        }
    }

    pub async fn get(&self, id: &str) -> Result<Webhook, Error> {
        self.c.get(&format!("/webhooks/{}", seg(id))).await
    }

    /// Changes the fields given.
    pub async fn update(&self, id: &str, input: &UpdateWebhook) -> Result<Webhook, Error> {
        let body = serde_json::to_value(input).expect("request models serialize");
        Ok(self.c.call(Method::PUT, &format!("/webhooks/{}", seg(id)), Some(&body), HeaderMap::new()).await?.0)
    }

    /// Deletes a webhook and its deliveries.
    pub async fn delete(&self, id: &str) -> Result<String, Error> {
        let (v, _): (Value, _) = self.c.call(Method::DELETE, &format!("/webhooks/{}", seg(id)), None, HeaderMap::new()).await?;
        Ok(v["message"].as_str().unwrap_or_default().to_string())
    }

    /// A new whsec_ secret, in this answer only; the old one signs beside
    /// it for 24 hours.
    pub async fn rotate_secret(&self, id: &str) -> Result<NewWebhook, Error> {
        self.post(&format!("/webhooks/{}/rotate-secret", seg(id))).await
    }

    /// Sends a signed webhook.test message now (one attempt); its delivery, pending.
    pub async fn test(&self, id: &str) -> Result<WebhookDelivery, Error> {
        self.post(&format!("/webhooks/{}/test", seg(id))).await
    }

    /// Attempts a delivery once more, now: a conflict while the webhook is not active.
    pub async fn retry_delivery(&self, id: &str, delivery_id: &str) -> Result<WebhookDelivery, Error> {
        self.post(&format!("/webhooks/{}/deliveries/{}/retry", seg(id), seg(delivery_id))).await
    }

    async fn post<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T, Error> {
        Ok(self.c.call(Method::POST, path, None, HeaderMap::new()).await?.0)
    }

    /// A page of a webhook's deliveries, newest first, each with its
    /// attempts; status (pending, succeeded, failed) filters them
    /// (opts.fields is not taken: invalid_request).
    pub async fn deliveries(&self, id: &str, status: Option<&str>, opts: &ListOptions) -> Result<Page<WebhookDelivery>, Error> {
        let mut pairs = vec![("status", status.map(String::from))];
        pairs.extend(list_pairs(opts));
        page("deliveries", self.c.get(&format!("/webhooks/{}/deliveries{}", seg(id), query(&pairs))).await?)
    }

    /// Every delivery of a webhook, page after page (opts.limit a page's size).
    pub async fn all_deliveries(&self, id: &str, status: Option<&str>, opts: &ListOptions) -> Result<Vec<WebhookDelivery>, Error> {
        let mut opts = opts.clone();
        let mut out = Vec::new();
        loop {
            let p = self.deliveries(id, status, &opts).await?;
            let n = p.items.len() as u32;
            out.extend(p.items);
            if !p.has_more || n == 0 {
                return Ok(out);
            }
            opts.offset = Some(p.offset as u32 + n);
        }
    }
}
