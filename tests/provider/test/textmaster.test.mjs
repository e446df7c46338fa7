import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startServer, pkce, authorizeUrl, headless, tokenRequest, getJson, postJson, connect, active, OOB, CLIENT_ID,
} from './helpers.mjs';

const cfg = {
  authorize: '/oauth/authorize',
  token: '/oauth/token',
  auth: 'post',
  redirectUri: 'app.latchkey:/oauth/callback',
  scope: 'public user:read user:email',
};

describe('textmaster profile', () => {
  let srv;
  before(async () => { srv = await startServer('textmaster'); });
  after(async () => { await srv.stop(); });

  it('token response carries created_at and an 8 hour expires_in', async () => {
    const before = Math.floor(Date.now() / 1000);
    const { auth, tok } = await connect(srv, cfg);
    assert.equal(auth.iss, srv.issuer);
    assert.equal(tok.status, 200);
    assert.equal(tok.body.token_type, 'Bearer');
    assert.equal(tok.body.expires_in, 28800);
    assert.equal(tok.body.scope, 'public user:read user:email');
    assert.ok(Number.isInteger(tok.body.created_at));
    assert.ok(tok.body.created_at >= before && tok.body.created_at <= before + 5);
  });

  it('oob: the code is shown on a page instead of a redirect, and can be exchanged', async () => {
    const { verifier, challenge } = pkce();
    const url = authorizeUrl(srv.url, cfg.authorize, {
      client_id: CLIENT_ID, response_type: 'code', redirect_uri: OOB, scope: cfg.scope, state: 'oob-state',
      code_challenge: challenge, code_challenge_method: 'S256',
    });
    const a = await headless(srv.url, url);
    assert.equal(a.oob, true);
    assert.ok(a.code);
    assert.ok(a.location.startsWith(`${OOB}?code=`));
    assert.equal(a.state, 'oob-state');
    assert.ok(a.page.startsWith(srv.url));
    const tok = await tokenRequest(srv.url + cfg.token, {
      grant_type: 'authorization_code', code: a.code, redirect_uri: OOB, code_verifier: verifier,
    });
    assert.equal(tok.status, 200);
    assert.ok(tok.body.created_at);
  });

  it('oob: a denied consent shows the error on the page', async () => {
    const { challenge } = pkce();
    const a = await headless(srv.url, authorizeUrl(srv.url, cfg.authorize, {
      client_id: CLIENT_ID, response_type: 'code', redirect_uri: OOB, scope: 'public', state: 'no',
      code_challenge: challenge, code_challenge_method: 'S256',
    }), { consent: false });
    assert.equal(a.oob, true);
    assert.equal(a.code, null);
    assert.equal(a.error, 'access_denied');
    assert.equal(a.state, 'no');
  });

  it('oob page shows <code id="code"> and the X-Latchkey-Test-Code header', async () => {
    // play the browser by hand to see the page
    const { challenge } = pkce();
    const url = authorizeUrl(srv.url, cfg.authorize, {
      client_id: CLIENT_ID, response_type: 'code', redirect_uri: OOB, scope: 'public', state: 'x',
      code_challenge: challenge, code_challenge_method: 'S256',
    });
    const jar = new Map();
    const hdr = () => [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
    const keep = (r) => { for (const c of r.headers.getSetCookie()) { const [p] = c.split(';'); const i = p.indexOf('='); jar.set(p.slice(0, i), p.slice(i + 1)); } };
    let r = await fetch(url, { redirect: 'manual' }); keep(r);
    let next = new URL(r.headers.get('location'), srv.url).href;
    const post = async (form) => {
      r = await fetch(next, { method: 'POST', redirect: 'manual', headers: { cookie: hdr(), 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(form) });
      keep(r);
      next = new URL(r.headers.get('location'), srv.url).href;
      r = await fetch(next, { redirect: 'manual', headers: { cookie: hdr() } }); keep(r);
      if (r.status === 303 || r.status === 302) {
        next = new URL(r.headers.get('location'), srv.url).href;
        r = await fetch(next, { redirect: 'manual', headers: { cookie: hdr() } }); keep(r);
      }
    };
    r = await fetch(next, { headers: { cookie: hdr() } });
    assert.equal(r.headers.get('x-latchkey-prompt'), 'login');
    assert.match(await r.text(), /value="alice"/);
    await post({ prompt: 'login', login: 'alice', password: 'pw' });
    assert.equal(r.headers.get('x-latchkey-prompt'), 'consent');
    await r.text();
    await post({ prompt: 'consent', decision: 'allow' });
    assert.equal(r.status, 200);
    const code = r.headers.get('x-latchkey-test-code');
    assert.ok(code);
    const html = await r.text();
    assert.ok(html.includes(`<code id="code">${code}</code>`));
  });

  it('account needs a user:* scope (403 otherwise) and a valid token (401)', async () => {
    const { tok } = await connect(srv, cfg);
    const me = await getJson(`${srv.url}/v1/clients/users/me`, tok.body.access_token);
    assert.equal(me.status, 200);
    assert.deepEqual(me.body, {
      id: '5f1c0a9e2b7d4c0012a3b4c5', ident: 'ALICE-1001', email: 'alice@example.com', locale: 'en-US',
      contact_information: { first_name: 'Alice', last_name: 'Example' },
    });
    const { tok: narrow } = await connect(srv, cfg, { scope: 'public' });
    assert.equal(narrow.body.scope, 'public');
    const forbidden = await getJson(`${srv.url}/v1/clients/users/me`, narrow.body.access_token);
    assert.equal(forbidden.status, 403);
    assert.equal(typeof forbidden.body, 'object');
    assert.equal((await getJson(`${srv.url}/v1/clients/users/me`, 'nope')).status, 401);
  });

  it('unknown scopes do not fail the request', async () => {
    const { tok } = await connect(srv, cfg, { scope: 'public user:read something:else' });
    assert.equal(tok.status, 200);
    assert.equal(tok.body.scope, 'public user:read');
  });

  it('refresh rotates (new pair, created_at) and the old refresh token is rejected', async () => {
    const { tok } = await connect(srv, cfg);
    const r = await tokenRequest(srv.url + cfg.token, { grant_type: 'refresh_token', refresh_token: tok.body.refresh_token });
    assert.equal(r.status, 200);
    assert.notEqual(r.body.refresh_token, tok.body.refresh_token);
    assert.ok(r.body.created_at);
    assert.equal(r.body.expires_in, 28800);
    const old = await tokenRequest(srv.url + cfg.token, { grant_type: 'refresh_token', refresh_token: tok.body.refresh_token });
    assert.equal(old.status, 400);
    assert.equal(old.body.error, 'invalid_grant');
    assert.equal((await active(srv.url, r.body.access_token)).active, false, 'reuse detection revoked the grant');
  });

  it('revokes at /oauth/revoke like Doorkeeper (client authentication required); no discovery', async () => {
    const anonymous = await fetch(`${srv.url}/oauth/revoke`, { method: 'POST', body: new URLSearchParams({ token: 'x' }) });
    assert.ok([400, 401].includes(anonymous.status), String(anonymous.status));
    const { tok } = await connect(srv, cfg);
    const r = await tokenRequest(`${srv.url}/oauth/revoke`, { token: tok.body.refresh_token, token_type_hint: 'refresh_token' });
    assert.equal(r.status, 200);
    assert.equal((await active(srv.url, tok.body.access_token)).active, false, 'the grant ended');
    await postJson(`${srv.url}/__test/behaviour`, { revocation: false });
    const off = await tokenRequest(`${srv.url}/oauth/revoke`, { token: 'x' });
    assert.equal(off.status, 404);
    await postJson(`${srv.url}/__test/behaviour`, { revocation: true });
    assert.equal((await getJson(`${srv.url}/.well-known/oauth-authorization-server`)).status, 404);
  });
});
