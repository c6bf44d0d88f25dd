// The dashboard's only way to the server: GraphQL over HTTP for queries and
// mutations, graphql-ws for live data. The token lives in this tab's session
// storage (never in a URL), where GraphiQL finds it too.
import { createClient } from '/assets/vendor/graphql-ws/client.js';

const tokenKey = 'neuais.token';

export const session = {
  token: () => sessionStorage.getItem(tokenKey) || '',
  set: (t) => sessionStorage.setItem(tokenKey, t),
  forget() {
    sessionStorage.removeItem(tokenKey);
    if (ws) ws.dispose();
    ws = null;
  },
};

// Words for the contract's error codes; the server's message comes first.
const words = {
  invalid_request: 'the request is invalid',
  unauthorized: 'you are not signed in, or the session expired',
  forbidden: 'your role may not do this',
  not_found: 'it does not exist',
  conflict: 'it conflicts with what exists',
  precondition_failed: 'it changed meanwhile',
  rate_limit_exceeded: 'too many requests; wait a minute',
  internal_error: 'the server failed',
  service_unavailable: 'the service is unavailable',
  timeout: 'it took too long',
};

export class ApiError extends Error {
  constructor(code, message, details) {
    super(message);
    this.code = code;
    this.details = details;
  }
  // words says what happened in words, with the contract's code.
  get words() {
    const field = this.details && this.details.field ? ` (field ${this.details.field})` : '';
    return `${this.message}${field}: ${words[this.code] || 'error'} [${this.code}]`;
  }
}

function fromGraphQL(err) {
  const ext = err.extensions || {};
  return new ApiError(ext.code || 'internal_error', err.message, ext.details);
}

// request runs a query or mutation and returns the whole response, data
// and errors. Accept application/json: GraphQL errors come with 200, so that
// the browser does not log a failed request for an answer the page shows.
export async function request(query, variables = {}) {
  const headers = { 'Content-Type': 'application/json', Accept: 'application/json' };
  const token = session.token();
  if (token) headers.Authorization = `Bearer ${token}`;
  try {
    const res = await fetch('/graphql', { method: 'POST', headers, body: JSON.stringify({ query, variables }) });
    return await res.json();
  } catch {
    throw new ApiError('service_unavailable', 'Cannot reach the server');
  }
}

// gql runs a query or mutation and returns its data, or throws an ApiError.
export async function gql(query, variables) {
  const body = await request(query, variables);
  if (body.errors && body.errors.length) throw fromGraphQL(body.errors[0]);
  return body.data;
}

// Connection state for the banner: 'connecting', 'up' or 'down'; reconnected
// tells views to reload what they may have missed while it was down.
let ws = null;
let connects = 0;
const watchers = new Set();
let state = 'connecting';

function setState(s, reconnected) {
  state = s;
  for (const w of watchers) w(s, reconnected);
}

export function watchConnection(fn) {
  watchers.add(fn);
  fn(state, false);
  return () => watchers.delete(fn);
}

function client() {
  if (ws) return ws;
  connects = 0;
  const url = location.origin.replace(/^http/, 'ws') + '/graphql';
  ws = createClient({
    url,
    lazy: false,
    retryAttempts: Infinity,
    shouldRetry: () => true,
    retryWait: (n) => new Promise((r) => setTimeout(r, Math.min(500 * 2 ** n, 8000))),
    onNonLazyError: () => setState('down', false),
    connectionParams: () => ({ Authorization: `Bearer ${session.token()}` }),
    on: {
      connecting: () => { if (state !== 'down') setState('connecting', false); },
      connected: () => { connects++; setState('up', connects > 1); },
      closed: () => { if (connects > 0) setState('down', false); },
    },
  });
  return ws;
}

// subscribe runs a subscription; onData gets each result's data, onError an
// ApiError (also the stream's final error). The payload object is the one
// graphql-ws sends again after a reconnect, so a caller may change
// payload.variables (a log cursor) to resume where it stopped. It returns
// the function that ends the subscription.
export function subscribe(query, variables, onData, onError) {
  const payload = { query, variables };
  const dispose = client().subscribe(payload, {
    next(r) {
      if (r.errors && r.errors.length) onError(fromGraphQL(r.errors[0]));
      else onData(r.data);
    },
    error(e) {
      onError(Array.isArray(e) ? fromGraphQL(e[0]) : new ApiError('service_unavailable', 'Live connection failed'));
    },
    complete() {},
  });
  return { payload, dispose };
}
