// The TypeScript client of the neuais REST API (/v1), for Node 20 and
// browsers: only the platform's fetch, no runtime dependencies.
//
//   import { NeuaisClient } from '@neuais/sdk';
//   const client = new NeuaisClient('your-token');
//   const agents = await client.agents.list();
//
// Answers 429 and 503 are retried after their Retry-After; requests safe
// to repeat (reads, PUT, DELETE, and creates, which always carry an
// Idempotency-Key) are retried when the connection fails.
import type * as m from './models.js';

export type * from './models.js';

/** The server used without the baseUrl option and NEUAIS_URL. */
export const DEFAULT_BASE_URL = 'http://localhost:8000';

export interface ClientOptions {
  /** The server's root (http://localhost:8000) or its /v1; else NEUAIS_URL (Node), else DEFAULT_BASE_URL. */
  baseUrl?: string;
  /** Replaces the platform's fetch (proxies, tests). */
  fetch?: typeof fetch;
  /** Retries of one call (default 3; 0: never). */
  maxRetries?: number;
  /** The longest Retry-After waited for, in ms (default 60000); a longer one is thrown at once. */
  maxRetryWait?: number;
}

/** An error answer: the contract's code, message and details, the HTTP status and Retry-After (ms). */
export class NeuaisError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: Record<string, unknown> = {},
    readonly retryAfter?: number,
  ) {
    super(message);
    this.name = 'NeuaisError';
  }
}

/** The X-RateLimit-* figures of the last answer. */
export interface RateLimit {
  limit: number;
  remaining: number;
  /** When the window ends. */
  reset: Date;
}

export interface ListOptions {
  limit?: number;
  offset?: number;
  /** e.g. "created_at:desc". */
  sort?: string;
  fields?: string[];
}

export interface ListAgentsOptions extends ListOptions {
  status?: string;
  region?: string;
  namePrefix?: string;
}

export interface LogOptions {
  tail?: number;
  /** A duration: "1h", "30m". */
  since?: string;
  level?: 'debug' | 'info' | 'warn' | 'error';
}

export interface FollowOptions extends LogOptions {
  /** Resume after this line id (a LogLine's id) instead of the tail. */
  after?: string;
  /** Ends the follow. */
  signal?: AbortSignal;
}

export type LogLine = m.LogList['logs'][number] & { /** The stream's event id, set on followed lines. */ id?: string };
export type Metrics = m.MetricsAnswer['metrics'];
export type CreateAgentRequest = m.CreateAgentRequest & { idempotencyKey?: string };
export type CreateUserRequest = m.CreateUserRequest & { idempotencyKey?: string };
export type CreateApiTokenRequest = m.CreateApiTokenRequest & { idempotencyKey?: string };
export type ApiToken = m.ApiTokenList['tokens'][number];
type EventItem = m.EventList['events'][number];
/** An event of the log: a listed one's data has its null fields, a followed one's leaves them out. */
export type Event = Omit<EventItem, 'data'> & { data: Partial<EventItem['data']> & Pick<EventItem['data'], 'agent_id' | 'name'> };
export type CreateWebhookRequest = m.CreateWebhookRequest & { idempotencyKey?: string };
export type WebhookDelivery = m.WebhookDelivery;
export type InvoiceSummary = m.InvoiceList['invoices'][number];

export interface UsageOptions {
  /** current (default), last_month or YYYY-MM. */
  period?: string;
  /** Adds each agent's share (agents). */
  byAgent?: boolean;
}

/** The route takes no fields. */
export interface ListEventsOptions extends Omit<ListOptions, 'fields'> {
  /** An event type: agent.created, agent.updated, agent.deleted, agent.started, agent.stopped or agent.error. */
  type?: string;
  agentId?: string;
}

export interface FollowEventsOptions {
  type?: string;
  agentId?: string;
  /** Resume after this event id instead of starting with the events written from now on. */
  after?: string;
  /** Ends the follow. */
  signal?: AbortSignal;
}

/** The route takes no fields. */
export interface ListDeliveriesOptions extends Omit<ListOptions, 'fields'> {
  /** pending, succeeded or failed. */
  status?: string;
}

/**
 * An upload's bytes. A Blob (a file from fs.openAsBlob or an <input>) is
 * streamed with its size and can be sent again on a retry; a ReadableStream
 * is streamed once, chunked, and not retried.
 */
export type BinaryContent = Blob | ArrayBuffer | ArrayBufferView | ReadableStream<Uint8Array>;

export interface UploadOptions {
  /** Makes retries of the same upload safe; without it one is made for the call. */
  idempotencyKey?: string;
}

type Query = Record<string, string | number | undefined>;

interface Call {
  method: string;
  path: string;
  query?: Query;
  body?: unknown;
  headers?: Record<string, string>;
  /** A body sent as it is (application/octet-stream), in place of body. */
  raw?: BinaryContent;
  accept?: string;
  signal?: AbortSignal;
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => { clearTimeout(timer); reject(signal.reason); }, { once: true });
  });

/** 100 ms doubling, at most 2 s. */
const backoff = (attempt: number) => Math.min(100 * 2 ** Math.min(attempt, 5), 2000);

const env = (name: string): string | undefined =>
  (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env?.[name];

function apiUrl(u: string): string {
  u = u.replace(/\/+$/, '');
  return u.endsWith('/v1') ? u : u + '/v1';
}

async function decodeError(res: Response): Promise<NeuaisError> {
  const text = await res.text();
  let e: Partial<m.ErrorEnvelope['error']> = {};
  try { e = (JSON.parse(text) as m.ErrorEnvelope).error ?? {}; } catch { /* not the envelope */ }
  const retry = res.headers.get('Retry-After');
  return new NeuaisError(res.status, e.code ?? 'internal_error', e.message ?? text.trim(), e.details ?? {},
    retry !== null && /^\d+$/.test(retry) ? Number(retry) * 1000 : undefined);
}

const statusOf: Record<string, number> = {
  invalid_request: 400, unauthorized: 401, forbidden: 403, not_found: 404, conflict: 409,
  rate_limit_exceeded: 429, internal_error: 500, service_unavailable: 503,
};

/** A client with one bearer token. */
export class NeuaisClient {
  readonly agents: AgentsApi;
  readonly users: UsersApi;
  readonly services: ServicesApi;
  readonly binaries: BinariesApi;
  readonly tokens: TokensApi;
  readonly events: EventsApi;
  readonly webhooks: WebhooksApi;
  readonly billing: BillingApi;
  /** The rate-limit figures of the last answer. */
  rateLimit?: RateLimit;

  readonly baseUrl: string;
  private readonly fetch: typeof fetch;
  private readonly maxRetries: number;
  private readonly maxRetryWait: number;

  constructor(private readonly token: string, options: ClientOptions = {}) {
    this.baseUrl = apiUrl(options.baseUrl ?? env('NEUAIS_URL') ?? DEFAULT_BASE_URL);
    this.fetch = options.fetch ?? globalThis.fetch.bind(globalThis);
    this.maxRetries = options.maxRetries ?? 3;
    this.maxRetryWait = options.maxRetryWait ?? 60_000;
    this.agents = new AgentsApi(this);
    this.users = new UsersApi(this);
    this.services = new ServicesApi(this);
    this.binaries = new BinariesApi(this);
    this.tokens = new TokensApi(this);
    this.events = new EventsApi(this);
    this.webhooks = new WebhooksApi(this);
    this.billing = new BillingApi(this);
  }

  /** Exchanges an e-mail and password for a token. Errors: unauthorized, rate_limit_exceeded. */
  static async login(email: string, password: string, options: ClientOptions = {}): Promise<m.Token> {
    return new NeuaisClient('', options).json<m.Token>({ method: 'POST', path: '/auth/token', body: { email, password } });
  }

  /** @internal One call's JSON answer. */
  async json<T>(call: Call): Promise<T> {
    return (await (await this.send(call)).json()) as T;
  }

  /** @internal Sends a call, retrying as the module comment says, until a successful answer. */
  async send(call: Call): Promise<Response> {
    const url = new URL(this.baseUrl + call.path);
    for (const [k, v] of Object.entries(call.query ?? {})) {
      if (v !== undefined && v !== '') url.searchParams.set(k, String(v));
    }
    const headers: Record<string, string> = { Accept: call.accept ?? 'application/json', ...call.headers };
    if (call.body !== undefined) headers['Content-Type'] = 'application/json';
    if (call.raw !== undefined) headers['Content-Type'] = 'application/octet-stream';
    if (this.token) headers.Authorization = `Bearer ${this.token}`;
    // A stream is read by its one send: it cannot be retried.
    const once = call.raw instanceof ReadableStream;
    const safe = !once && (['GET', 'PUT', 'DELETE'].includes(call.method) || Boolean(call.headers?.['Idempotency-Key']));
    for (let attempt = 0; ; attempt++) {
      let wait: number;
      try {
        const res = await this.fetch(url, {
          method: call.method, headers, signal: call.signal,
          body: call.raw ?? (call.body === undefined ? undefined : JSON.stringify(call.body)),
          ...(once ? { duplex: 'half' } : {}),
        } as RequestInit);
        this.noteRateLimit(res.headers);
        if (res.ok) return res;
        const err = await decodeError(res);
        if ((res.status !== 429 && res.status !== 503) || once || attempt >= this.maxRetries || (err.retryAfter ?? 0) > this.maxRetryWait) throw err;
        wait = err.retryAfter ?? backoff(attempt);
      } catch (err) {
        if (err instanceof NeuaisError || call.signal?.aborted || !safe || attempt >= this.maxRetries) throw err;
        wait = backoff(attempt);
      }
      await sleep(wait, call.signal);
    }
  }

  private noteRateLimit(h: Headers) {
    const [limit, remaining, reset] = ['Limit', 'Remaining', 'Reset'].map((k) => h.get(`X-RateLimit-${k}`));
    if (limit !== null && remaining !== null && reset !== null) {
      this.rateLimit = { limit: Number(limit), remaining: Number(remaining), reset: new Date(Number(reset) * 1000) };
    }
  }
}

const listQuery = (o: ListOptions = {}): Query => ({ limit: o.limit, offset: o.offset, sort: o.sort, fields: o.fields?.join(',') });

/** Yields the items of every page, moving the offset on until the server says there are no more. */
async function* pages<T>(opts: ListOptions, fetchPage: (o: ListOptions) => Promise<{ items: T[]; has_more: boolean }>): AsyncGenerator<T> {
  let offset = opts.offset ?? 0;
  for (;;) {
    const page = await fetchPage({ ...opts, offset });
    yield* page.items;
    if (!page.has_more || page.items.length === 0) return;
    offset += page.items.length;
  }
}

const newKey = () => globalThis.crypto.randomUUID();
const enc = encodeURIComponent;

/** The /agents routes. */
export class AgentsApi {
  constructor(private readonly c: NeuaisClient) {}

  /** A page of the organization's agents (the first 100 without options). */
  list(opts: ListAgentsOptions = {}): Promise<m.AgentList> {
    return this.c.json({ method: 'GET', path: '/agents', query: { ...listQuery(opts), status: opts.status, region: opts.region, name_prefix: opts.namePrefix } });
  }

  /** Every agent that matches opts, over all pages. */
  all(opts: ListAgentsOptions = {}): AsyncGenerator<m.AgentList['agents'][number]> {
    return pages(opts, async (o) => { const p = await this.list(o); return { items: p.agents, has_more: p.has_more }; });
  }

  /** One agent. Errors: not_found. */
  get(id: string): Promise<m.Agent> {
    return this.c.json({ method: 'GET', path: `/agents/${enc(id)}` });
  }

  /** Creates an agent (status deploying); without idempotencyKey one is made for the call, so retries never create twice. Errors: invalid_request, conflict. */
  create(req: CreateAgentRequest): Promise<m.CreatedAgent> {
    const { idempotencyKey, ...body } = req;
    return this.c.json({ method: 'POST', path: '/agents', body, headers: { 'Idempotency-Key': idempotencyKey ?? newKey() } });
  }

  /** Changes the fields given. */
  update(id: string, req: m.UpdateAgentRequest): Promise<m.Agent> {
    return this.c.json({ method: 'PUT', path: `/agents/${enc(id)}`, body: req });
  }

  /** Deletes an agent and stops its replicas. */
  async delete(id: string): Promise<void> {
    await this.c.json({ method: 'DELETE', path: `/agents/${enc(id)}` });
  }

  start(id: string): Promise<m.Agent> { return this.c.json({ method: 'POST', path: `/agents/${enc(id)}/start` }); }
  stop(id: string): Promise<m.Agent> { return this.c.json({ method: 'POST', path: `/agents/${enc(id)}/stop` }); }
  restart(id: string): Promise<m.Agent> { return this.c.json({ method: 'POST', path: `/agents/${enc(id)}/restart` }); }
  scale(id: string, replicas: number): Promise<m.Agent> {
    return this.c.json({ method: 'POST', path: `/agents/${enc(id)}/scale`, body: { replicas } });
  }

  /** The agent once it has status; a NeuaisError with code timeout when timeout ("30s") passes first. */
  wait(id: string, status: string, timeout = '30s'): Promise<m.Agent> {
    return this.c.json({ method: 'GET', path: `/agents/${enc(id)}/wait`, query: { status, timeout } });
  }

  /** An agent's log lines, oldest first. */
  async logs(id: string, opts: LogOptions = {}): Promise<LogLine[]> {
    return (await this.c.json<m.LogList>({ method: 'GET', path: `/agents/${enc(id)}/logs`, query: { ...opts } })).logs;
  }

  /**
   * Follows an agent's log over Server-Sent Events until the loop stops, the
   * signal aborts, or the stream ends for good (agent deleted: not_found;
   * token expired: unauthorized; thrown). When the connection drops or the
   * server restarts it reconnects with Last-Event-ID, so no line is lost or
   * seen twice.
   */
  async *followLogs(id: string, opts: FollowOptions = {}): AsyncGenerator<LogLine> {
    const { after, signal, ...select } = opts;
    const query = (resuming: boolean): Query => ({ level: select.level, ...(resuming ? {} : { tail: select.tail, since: select.since }) });
    for await (const [evId, data] of follow(this.c, `/agents/${enc(id)}/logs`, query, after, signal)) {
      const line = JSON.parse(data) as LogLine;
      line.id = evId;
      yield line;
    }
  }

  /** An agent's series over period (1h, 24h, 7d), all or only metric (cpu, memory, network). */
  async metrics(id: string, period?: string, metric?: string): Promise<Metrics> {
    return (await this.c.json<m.MetricsAnswer>({ method: 'GET', path: `/agents/${enc(id)}/metrics`, query: { period, metric } })).metrics;
  }
}

/**
 * Reads the follow stream of path, query(resuming) its query, yielding
 * each event's id and data until the consumer stops, the signal aborts or
 * the server ends it for good (its error thrown). It reconnects after the
 * last id seen (or after) with Last-Event-ID, waiting up to 2 s between
 * attempts, when the connection drops or the server answers
 * service_unavailable or rate_limit_exceeded.
 */
async function* follow(c: NeuaisClient, path: string, query: (resuming: boolean) => Query, after: string | undefined,
  signal: AbortSignal | undefined): AsyncGenerator<[string, string]> {
  let last = after;
  for (let attempt = 0; ; attempt++) {
    try {
      const res = await c.send({ method: 'GET', path, query: { ...query(Boolean(last)), follow: 'true' }, accept: 'text/event-stream', signal,
        headers: last ? { 'Last-Event-ID': last } : {} });
      for await (const ev of events(res, signal)) {
        if (ev.event === 'error') {
          const e = (JSON.parse(ev.data) as m.ErrorEnvelope).error;
          throw new NeuaisError(statusOf[e.code] ?? 500, e.code, e.message, e.details);
        }
        last = ev.id;
        attempt = 0;
        yield [ev.id ?? '', ev.data];
      }
    } catch (err) {
      if (signal?.aborted) throw err;
      if (err instanceof NeuaisError && err.code !== 'service_unavailable' && err.code !== 'rate_limit_exceeded') throw err;
    }
    await sleep(backoff(attempt), signal);
  }
}

/** Reads a Server-Sent Events stream into its events. */
async function* events(res: Response, signal?: AbortSignal): AsyncGenerator<{ id?: string; event?: string; data: string }> {
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  const onAbort = () => { reader.cancel().catch(() => {}); };
  signal?.addEventListener('abort', onAbort, { once: true });
  let buf = '';
  let ev: { id?: string; event?: string; data: string[] } = { data: [] };
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buf += value;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl).replace(/\r$/, '');
        buf = buf.slice(nl + 1);
        if (line === '') {
          if (ev.data.length > 0) yield { id: ev.id, event: ev.event, data: ev.data.join('\n') };
          ev = { data: [] };
          continue;
        }
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        const val = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
        if (field === 'id') ev.id = val;
        else if (field === 'event') ev.event = val;
        else if (field === 'data') ev.data.push(val);
      }
    }
  } finally {
    signal?.removeEventListener('abort', onAbort);
    reader.cancel().catch(() => {});
  }
}

/** The /users routes. */
export class UsersApi {
  constructor(private readonly c: NeuaisClient) {}

  /** A page of the organization's users (admins only). */
  list(opts: ListOptions = {}): Promise<m.UserList> {
    return this.c.json({ method: 'GET', path: '/users', query: listQuery(opts) });
  }

  /** Every user, over all pages. */
  all(opts: ListOptions = {}): AsyncGenerator<m.UserList['users'][number]> {
    return pages(opts, async (o) => { const p = await this.list(o); return { items: p.users, has_more: p.has_more }; });
  }

  get(id: string): Promise<m.User> { return this.c.json({ method: 'GET', path: `/users/${enc(id)}` }); }

  /** Adds a user; without idempotencyKey one is made for the call. Errors: invalid_request, conflict. */
  create(req: CreateUserRequest): Promise<m.User> {
    const { idempotencyKey, ...body } = req;
    return this.c.json({ method: 'POST', path: '/users', body, headers: { 'Idempotency-Key': idempotencyKey ?? newKey() } });
  }

  update(id: string, req: m.UpdateUserRequest): Promise<m.User> {
    return this.c.json({ method: 'PUT', path: `/users/${enc(id)}`, body: req });
  }

  async delete(id: string): Promise<void> {
    await this.c.json({ method: 'DELETE', path: `/users/${enc(id)}` });
  }
}

/** The /services routes. */
export class ServicesApi {
  constructor(private readonly c: NeuaisClient) {}

  /** A page of the platform's components, each checked on this read. */
  list(opts: ListOptions = {}): Promise<m.ServiceList> {
    return this.c.json({ method: 'GET', path: '/services', query: listQuery(opts) });
  }

  all(opts: ListOptions = {}): AsyncGenerator<m.ServiceList['services'][number]> {
    return pages(opts, async (o) => { const p = await this.list(o); return { items: p.services, has_more: p.has_more }; });
  }

  /** One component. Errors: not_found. */
  status(name: string): Promise<m.Service> {
    return this.c.json({ method: 'GET', path: `/services/${enc(name)}/status` });
  }
}

/** The /binaries routes. */
export class BinariesApi {
  constructor(private readonly c: NeuaisClient) {}

  /**
   * Stores an executable (ELF or #! script); the same content again answers
   * the binary already stored. Its url (neuais://binaries/{id}) is an
   * agent's binary_url. Errors: invalid_request, payload_too_large, conflict
   * (idempotencyKey reused with other bytes).
   */
  upload(content: BinaryContent, opts: UploadOptions = {}): Promise<m.UploadedBinary> {
    return this.c.json({ method: 'POST', path: '/binaries', raw: content, headers: { 'Idempotency-Key': opts.idempotencyKey ?? newKey() } });
  }

  /** Uploads the file at path (Node), streamed from disk. */
  async uploadFile(path: string, opts: UploadOptions = {}): Promise<m.UploadedBinary> {
    // A specifier in a variable: browser bundles need not resolve node:fs.
    const fsModule = 'node:fs';
    const { openAsBlob } = (await import(fsModule)) as { openAsBlob(path: string): Promise<Blob> };
    return this.upload(await openAsBlob(path), opts);
  }

  /** A page of the organization's binaries (sort: created_at or size). */
  list(opts: ListOptions = {}): Promise<m.BinaryList> {
    return this.c.json({ method: 'GET', path: '/binaries', query: listQuery(opts) });
  }

  /** Every binary, over all pages. */
  all(opts: ListOptions = {}): AsyncGenerator<m.BinaryList['binaries'][number]> {
    return pages(opts, async (o) => { const p = await this.list(o); return { items: p.binaries, has_more: p.has_more }; });
  }

  /** One binary. Errors: not_found. */
  get(id: string): Promise<m.Binary> { return this.c.json({ method: 'GET', path: `/binaries/${enc(id)}` }); }

  /** A binary's bytes as a stream. Errors: not_found. */
  async stream(id: string): Promise<ReadableStream<Uint8Array>> {
    const res = await this.c.send({ method: 'GET', path: `/binaries/${enc(id)}/content`, accept: 'application/octet-stream' });
    return res.body!;
  }

  /** A binary's bytes, read whole. Errors: not_found. */
  async content(id: string): Promise<Uint8Array> {
    const res = await this.c.send({ method: 'GET', path: `/binaries/${enc(id)}/content`, accept: 'application/octet-stream' });
    return new Uint8Array(await res.arrayBuffer());
  }

  /** Deletes a binary. Errors: conflict while an agent refers to it, not_found. */
  async delete(id: string): Promise<void> {
    await this.c.json({ method: 'DELETE', path: `/binaries/${enc(id)}` });
  }
}

/** The /tokens routes. */
export class TokensApi {
  constructor(private readonly c: NeuaisClient) {}

  /**
   * Creates an API token for the caller, with a role no higher than theirs;
   * its secret (token, nat_…) is in this answer only. Without
   * idempotencyKey one is made for the call. Errors: invalid_request,
   * forbidden, conflict.
   */
  create(req: CreateApiTokenRequest): Promise<m.NewApiToken> {
    const { idempotencyKey, ...body } = req;
    return this.c.json({ method: 'POST', path: '/tokens', body, headers: { 'Idempotency-Key': idempotencyKey ?? newKey() } });
  }

  /** A page of tokens: an admin's are all of the organization's, others' their own. */
  list(opts: ListOptions = {}): Promise<m.ApiTokenList> {
    return this.c.json({ method: 'GET', path: '/tokens', query: listQuery(opts) });
  }

  /** Every token, over all pages. */
  all(opts: ListOptions = {}): AsyncGenerator<ApiToken> {
    return pages(opts, async (o) => { const p = await this.list(o); return { items: p.tokens, has_more: p.has_more }; });
  }

  /** Revokes a token from the next request on. Errors: not_found. */
  async revoke(id: string): Promise<void> {
    await this.c.json({ method: 'DELETE', path: `/tokens/${enc(id)}` });
  }
}

/** The /events routes: the organization's durable event log. */
export class EventsApi {
  constructor(private readonly c: NeuaisClient) {}

  /** A page of events, newest first (sort: "id:asc" for oldest first). Errors: invalid_request (type, limit, offset, sort). */
  list(opts: ListEventsOptions = {}): Promise<m.EventList> {
    return this.c.json({ method: 'GET', path: '/events', query: { ...listQuery(opts), type: opts.type, agent_id: opts.agentId } });
  }

  /** Every event that matches opts, over all pages. */
  all(opts: ListEventsOptions = {}): AsyncGenerator<Event> {
    return pages(opts, async (o) => { const p = await this.list({ ...opts, ...o }); return { items: p.events, has_more: p.has_more }; });
  }

  /**
   * Follows the log over Server-Sent Events: the events written from now
   * on, or after opts.after. Reconnects as followLogs does, with
   * Last-Event-ID, so no event is lost or seen twice, also across a
   * restart of the server.
   */
  async *follow(opts: FollowEventsOptions = {}): AsyncGenerator<Event> {
    const query = (): Query => ({ type: opts.type, agent_id: opts.agentId });
    for await (const [, data] of follow(this.c, '/events', query, opts.after, opts.signal)) yield JSON.parse(data) as Event;
  }
}

/** The /webhooks routes. */
export class WebhooksApi {
  constructor(private readonly c: NeuaisClient) {}

  /**
   * Creates a webhook, which receives the events written from then on; its
   * secret (generated as whsec_… unless given) is in this answer only.
   * Without idempotencyKey one is made for the call. Errors: forbidden,
   * invalid_request (url, events, secret), conflict.
   */
  create(req: CreateWebhookRequest): Promise<m.NewWebhook> {
    const { idempotencyKey, ...body } = req;
    return this.c.json({ method: 'POST', path: '/webhooks', body, headers: { 'Idempotency-Key': idempotencyKey ?? newKey() } });
  }

  /** A page of the organization's webhooks, oldest first (sort: created_at, updated_at or url). */
  list(opts: ListOptions = {}): Promise<m.WebhookList> {
    return this.c.json({ method: 'GET', path: '/webhooks', query: listQuery(opts) });
  }

  /** Every webhook, over all pages. */
  all(opts: ListOptions = {}): AsyncGenerator<m.WebhookList['webhooks'][number]> {
    return pages(opts, async (o) => { const p = await this.list(o); return { items: p.webhooks, has_more: p.has_more }; });
  }

  /** One webhook. Errors: not_found. */
  get(id: string): Promise<m.Webhook> { return this.c.json({ method: 'GET', path: `/webhooks/${enc(id)}` }); }

  /** Changes url, events or active (true also enables a disabled webhook again). Errors: forbidden, not_found, invalid_request. */
  update(id: string, req: m.UpdateWebhookRequest): Promise<m.Webhook> {
    return this.c.json({ method: 'PUT', path: `/webhooks/${enc(id)}`, body: req });
  }

  /** Deletes a webhook and its deliveries. Errors: forbidden, not_found. */
  async delete(id: string): Promise<void> {
    await this.c.json({ method: 'DELETE', path: `/webhooks/${enc(id)}` });
  }

  /** A new whsec_ secret, in this answer only; the old one signs beside it for 24 hours. */
  rotateSecret(id: string): Promise<m.NewWebhook> {
    return this.c.json({ method: 'POST', path: `/webhooks/${enc(id)}/rotate-secret` });
  }

  /** Sends a signed webhook.test message now (one attempt); its delivery, pending. */
  test(id: string): Promise<WebhookDelivery> {
    return this.c.json({ method: 'POST', path: `/webhooks/${enc(id)}/test` });
  }

  /** A page of a webhook's deliveries, newest first, each with its attempts. Errors: not_found, invalid_request (status). */
  deliveries(id: string, opts: ListDeliveriesOptions = {}): Promise<m.WebhookDeliveryList> {
    return this.c.json({ method: 'GET', path: `/webhooks/${enc(id)}/deliveries`, query: { ...listQuery(opts), status: opts.status } });
  }

  /** Every delivery of a webhook that matches opts, over all pages. */
  allDeliveries(id: string, opts: ListDeliveriesOptions = {}): AsyncGenerator<WebhookDelivery> {
    return pages(opts, async (o) => { const p = await this.deliveries(id, { ...opts, ...o }); return { items: p.deliveries, has_more: p.has_more }; });
  }

  /** Attempts a delivery once more, now. Errors: forbidden, not_found, conflict (the webhook is not active). */
  retryDelivery(id: string, deliveryId: string): Promise<WebhookDelivery> {
    return this.c.json({ method: 'POST', path: `/webhooks/${enc(id)}/deliveries/${enc(deliveryId)}/retry` });
  }
}

/**
 * The API's money, a number with two decimals, as an exact string: the
 * number is the double nearest that figure, so rounding its hundredfold
 * gives the cents back.
 */
function money(n: number): m.Money {
  const cents = Math.round(n * 100);
  const abs = Math.abs(cents);
  return `${cents < 0 ? '-' : ''}${Math.floor(abs / 100)}.${String(abs % 100).padStart(2, '0')}`;
}

/** A billing answer as sent: its money members are numbers. */
type Wire = Record<string, any>;

function moneyOf(o: Wire, ...keys: string[]): void {
  for (const k of keys) o[k] = money(o[k]);
}

/** The /billing routes, the admins' alone (forbidden for developers and viewers). Money is a Money string. */
export class BillingApi {
  constructor(private readonly c: NeuaisClient) {}

  /** The organization's usage and cost in a UTC month. Errors: forbidden, invalid_request (period, also a month still to come). */
  async usage(opts: UsageOptions = {}): Promise<m.Usage> {
    const u = await this.c.json<Wire>({ method: 'GET', path: '/billing/usage', query: { period: opts.period, breakdown: opts.byAgent ? 'agent' : undefined } });
    moneyOf(u.cost, 'compute', 'storage', 'network', 'total');
    for (const a of u.agents ?? []) moneyOf(a, 'compute_cost', 'network_cost');
    return u as m.Usage;
  }

  /** A page of invoices, newest period first (sort: period, created_at or amount; no fields). Errors: forbidden, invalid_request. */
  async invoices(opts: Omit<ListOptions, 'fields'> = {}): Promise<m.InvoiceList> {
    const p = await this.c.json<Wire>({ method: 'GET', path: '/billing/invoices', query: listQuery(opts) });
    for (const inv of p.invoices) moneyOf(inv, 'amount');
    return p as m.InvoiceList;
  }

  /** Every invoice, over all pages. */
  allInvoices(opts: Omit<ListOptions, 'fields'> = {}): AsyncGenerator<InvoiceSummary> {
    return pages(opts, async (o) => { const p = await this.invoices(o); return { items: p.invoices, has_more: p.has_more }; });
  }

  /** One invoice with its lines. Errors: forbidden, not_found (also another organization's). */
  async invoice(id: string): Promise<m.Invoice> {
    const inv = await this.c.json<Wire>({ method: 'GET', path: `/billing/invoices/${enc(id)}` });
    moneyOf(inv, 'amount');
    for (const line of inv.lines) moneyOf(line, 'amount');
    return inv as m.Invoice;
  }
}

/** Why verifyWebhook refused a delivery. */
export class WebhookVerificationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WebhookVerificationError';
  }
}

/** How far a delivery's webhook-timestamp may be from now, either way, in seconds. */
export const WEBHOOK_TOLERANCE = 5 * 60;

/** Node's IncomingHttpHeaders, a fetch Headers or a plain object. */
export type WebhookHeaders = Headers | Record<string, string | string[] | undefined>;

function header(h: WebhookHeaders, name: string): string {
  if (h instanceof Headers) return h.get(name) ?? '';
  const v = h[name] ?? Object.entries(h).find(([k]) => k.toLowerCase() === name)?.[1];
  return [v ?? ''].flat().join(' ');
}

const fromBase64 = (s: string) => Uint8Array.from(atob(s), (ch) => ch.charCodeAt(0));

/**
 * Checks a delivery per Standard Webhooks (WebCrypto only: Node 20 and
 * browsers): one of the space-separated v1 signatures of webhook-signature
 * (two during a rotation) is the HMAC-SHA256 of "id.timestamp.body", keyed
 * by secret (whsec_ and base64 of the key, or a secret chosen without the
 * prefix: its UTF-8 bytes), and webhook-timestamp is within 5 minutes.
 * body is the request's body as received, not re-encoded JSON. Throws a
 * WebhookVerificationError.
 */
export async function verifyWebhook(secret: string, headers: WebhookHeaders, body: string | Uint8Array): Promise<void> {
  let keyBytes: Uint8Array;
  try {
    keyBytes = secret.startsWith('whsec_') ? fromBase64(secret.slice(6)) : new TextEncoder().encode(secret);
  } catch {
    throw new WebhookVerificationError('webhook secret: whsec_ is not followed by base64');
  }
  const id = header(headers, 'webhook-id');
  const ts = header(headers, 'webhook-timestamp');
  if (!/^\d+$/.test(ts) || Math.abs(Date.now() / 1000 - Number(ts)) > WEBHOOK_TOLERANCE) {
    throw new WebhookVerificationError('webhook-timestamp missing or not within 5 minutes');
  }
  const key = await globalThis.crypto.subtle.importKey('raw', keyBytes as BufferSource, { name: 'HMAC', hash: 'SHA-256' }, false, ['verify']);
  const prefix = new TextEncoder().encode(`${id}.${ts}.`);
  const payload = typeof body === 'string' ? new TextEncoder().encode(body) : body;
  const signed = new Uint8Array(prefix.length + payload.length);
  signed.set(prefix);
  signed.set(payload, prefix.length);
  for (const sig of header(headers, 'webhook-signature').split(' ')) {
    if (!sig.startsWith('v1,')) continue;
    let mac: Uint8Array;
    try { mac = fromBase64(sig.slice(3)); } catch { continue; }
    // subtle.verify compares in constant time.
    if (await globalThis.crypto.subtle.verify('HMAC', key, mac as BufferSource, signed)) return;
  }
  throw new WebhookVerificationError('no webhook-signature matches');
}
