// The TypeScript SDK against a real server started by typescript_test.go,
// which passes its URL (NEUAIS_URL, read by the client itself), tokens,
// the test agent's URL and a control URL that restarts the server.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, writeFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NeuaisClient, NeuaisError } from '@neuais/sdk';

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
