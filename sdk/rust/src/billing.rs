use crate::models::*;
use crate::{list_pairs, page, query, seg, Client, Error};

/// Usage and invoices, the admins' alone (forbidden for developers and viewers).
pub struct Billing {
    c: Client,
}

impl Billing {
    pub(crate) fn new(c: Client) -> Billing {
        Billing { c }
    }

    /// The organization's usage and cost in a UTC month. Errors:
    /// invalid_request (field period) for another period or a month still
    /// to come.
    pub async fn usage(&self, opts: &UsageOptions) -> Result<Usage, Error> {
        let q = query(&[("period", opts.period.clone()), ("breakdown", opts.by_agent.then(|| "agent".to_string()))]);
        self.c.get(&format!("/billing/usage{q}")).await
    }

    /// The first page of invoices, newest period first.
    pub async fn invoices(&self) -> Result<Page<Invoice>, Error> {
        self.invoices_with(&ListOptions::default()).await
    }

    /// A page of invoices (sort: period, created_at or amount; the route
    /// takes no fields).
    pub async fn invoices_with(&self, opts: &ListOptions) -> Result<Page<Invoice>, Error> {
        page("invoices", self.c.get(&format!("/billing/invoices{}", query(&list_pairs(opts)))).await?)
    }

    /// Every invoice, page after page (opts.limit a page's size).
    pub async fn all_invoices(&self, opts: &ListOptions) -> Result<Vec<Invoice>, Error> {
        let mut opts = opts.clone();
        let mut out = Vec::new();
        loop {
            let p = self.invoices_with(&opts).await?;
            let n = p.items.len() as u32;
            out.extend(p.items);
            if !p.has_more || n == 0 {
                return Ok(out);
            }
            opts.offset = Some(p.offset as u32 + n);
        }
    }

    /// One invoice with its lines. Errors: not_found, also for another
    /// organization's.
    pub async fn invoice(&self, id: &str) -> Result<InvoiceDetail, Error> {
        self.c.get(&format!("/billing/invoices/{}", seg(id))).await
    }
}
