#!/usr/bin/env node
// Latchkey local OAuth 2.0 test provider: oidc-provider 9 dressed up as one of the
// presets (rememberizer, textmaster, fusio, generic), with the providers' resource
// endpoints beside it and test-control endpoints under /__test/.
//
// stdout carries exactly one line (the JSON ready line); everything else goes to stderr.
// Token values are never logged.

import http from 'node:http';
import crypto from 'node:crypto';
import querystring from 'node:querystring';
import { parseArgs } from 'node:util';
import { DEVICE_AUTH_PATH, DEVICE_GRANT, deviceEnabled, deviceFeature, installDevice } from './device.mjs';
import { afterToken, beforeRoute, lazyPendingCount, realWorldDefaults, setRealWorld } from './realworld.mjs';

// oidc-provider prints notices with console.info (stdout): keep stdout for the ready line.
console.log = console.error;
console.info = console.error;
const { default: Provider } = await import('oidc-provider');

const log = (msg) => process.stderr.write(`[latchkey-test-provider] ${msg}\n`);

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

const OOB = 'urn:ietf:wg:oauth:2.0:oob';
const CUSTOM = 'app.latchkey:/oauth/callback';
const LOOPBACK = 'http://127.0.0.1/oauth/callback';

const PROFILES = {
  rememberizer: {
    authorize: '/api/v1/auth/oauth2/authorize/',
    token: '/api/v1/auth/oauth2/token/',
    revoke: '/api/v1/auth/oauth2/revoke_token/',
    authMethod: 'client_secret_post',
    ttl: 3600,
    scopes: ['read', 'write', 'offline_access', 'profile', 'email'],
    redirectUris: [CUSTOM, LOOPBACK],
    pkceRequired: true,
  },
  textmaster: {
    authorize: '/oauth/authorize',
    token: '/oauth/token',
    revoke: '/oauth/revoke',
    authMethod: 'client_secret_post',
    ttl: 28800,
    scopes: ['public', 'user:read', 'user:email', 'user:write', 'user:projects', 'offline_access'],
    redirectUris: [CUSTOM, LOOPBACK, OOB],
    pkceRequired: true,
  },
  fusio: {
    authorize: '/authorization/authorize',
    token: '/authorization/token',
    revoke: '/authorization/revoke',
    authMethod: 'client_secret_basic',
    ttl: 172800,
    scopes: [
      'consumer', 'consumer.grant', 'consumer.account', 'consumer.app', 'consumer.event',
      'consumer.identity', 'consumer.log', 'consumer.page', 'consumer.payment', 'consumer.plan',
      'consumer.scope', 'consumer.subscription', 'consumer.token', 'consumer.transaction',
      'consumer.webhook', 'backend', 'authorization', 'default', 'offline_access',
    ],
    redirectUris: [LOOPBACK, OOB],
    pkceRequired: false,
  },
  generic: {
    authorize: '/oauth/authorize',
    token: '/oauth/token',
    revoke: '/oauth/revoke',
    introspect: '/oauth/introspect',
    userinfo: '/oauth/userinfo',
    authMethod: 'client_secret_post',
    ttl: 3600,
    scopes: ['read', 'write', 'profile', 'email', 'offline_access'],
    redirectUris: [CUSTOM, LOOPBACK],
    pkceRequired: true,
  },
};

const profileName = args.profile;
const P = PROFILES[profileName];
if (!P) {
  log(`unknown --profile ${profileName}; use one of ${Object.keys(PROFILES).join(', ')}`);
  process.exit(2);
}
let accessTtl = args['access-ttl'] !== undefined ? Number(args['access-ttl']) : P.ttl;
if (!Number.isFinite(accessTtl) || accessTtl <= 0) {
  log('--access-ttl must be a positive number of seconds');
  process.exit(2);
}

// ---------------------------------------------------------------- users
const USERS = {
  1001: {
    id: 1001, login: 'alice', name: 'Alice Example', first: 'Alice', last: 'Example',
    email: 'alice@example.com', tmId: '5f1c0a9e2b7d4c0012a3b4c5',
  },
  1002: {
    id: 1002, login: 'bob', name: 'Bob Builder', first: 'Bob', last: 'Builder',
    email: 'bob@example.com', tmId: '5f1c0a9e2b7d4c0012a3b4d6',
  },
};
const userByLogin = (login) => Object.values(USERS).find(
  (u) => u.login === String(login).trim().toLowerCase() || String(u.id) === String(login).trim(),
);

const MEMENTOS = [
  { id: 11, name: 'Work notes', description: 'Meeting notes and specs', documents_count: 12, created: '2026-01-05T10:00:00Z' },
  { id: 12, name: 'Reading list', description: 'Articles to read later', documents_count: 5, created: '2026-02-10T08:30:00Z' },
];

// Fusio app grants, per user. The Latchkey entries are created on consent.
const APPS = {
  'latchkey-test': { id: 3, name: 'Latchkey', url: 'http://127.0.0.1' },
  'latchkey-demo': { id: 4, name: 'Latchkey Demo', url: 'http://127.0.0.1' },
};
let nextAppGrantId = 2;
const appGrants = new Map(); // accountId -> [{ id, allow, createDate, app, clientId, grantIds:Set }]
for (const id of Object.keys(USERS)) {
  appGrants.set(id, [{
    id: 1, allow: 1, createDate: '2026-10-15T09:00:00Z',
    app: { id: 2, name: 'Acme Reports', url: 'https://reports.acme.example' }, clientId: null, grantIds: new Set(),
  }]);
}
const isoNow = () => new Date().toISOString().replace(/\.\d+Z$/, 'Z');

// ---------------------------------------------------------------- storage adapter
// A plain Map so the test-control endpoints can see (and age) every stored token.
const store = new Map(); // `${model}:${id}` -> { payload, expiresAt }
const grantMembers = new Map(); // grantId -> Set of keys
const GRANTABLE = new Set(['AccessToken', 'AuthorizationCode', 'RefreshToken', 'DeviceCode', 'BackchannelAuthenticationRequest']);
function storeGet(key) {
  const e = store.get(key);
  if (!e) return undefined;
  if (e.expiresAt && e.expiresAt <= Date.now()) { store.delete(key); return undefined; }
  return e.payload;
}
class MapAdapter {
  constructor(model) { this.model = model; }
  key(id) { return `${this.model}:${id}`; }
  async upsert(id, payload, expiresIn) {
    const key = this.key(id);
    store.set(key, { payload, expiresAt: expiresIn ? Date.now() + expiresIn * 1000 : 0 });
    if (this.model === 'Session' && payload.uid) store.set(`sessionUid:${payload.uid}`, { payload: id, expiresAt: 0 });
    if (payload.userCode) store.set(`${this.model}:userCode:${payload.userCode}`, { payload: id, expiresAt: 0 }); // device flow
    if (GRANTABLE.has(this.model) && payload.grantId) {
      if (!grantMembers.has(payload.grantId)) grantMembers.set(payload.grantId, new Set());
      grantMembers.get(payload.grantId).add(key);
    }
  }
  async find(id) { return storeGet(this.key(id)); }
  async findByUid(uid) { const id = storeGet(`sessionUid:${uid}`); return id ? this.find(id) : undefined; }
  async findByUserCode(userCode) { const id = storeGet(this.key(`userCode:${userCode}`)); return id ? this.find(id) : undefined; }
  async consume(id) { const p = storeGet(this.key(id)); if (p) p.consumed = Math.floor(Date.now() / 1000); }
  async destroy(id) { store.delete(this.key(id)); }
  async revokeByGrantId(grantId) {
    for (const key of grantMembers.get(grantId) ?? []) store.delete(key);
    grantMembers.delete(grantId);
  }
}

// ---------------------------------------------------------------- test state
const emptyStats = () => ({ token: { authorization_code: 0, refresh_token: 0 }, tokenErrors: {}, revoke: 0, resource: 0 });
let stats = emptyStats();
// Behaviours a test can switch on (/__test/behaviour):
// - expiresIn: replaces `expires_in` in every token answer with this JSON value (0, -100,
//   400000000, "soon"…); undefined = leave it alone;
// - deleteAccessOnRotation: a refresh deletes the access tokens issued before it for the same
//   grant, as django-oauth-toolkit does.
// - and what real servers do (realworld.mjs).
const behaviour = { expiresIn: undefined, deleteAccessOnRotation: false, ...realWorldDefaults(profileName) };
let faults = [];
let refreshErrorDescription = 'Invalid refresh token';

// ---------------------------------------------------------------- helpers
function sendJson(res, status, body, headers = {}) {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'cache-control': 'no-store',
    'content-length': Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}
function sendHtml(res, status, html, headers = {}) {
  res.writeHead(status, {
    'content-type': 'text/html; charset=utf-8',
    'cache-control': 'no-store',
    'content-length': Buffer.byteLength(html),
    ...headers,
  });
  res.end(html);
}
const esc = (s) => String(s ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
async function readBody(req, limit = 256 * 1024) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > limit) throw new Error('body too large');
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}
async function readJson(req) {
  const text = await readBody(req);
  if (!text.trim()) return {};
  return JSON.parse(text);
}
const sleep = (ms) => new Promise((r) => { setTimeout(r, ms); });
function bearer(req) {
  const h = req.headers.authorization || '';
  const m = /^Bearer\s+(\S+)\s*$/i.exec(h);
  return m ? m[1] : null;
}
function page(title, body) {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)}</title>
<style>
 :root { color-scheme: light dark; font-family: system-ui, sans-serif; }
 body { display: grid; place-items: center; min-height: 100vh; margin: 0; background: Canvas; }
 main { max-width: 26rem; width: 90%; padding: 2rem; border: 1px solid #8884; border-radius: 12px; }
 h1 { font-size: 1.3rem; margin-top: 0; } label { display: block; margin: .8rem 0 .2rem; }
 input[type=text], input[type=password] { width: 100%; box-sizing: border-box; padding: .5rem; font-size: 1rem; }
 button { margin-top: 1rem; margin-right: .5rem; padding: .5rem 1.2rem; font-size: 1rem; cursor: pointer; }
 .error { color: #c0392b; } code#code { font-size: 1.2rem; word-break: break-all; user-select: all; }
 .muted { opacity: .7; font-size: .9rem; }
</style></head><body><main>${body}</main></body></html>`;
}

// ---------------------------------------------------------------- server + provider
let provider;
let providerCallback;
let base;

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
base = `http://127.0.0.1:${port}`;

function clientMeta(clientId, secret, name) {
  return {
    client_id: clientId,
    client_secret: secret,
    client_name: name,
    application_type: 'native',
    grant_types: ['authorization_code', 'refresh_token', ...(deviceEnabled(profileName) ? [DEVICE_GRANT] : [])],
    response_types: ['code'],
    redirect_uris: P.redirectUris,
    token_endpoint_auth_method: P.authMethod,
  };
}
const clients = [clientMeta('latchkey-test', 'latchkey-test-secret', 'Latchkey')];
if (args.demo) clients.push(clientMeta('latchkey-demo', 'latchkey-demo-secret', 'Latchkey Demo'));

provider = new Provider(base, {
  adapter: MapAdapter,
  clients,
  clientAuthMethods: [P.authMethod],
  scopes: P.scopes,
  claims: { openid: ['sub'], profile: ['name'], email: ['email'] },
  cookies: { keys: ['latchkey-test-cookie-key-1'] },
  findAccount: async (ctx, id) => {
    const u = USERS[id];
    if (!u) return undefined;
    return { accountId: String(u.id), claims: async () => ({ sub: String(u.id), name: u.name, email: u.email }) };
  },
  features: {
    devInteractions: { enabled: false },
    revocation: { enabled: profileName !== 'fusio' },
    introspection: { enabled: profileName === 'generic' },
    userinfo: { enabled: false },
    rpInitiatedLogout: { enabled: false },
    deviceFlow: deviceFeature(profileName, page),
  },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  routes: {
    authorization: P.authorize,
    token: P.token,
    revocation: P.revoke && profileName !== 'fusio' ? P.revoke : '/__oidc/revoke',
    introspection: P.introspect ?? '/__oidc/introspect',
    userinfo: '/__oidc/userinfo',
    jwks: '/__oidc/jwks',
    end_session: '/__oidc/session/end',
  },
  pkce: { required: () => P.pkceRequired },
  issueRefreshToken: async (ctx, client) => client.grantTypeAllowed('refresh_token'),
  rotateRefreshToken: () => true,
  expiresWithSession: async () => false,
  ttl: {
    AccessToken: () => accessTtl,
    AuthorizationCode: 600,
    RefreshToken: 30 * 24 * 3600,
    Grant: 365 * 24 * 3600,
    Session: 24 * 3600,
    Interaction: 3600,
    IdToken: 3600,
  },
  renderError: async (ctx, out) => {
    ctx.type = 'html';
    ctx.set('X-Latchkey-Error', String(out.error ?? 'error'));
    if (out.error_description) ctx.set('X-Latchkey-Error-Description', String(out.error_description).replace(/[^\x20-\x7e]/g, '?'));
    ctx.body = page('Authorization error', `<h1>Something went wrong</h1>
<p class="error" id="error">${esc(out.error)}</p><p id="error_description">${esc(out.error_description)}</p>`);
  },
});
provider.on('server_error', (ctx, err) => log(`oidc-provider server_error: ${err?.message}`));

// Latchkey gives every provider app its own callback path (`…/oauth/callback/<id>`, RFC 9700
// §4.4.2). A person registers that exact URI; this server stands for any of them: a registered
// `…/oauth/callback` also allows `…/oauth/callback/<4–32 of 0-9a-z>`, and nothing else.
const PER_APP = /^(app\.latchkey:\/oauth\/callback|http:\/\/127\.0\.0\.1(?::\d+)?\/oauth\/callback)\/[0-9a-z]{4,32}$/;
const redirectUriAllowed = provider.Client.prototype.redirectUriAllowed;
provider.Client.prototype.redirectUriAllowed = function allowPerApp(value) {
  if (redirectUriAllowed.call(this, value)) return true;
  return typeof value === 'string' && PER_APP.test(value)
    && redirectUriAllowed.call(this, value.slice(0, value.lastIndexOf('/')));
};

// Koa middleware around oidc-provider's own routes: the oob page and the token response quirks.
provider.use(async (ctx, next) => {
  await next();

  // Final authorization redirect to the oob URI: show the code instead (paste-the-code mode).
  if (ctx.status >= 300 && ctx.status < 400) {
    const location = ctx.response.get('location');
    if (location && location.startsWith(OOB)) {
      const params = new URL(location).searchParams;
      const code = params.get('code');
      const error = params.get('error');
      ctx.remove('Location');
      ctx.status = 200;
      ctx.set('X-Latchkey-Test-Location', location);
      if (code) ctx.set('X-Latchkey-Test-Code', code);
      if (error) ctx.set('X-Latchkey-Test-Error', error);
      ctx.type = 'html';
      ctx.body = page(code ? 'Your authorization code' : 'Authorization failed', code
        ? `<h1>Copy this code into Latchkey</h1><p><code id="code">${esc(code)}</code></p>
<p class="muted">Paste it into the app to finish connecting your account. It expires in 10 minutes.</p>`
        : `<h1>Authorization failed</h1><p class="error" id="error">${esc(error)}</p>
<p id="error_description">${esc(params.get('error_description'))}</p>`);
    }
  }

  if (ctx.path === P.token && ctx.method === 'POST') {
    const grantType = ctx.req.latchkeyForm?.grant_type;
    const body = ctx.body && typeof ctx.body === 'object' && !Buffer.isBuffer(ctx.body) ? ctx.body : null;
    if (!body) return;
    if (ctx.status >= 400 && typeof body.error === 'string') {
      stats.tokenErrors[body.error] = (stats.tokenErrors[body.error] ?? 0) + 1;
    }
    if (ctx.status === 200 && grantType === 'refresh_token' && behaviour.deleteAccessOnRotation && body.access_token) {
      const fresh = await provider.AccessToken.find(body.access_token).catch(() => undefined);
      for (const key of fresh?.grantId ? [...(grantMembers.get(fresh.grantId) ?? [])] : []) {
        if (key.startsWith('AccessToken:') && key !== `AccessToken:${body.access_token}`) store.delete(key);
      }
    }
    if (ctx.status === 200 && behaviour.expiresIn !== undefined) {
      ctx.body = { ...ctx.body, expires_in: behaviour.expiresIn };
    }
    if (ctx.status === 200) {
      const body = ctx.body;
      if (profileName === 'textmaster') {
        ctx.body = { ...body, created_at: Math.floor(Date.now() / 1000) };
      } else if (profileName === 'fusio') {
        ctx.body = {
          ...body,
          token_type: 'bearer',
          scope: typeof body.scope === 'string' ? body.scope.split(' ').filter(Boolean).join(',') : body.scope,
        };
      }
    } else if (profileName === 'fusio' && grantType === 'refresh_token' && body.error === 'invalid_grant') {
      ctx.status = 400;
      ctx.body = { error: 'invalid_request', error_description: refreshErrorDescription };
    }
    const changed = afterToken({ behaviour, status: ctx.status, body: ctx.body, form: ctx.req.latchkeyForm, accessTtl });
    if (changed) {
      ctx.status = changed.status;
      if (changed.body === null) {
        ctx.body = '';
        ctx.remove('Content-Type');
      } else {
        ctx.body = changed.body;
      }
    }
  }
});
const device = installDevice({ provider, profileName, base, sendJson }); // before callback(): it adds middleware
providerCallback = provider.callback();

// ---------------------------------------------------------------- routing
function classify(method, path) {
  if (path === P.token) return 'token';
  if (P.revoke && path === P.revoke) return 'revoke';
  if (resourceRoute(method, path)) return 'resource';
  return 'other';
}

function resourceRoute(method, path) {
  let m;
  switch (profileName) {
    case 'rememberizer':
      if (method !== 'GET') return null;
      if (['/api/v1/account/', '/api/me/', '/api/v1/me/'].includes(path)) return { kind: 'account' };
      if (path === '/api/v1/mementos/') return { kind: 'mementos' };
      if ((m = /^\/api\/v1\/mementos\/(\d+)\/$/.exec(path))) return { kind: 'memento', id: Number(m[1]) };
      return null;
    case 'textmaster':
      if (method === 'GET' && path === '/v1/clients/users/me') return { kind: 'tm_me' };
      return null;
    case 'fusio':
      if (method === 'GET' && path === '/authorization/whoami') return { kind: 'whoami' };
      if (method === 'GET' && path === '/consumer/grant') return { kind: 'grants' };
      if (method === 'DELETE' && (m = /^\/consumer\/grant\/(\d+)$/.exec(path))) return { kind: 'grant_delete', id: Number(m[1]) };
      return null;
    case 'generic':
      if ((method === 'GET' || method === 'POST') && path === P.userinfo) return { kind: 'userinfo' };
      return null;
    default:
      return null;
  }
}

function takeFault(route, req) {
  if (route === 'test' || req.headers['x-latchkey-headless']) return null;
  const i = faults.findIndex((f) => f.count > 0 && (f.route === 'any' || f.route === route));
  if (i < 0) return null;
  const f = faults[i];
  f.count -= 1;
  if (f.count <= 0) faults.splice(i, 1);
  return f;
}

async function handle(req, res) {
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
    const gt = req.latchkeyForm.grant_type;
    if (gt === 'authorization_code' || gt === 'refresh_token') stats.token[gt] += 1;
  } else if (route === 'revoke') {
    stats.revoke += 1;
  } else if (route === 'resource') {
    stats.resource += 1;
  }

  const fault = takeFault(route, req);
  if (fault) {
    if (fault.delayMs > 0) await sleep(fault.delayMs);
    if (fault.drop) { req.socket.destroy(); return undefined; }
    if (fault.status) {
      const headers = {};
      if (fault.retryAfter !== null && fault.retryAfter !== undefined) headers['retry-after'] = String(fault.retryAfter);
      const body = fault.body ?? { error: 'temporarily_unavailable', error_description: `injected fault (${fault.status})` };
      if (typeof body === 'string') {
        res.writeHead(fault.status, { 'content-type': 'text/plain; charset=utf-8', ...headers });
        res.end(body);
      } else {
        sendJson(res, fault.status, body, headers);
      }
      return undefined;
    }
  }

  if (device.intercept(req, res, route)) return undefined;

  if (beforeRoute(req, res, url, { behaviour, profileName, P, base, route, sendJson, bearer })) return undefined;
  if (path.startsWith('/.well-known/')) return discovery(req, res, path);
  if (path === '/interaction' || path.startsWith('/interaction/')) return interaction(req, res, path);
  if (path === '/' && req.method === 'GET') {
    return sendHtml(res, 200, page('Latchkey test provider', `<h1>Latchkey test provider</h1>
<p>Profile <strong>${esc(profileName)}</strong>. Authorize at <code>${esc(P.authorize)}</code>, token at <code>${esc(P.token)}</code>.</p>`));
  }

  if (route === 'resource') return resource(req, res, resourceRoute(req.method, path));

  if (path === P.authorize && req.method === 'GET') {
    const scope = url.searchParams.get('scope') ?? '';
    if (scope.split(' ').includes('offline_access') && !url.searchParams.has('prompt')) {
      // oidc-provider drops offline_access unless prompt=consent; these providers simply grant it.
      url.searchParams.set('prompt', 'consent');
      req.url = url.pathname + url.search;
    }
  }

  if (P.authMethod === 'client_secret_post' && req.method === 'POST'
    && (route === 'token' || route === 'revoke' || path === P.introspect)
    && /^Basic\s/i.test(req.headers.authorization || '')) {
    // oidc-provider would accept HTTP Basic here too; these providers take the secret in the body only.
    return sendJson(res, 401, {
      error: 'invalid_client',
      error_description: 'client authentication with HTTP Basic is not supported; send client_id and client_secret in the body',
    });
  }

  if (profileName === 'fusio') {
    if (path === P.revoke) return fusioRevoke(req, res);
    if (path === P.authorize && req.method === 'GET' && !url.searchParams.has('redirect_uri')) {
      // Paste mode: Fusio shows the code when no redirect_uri is given.
      url.searchParams.set('redirect_uri', OOB);
      req.url = url.pathname + url.search;
    }
    if (route === 'token' && req.method === 'POST') {
      const auth = req.headers.authorization || '';
      if (!/^Basic\s+\S+/i.test(auth)) {
        return sendJson(res, 400, { error: 'invalid_request', error_description: 'Credentials not available' });
      }
      // Fusio ignores credentials in the body.
      const form = { ...req.latchkeyForm };
      delete form.client_secret;
      delete form.client_id;
      if (form.grant_type === 'authorization_code' && !form.redirect_uri && typeof form.code === 'string') {
        // Fusio does not need redirect_uri repeated: use the one the code was issued for.
        const code = storeGet(`AuthorizationCode:${form.code}`);
        if (code?.redirectUri) form.redirect_uri = code.redirectUri;
      }
      req.body = querystring.stringify(form);
    }
  }

  return providerCallback(req, res);
}

// ---------------------------------------------------------------- discovery
function discovery(req, res, path) {
  const notFound = () => sendJson(res, 404, profileName === 'rememberizer' ? { detail: 'Not found.' } : { error: 'not_found' });
  if (req.method !== 'GET') return notFound();
  if (profileName === 'fusio' && path === '/.well-known/oauth-authorization-server') {
    return sendJson(res, 200, {
      issuer: base,
      authorization_endpoint: base + P.authorize,
      token_endpoint: base + P.token,
      token_endpoint_auth_methods_supported: ['client_secret_basic'],
      userinfo_endpoint: `${base}/authorization/whoami`,
      scopes_supported: P.scopes.filter((s) => s !== 'offline_access'),
      response_types_supported: ['code'],
      grant_types_supported: ['authorization_code', 'refresh_token', 'client_credentials', 'password'],
    });
  }
  if (profileName === 'generic' && (path === '/.well-known/oauth-authorization-server' || path === '/.well-known/openid-configuration')) {
    return sendJson(res, 200, {
      issuer: base,
      authorization_endpoint: base + P.authorize,
      token_endpoint: base + P.token,
      revocation_endpoint: base + P.revoke,
      introspection_endpoint: base + P.introspect,
      userinfo_endpoint: base + P.userinfo,
      token_endpoint_auth_methods_supported: ['client_secret_post'],
      revocation_endpoint_auth_methods_supported: ['client_secret_post'],
      introspection_endpoint_auth_methods_supported: ['client_secret_post'],
      scopes_supported: ['openid', ...P.scopes],
      response_types_supported: ['code'],
      response_modes_supported: ['query'],
      grant_types_supported: ['authorization_code', 'refresh_token'],
      code_challenge_methods_supported: ['S256'],
      authorization_response_iss_parameter_supported: true,
      ...(device.enabled ? { device_authorization_endpoint: base + DEVICE_AUTH_PATH } : {}),
    });
  }
  return notFound();
}

// ---------------------------------------------------------------- interactions (sign-in and consent pages)
async function interaction(req, res, path) {
  const m = /^\/interaction\/([^/]+)(\/abort)?$/.exec(path);
  if (!m) return sendHtml(res, 404, page('Not found', '<h1>Not found</h1>'));
  let details;
  try {
    details = await provider.interactionDetails(req, res);
  } catch (err) {
    return sendHtml(res, 400, page('Session expired', `<h1>This sign-in has expired</h1>
<p>Start again from the app.</p>`), { 'X-Latchkey-Error': 'invalid_request', 'X-Latchkey-Error-Description': 'interaction session not found' });
  }
  const { uid, prompt, params, session, grantId } = details;
  const client = await provider.Client.find(params.client_id);
  const clientName = client?.clientName || params.client_id;
  const scopes = String(params.scope ?? '').split(' ').filter(Boolean);

  if (m[2]) { // abort = deny
    if (req.method === 'POST') await readBody(req);
    return provider.interactionFinished(req, res, {
      error: 'access_denied', error_description: 'End-User denied the authorization request',
    }, { mergeWithLastSubmission: false });
  }

  if (req.method === 'GET') {
    if (prompt.name === 'login') return sendHtml(res, 200, loginPage(uid, clientName), { 'X-Latchkey-Prompt': 'login' });
    if (prompt.name === 'consent') {
      const who = USERS[session?.accountId];
      return sendHtml(res, 200, consentPage(uid, clientName, scopes, who), { 'X-Latchkey-Prompt': 'consent' });
    }
    return sendHtml(res, 501, page('Not implemented', `<h1>Unsupported prompt ${esc(prompt.name)}</h1>`));
  }
  if (req.method !== 'POST') return sendHtml(res, 405, page('Method not allowed', '<h1>Method not allowed</h1>'));

  const form = querystring.parse(await readBody(req));
  if (form.prompt === 'login' && prompt.name === 'login') {
    const user = userByLogin(form.login ?? '');
    if (!user || !form.password) {
      return sendHtml(res, 200, loginPage(uid, clientName, 'Unknown user or empty password. Try alice or bob with any password.'), {
        'X-Latchkey-Prompt': 'login', 'X-Latchkey-Login-Error': 'login_failed',
      });
    }
    return provider.interactionFinished(req, res, { login: { accountId: String(user.id) } }, { mergeWithLastSubmission: false });
  }
  if (form.prompt === 'consent' && prompt.name === 'consent') {
    if (form.decision === 'deny') {
      return provider.interactionFinished(req, res, {
        error: 'access_denied', error_description: 'End-User denied the authorization request',
      }, { mergeWithLastSubmission: false });
    }
    const grant = grantId
      ? await provider.Grant.find(grantId)
      : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
    const d = prompt.details;
    if (d.missingOIDCScope) grant.addOIDCScope(d.missingOIDCScope.join(' '));
    if (d.missingOIDCClaims) grant.addOIDCClaims(d.missingOIDCClaims);
    if (d.missingResourceScopes) {
      for (const [indicator, s] of Object.entries(d.missingResourceScopes)) grant.addResourceScope(indicator, s.join(' '));
    }
    const savedGrantId = await grant.save();
    recordAppGrant(session.accountId, params.client_id, savedGrantId);
    return provider.interactionFinished(req, res, { consent: { grantId: savedGrantId } }, { mergeWithLastSubmission: true });
  }
  return sendHtml(res, 400, page('Bad request', `<h1>Unexpected form for prompt ${esc(prompt.name)}</h1>`));
}

function recordAppGrant(accountId, clientId, grantId) {
  const list = appGrants.get(String(accountId));
  if (!list) return;
  let entry = list.find((e) => e.clientId === clientId);
  if (!entry) {
    entry = {
      id: nextAppGrantId++, allow: 1, createDate: isoNow(),
      app: APPS[clientId] ?? { id: 99, name: clientId, url: 'http://127.0.0.1' }, clientId, grantIds: new Set(),
    };
    list.push(entry);
  }
  entry.grantIds.add(grantId);
}

function loginPage(uid, clientName, error) {
  return page('Sign in', `<h1>Sign in to continue to ${esc(clientName)}</h1>
<p class="muted">Latchkey test provider (${esc(profileName)}). Users: alice, bob; any non-empty password.</p>
${error ? `<p class="error" role="alert">${esc(error)}</p>` : ''}
<form method="post" action="/interaction/${esc(uid)}" autocomplete="off">
  <input type="hidden" name="prompt" value="login">
  <label for="login">Username</label><input id="login" type="text" name="login" value="alice" required autofocus>
  <label for="password">Password</label><input id="password" type="password" name="password" value="password" required>
  <button type="submit" id="submit">Sign in</button>
</form>`);
}

function consentPage(uid, clientName, scopes, who) {
  return page('Authorize', `<h1>${esc(clientName)} wants to access your account</h1>
<p>Signed in as <strong>${esc(who?.name ?? '?')}</strong> (${esc(who?.email ?? '')}).</p>
<p>Requested access:</p><ul id="scopes">${scopes.map((s) => `<li>${esc(s)}</li>`).join('') || '<li>basic access</li>'}</ul>
<form method="post" action="/interaction/${esc(uid)}">
  <input type="hidden" name="prompt" value="consent">
  <button type="submit" id="allow" name="decision" value="allow">Allow</button>
  <button type="submit" id="deny" name="decision" value="deny">Deny</button>
</form>`);
}

// ---------------------------------------------------------------- resources
async function findAccess(token) {
  if (!token) return null;
  const at = await provider.AccessToken.find(token);
  if (!at || at.isExpired) return null;
  if (at.grantId && !(await provider.Grant.find(at.grantId))) return null;
  return at;
}

async function resource(req, res, r) {
  const token = bearer(req);
  const at = await findAccess(token);
  if (!at) {
    const wwwa = { 'www-authenticate': `Bearer error="invalid_token"` };
    if (profileName === 'rememberizer') {
      return sendJson(res, 401, { detail: token ? 'Invalid token.' : 'Authentication credentials were not provided.' }, wwwa);
    }
    if (profileName === 'fusio') return sendJson(res, 401, { success: false, title: 'Unauthorized', message: 'Invalid access token' }, wwwa);
    return sendJson(res, 401, { error: 'invalid_token', error_description: 'The access token is invalid or expired' }, wwwa);
  }
  const user = USERS[at.accountId];
  const scopes = String(at.scope ?? '').split(' ').filter(Boolean);
  switch (r.kind) {
    case 'account':
      return sendJson(res, 200, { id: user.id, email: user.email, name: user.name });
    case 'mementos':
      return sendJson(res, 200, { count: MEMENTOS.length, next: null, previous: null, results: MEMENTOS });
    case 'memento': {
      const mem = MEMENTOS.find((x) => x.id === r.id);
      return mem ? sendJson(res, 200, mem) : sendJson(res, 404, { detail: 'Not found.' });
    }
    case 'tm_me':
      if (!scopes.some((s) => s.startsWith('user:'))) {
        // Doorkeeper names the scope in its challenge (RFC 6750 §3).
        return sendJson(res, 403, { errors: { base: ['insufficient scope: a user:* scope is required'] } }, {
          'www-authenticate': 'Bearer realm="Doorkeeper", error="insufficient_scope", error_description="The access token does not have the required scope", scope="user:read"',
        });
      }
      return sendJson(res, 200, {
        id: user.tmId, ident: `${user.login.toUpperCase()}-${user.id}`, email: user.email, locale: 'en-US',
        contact_information: { first_name: user.first, last_name: user.last },
      });
    case 'whoami':
      return sendJson(res, 200, { id: user.id, name: user.login, email: user.email, points: 0, scopes, plans: [] });
    case 'grants': {
      const list = appGrants.get(String(user.id)) ?? [];
      return sendJson(res, 200, {
        totalResults: list.length, itemsPerPage: 16, startIndex: 0,
        entry: list.map(({ id, allow, createDate, app }) => ({ id, allow, createDate, app })),
      });
    }
    case 'grant_delete': {
      const list = appGrants.get(String(user.id)) ?? [];
      const i = list.findIndex((e) => e.id === r.id);
      if (i < 0) return sendJson(res, 404, { success: false, title: 'Not Found', message: 'Could not find grant' });
      const [entry] = list.splice(i, 1);
      for (const gid of entry.grantIds) await destroyGrant(gid);
      return sendJson(res, 200, { success: true, message: 'Grant successfully deleted' });
    }
    case 'userinfo':
      return sendJson(res, 200, { sub: String(user.id), name: user.name, email: user.email });
    default:
      return sendJson(res, 404, { error: 'not_found' });
  }
}

async function destroyGrant(grantId) {
  for (const model of ['AccessToken', 'RefreshToken', 'AuthorizationCode']) {
    await provider[model].adapter.revokeByGrantId(grantId);
  }
  const grant = await provider.Grant.find(grantId);
  if (grant) await grant.destroy();
}

async function fusioRevoke(req, res) {
  if (req.method !== 'POST') return sendJson(res, 405, { success: false, message: 'Method not allowed' });
  await readBody(req);
  const at = await findAccess(bearer(req));
  if (!at) {
    return sendJson(res, 401, { success: false, title: 'Unauthorized', message: 'Invalid access token' },
      { 'www-authenticate': 'Bearer error="invalid_token"' });
  }
  await at.destroy();
  if (at.grantId) await destroyGrant(at.grantId);
  return sendJson(res, 200, { success: true });
}

// ---------------------------------------------------------------- /__test/ control
async function testControl(req, res, url) {
  const path = url.pathname;
  const post = req.method === 'POST';
  let body = {};
  if (post) {
    try { body = await readJson(req); } catch { return sendJson(res, 400, { error: 'invalid_json' }); }
  }
  if (path === '/__test/stats' && req.method === 'GET') return sendJson(res, 200, { ...stats, lazyPending: lazyPendingCount() });
  if (path === '/__test/reset-stats' && post) { stats = emptyStats(); return sendJson(res, 200, stats); }
  if (path === '/__test/fault' && post) {
    const f = {
      route: body.route ?? 'any',
      status: body.status ?? null,
      count: body.count ?? 1,
      delayMs: body.delayMs ?? 0,
      retryAfter: body.retryAfter ?? null,
      drop: Boolean(body.drop),
      body: body.body ?? null,
    };
    if (!['token', 'revoke', 'resource', 'any'].includes(f.route)) return sendJson(res, 400, { error: 'bad route' });
    faults.push(f);
    return sendJson(res, 200, { ok: true, pending: faults.length });
  }
  if (path === '/__test/fault/clear' && post) { faults = []; return sendJson(res, 200, { ok: true }); }
  if (path === '/__test/behaviour' && post) {
    if ('expiresIn' in body) behaviour.expiresIn = body.expiresIn === null ? undefined : body.expiresIn;
    if ('deleteAccessOnRotation' in body) behaviour.deleteAccessOnRotation = Boolean(body.deleteAccessOnRotation);
    const bad = setRealWorld(behaviour, body);
    if (bad) return sendJson(res, 400, { error: bad });
    return sendJson(res, 200, { ok: true, behaviour });
  }
  if (path === '/__test/access-ttl' && post) {
    const s = Number(body.seconds);
    if (!Number.isFinite(s) || s <= 0) return sendJson(res, 400, { error: 'seconds must be positive' });
    accessTtl = s;
    return sendJson(res, 200, { ok: true, seconds: s });
  }
  if (path === '/__test/expire-refresh-tokens' && post) {
    let n = 0;
    const past = Math.floor(Date.now() / 1000) - 1;
    for (const [key, e] of store) {
      if (key.startsWith('RefreshToken:')) { e.payload.exp = past; n += 1; }
    }
    if (typeof body.description === 'string') refreshErrorDescription = body.description;
    return sendJson(res, 200, { ok: true, expired: n });
  }
  if (path === '/__test/active' && post) return sendJson(res, 200, await tokenActive(String(body.token ?? '')));
  if (path === '/__test/authorize' && post) {
    if (typeof body.url !== 'string') return sendJson(res, 400, { error: 'url required' });
    return sendJson(res, 200, await headlessAuthorize(body));
  }
  if (path.startsWith('/__test/device/') && post) {
    const out = await device.control(path, body);
    if (out) return sendJson(res, out.status ?? 200, out);
  }
  if (path === '/__test/state' && req.method === 'GET') {
    return sendJson(res, 200, { profile: profileName, accessTtl, faults });
  }
  return sendJson(res, 404, { error: 'unknown test endpoint' });
}

async function tokenActive(token) {
  if (!token) return { active: false, kind: null };
  const at = await provider.AccessToken.find(token).catch(() => undefined);
  if (at) {
    const ok = !at.isExpired && (!at.grantId || Boolean(await provider.Grant.find(at.grantId)));
    return { active: ok, kind: 'access' };
  }
  const rt = await provider.RefreshToken.find(token, { ignoreExpiration: true }).catch(() => undefined);
  if (rt) {
    const ok = !rt.isExpired && !rt.consumed && (!rt.grantId || Boolean(await provider.Grant.find(rt.grantId)));
    return { active: ok, kind: 'refresh' };
  }
  return { active: false, kind: null };
}

// The browser part of the flow, played against ourselves over HTTP with a cookie jar.
async function headlessAuthorize({ url, login = 'alice', password = 'password', consent = true }) {
  const jar = new Map();
  const self = new URL(base);
  const cookieHeader = () => [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
  const keepCookies = (r) => {
    for (const sc of r.headers.getSetCookie()) {
      const [pair, ...attrs] = sc.split(';');
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      const expired = attrs.some((a) => /^\s*expires=.*1970/i.test(a) || /^\s*max-age=0\b/i.test(a));
      if (expired || value === '') jar.delete(name); else jar.set(name, value);
    }
  };
  const finalFrom = (location, extra = {}) => {
    const out = { location, code: null, state: null, iss: null, error: null, error_description: null, ...extra };
    try {
      const u = new URL(location);
      for (const k of ['code', 'state', 'iss', 'error', 'error_description']) out[k] = u.searchParams.get(k);
    } catch { /* not a URL */ }
    return out;
  };

  let next = url;
  let method = 'GET';
  let form = null;
  for (let i = 0; i < 20; i += 1) {
    const target = new URL(next);
    if (target.port !== self.port || !['127.0.0.1', 'localhost'].includes(target.hostname)) {
      return { location: null, status: 400, error: 'invalid_request', error_description: 'the URL does not point at this test provider' };
    }
    const headers = { cookie: cookieHeader(), 'x-latchkey-headless': '1' };
    if (form) headers['content-type'] = 'application/x-www-form-urlencoded';
    const r = await fetch(next, { method, headers, body: form ? new URLSearchParams(form).toString() : undefined, redirect: 'manual' });
    keepCookies(r);
    const text = await r.text();
    if (r.status >= 300 && r.status < 400) {
      const loc = new URL(r.headers.get('location'), next);
      if ((loc.protocol === 'http:' && loc.host === target.host)) {
        next = loc.href; method = 'GET'; form = null;
        continue;
      }
      return finalFrom(loc.href);
    }
    if (r.headers.get('x-latchkey-test-location')) {
      return finalFrom(r.headers.get('x-latchkey-test-location'), { oob: true, page: next });
    }
    const prompt = r.headers.get('x-latchkey-prompt');
    if (prompt === 'login') {
      if (r.headers.get('x-latchkey-login-error')) {
        return { location: null, status: 401, error: 'login_failed', error_description: 'unknown user or empty password' };
      }
      method = 'POST'; form = { prompt: 'login', login: String(login), password: String(password) };
      continue;
    }
    if (prompt === 'consent') {
      method = 'POST'; form = { prompt: 'consent', decision: consent === false ? 'deny' : 'allow' };
      continue;
    }
    return {
      location: null,
      status: r.status,
      error: r.headers.get('x-latchkey-error') ?? 'unexpected_response',
      error_description: r.headers.get('x-latchkey-error-description') ?? text.slice(0, 200),
    };
  }
  return { location: null, status: 508, error: 'too_many_redirects', error_description: 'authorization did not finish' };
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
  url: base,
  issuer: base,
  client_id: 'latchkey-test',
  client_secret: 'latchkey-test-secret',
})}\n`);
log(`profile ${profileName} listening on ${base}${args.demo ? ' (demo client latchkey-demo enabled)' : ''}`);
