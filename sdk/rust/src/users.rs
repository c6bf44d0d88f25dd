use reqwest::header::HeaderMap;
use reqwest::Method;
use serde_json::Value;

use crate::models::*;
use crate::{list_pairs, page, query, seg, Client, Error};

/// The platform's components and their health.
pub struct Services {
    c: Client,
}

impl Services {
    pub(crate) fn new(c: Client) -> Services {
        Services { c }
    }

    /// The first page of components, each checked now.
    pub async fn list(&self) -> Result<Page<Service>, Error> {
        self.list_with(&ListOptions::default()).await
    }

    pub async fn list_with(&self, opts: &ListOptions) -> Result<Page<Service>, Error> {
        page("services", self.c.get(&format!("/services{}", query(&list_pairs(opts)))).await?)
    }

    /// Every component, page after page (opts.limit a page's size).
    pub async fn all(&self, opts: &ListOptions) -> Result<Vec<Service>, Error> {
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

    /// Checks one component.
    pub async fn status(&self, name: &str) -> Result<Service, Error> {
        self.c.get(&format!("/services/{}/status", seg(name))).await
    }
}

/// The users of the caller's organization.
pub struct Users {
    c: Client,
}

impl Users {
    pub(crate) fn new(c: Client) -> Users {
        Users { c }
    }

    pub async fn list(&self) -> Result<Page<User>, Error> {
        self.list_with(&ListOptions::default()).await
    }

    pub async fn list_with(&self, opts: &ListOptions) -> Result<Page<User>, Error> {
        page("users", self.c.get(&format!("/users{}", query(&list_pairs(opts)))).await?)
    }

    /// Every user, page after page (opts.limit a page's size).
    pub async fn all(&self, opts: &ListOptions) -> Result<Vec<User>, Error> {
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

    /// A user, with only fields when given.
    pub async fn get(&self, id: &str, fields: Option<&[&str]>) -> Result<User, Error> {
        let q = query(&[("fields", fields.map(|f| f.join(",")))]);
        self.c.get(&format!("/users/{}{q}", seg(id))).await
    }

    /// Creates a user with a new Idempotency-Key, so that a retry after a
    /// lost answer never creates twice.
    pub async fn create(&self, input: &CreateUser) -> Result<User, Error> {
        let body = serde_json::to_value(input).expect("request models serialize");
        let key = crate::agents::new_key();
        Ok(self.c.call(Method::POST, "/users", Some(&body), crate::header("Idempotency-Key", &key)).await?.0)
    }

    pub async fn update(&self, id: &str, input: &UpdateUser) -> Result<User, Error> {
        let body = serde_json::to_value(input).expect("request models serialize");
        Ok(self.c.call(Method::PUT, &format!("/users/{}", seg(id)), Some(&body), HeaderMap::new()).await?.0)
    }

    pub async fn delete(&self, id: &str) -> Result<String, Error> {
        let (v, _): (Value, _) = self.c.call(Method::DELETE, &format!("/users/{}", seg(id)), None, HeaderMap::new()).await?;
        Ok(v["message"].as_str().unwrap_or_default().to_string())
    }
}
