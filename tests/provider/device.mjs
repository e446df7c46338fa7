// The device authorization grant (RFC 8628) for the test provider: oidc-provider's
// `features.deviceFlow` on the generic profile, the pages it shows made headless-friendly,
// a test-control switch that makes the token endpoint answer `slow_down`, `expired_token` or
// `access_denied` to device-code polls, and a headless "person at the other device" that
// enters the user code, signs in and approves (or denies).
//
// The other modules hook it in at a few places: client grant types and features (oidc.mjs),
// the adapter's user-code index (storage.mjs), the request handler (server.mjs), discovery
// (quirks.mjs), /__test/device/* (control.mjs); everything else lives here.

import { cookieJar, esc } from './util.mjs';

export const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';
export const DEVICE_AUTH_PATH = '/device/auth';
export const DEVICE_PAGE_PATH = '/device';

/** Whether a profile offers the device flow (the generic RFC 6749 provider does). */
export function deviceEnabled(profileName) {
  return profileName === 'generic';
}


/**
 * The device-flow part of oidc-provider's configuration: pages that say in headers what they
 * are (the headless approver reads those), in the test provider's look (`page`).
 */
export function deviceFeature(profileName, page) {
  if (!deviceEnabled(profileName)) return { enabled: false };
  return {
    enabled: true,
    charset: 'base-20',
    mask: '****-****',
    userCodeInputSource: async (ctx, form, out, err) => {
      ctx.set('X-Latchkey-Device-Page', err ? 'error' : 'input');
      if (err) ctx.set('X-Latchkey-Device-Error', String(err.error ?? err.message ?? 'error'));
      ctx.type = 'html';
      ctx.body = page('Enter the code', `<h1>Sign in on this device</h1>
${err ? `<p class="error" id="error">${esc(err.error_description ?? err.message ?? err.error)}</p>` : ''}
<p>Enter the code your other device shows.</p>${form}<button type="submit" form="op.deviceInputForm">Continue</button>`);
    },
    userCodeConfirmSource: async (ctx, form, client, deviceInfo, userCode) => {
      ctx.set('X-Latchkey-Device-Page', 'confirm');
      ctx.type = 'html';
      ctx.body = page('Confirm the code', `<h1>Is this the code your device shows?</h1>
<p><code id="code">${esc(userCode)}</code> — ${esc(client.clientName ?? client.clientId)}</p>${form}
<button type="submit" form="op.deviceConfirmForm">Continue</button>
<button type="submit" form="op.deviceConfirmForm" name="abort" value="yes">Cancel</button>`);
    },
    successSource: async (ctx) => {
      ctx.set('X-Latchkey-Device-Page', 'success');
      ctx.type = 'html';
      ctx.body = page('Signed in', '<h1>Done</h1><p>Return to your other device: it is signed in.</p>');
    },
  };
}

/**
 * Installs the rest on a running provider: the `interval` the device authorization answer
 * carries (test-controlled; oidc-provider sends none, which means 5 s), forced poll answers,
 * poll counters, and the headless approver.
 */
export function installDevice({ provider, profileName, base, sendJson }) {
  const enabled = deviceEnabled(profileName);
  const state = {
    // What the device authorization answer says (JSON values, so tests can send 0, "7", 1e9…).
    interval: 1,
    expiresIn: undefined,
    // The next polls answer this error instead of asking oidc-provider: [{ error, count }].
    forced: [],
    // Every device-code poll: { at (ms), answer }.
    polls: [],
  };

  if (enabled) {
    provider.use(async (ctx, next) => {
      await next();
      if (ctx.path === DEVICE_AUTH_PATH && ctx.method === 'POST' && ctx.status === 200 && ctx.body?.device_code) {
        const body = { ...ctx.body };
        if (state.interval !== undefined) body.interval = state.interval;
        if (state.expiresIn !== undefined) body.expires_in = state.expiresIn;
        ctx.body = body;
      }
    });
  }

  /** Token requests with the device grant: counted, and answered by a forced error if one is set. */
  function intercept(req, res, route) {
    if (!enabled || route !== 'token' || req.latchkeyForm?.grant_type !== DEVICE_GRANT) return false;
    const f = state.forced.find((x) => x.count > 0);
    if (f) {
      f.count -= 1;
      state.forced = state.forced.filter((x) => x.count > 0);
      state.polls.push({ at: Date.now(), answer: f.error });
      const description = {
        slow_down: 'polling too fast',
        expired_token: 'device code is expired',
        access_denied: 'End-User denied the authorization request',
        authorization_pending: 'authorization request is still pending',
      }[f.error] ?? 'forced by the test';
      sendJson(res, 400, { error: f.error, error_description: description });
      return true;
    }
    // Record oidc-provider's own answer once it is sent.
    const entry = { at: Date.now(), answer: null };
    state.polls.push(entry);
    const end = res.end.bind(res);
    res.end = (chunk, ...rest) => {
      try {
        const parsed = JSON.parse(String(chunk ?? ''));
        entry.answer = parsed.error ?? (parsed.access_token ? 'tokens' : 'other');
      } catch { entry.answer = 'other'; }
      return end(chunk, ...rest);
    };
    return false;
  }

  /** `/__test/device/*` control endpoints; null when the path is not one of them. */
  async function control(path, body) {
    if (path === '/__test/device/behaviour') {
      if ('interval' in body) state.interval = body.interval === null ? undefined : body.interval;
      if ('expiresIn' in body) state.expiresIn = body.expiresIn === null ? undefined : body.expiresIn;
      if (typeof body.answer === 'string') state.forced.push({ error: body.answer, count: Number(body.count ?? 1) });
      if (body.clear) state.forced = [];
      return { ok: true, interval: state.interval, expiresIn: state.expiresIn, forced: state.forced };
    }
    if (path === '/__test/device/polls') return { polls: state.polls };
    if (path === '/__test/device/approve') {
      if (typeof body.user_code !== 'string') return { status: 400, error: 'user_code required' };
      return approve(body);
    }
    return null;
  }

  /** Plays the person at the other device: enters the code, signs in, allows (or denies). */
  async function approve({ user_code: userCode, login = 'alice', password = 'password', consent = true }) {
    const { cookieHeader, keepCookies } = cookieJar();
    const hidden = (html) => {
      const out = {};
      for (const m of html.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)"\s*\/?>/g)) out[m[1]] = m[2];
      return out;
    };
    let next = `${base}${DEVICE_PAGE_PATH}?user_code=${encodeURIComponent(userCode)}`;
    let method = 'GET';
    let form = null;
    for (let i = 0; i < 20; i += 1) {
      const headers = { cookie: cookieHeader(), 'x-latchkey-headless': '1' };
      if (form) headers['content-type'] = 'application/x-www-form-urlencoded';
      const r = await fetch(next, { method, headers, body: form ? new URLSearchParams(form).toString() : undefined, redirect: 'manual' });
      keepCookies(r);
      const text = await r.text();
      if (r.status >= 300 && r.status < 400) {
        next = new URL(r.headers.get('location'), next).href; method = 'GET'; form = null;
        continue;
      }
      const kind = r.headers.get('x-latchkey-device-page');
      const prompt = r.headers.get('x-latchkey-prompt');
      if (kind === 'success') return { approved: true, denied: false };
      if (kind === 'error') return { approved: false, denied: consent === false, error: r.headers.get('x-latchkey-device-error') };
      if (prompt === 'login') {
        if (r.headers.get('x-latchkey-login-error')) return { approved: false, error: 'login_failed' };
        method = 'POST'; form = { prompt: 'login', login: String(login), password: String(password) };
        next = new URL(r.url || next).href;
        continue;
      }
      if (prompt === 'consent') {
        method = 'POST'; form = { prompt: 'consent', decision: consent === false ? 'deny' : 'allow' };
        continue;
      }
      const fields = hidden(text);
      if (fields.xsrf) {
        // The auto-submitting form (GET with user_code) or the confirmation form.
        method = 'POST'; form = fields; next = `${base}${DEVICE_PAGE_PATH}`;
        continue;
      }
      // After a denial oidc-provider shows an error page of its own.
      const error = r.headers.get('x-latchkey-error');
      if (error) return { approved: false, denied: consent === false, error };
      return { approved: false, denied: consent === false, status: r.status, error: 'unexpected_response', page: text.slice(0, 300) };
    }
    return { approved: false, error: 'too_many_steps' };
  }

  return { enabled, intercept, control };
}
