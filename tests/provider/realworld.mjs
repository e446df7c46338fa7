// What real OAuth servers do that the plain profiles do not, each behind a switch a test turns
// on through /__test/behaviour (see `realWorldDefaults`; control.mjs). The server calls these
// hooks: `beforeRoute` for every request before oidc-provider sees it (server.mjs), `afterToken`
// for every token answer oidc-provider produced (quirks.mjs).

/** The switches, with their defaults for a profile. */
export function realWorldDefaults(profileName) {
  return {
    // RFC 7009 revocation at the profile's usual path (Doorkeeper `/oauth/revoke`,
    // django-oauth-toolkit `revoke_token/`). Off: that path answers 404. The Rememberizer
    // profile starts without it (its public documentation does not list one).
    revocation: profileName !== 'rememberizer',
    // Doorkeeper's default rotation: the previous refresh token stays valid until the new
    // access token is first used. Counted in stats.lazyPending.
    lazyRotation: false,
    // Doorkeeper's `reuse_access_token`: token answers carry the original `created_at`, this many
    // seconds ago, and the remaining `expires_in`.
    reuseAge: null,
    // A refresh the server refuses is answered with this bare status (400 or 401), no body.
    bareRefreshError: null,
    // Loopback redirect URIs must be one of these exactly, port included (else a bare 403).
    exactLoopback: null,
    // An authorization request that asks for `openid` without a `nonce` is refused.
    nonceRequired: false,
    // The ID token comes back with this `nonce` instead of the one sent.
    idTokenNonce: null,
  };
}

/** Applies a /__test/behaviour body to the switches; returns an error string for a bad one. */
export function setRealWorld(behaviour, body) {
  for (const key of Object.keys(realWorldDefaults('generic'))) {
    if (key in body) behaviour[key] = body[key];
  }
  if (behaviour.exactLoopback !== null && !Array.isArray(behaviour.exactLoopback)) return 'exactLoopback: a list of URIs or null';
  if (behaviour.bareRefreshError !== null && ![400, 401].includes(behaviour.bareRefreshError)) return 'bareRefreshError: 400, 401 or null';
  return null;
}

const lazyPending = new Map(); // new access token -> the refresh token it replaced

/** The number of rotations the client has not completed (lazy rotation). */
export const lazyPendingCount = () => lazyPending.size;

/**
 * Before oidc-provider: returns true when it answered the request itself.
 * ctx: { behaviour, profileName, P, base, route, sendJson, bearer }
 */
export function beforeRoute(req, res, url, ctx) {
  const { behaviour, P, profileName, route } = ctx;
  const path = url.pathname;
  if (route === 'revoke' && profileName !== 'fusio' && !behaviour.revocation) {
    ctx.sendJson(res, 404, profileName === 'rememberizer' ? { detail: 'Not found.' } : { error: 'not_found' });
    return true;
  }
  if (route === 'resource') {
    const token = ctx.bearer(req);
    if (token) lazyPending.delete(token);
  }
  if (path === P.authorize && req.method === 'GET') {
    const redirect = url.searchParams.get('redirect_uri') ?? '';
    if (behaviour.exactLoopback && redirect.startsWith('http://127.0.0.1') && !behaviour.exactLoopback.includes(redirect)) {
      res.writeHead(403, { 'content-type': 'text/plain' });
      res.end('Forbidden');
      return true;
    }
    const scopes = (url.searchParams.get('scope') ?? '').split(' ');
    if (behaviour.nonceRequired && scopes.includes('openid') && !url.searchParams.get('nonce')) {
      res.writeHead(400, { 'content-type': 'text/html' });
      res.end('<h1>Bad request</h1><p>nonce is required for OpenID Connect requests</p>');
      return true;
    }
  }
  if (profileName === 'generic' && req.method === 'GET' && tenantDiscovery(res, path, ctx)) return true;
  return false;
}

// Issuers with a path (RFC 8414 §3.1): `/tenant` publishes at the path-inserted address,
// `/oidc-tenant` only in the OpenID form (appended), `/wrong-tenant` names another issuer.
function tenantDiscovery(res, path, ctx) {
  const { base, P } = ctx;
  const doc = (issuer) => ({
    issuer,
    authorization_endpoint: base + P.authorize,
    token_endpoint: base + P.token,
    userinfo_endpoint: base + P.userinfo,
    token_endpoint_auth_methods_supported: ['client_secret_post'],
    scopes_supported: ['openid', 'profile', 'email'],
    response_types_supported: ['code'],
  });
  switch (path) {
    case '/.well-known/oauth-authorization-server/tenant':
      ctx.sendJson(res, 200, doc(`${base}/tenant`));
      return true;
    case '/oidc-tenant/.well-known/openid-configuration':
      ctx.sendJson(res, 200, doc(`${base}/oidc-tenant`));
      return true;
    case '/.well-known/oauth-authorization-server/wrong-tenant':
      ctx.sendJson(res, 200, doc(`${base}/someone-else`));
      return true;
    default:
      return false;
  }
}

function b64urlJson(part) {
  return JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
}

/**
 * After oidc-provider answered a token request. Returns the replacement { status, body }
 * (body null: no body at all), or null to keep the answer.
 */
export function afterToken({ behaviour, status, body, form, accessTtl }) {
  const grantType = form?.grant_type;
  if (status >= 400) {
    if (grantType === 'refresh_token' && behaviour.bareRefreshError) return { status: behaviour.bareRefreshError, body: null };
    return null;
  }
  if (status !== 200 || !body?.access_token) return null;
  let out = body;
  if (behaviour.lazyRotation && grantType === 'refresh_token' && typeof form.refresh_token === 'string') {
    lazyPending.set(body.access_token, form.refresh_token);
  }
  if (Number.isFinite(behaviour.reuseAge) && behaviour.reuseAge > 0) {
    const now = Math.floor(Date.now() / 1000);
    out = { ...out, created_at: now - behaviour.reuseAge, expires_in: Math.max(1, accessTtl - behaviour.reuseAge) };
  }
  if (behaviour.idTokenNonce !== null && typeof out.id_token === 'string') {
    const [h, p, s] = out.id_token.split('.');
    const payload = { ...b64urlJson(p), nonce: behaviour.idTokenNonce };
    out = { ...out, id_token: `${h}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.${s}` };
  }
  return out === body ? null : { status, body: out };
}
