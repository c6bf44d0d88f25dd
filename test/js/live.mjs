// Subscribes with a real client library and prints one JSON line per
// result: {"connected":true} once connected, then each result, then
// {"complete":true} or {"error":…}. Usage:
//   node live.mjs graphql-ws|legacy|sse <http base URL> <token> <query> [variables JSON]
import WebSocket from 'ws';
import { createClient as createWSClient } from 'graphql-ws';
import { createClient as createSSEClient } from 'graphql-sse';
import pkg from 'subscriptions-transport-ws';
const { SubscriptionClient } = pkg;

const [protocol, base, token, query, vars] = process.argv.slice(2);
const variables = vars ? JSON.parse(vars) : {};
const out = (v) => process.stdout.write(JSON.stringify(v) + '\n');
const sink = {
  next: (result) => out(result),
  error: (err) => { out({ error: String(err?.message ?? JSON.stringify(err)) }); process.exit(1); },
  complete: () => { out({ complete: true }); process.exit(0); },
};
const wsURL = base.replace(/^http/, 'ws') + '/graphql';

if (protocol === 'graphql-ws') {
  const client = createWSClient({
    url: wsURL,
    webSocketImpl: WebSocket,
    connectionParams: { Authorization: 'Bearer ' + token },
    retryAttempts: 0,
    on: { connected: () => out({ connected: true }) },
  });
  client.subscribe({ query, variables }, sink);
} else if (protocol === 'legacy') {
  const client = new SubscriptionClient(wsURL, { connectionParams: { authorization: 'Bearer ' + token }, reconnect: false }, WebSocket);
  client.onConnected(() => out({ connected: true }));
  client.request({ query, variables }).subscribe(sink);
} else if (protocol === 'sse') {
  const client = createSSEClient({ url: base + '/graphql', headers: { Authorization: 'Bearer ' + token }, retryAttempts: 0 });
  out({ connected: true });
  client.subscribe({ query, variables }, sink);
} else {
  console.error('unknown protocol ' + protocol);
  process.exit(2);
}
