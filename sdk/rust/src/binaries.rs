use std::path::Path;

use reqwest::header::HeaderMap;
use reqwest::Method;
use serde_json::Value;
use tokio::io::AsyncWriteExt;

use crate::agents::new_key;
use crate::models::*;
use crate::{header, list_pairs, page, query, seg, Client, Error, Payload};

/// Uploaded agent binaries.
pub struct Binaries {
    c: Client,
}

impl Binaries {
    pub(crate) fn new(c: Client) -> Binaries {
        Binaries { c }
    }

    /// Stores an executable (ELF or #! script); the same content again
    /// answers the binary already stored. It carries a new Idempotency-Key,
    /// so that a retry never stores twice.
    pub async fn upload(&self, content: &[u8]) -> Result<Binary, Error> {
        self.upload_with_key(content, &new_key()).await
    }

    /// upload with the caller's Idempotency-Key: the same key and bytes
    /// within 24 h answer the first binary; other bytes are a conflict.
    pub async fn upload_with_key(&self, content: &[u8], key: &str) -> Result<Binary, Error> {
        self.post(Payload::Bytes(content), key).await
    }

    /// Uploads the file at path, streamed from disk (and opened again for
    /// a retry), with a new Idempotency-Key.
    pub async fn upload_file(&self, path: impl AsRef<Path>) -> Result<Binary, Error> {
        self.upload_file_with_key(path, &new_key()).await
    }

    pub async fn upload_file_with_key(&self, path: impl AsRef<Path>, key: &str) -> Result<Binary, Error> {
        self.post(Payload::File(path.as_ref()), key).await
    }

    async fn post(&self, payload: Payload<'_>, key: &str) -> Result<Binary, Error> {
        let res = self
            .c
            .send_payload(Method::POST, "/binaries", payload, header("Idempotency-Key", key), "application/json", false)
            .await?;
        let bytes = res.bytes().await.map_err(|e| Error::Connection(e.to_string()))?;
        serde_json::from_slice(&bytes).map_err(|e| Error::Decode(format!("/binaries: {e}")))
    }

    /// The first page of the organization's binaries.
    pub async fn list(&self) -> Result<Page<Binary>, Error> {
        self.list_with(&ListOptions::default()).await
    }

    /// A page; sort by created_at or size.
    pub async fn list_with(&self, opts: &ListOptions) -> Result<Page<Binary>, Error> {
        page("binaries", self.c.get(&format!("/binaries{}", query(&list_pairs(opts)))).await?)
    }

    /// Every binary, page after page (opts.limit a page's size).
    pub async fn all(&self, opts: &ListOptions) -> Result<Vec<Binary>, Error> {
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

    pub async fn get(&self, id: &str) -> Result<Binary, Error> {
        self.c.get(&format!("/binaries/{}", seg(id))).await
    }

    /// The binary's bytes, read whole; download streams them to a file.
    pub async fn content(&self, id: &str) -> Result<Vec<u8>, Error> {
        let res = self.open(id).await?;
        Ok(res.bytes().await.map_err(|e| Error::Connection(e.to_string()))?.to_vec())
    }

    /// Writes the binary's bytes to path as they arrive; answers how many.
    pub async fn download(&self, id: &str, path: impl AsRef<Path>) -> Result<u64, Error> {
        let path = path.as_ref();
        let io = |e: std::io::Error| Error::Io(format!("{}: {e}", path.display()));
        let mut res = self.open(id).await?;
        let mut f = tokio::fs::File::create(path).await.map_err(io)?;
        let mut n = 0;
        while let Some(chunk) = res.chunk().await.map_err(|e| Error::Connection(e.to_string()))? {
            f.write_all(&chunk).await.map_err(io)?;
            n += chunk.len() as u64;
        }
        f.flush().await.map_err(io)?;
        Ok(n)
    }

    async fn open(&self, id: &str) -> Result<reqwest::Response, Error> {
        let path = format!("/binaries/{}/content", seg(id));
        // No timeout: a large binary may take longer than one request's.
        self.c.send_payload(Method::GET, &path, Payload::None, HeaderMap::new(), "application/octet-stream", true).await
    }

    /// Deletes a binary: a conflict while an agent refers to it.
    pub async fn delete(&self, id: &str) -> Result<String, Error> {
        let (v, _): (Value, _) = self.c.call(Method::DELETE, &format!("/binaries/{}", seg(id)), None, HeaderMap::new()).await?;
        Ok(v["message"].as_str().unwrap_or_default().to_string())
    }
}

/// API tokens: long-lived bearer tokens for scripts and CI.
pub struct Tokens {
    c: Client,
}

impl Tokens {
    pub(crate) fn new(c: Client) -> Tokens {
        Tokens { c }
    }

    /// Creates a token for the caller with a new Idempotency-Key; its
    /// secret (token) is in this answer only.
    pub async fn create(&self, input: &CreateApiToken) -> Result<NewApiToken, Error> {
        self.create_with_key(input, &new_key()).await
    }

    /// create with the caller's Idempotency-Key (each user's own): the same
    /// key and body within 24 h answer the same token.
    pub async fn create_with_key(&self, input: &CreateApiToken, key: &str) -> Result<NewApiToken, Error> {
        let body = serde_json::to_value(input).expect("request models serialize");
        Ok(self.c.call(Method::POST, "/tokens", Some(&body), header("Idempotency-Key", key)).await?.0)
    }

    /// The first page: an admin's are all of the organization's, others' their own.
    pub async fn list(&self) -> Result<Page<ApiToken>, Error> {
        self.list_with(&ListOptions::default()).await
    }

    /// A page; sort by created_at, name or last_used_at.
    pub async fn list_with(&self, opts: &ListOptions) -> Result<Page<ApiToken>, Error> {
        page("tokens", self.c.get(&format!("/tokens{}", query(&list_pairs(opts)))).await?)
    }

    /// Every token, page after page (opts.limit a page's size).
    pub async fn all(&self, opts: &ListOptions) -> Result<Vec<ApiToken>, Error> {
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

    /// Revokes a token from the next request on.
    pub async fn revoke(&self, id: &str) -> Result<String, Error> {
        let (v, _): (Value, _) = self.c.call(Method::DELETE, &format!("/tokens/{}", seg(id)), None, HeaderMap::new()).await?;
        Ok(v["message"].as_str().unwrap_or_default().to_string())
    }
}
