// Test control: the /__test/* JSON endpoints (stats, faults, behaviours, access TTL, expiring
// refresh tokens, token activity, the headless browser, the device flow's switches), and the
// two things server.mjs does with their state on every request: count it (stats) and inject a
// pending fault.

import { setRealWorld, lazyPendingCount } from './realworld.mjs';
import { emptyStats, state } from './state.mjs';
import { expireRefreshTokens } from './storage.mjs';
import { headlessAuthorize } from './browser.mjs';
import { readJson, sendJson, sleep } from './util.mjs';

/** Answers a /__test/* request. */
export async function testControl(req, res, url) {
  const path = url.pathname;
  const post = req.method === 'POST';
  let body = {};
  if (post) {
    try { body = await readJson(req); } catch { return sendJson(res, 400, { error: 'invalid_json' }); }
  }
  if (path === '/__test/stats' && req.method === 'GET') return sendJson(res, 200, { ...state.stats, lazyPending: lazyPendingCount() });
  if (path === '/__test/reset-stats' && post) { state.stats = emptyStats(); return sendJson(res, 200, state.stats); }
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
    state.faults.push(f);
    return sendJson(res, 200, { ok: true, pending: state.faults.length });
  }
  if (path === '/__test/fault/clear' && post) { state.faults = []; return sendJson(res, 200, { ok: true }); }
  if (path === '/__test/behaviour' && post) {
    const { behaviour } = state;
    if ('expiresIn' in body) behaviour.expiresIn = body.expiresIn === null ? undefined : body.expiresIn;
    if ('deleteAccessOnRotation' in body) behaviour.deleteAccessOnRotation = Boolean(body.deleteAccessOnRotation);
    const bad = setRealWorld(behaviour, body);
    if (bad) return sendJson(res, 400, { error: bad });
    return sendJson(res, 200, { ok: true, behaviour });
  }
  if (path === '/__test/access-ttl' && post) {
    const s = Number(body.seconds);
    if (!Number.isFinite(s) || s <= 0) return sendJson(res, 400, { error: 'seconds must be positive' });
    state.accessTtl = s;
    return sendJson(res, 200, { ok: true, seconds: s });
  }
  if (path === '/__test/expire-refresh-tokens' && post) {
    const n = expireRefreshTokens();
    if (typeof body.description === 'string') state.refreshErrorDescription = body.description;
    return sendJson(res, 200, { ok: true, expired: n });
  }
  if (path === '/__test/active' && post) return sendJson(res, 200, await tokenActive(String(body.token ?? '')));
  if (path === '/__test/authorize' && post) {
    if (typeof body.url !== 'string') return sendJson(res, 400, { error: 'url required' });
    return sendJson(res, 200, await headlessAuthorize(body));
  }
  if (path.startsWith('/__test/device/') && post) {
    const out = await state.device.control(path, body);
    if (out) return sendJson(res, out.status ?? 200, out);
  }
  if (path === '/__test/state' && req.method === 'GET') {
    return sendJson(res, 200, { profile: state.profileName, accessTtl: state.accessTtl, faults: state.faults });
  }
  return sendJson(res, 404, { error: 'unknown test endpoint' });
}

/** `/__test/active`: whether a token is a live access or refresh token. */
async function tokenActive(token) {
  if (!token) return { active: false, kind: null };
  const at = await state.provider.AccessToken.find(token).catch(() => undefined);
  if (at) {
    const ok = !at.isExpired && (!at.grantId || Boolean(await state.provider.Grant.find(at.grantId)));
    return { active: ok, kind: 'access' };
  }
  const rt = await state.provider.RefreshToken.find(token, { ignoreExpiration: true }).catch(() => undefined);
  if (rt) {
    const ok = !rt.isExpired && !rt.consumed && (!rt.grantId || Boolean(await state.provider.Grant.find(rt.grantId)));
    return { active: ok, kind: 'refresh' };
  }
  return { active: false, kind: null };
}

/** Counts a request in the stats, on arrival (the token request's form is already read). */
export function countRequest(req, route) {
  const { stats } = state;
  if (route === 'token' && req.method === 'POST') {
    const gt = req.latchkeyForm.grant_type;
    if (gt === 'authorization_code' || gt === 'refresh_token') stats.token[gt] += 1;
  } else if (route === 'revoke') {
    stats.revoke += 1;
  } else if (route === 'resource') {
    stats.resource += 1;
  }
}

/** The next pending fault for this route (taken off the list), or null. */
function takeFault(route, req) {
  if (route === 'test' || req.headers['x-latchkey-headless']) return null;
  const i = state.faults.findIndex((f) => f.count > 0 && (f.route === 'any' || f.route === route));
  if (i < 0) return null;
  const f = state.faults[i];
  f.count -= 1;
  if (f.count <= 0) state.faults.splice(i, 1);
  return f;
}

/**
 * Applies the next pending fault for this route, if any: waits, then drops the socket or
 * answers the injected status. Returns true when the request is done with (answered or dropped).
 */
export async function injectFault(req, res, route) {
  const fault = takeFault(route, req);
  if (!fault) return false;
  if (fault.delayMs > 0) await sleep(fault.delayMs);
  if (fault.drop) { req.socket.destroy(); return true; }
  if (!fault.status) return false;
  const headers = {};
  if (fault.retryAfter !== null && fault.retryAfter !== undefined) headers['retry-after'] = String(fault.retryAfter);
  const body = fault.body ?? { error: 'temporarily_unavailable', error_description: `injected fault (${fault.status})` };
  if (typeof body === 'string') {
    res.writeHead(fault.status, { 'content-type': 'text/plain; charset=utf-8', ...headers });
    res.end(body);
  } else {
    sendJson(res, fault.status, body, headers);
  }
  return true;
}
