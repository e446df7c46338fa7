// The providers' resource endpoints, behind Bearer access tokens: Rememberizer's account and
// mementos, TextMaster's users/me, Fusio's whoami, app grants (list, delete) and its own
// revocation endpoint, and the generic profile's userinfo. `resourceRoute` says which paths
// are resources (server.mjs counts them in stats and applies `resource` faults to them).

import { state } from './state.mjs';
import { MEMENTOS, USERS, appGrants } from './profiles.mjs';
import { destroyGrant } from './storage.mjs';
import { bearer, readBody, sendJson } from './util.mjs';

/** The resource a request asks for ({ kind, id? }), or null when the path is not a resource. */
export function resourceRoute(method, path) {
  const { profileName, P } = state;
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

/** The stored, unexpired access token, whose grant still exists; null otherwise. */
export async function findAccess(token) {
  if (!token) return null;
  const at = await state.provider.AccessToken.find(token);
  if (!at || at.isExpired) return null;
  if (at.grantId && !(await state.provider.Grant.find(at.grantId))) return null;
  return at;
}

/** Answers a resource request (`r` from resourceRoute), as the profile's real server would. */
export async function resource(req, res, r) {
  const token = bearer(req);
  const at = await findAccess(token);
  if (!at) {
    const wwwa = { 'www-authenticate': `Bearer error="invalid_token"` };
    if (state.profileName === 'rememberizer') {
      return sendJson(res, 401, { detail: token ? 'Invalid token.' : 'Authentication credentials were not provided.' }, wwwa);
    }
    if (state.profileName === 'fusio') return sendJson(res, 401, { success: false, title: 'Unauthorized', message: 'Invalid access token' }, wwwa);
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

/** Fusio's revocation endpoint: the access token in the Authorization header revokes its whole grant. */
export async function fusioRevoke(req, res) {
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
