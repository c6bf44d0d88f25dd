// A webhook receiver as a customer would write it, on the standardwebhooks
// package. It listens on 127.0.0.1 and prints {"port"} first; then it reads
// one JSON line on stdin mapping each path to its secret and format
// ({"/a": {"secret": "whsec_…"}, "/b": {"secret": "plain", "raw": true}}),
// answering 503 until it has it. For each request it prints
// {"path","id","event","agent_id","verified","error"} and answers 204 when
// Webhook.verify accepts it, else 400.
import http from "node:http";
import readline from "node:readline";
import { Webhook } from "standardwebhooks";

let hooks = null;
readline.createInterface({ input: process.stdin }).once("line", (line) => {
  hooks = {};
  for (const [path, { secret, raw }] of Object.entries(JSON.parse(line))) {
    hooks[path] = raw ? new Webhook(secret, { format: "raw" }) : new Webhook(secret);
  }
});

const server = http.createServer((req, res) => {
  const chunks = [];
  req.on("data", (c) => chunks.push(c));
  req.on("end", () => {
    if (hooks === null) {
      res.writeHead(503).end();
      return;
    }
    const body = Buffer.concat(chunks).toString("utf8");
    const out = { path: req.url, id: req.headers["webhook-id"] };
    try {
      const wh = hooks[req.url];
      if (!wh) throw new Error("unknown path");
      const payload = wh.verify(body, req.headers);
      Object.assign(out, { verified: true, event: payload.event, agent_id: payload.data.agent_id });
      res.writeHead(204).end();
    } catch (e) {
      Object.assign(out, { verified: false, error: String(e) });
      res.writeHead(400).end();
    }
    process.stdout.write(JSON.stringify(out) + "\n");
  });
});
server.listen(0, "127.0.0.1", () => {
  process.stdout.write(JSON.stringify({ port: server.address().port }) + "\n");
});
