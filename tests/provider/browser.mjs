// The headless browser behind POST /__test/authorize: plays the browser part of an
// authorization against this server over HTTP, with a cookie jar — follows redirects, signs
// in, consents (or denies) — and returns where the final redirect went (or the oob page).
// It reads the pages' X-Latchkey-* headers (interaction.mjs), never their HTML.
// The device flow's "person at the other device" is device.mjs `approve`.

import { state } from './state.mjs';
import { cookieJar } from './util.mjs';

// The browser part of the flow, played against ourselves over HTTP with a cookie jar.
export async function headlessAuthorize({ url, login = 'alice', password = 'password', consent = true }) {
  const { cookieHeader, keepCookies } = cookieJar();
  const self = new URL(state.base);
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
