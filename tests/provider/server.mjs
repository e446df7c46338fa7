#!/usr/bin/env node
// Latchkey local OAuth 2.0 test provider: oidc-provider 9 dressed up as one of the
// presets (rememberizer, textmaster, fusio, generic), with the providers' resource
// endpoints beside it and test-control endpoints under /__test/.
//
// This file is the entry point: the command line, start-up, the HTTP server and the routing
// of every request; the rest lives in the modules it imports (README.md has the map).
//
// stdout carries exactly one line (the JSON ready line); everything else goes to stderr.
// Token values are never logged.

import http from 'node:http';
import querystring from 'node:querystring';
import { parseArgs } from 'node:util';
import { testControl, countRequest, injectFault } from './control.mjs';
import { installDevice } from './device.mjs';
import { interaction } from './interaction.mjs';
import { createProvider } from './oidc.mjs';
import { PROFILES } from './profiles.mjs';
import { discovery, requestQuirks } from './quirks.mjs';
import { beforeRoute } from './realworld.mjs';
import { resource, resourceRoute } from './resources.mjs';
import { initState, state } from './state.mjs';
import { bearer, esc, log, page, readBody, sendHtml, sendJson } from './util.mjs';

// oidc-provider prints notices with console.info (stdout): keep stdout for the ready line.
// (oidc.mjs imports oidc-provider only after this.)
console.log = console.error;
console.info = console.error;

// ---------------------------------------------------------------- command line
const { values: args } = parseArgs({
  options: {
    profile: { type: 'string', default: 'generic' },
    port: { type: 'string', default: '0' },
    'access-ttl': { type: 'string' },
    demo: { type: 'boolean', default: false },
    'exit-on-stdin-close': { type: 'boolean', default: false },
    verbose: { type: 'boolean', default: false },
  },
  strict: true,
});

const profileName = args.profile;
const P = PROFILES[profileName];
if (!P) {
  log(`unknown --profile ${profileName}; use one of ${Object.keys(PROFILES).join(', ')}`);
  process.exit(2);
}
const accessTtl = args['access-ttl'] !== undefined ? Number(args['access-ttl']) : P.ttl;
if (!Number.isFinite(accessTtl) || accessTtl <= 0) {
  log('--access-ttl must be a positive number of seconds');
  process.exit(2);
}
initState({ profileName, P, accessTtl });

// ---------------------------------------------------------------- server + provider
let providerCallback;

const server = http.createServer((req, res) => {
  handle(req, res).catch((err) => {
    log(`handler error on ${req.method} ${req.url?.split('?')[0]}: ${err?.message}`);
    if (!res.headersSent) sendJson(res, 500, { error: 'server_error', error_description: 'internal error in the test provider' });
    else res.destroy();
  });
});
server.keepAliveTimeout = 1000;

await new Promise((resolve, reject) => {
  server.once('error', reject);
  server.listen(Number(args.port), '127.0.0.1', resolve);
});
const { port } = server.address();
state.base = `http://127.0.0.1:${port}`;

state.provider = await createProvider({ demo: args.demo });
// Before callback(): the device flow adds middleware.
state.device = installDevice({ provider: state.provider, profileName, base: state.base, sendJson });
providerCallback = state.provider.callback();

// ---------------------------------------------------------------- routing
/** What a request is, for stats and faults: 'token' | 'revoke' | 'resource' | 'other'. */
function classify(method, path) {
  if (path === P.token) return 'token';
  if (P.revoke && path === P.revoke) return 'revoke';
  if (resourceRoute(method, path)) return 'resource';
  return 'other';
}

async function handle(req, res) {
  const { base } = state;
  const url = new URL(req.url, base);
  const path = url.pathname;
  if (args.verbose) log(`${req.method} ${path}`);

  if (path.startsWith('/__test/')) return testControl(req, res, url);

  const route = classify(req.method, path);

  // Read the token request body here (stats need grant_type; Fusio needs rewriting);
  // oidc-provider then takes it from req.body.
  if (route === 'token' && req.method === 'POST') {
    const raw = await readBody(req);
    req.latchkeyForm = querystring.parse(raw);
    req.body = raw;
  }
  countRequest(req, route);
  if (await injectFault(req, res, route)) return undefined;

  if (state.device.intercept(req, res, route)) return undefined;

  if (beforeRoute(req, res, url, { behaviour: state.behaviour, profileName, P, base, route, sendJson, bearer })) return undefined;
  if (path.startsWith('/.well-known/')) return discovery(req, res, path);
  if (path === '/interaction' || path.startsWith('/interaction/')) return interaction(req, res, path);
  if (path === '/' && req.method === 'GET') {
    return sendHtml(res, 200, page('Latchkey test provider', `<h1>Latchkey test provider</h1>
<p>Profile <strong>${esc(profileName)}</strong>. Authorize at <code>${esc(P.authorize)}</code>, token at <code>${esc(P.token)}</code>.</p>`));
  }

  if (route === 'resource') return resource(req, res, resourceRoute(req.method, path));

  if (await requestQuirks(req, res, url, route)) return undefined;

  return providerCallback(req, res);
}

// ---------------------------------------------------------------- lifecycle
let shuttingDown = false;
function shutdown(reason) {
  if (shuttingDown) return;
  shuttingDown = true;
  log(`shutting down (${reason})`);
  server.close(() => process.exit(0));
  server.closeAllConnections();
  setTimeout(() => process.exit(0), 500).unref();
}
process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));
if (args['exit-on-stdin-close']) {
  process.stdin.on('end', () => shutdown('stdin closed'));
  process.stdin.on('close', () => shutdown('stdin closed'));
  process.stdin.on('error', () => shutdown('stdin error'));
  process.stdin.resume();
}

process.stdout.write(`${JSON.stringify({
  ready: true,
  profile: profileName,
  url: state.base,
  issuer: state.base,
  client_id: 'latchkey-test',
  client_secret: 'latchkey-test-secret',
})}\n`);
log(`profile ${profileName} listening on ${state.base}${args.demo ? ' (demo client latchkey-demo enabled)' : ''}`);
