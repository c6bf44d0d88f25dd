// Runs graphql-http's server audits against a running GraphQL endpoint
// (the URL is the first argument) and exits 1 when a MUST audit fails.
// SHOULD and MAY audits that fail are printed as warnings.
import { serverAudits } from 'graphql-http';

const url = process.argv[2];
if (!url) {
  console.error('usage: node audit.mjs http://127.0.0.1:PORT/graphql');
  process.exit(2);
}

let ok = 0;
const warnings = [];
const errors = [];
for (const audit of serverAudits({ url })) {
  const result = await audit.fn();
  const line = `${audit.id} ${audit.name}`;
  if (result.status === 'ok') {
    ok++;
  } else if (result.status === 'warn') {
    warnings.push(`${line}: ${result.reason}`);
  } else {
    errors.push(`${line}: ${result.reason}`);
  }
}
for (const w of warnings) console.log(`WARN ${w}`);
for (const e of errors) console.log(`ERROR ${e}`);
console.log(`graphql-http audit: ${ok} ok, ${warnings.length} warnings (SHOULD/MAY), ${errors.length} errors (MUST)`);
process.exit(errors.length > 0 ? 1 : 0);
