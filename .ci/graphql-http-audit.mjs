// The GraphQL over HTTP audit suite (npm `graphql-http`, its serverAudits)
// against a running server: every MUST audit has to pass; failing SHOULD and
// MAY audits are listed (README: "GraphQL over HTTP audit" says why).
// Usage: node .ci/graphql-http-audit.mjs http://127.0.0.1:PORT/graphql
import { serverAudits } from 'graphql-http';

const url = process.argv[2];
if (!url) {
  console.error('usage: node graphql-http-audit.mjs <url>');
  process.exit(2);
}

let mustFailed = 0;
let passed = 0;
const otherFailures = [];
for (const audit of serverAudits({ url })) {
  const result = await audit.fn();
  if (result.status === 'ok') {
    passed += 1;
    continue;
  }
  const line = `${audit.id} ${audit.name}: ${result.reason}`;
  if (audit.name.startsWith('MUST')) {
    mustFailed += 1;
    console.error(`FAIL ${line}`);
  } else {
    otherFailures.push(line);
  }
}
for (const line of otherFailures) console.log(`warn ${line}`);
console.log(`graphql-http audits: ${passed} passed, ${mustFailed} MUST failed, ${otherFailures.length} SHOULD/MAY failed`);
process.exit(mustFailed === 0 ? 0 : 1);
