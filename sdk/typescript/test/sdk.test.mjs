// The TypeScript SDK against a real server started by typescript_test.go,
// which passes its URL (NEUAIS_URL, read by the client itself), tokens,
// the test agent's URL and a control URL that restarts the server.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, writeFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:http';
import { createHmac } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { NeuaisClient, NeuaisError, verifyWebhook, WebhookVerificationError } from '@neuais/sdk';

const token = process.env.NEUAIS_TOKEN;
const agentUrl = process.env.NEUAIS_TEST_AGENT_URL;

test('the reference example runs as written', async () => {
  const client = new NeuaisClient(token); // the reference: new NeuaisClient('your-token')
  const agents = await client.agents.list();
  assert.equal(agents.limit, 100);
});

test('base URL: option, else NEUAIS_URL with or without /v1, else localhost:8000', async () => {
  assert.equal(new NeuaisClient(token).baseUrl, process.env.NEUAIS_URL + '/v1');
  const v1 = new NeuaisClient(token, { baseUrl: process.env.NEUAIS_URL + '/v1/' });
  assert.ok((await v1.services.list()).total > 0);
  const saved = process.env.NEUAIS_URL;
  delete process.env.NEUAIS_URL;
  try {
    assert.equal(new NeuaisClient(token).baseUrl, 'http://localhost:8000/v1');
  } finally {
    process.env.NEUAIS_URL = saved;
  }
});

test('every method', async (t) => {
  const client = new NeuaisClient(token);
  const tok = await NeuaisClient.login('admin@example.com', 'admin-password-1');
  assert.equal(tok.token_type, 'Bearer');
  assert.equal(tok.expires_in, 3600);

  const req = { name: 'ts-agent', runtime: 'go', binary_url: agentUrl, config: { replicas: 1, memory: '256Mi' }, environment: { TICK_MS: '50' }, idempotencyKey: 'ts-1' };
  const created = await client.agents.create(req);
  assert.equal(created.status, 'deploying');
  assert.equal((await client.agents.create(req)).id, created.id, 'a retried key replays');

  await t.test('agents', async () => {
    const id = created.id;
    assert.equal((await client.agents.wait(id, 'running', '30s')).status, 'running');
    const got = await client.agents.get(id);
    assert.equal(got.config.memory, '256Mi');
    assert.equal(got.environment.TICK_MS, '50');
    assert.equal((await client.agents.update(id, { environment: { TICK_MS: '40' } })).environment.TICK_MS, '40');
    assert.equal((await client.agents.scale(id, 2)).replicas, 2);
    assert.equal((await client.agents.restart(id)).id, id);
    await client.agents.wait(id, 'running', '30s');
    assert.ok(['stopping', 'stopped'].includes((await client.agents.stop(id)).status));
    await client.agents.wait(id, 'stopped', '30s');
    assert.notEqual((await client.agents.start(id)).status, 'stopped');
    await client.agents.wait(id, 'running', '30s');
    const list = await client.agents.list({ fields: ['id', 'name'], namePrefix: 'ts-' });
    assert.equal(list.total, 1);
    assert.equal(list.agents[0].status, undefined);
    let lines = [];
    for (const deadline = Date.now() + 20000; lines.length < 5 && Date.now() < deadline;) {
      lines = await client.agents.logs(id, { tail: 5, since: '1h' });
    }
    assert.equal(lines.length, 5);
    let m = {};
    for (const deadline = Date.now() + 20000; !m.cpu?.length && Date.now() < deadline;) {
      m = await client.agents.metrics(id, '1h', 'cpu');
    }
    assert.ok(m.cpu.length > 0);
    assert.equal(m.memory, undefined);
    await assert.rejects(client.agents.wait(id, 'error', '10ms'), (e) => e instanceof NeuaisError && e.code === 'timeout');
  });

  await t.test('all pages', async () => {
    for (const i of [0, 1, 2, 3]) await client.agents.create({ name: `page-${i}`, runtime: 'go', binary_url: 'https://example.com/a' });
    const names = [];
    for await (const a of client.agents.all({ limit: 2, sort: 'name:asc', namePrefix: 'page-' })) names.push(a.name);
    assert.deepEqual(names, ['page-0', 'page-1', 'page-2', 'page-3']);
  });

  await t.test('users', async () => {
    const u = await client.users.create({ email: 'ts-dev@example.com', password: 'dev-password-1', role: 'developer', idempotencyKey: 'tu-1' });
    assert.equal((await client.users.create({ email: 'ts-dev@example.com', password: 'dev-password-1', role: 'developer', idempotencyKey: 'tu-1' })).id, u.id);
    assert.equal((await client.users.get(u.id)).email, 'ts-dev@example.com');
    assert.equal((await client.users.update(u.id, { role: 'viewer' })).role, 'viewer');
    assert.ok((await client.users.list({ sort: 'email:asc' })).total >= 2);
    const emails = [];
    for await (const x of client.users.all({ limit: 1 })) emails.push(x.email);
    assert.ok(emails.includes('ts-dev@example.com') && emails.length >= 2);
    await client.users.delete(u.id);
    await assert.rejects(client.users.get(u.id), (e) => e.status === 404);
  });

  await t.test('services', async () => {
    const page = await client.services.list();
    assert.ok(page.services.length > 0);
    let n = 0;
    for await (const _ of client.services.all({ limit: 1 })) n++;
    assert.equal(n, page.total);
    assert.equal((await client.services.status('database')).status, 'healthy');
  });

  await t.test('rate-limit figures', async () => {
    await client.services.list();
    assert.equal(client.rateLimit.limit, 1000000);
    assert.ok(client.rateLimit.reset instanceof Date);
  });

  await t.test('delete', async () => {
    await client.agents.delete(created.id);
    await assert.rejects(client.agents.get(created.id), (e) => e.code === 'not_found' && e.status === 404);
  });
});

const script = (text) => new TextEncoder().encode(`#!/bin/sh\n${text}\n`);

test('binaries: upload from bytes, a file and a stream; list, get, content, delete refused while used', async () => {
  const client = new NeuaisClient(token);
  const data = script('echo ts bytes');
  const b = await client.binaries.upload(data, { idempotencyKey: 'ts-upload-1' });
  assert.equal(b.size, data.length);
  assert.equal(b.url, `neuais://binaries/${b.id}`);
  assert.equal((await client.binaries.upload(data, { idempotencyKey: 'ts-upload-1' })).id, b.id, 'a retried key replays');
  await assert.rejects(client.binaries.upload(script('other'), { idempotencyKey: 'ts-upload-1' }),
    (e) => e instanceof NeuaisError && e.status === 409 && e.code === 'conflict');
  await assert.rejects(client.binaries.upload(new TextEncoder().encode('<html>')), (e) => e.code === 'invalid_request');

  const dir = await mkdtemp(join(tmpdir(), 'neuais-ts-'));
  try {
    const path = join(dir, 'agent.sh');
    const fileData = script('echo ts file');
    await writeFile(path, fileData);
    const fromFile = await client.binaries.uploadFile(path);
    assert.equal(fromFile.size, fileData.length);
    const streamData = script('echo ts stream');
    const fromStream = await client.binaries.upload(new Blob([streamData]).stream());
    assert.equal(fromStream.size, streamData.length);

    const page = await client.binaries.list({ limit: 1, sort: 'created_at:asc' });
    assert.equal(page.total, 3);
    assert.ok(page.has_more);
    assert.equal(page.binaries[0].id, b.id);
    const ids = [];
    for await (const x of client.binaries.all({ limit: 2, sort: 'created_at:asc' })) ids.push(x.id);
    assert.deepEqual(ids, [b.id, fromFile.id, fromStream.id]);
    assert.deepEqual(await client.binaries.get(fromFile.id), fromFile);
    assert.deepEqual(await client.binaries.content(fromFile.id), fileData);
    const chunks = [];
    for await (const chunk of await client.binaries.stream(b.id)) chunks.push(chunk);
    assert.deepEqual(new Uint8Array(Buffer.concat(chunks)), data);
    await assert.rejects(client.binaries.get('bin_missing'), (e) => e.status === 404 && e.code === 'not_found');
    await assert.rejects(client.binaries.content('bin_missing'), (e) => e.status === 404 && e.code === 'not_found');
  } finally {
    await rm(dir, { recursive: true });
  }

  const agent = await client.agents.create({ name: 'ts-uploaded', runtime: 'native', binary_url: b.url });
  assert.equal((await client.agents.get(agent.id)).binary_url, b.url);
  await assert.rejects(client.binaries.delete(b.id), (e) => e instanceof NeuaisError && e.status === 409 && e.code === 'conflict');
  await client.agents.delete(agent.id);
  await client.binaries.delete(b.id);
  await assert.rejects(client.binaries.get(b.id), (e) => e.code === 'not_found');
});

test('tokens: create, use as a bearer, list, revoke', async () => {
  const client = new NeuaisClient(token);
  const expires = new Date(Math.floor(Date.now() / 1000) * 1000 + 3600_000).toISOString().replace('.000Z', 'Z');
  const req = { name: 'ts-ci', role: 'developer', expires_at: expires, idempotencyKey: 'ts-token-1' };
  const tok = await client.tokens.create(req);
  assert.match(tok.token, /^nat_/);
  assert.equal(tok.role, 'developer');
  assert.equal(tok.expires_at, expires);
  const again = await client.tokens.create(req);
  assert.equal(again.id, tok.id);
  assert.equal(again.token, tok.token);
  const other = await client.tokens.create({ name: 'ts-other', role: 'viewer' });
  assert.equal(other.expires_at, null);
  await assert.rejects(client.tokens.create({ name: 'ts-bad', role: 'root' }), (e) => e.code === 'invalid_request');

  const ci = new NeuaisClient(tok.token);
  assert.equal((await ci.services.status('database')).name, 'database');
  const page = await client.tokens.list({ limit: 1, sort: 'name' });
  assert.ok(page.has_more);
  const names = [];
  for await (const t of client.tokens.all({ limit: 1, sort: 'name' })) names.push(t.name);
  assert.ok(names.includes('ts-ci') && names.includes('ts-other'), String(names));

  await client.tokens.revoke(tok.id);
  await assert.rejects(ci.services.status('database'), (e) => e instanceof NeuaisError && e.status === 401 && e.code === 'unauthorized');
  await assert.rejects(client.tokens.revoke(tok.id), (e) => e.code === 'not_found');
  await client.tokens.revoke(other.id);
});

test('errors carry code, message, details and status', async () => {
  const client = new NeuaisClient(token);
  await assert.rejects(client.agents.scale('agt_missing', 0), (e) =>
    e instanceof NeuaisError && e.status === 400 && e.code === 'invalid_request' && e.details.field === 'replicas' && e.message !== '');
  await assert.rejects(new NeuaisClient('not-a-token').agents.list(), (e) => e.status === 401 && e.code === 'unauthorized');
  await client.agents.create({ name: 'ts-twice', runtime: 'go', binary_url: 'https://example.com/a' });
  await assert.rejects(client.agents.create({ name: 'ts-twice', runtime: 'go', binary_url: 'https://example.com/a' }),
    (e) => e.status === 409 && e.code === 'conflict' && e.details.field === 'name');
});

test('429 is retried after Retry-After', async () => {
  const statuses = [];
  const resets = [];
  const recording = async (url, init) => {
    const res = await fetch(url, init);
    statuses.push(res.status);
    resets.push(Number(res.headers.get('X-RateLimit-Reset')));
    return res;
  };
  const noRetry = new NeuaisClient(process.env.NEUAIS_TEST_LIMITED_TOKEN, { maxRetries: 0 });
  let refused;
  for (let i = 0; i < 10 && !refused; i++) {
    try { await noRetry.services.list(); } catch (e) { refused = e; }
  }
  assert.ok(refused instanceof NeuaisError && refused.status === 429 && refused.code === 'rate_limit_exceeded', String(refused));
  assert.ok(refused.retryAfter >= 1000 && refused.retryAfter <= 2000, `retryAfter ${refused.retryAfter}`);
  assert.equal(noRetry.rateLimit.remaining, 0);

  const client = new NeuaisClient(process.env.NEUAIS_TEST_LIMITED_TOKEN, { fetch: recording });
  for (let i = 0; i < 10; i++) {
    statuses.length = 0;
    resets.length = 0;
    await client.services.list();
    if (statuses.length === 1) continue; // the window turned over: no 429 met
    assert.equal(statuses[0], 429);
    assert.equal(statuses.at(-1), 200);
    assert.ok(resets.at(-1) > resets[0] && Date.now() / 1000 >= resets[0], `retried within the refusing window: ${resets}`);
    return;
  }
  assert.fail('no call met a 429');
});

test('503 is retried after Retry-After', async () => {
  // The proxy answers each method and URL's first request 503 with
  // Retry-After: 1, and a retry sooner than that 400 retried_early.
  const base = process.env.NEUAIS_TEST_UNAVAILABLE_URL;
  const once = new NeuaisClient(token, { baseUrl: base, maxRetries: 0 });
  await assert.rejects(once.services.status('api'),
    (e) => e instanceof NeuaisError && e.status === 503 && e.code === 'service_unavailable' && e.retryAfter === 1000);
  const client = new NeuaisClient(token, { baseUrl: base });
  assert.equal((await client.services.status('database')).name, 'database');
  // An upload from bytes is sent again whole.
  const data = new TextEncoder().encode(`#!/bin/sh\necho retried ${Date.now()}\n`);
  const b = await client.binaries.upload(data);
  assert.equal(b.size, data.length);
  assert.deepEqual(await new NeuaisClient(token).binaries.content(b.id), data);
});

test('a create whose answer is lost is retried with its key and creates once', async () => {
  const seen = new Set();
  const lossy = async (url, init) => {
    const res = await fetch(url, init);
    const key = init.headers['Idempotency-Key'];
    if (key && !seen.has(key)) {
      seen.add(key);
      await res.text();
      throw new TypeError('fetch failed (test: connection reset)');
    }
    return res;
  };
  const client = new NeuaisClient(token, { fetch: lossy });
  const a = await client.agents.create({ name: 'ts-once', runtime: 'go', binary_url: 'https://example.com/a' });
  const list = await client.agents.list({ namePrefix: 'ts-once' });
  assert.equal(list.total, 1);
  assert.equal(list.agents[0].id, a.id);
  await assert.rejects(new NeuaisClient(token, { fetch: async () => { throw new TypeError('fetch failed'); } }).agents.restart(a.id));
});

test('following logs across a server restart loses and repeats nothing', async () => {
  const client = new NeuaisClient(token);
  const a = await client.agents.create({ name: 'ts-survivor', runtime: 'go', binary_url: agentUrl, config: { replicas: 1 }, environment: { TICK_MS: '10' } });
  await client.agents.wait(a.id, 'running', '30s');
  const ids = [];
  const signal = AbortSignal.timeout(60000);
  for await (const line of client.agents.followLogs(a.id, { tail: 5, signal })) {
    ids.push(line.id);
    if (ids.length === 20) {
      const res = await fetch(process.env.NEUAIS_TEST_CONTROL + '/restart', { method: 'POST' });
      assert.equal(res.status, 204);
    }
    if (ids.length === 80) break;
  }
  // The stored lines from the first one followed: exactly those ids, in order.
  const stored = [];
  for await (const line of client.agents.followLogs(a.id, { after: String(Number(ids[0]) - 1), signal })) {
    stored.push(line.id);
    if (stored.length === ids.length) break;
  }
  assert.deepEqual(ids, stored);
});

// A webhook receiver on 127.0.0.1 answering 200; next(path, event) takes
// the first delivery to path of that event type, received or to come.
async function receiver() {
  const seen = [];
  let wake = () => {};
  const server = createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      seen.push({ path: req.url, headers: req.headers, body: Buffer.concat(chunks).toString() });
      res.end();
      wake();
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    async next(path, event) {
      for (;;) {
        const i = seen.findIndex((d) => d.path === path && JSON.parse(d.body).event === event);
        if (i >= 0) return seen.splice(i, 1)[0];
        await new Promise((resolve) => { wake = resolve; });
      }
    },
    close: () => { server.closeAllConnections(); server.close(); },
  };
}

const rejectsUnverified = (p) => assert.rejects(p, (e) => e instanceof WebhookVerificationError);

test('webhooks: every method, deliveries of the real server verified', { timeout: 120000 }, async () => {
  const client = new NeuaisClient(token);
  const recv = await receiver();
  try {
    const req = { url: recv.url + '/raw', events: ['agent.created'], secret: 'your-webhook-secret', idempotencyKey: 'ts-hook-1' };
    const raw = await client.webhooks.create(req);
    assert.equal(raw.secret, 'your-webhook-secret');
    assert.equal(raw.status, 'active');
    assert.equal((await client.webhooks.create(req)).id, raw.id, 'a retried key replays');
    const gen = await client.webhooks.create({ url: recv.url + '/gen', events: ['*'] });
    assert.match(gen.secret, /^whsec_/);
    await assert.rejects(client.webhooks.create({ url: 'ftp://example.com', events: ['*'] }), (e) => e.code === 'invalid_request' && e.details.field === 'url');

    const agent = await client.agents.create({ name: 'ts-hooked', runtime: 'go', binary_url: 'https://example.com/a' });
    for (const [path, secret] of [['/raw', raw.secret], ['/gen', gen.secret]]) {
      const d = await recv.next(path, 'agent.created');
      await verifyWebhook(secret, d.headers, d.body);
      await verifyWebhook(secret, new Headers(d.headers), new TextEncoder().encode(d.body));
      assert.equal(JSON.parse(d.body).data.agent_id, agent.id);
      await rejectsUnverified(verifyWebhook('another-secret', d.headers, d.body));
      await rejectsUnverified(verifyWebhook(secret, d.headers, d.body.replace(agent.id, 'agt_other')));
    }
    const signed = (ts) => ({
      'webhook-id': '1', 'webhook-timestamp': String(ts),
      'webhook-signature': 'v1,' + createHmac('sha256', raw.secret).update(`1.${ts}.{}`).digest('base64'),
    });
    const now = Math.floor(Date.now() / 1000);
    await verifyWebhook(raw.secret, signed(now), '{}');
    await rejectsUnverified(verifyWebhook(raw.secret, signed(now - 360), '{}'));

    const test = await client.webhooks.test(raw.id);
    assert.equal(test.event, 'webhook.test');
    const d = await recv.next('/raw', 'webhook.test');
    assert.equal(d.headers['webhook-id'], test.message_id);
    await verifyWebhook(raw.secret, d.headers, d.body);
    for (let list; !(list?.total === 2 && list.deliveries[0].attempts[0]?.status_code === 200);) {
      list = await client.webhooks.deliveries(raw.id, { status: 'succeeded' });
      await sleep(20);
    }
    const events = [];
    for await (const x of client.webhooks.allDeliveries(raw.id, { limit: 1 })) events.push(x.event);
    assert.deepEqual(events, ['webhook.test', 'agent.created']);
    await assert.rejects(client.webhooks.deliveries(raw.id, { status: 'lost' }), (e) => e.code === 'invalid_request');
    const again = await client.webhooks.retryDelivery(raw.id, test.id);
    assert.equal(again.id, test.id);
    assert.equal(again.status, 'pending');
    assert.equal((await recv.next('/raw', 'webhook.test')).headers['webhook-id'], test.message_id);
    await assert.rejects(client.webhooks.retryDelivery(raw.id, 'dlv_missing'), (e) => e.status === 404);

    const rotated = await client.webhooks.rotateSecret(gen.id);
    assert.match(rotated.secret, /^whsec_/);
    assert.notEqual(rotated.secret, gen.secret);
    assert.ok(rotated.previous_secret_expires_at);
    await client.webhooks.test(gen.id);
    const both = await recv.next('/gen', 'webhook.test');
    assert.equal(both.headers['webhook-signature'].split(' ').length, 2);
    for (const secret of [gen.secret, rotated.secret]) await verifyWebhook(secret, both.headers, both.body);

    const paused = await client.webhooks.update(raw.id, { active: false, url: recv.url + '/moved' });
    assert.equal(paused.status, 'inactive');
    assert.equal(paused.url, recv.url + '/moved');
    await assert.rejects(client.webhooks.retryDelivery(raw.id, test.id), (e) => e.status === 409 && e.code === 'conflict');
    assert.equal((await client.webhooks.get(raw.id)).status, 'inactive');
    const page = await client.webhooks.list({ limit: 1, sort: 'created_at' });
    assert.equal(page.total, 2);
    assert.equal(page.webhooks[0].id, raw.id);
    const ids = [];
    for await (const w of client.webhooks.all({ limit: 1, sort: 'created_at' })) ids.push(w.id);
    assert.deepEqual(ids, [raw.id, gen.id]);
    for (const w of [raw, gen]) await client.webhooks.delete(w.id);
    await assert.rejects(client.webhooks.get(raw.id), (e) => e.code === 'not_found');
  } finally {
    recv.close();
  }
});

test('events: list, all, follow across a server restart, resume after an id', { timeout: 120000 }, async () => {
  const client = new NeuaisClient(token);
  const signal = AbortSignal.timeout(110000);
  const followed = client.events.follow({ type: 'agent.created', signal });
  // The follow starts with the events written after it connected: create
  // agents until one arrives.
  let pending = followed.next();
  let first;
  for (let n = 0; !first; n++) {
    await client.agents.create({ name: `ts-ev-${n}`, runtime: 'go', binary_url: 'https://example.com/a' });
    first = (await Promise.race([pending, sleep(100)]))?.value;
  }
  const nextNamed = async (name) => {
    for (;;) {
      const { value } = await followed.next();
      if (value.data.name === name) return value;
    }
  };
  const last = await client.agents.create({ name: 'ts-ev-last', runtime: 'go', binary_url: 'https://example.com/a' });
  assert.equal((await nextNamed('ts-ev-last')).data.agent_id, last.id);
  assert.equal((await fetch(process.env.NEUAIS_TEST_CONTROL + '/restart', { method: 'POST' })).status, 204);
  await client.agents.create({ name: 'ts-ev-restarted', runtime: 'go', binary_url: 'https://example.com/a' });
  assert.equal((await nextNamed('ts-ev-restarted')).event, 'agent.created');
  await followed.return();

  await client.agents.update(last.id, { environment: { MODE: 'fast' } });
  // The runtime adds the agent's agent.error (its binary cannot be fetched).
  const mine = await client.events.list({ agentId: last.id, type: 'agent.updated' });
  assert.equal(mine.total, 1);
  assert.deepEqual(mine.events[0].data.changed, ['environment']);
  const created = await client.events.list({ type: 'agent.created' });
  const ids = [];
  for await (const e of client.events.all({ type: 'agent.created', limit: 2 })) ids.push(e.id);
  assert.equal(ids.length, created.total);
  assert.equal(ids[0], created.events[0].id);
  await assert.rejects(client.events.list({ type: 'agent.exploded' }), (e) => e instanceof NeuaisError && e.code === 'invalid_request');

  const resumed = [];
  for await (const e of client.events.follow({ agentId: last.id, after: first.id, signal })) {
    resumed.push(e.event);
    if (e.event === 'agent.updated') break;
  }
  assert.equal(resumed[0], 'agent.created');
});

test('billing: usage with the per-agent breakdown, invoices, an invoice with its lines; money exact', async () => {
  const client = new NeuaisClient(token);
  const billedGB = Number(process.env.NEUAIS_TEST_BILLED_BYTES) / 1e9;
  const count = Number(process.env.NEUAIS_TEST_INVOICES);
  const cents = (money) => { assert.match(money, /^\d+\.\d\d$/); return Number(money.replace('.', '')); };

  const current = await client.billing.usage();
  assert.equal(current.period, new Date().toISOString().slice(0, 7));
  assert.equal(current.agents, undefined);
  assert.equal(cents(current.cost.total), cents(current.cost.compute) + cents(current.cost.storage) + cents(current.cost.network));
  assert.ok(Array.isArray((await client.billing.usage({ byAgent: true })).agents));

  const list = await client.billing.invoices({ limit: 1 });
  assert.equal(list.total, count);
  assert.equal(list.has_more, count > 1);
  const [last] = list.invoices;
  const month = await client.billing.usage({ period: last.period, byAgent: true });
  assert.equal(month.period, last.period);
  assert.equal(month.usage.network_gb, billedGB);
  assert.ok(cents(month.cost.network) > 0);
  assert.equal(month.cost.total, last.amount);
  assert.equal(month.agents.length, 1);
  assert.equal(month.agents[0].network_gb, billedGB);
  assert.equal(month.agents[0].network_cost, month.cost.network);
  assert.deepEqual((await client.billing.usage({ period: 'last_month' })).cost, month.cost);

  const periods = [];
  for await (const inv of client.billing.allInvoices({ limit: 1 })) periods.push(inv.period);
  assert.equal(periods.length, count);
  assert.deepEqual(periods, [...periods].sort().reverse());

  const inv = await client.billing.invoice(last.id);
  assert.equal(inv.id, last.id);
  assert.equal(inv.due_date, last.due_date);
  assert.deepEqual(inv.lines.map((l) => l.item), ['compute', 'storage', 'network']);
  assert.equal(inv.lines.reduce((sum, l) => sum + cents(l.amount), 0), cents(inv.amount));
  assert.equal(inv.lines[2].quantity, billedGB);
  // The strings are the answer's own figures.
  const raw = await (await fetch(`${process.env.NEUAIS_URL}/v1/billing/invoices/${last.id}`, { headers: { Authorization: `Bearer ${token}` } })).text();
  assert.ok(raw.includes(`"amount":${inv.amount}`), raw);
  assert.ok(raw.includes(`"amount":${inv.lines[2].amount},`), raw);

  // Every money member of the schema is a Money string, every other number a number.
  const doc = await (await fetch(`${process.env.NEUAIS_URL}/v1/openapi.json`)).json();
  const check = (s, v, at) => {
    if (s.multipleOf === 0.01) return assert.match(v, /^\d+\.\d\d$/, at);
    if (s.type === 'number') return assert.equal(typeof v, 'number', at);
    if (s.items) return v.forEach((x, i) => check(s.items, x, `${at}[${i}]`));
    for (const [k, p] of Object.entries(s.properties ?? {})) if (v[k] !== undefined) check(p, v[k], `${at}.${k}`);
  };
  const schema = (path) => doc.paths[path].get.responses['200'].content['application/json'].schema;
  check(schema('/billing/usage'), month, 'usage');
  check(schema('/billing/invoices'), list, 'invoices');
  check(schema('/billing/invoices/{id}'), inv, 'invoice');

  await assert.rejects(client.billing.usage({ period: '2024-13' }),
    (e) => e instanceof NeuaisError && e.status === 400 && e.code === 'invalid_request' && e.details.field === 'period');
  await assert.rejects(client.billing.invoice(process.env.NEUAIS_TEST_OTHER_INVOICE),
    (e) => e instanceof NeuaisError && e.status === 404 && e.code === 'not_found');

  const dev = await client.users.create({ email: 'ts-billing-dev@example.com', password: 'dev-password-1', role: 'developer' });
  try {
    const devClient = new NeuaisClient((await NeuaisClient.login(dev.email, 'dev-password-1')).access_token);
    const forbidden = (e) => e instanceof NeuaisError && e.status === 403 && e.code === 'forbidden';
    await assert.rejects(devClient.billing.usage(), forbidden);
    await assert.rejects(devClient.billing.invoices(), forbidden);
    await assert.rejects(devClient.billing.invoice(last.id), forbidden);
  } finally {
    await client.users.delete(dev.id);
  }
});
