// The test provider's profiles and the data behind them: the PROFILES table (one per Latchkey
// preset: paths, client authentication, access TTL, scopes, redirect URIs, PKCE), the users
// (alice, bob), Rememberizer's mementos, and Fusio's app grants (the list a person sees and can
// delete at /consumer/grant; Latchkey's entry appears on consent).
//
// How each profile behaves differently from plain oidc-provider is in quirks.mjs; its
// resource endpoints are in resources.mjs.

export const OOB = 'urn:ietf:wg:oauth:2.0:oob';
export const CUSTOM = 'app.latchkey:/oauth/callback';
export const LOOPBACK = 'http://127.0.0.1/oauth/callback';

// Adding a profile: an entry here, then its quirks (quirks.mjs) and resources (resources.mjs).
export const PROFILES = {
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

// ---------------------------------------------------------------- users
export const USERS = {
  1001: {
    id: 1001, login: 'alice', name: 'Alice Example', first: 'Alice', last: 'Example',
    email: 'alice@example.com', tmId: '5f1c0a9e2b7d4c0012a3b4c5',
  },
  1002: {
    id: 1002, login: 'bob', name: 'Bob Builder', first: 'Bob', last: 'Builder',
    email: 'bob@example.com', tmId: '5f1c0a9e2b7d4c0012a3b4d6',
  },
};
export const userByLogin = (login) => Object.values(USERS).find(
  (u) => u.login === String(login).trim().toLowerCase() || String(u.id) === String(login).trim(),
);

export const MEMENTOS = [
  { id: 11, name: 'Work notes', description: 'Meeting notes and specs', documents_count: 12, created: '2026-01-05T10:00:00Z' },
  { id: 12, name: 'Reading list', description: 'Articles to read later', documents_count: 5, created: '2026-02-10T08:30:00Z' },
];

// Fusio app grants, per user. The Latchkey entries are created on consent.
export const APPS = {
  'latchkey-test': { id: 3, name: 'Latchkey', url: 'http://127.0.0.1' },
  'latchkey-demo': { id: 4, name: 'Latchkey Demo', url: 'http://127.0.0.1' },
};
let nextAppGrantId = 2;
export const appGrants = new Map(); // accountId -> [{ id, allow, createDate, app, clientId, grantIds:Set }]
for (const id of Object.keys(USERS)) {
  appGrants.set(id, [{
    id: 1, allow: 1, createDate: '2026-10-15T09:00:00Z',
    app: { id: 2, name: 'Acme Reports', url: 'https://reports.acme.example' }, clientId: null, grantIds: new Set(),
  }]);
}
export const isoNow = () => new Date().toISOString().replace(/\.\d+Z$/, 'Z');

/** Adds a grant to the person's Fusio app-grant entry for this client (created on first consent). */
export function recordAppGrant(accountId, clientId, grantId) {
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
