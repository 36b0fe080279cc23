#!/usr/bin/env node
// Container HEALTHCHECK of every service image: GET http://127.0.0.1:$HEALTH_PORT/healthz (service-kit) and exit 0
// on 200, 1 otherwise, within 3 s. The slim Node image has no curl or wget, and Node is there anyway.
//   node /app/healthcheck.js [--file <path>]   --file: also require that file to exist (e.g. the simulator's
//                                               resolved site, which the drivers read)
const fs = require('node:fs');
const http = require('node:http');

const args = process.argv.slice(2);
const fileIndex = args.indexOf('--file');
const requiredFile = fileIndex >= 0 ? args[fileIndex + 1] : undefined;
const port = Number(process.env.HEALTH_PORT || 8080);

function fail(reason) {
  process.stderr.write(`unhealthy: ${reason}\n`);
  process.exit(1);
}

if (!Number.isInteger(port) || port <= 0) fail(`HEALTH_PORT=${process.env.HEALTH_PORT} has no fixed port to probe`);
if (requiredFile !== undefined && !fs.existsSync(requiredFile)) fail(`${requiredFile} does not exist yet`);

const request = http.get({ host: '127.0.0.1', port, path: '/healthz', timeout: 3000 }, (response) => {
  response.resume();
  if (response.statusCode === 200) process.exit(0);
  fail(`/healthz answered ${response.statusCode}`);
});
request.on('timeout', () => request.destroy(new Error('no answer within 3 s')));
request.on('error', (err) => fail(err.message));
