// Shared helpers for the provider tests: start server.mjs as a child process and talk to it over HTTP.
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import { once } from 'node:events';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';

const here = path.dirname(fileURLToPath(import.meta.url));
export const SERVER = path.join(here, '..', 'server.mjs');
export const CLIENT_ID = 'latchkey-test';
export const CLIENT_SECRET = 'latchkey-test-secret';
export const OOB = 'urn:ietf:wg:oauth:2.0:oob';

export async function startServer(profile, extra = []) {
  const proc = spawn(process.execPath, [SERVER, '--profile', profile, '--port', '0', ...extra], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stderr = '';
  proc.stderr.on('data', (d) => { stderr += d; });
  const lines = [];
  const rl = createInterface({ input: proc.stdout });
  const ready = new Promise((resolve, reject) => {
    rl.on('line', (line) => {
      lines.push(line);
      if (lines.length === 1) {
        try { resolve(JSON.parse(line)); } catch (e) { reject(e); }
      }
    });
    proc.once('exit', (code) => reject(new Error(`server exited early (${code}): ${stderr}`)));
  });
  const timeout = setTimeout(() => proc.kill(), 10000);
  timeout.unref();
  let info;
  try {
    info = await ready;
  } finally {
    clearTimeout(timeout);
  }
  return {
    ...info,
    proc,
    stdoutLines: lines,
    get stderr() { return stderr; },
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill('SIGTERM');
      await once(proc, 'exit');
    },
  };
}

export function pkce() {
  const verifier = crypto.randomBytes(32).toString('base64url');
  const challenge = crypto.createHash('sha256').update(verifier).digest('base64url');
  return { verifier, challenge };
}

export function authorizeUrl(base, pathName, params) {
  const u = new URL(base + pathName);
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null) u.searchParams.set(k, v);
  }
  return u.href;
}

export async function postJson(url, body) {
  const r = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body ?? {}),
  });
  return { status: r.status, headers: r.headers, body: await r.json() };
}

export async function getJson(url, token, init = {}) {
  const headers = { accept: 'application/json', ...(init.headers ?? {}) };
  if (token) headers.authorization = `Bearer ${token}`;
  const r = await fetch(url, { ...init, headers });
  const text = await r.text();
  let body;
  try { body = JSON.parse(text); } catch { body = text; }
  return { status: r.status, headers: r.headers, body };
}

export async function headless(base, url, opts = {}) {
  const r = await postJson(`${base}/__test/authorize`, { url, login: 'alice', consent: true, ...opts });
  return r.body;
}

// Token endpoint call; auth: 'post' (secret in the body), 'basic' (HTTP Basic), or 'none'.
export async function tokenRequest(url, form, auth = 'post', creds = {}) {
  const id = creds.clientId ?? CLIENT_ID;
  const secret = creds.clientSecret ?? CLIENT_SECRET;
  const body = new URLSearchParams(form);
  const headers = { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' };
  if (auth === 'post') {
    body.set('client_id', id);
    body.set('client_secret', secret);
  } else if (auth === 'basic') {
    headers.authorization = `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;
  } else if (auth === 'post+basic') {
    body.set('client_id', id);
    body.set('client_secret', secret);
    headers.authorization = `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`;
  }
  const r = await fetch(url, { method: 'POST', headers, body });
  const text = await r.text();
  let json;
  try { json = JSON.parse(text); } catch { json = text; }
  return { status: r.status, headers: r.headers, body: json };
}

export const active = async (base, token) => (await postJson(`${base}/__test/active`, { token })).body;
export const stats = async (base) => (await getJson(`${base}/__test/stats`)).body;

// Full authorization: build the URL (PKCE S256 + state), sign in headlessly, exchange the code.
export async function connect(srv, cfg, overrides = {}) {
  const { verifier, challenge } = pkce();
  const state = crypto.randomBytes(16).toString('base64url');
  const redirectUri = overrides.redirectUri ?? cfg.redirectUri;
  const url = authorizeUrl(srv.url, cfg.authorize, {
    client_id: CLIENT_ID,
    response_type: 'code',
    redirect_uri: redirectUri,
    scope: overrides.scope ?? cfg.scope,
    state,
    code_challenge: challenge,
    code_challenge_method: 'S256',
    nonce: overrides.nonce,
  });
  const auth = await headless(srv.url, url, { login: overrides.login ?? 'alice' });
  if (!auth.code) throw new Error(`no code: ${JSON.stringify({ ...auth, location: undefined })}`);
  const form = { grant_type: 'authorization_code', code: auth.code, code_verifier: verifier };
  if (redirectUri !== undefined) form.redirect_uri = redirectUri;
  const tok = await tokenRequest(srv.url + cfg.token, form, cfg.auth);
  return { auth, state, verifier, tok };
}
