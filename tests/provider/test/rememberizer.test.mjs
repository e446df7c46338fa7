import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startServer, pkce, authorizeUrl, headless, tokenRequest, getJson, postJson, connect, active, stats, CLIENT_ID,
} from './helpers.mjs';

const cfg = {
  authorize: '/api/v1/auth/oauth2/authorize/',
  token: '/api/v1/auth/oauth2/token/',
  auth: 'post',
  redirectUri: 'app.latchkey:/oauth/callback',
  scope: 'read write offline_access',
};

describe('rememberizer profile', () => {
  let srv;
  before(async () => { srv = await startServer('rememberizer'); });
  after(async () => { await srv.stop(); });

  it('prints exactly one ready line with the documented fields', () => {
    assert.deepEqual(Object.keys(JSON.parse(srv.stdoutLines[0])), ['ready', 'profile', 'url', 'issuer', 'client_id', 'client_secret']);
    assert.equal(srv.ready, true);
    assert.equal(srv.profile, 'rememberizer');
    assert.match(srv.url, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.equal(srv.issuer, srv.url);
    assert.equal(srv.client_id, 'latchkey-test');
    assert.equal(srv.client_secret, 'latchkey-test-secret');
    assert.equal(srv.stdoutLines.length, 1);
  });

  it('has no discovery document', async () => {
    assert.equal((await getJson(`${srv.url}/.well-known/oauth-authorization-server`)).status, 404);
    assert.equal((await getJson(`${srv.url}/.well-known/openid-configuration`)).status, 404);
  });

  it('authorizes with the custom scheme: code, state and iss come back', async () => {
    await postJson(`${srv.url}/__test/reset-stats`);
    const { auth, state, tok } = await connect(srv, cfg);
    assert.ok(auth.location.startsWith('app.latchkey:/oauth/callback?'));
    assert.equal(auth.state, state);
    assert.equal(auth.iss, srv.issuer);
    assert.equal(tok.status, 200, JSON.stringify(tok.body.error));
    assert.equal(tok.body.token_type, 'Bearer');
    assert.equal(tok.body.expires_in, 3600);
    assert.ok(tok.body.access_token && tok.body.refresh_token);
    assert.equal(tok.body.scope, 'read write offline_access');
    assert.deepEqual((await stats(srv.url)).token, { authorization_code: 1, refresh_token: 0 });
  });

  it('accepts a loopback redirect on any port', async () => {
    const { auth, tok } = await connect(srv, cfg, { redirectUri: 'http://127.0.0.1:49152/oauth/callback', scope: 'read' });
    assert.ok(auth.location.startsWith('http://127.0.0.1:49152/oauth/callback?code='));
    assert.equal(tok.status, 200);
  });

  it("accepts Latchkey's per-app callback paths, exactly, and nothing else below them", async () => {
    for (const redirectUri of ['app.latchkey:/oauth/callback/0f3a9c21', 'http://127.0.0.1:49153/oauth/callback/0f3a9c21']) {
      const { auth, tok } = await connect(srv, cfg, { redirectUri, scope: 'read' });
      assert.ok(auth.location.startsWith(`${redirectUri}?code=`), auth.location);
      assert.equal(tok.status, 200);
    }
    const { challenge } = pkce();
    for (const redirectUri of [
      'app.latchkey:/oauth/callback/UPPER', 'app.latchkey:/oauth/callback/a/b', 'app.latchkey:/oauth/callbackx/abcd',
      'app.latchkey:/oauth/callback/abc', 'http://127.0.0.2/oauth/callback/abcd', 'app.latchkey://oauth/callback/abcd',
    ]) {
      const bad = await headless(srv.url, authorizeUrl(srv.url, cfg.authorize, {
        client_id: CLIENT_ID, response_type: 'code', redirect_uri: redirectUri, state: 's', code_challenge: challenge, code_challenge_method: 'S256',
      }));
      assert.equal(bad.error, 'invalid_redirect_uri', redirectUri);
    }
  });

  it('requires PKCE', async () => {
    const url = authorizeUrl(srv.url, cfg.authorize, {
      client_id: CLIENT_ID, response_type: 'code', redirect_uri: cfg.redirectUri, scope: 'read', state: 's1',
    });
    const r = await headless(srv.url, url);
    assert.equal(r.code, null);
    assert.equal(r.error, 'invalid_request');
    assert.match(r.error_description, /PKCE/);
  });

  it('rejects a wrong verifier and a reused code', async () => {
    const { verifier, challenge } = pkce();
    const url = authorizeUrl(srv.url, cfg.authorize, {
      client_id: CLIENT_ID, response_type: 'code', redirect_uri: cfg.redirectUri, scope: 'read', state: 's2',
      code_challenge: challenge, code_challenge_method: 'S256',
    });
    const a = await headless(srv.url, url);
    const bad = await tokenRequest(srv.url + cfg.token, {
      grant_type: 'authorization_code', code: a.code, redirect_uri: cfg.redirectUri, code_verifier: pkce().verifier,
    });
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error, 'invalid_grant');
    // the code was consumed by the failed attempt? oidc-provider keeps it single-use either way
    const again = await tokenRequest(srv.url + cfg.token, {
      grant_type: 'authorization_code', code: a.code, redirect_uri: cfg.redirectUri, code_verifier: verifier,
    });
    assert.ok([200, 400].includes(again.status));
    if (again.status === 200) {
      const third = await tokenRequest(srv.url + cfg.token, {
        grant_type: 'authorization_code', code: a.code, redirect_uri: cfg.redirectUri, code_verifier: verifier,
      });
      assert.equal(third.status, 400);
      assert.equal(third.body.error, 'invalid_grant');
    }
  });

  it('reports authorize errors (unregistered redirect_uri, unknown client) without a location', async () => {
    const { challenge } = pkce();
    const bad = await headless(srv.url, authorizeUrl(srv.url, cfg.authorize, {
      client_id: CLIENT_ID, response_type: 'code', redirect_uri: 'app.latchkey://oauth/callback', state: 's', code_challenge: challenge, code_challenge_method: 'S256',
    }));
    assert.equal(bad.location, null);
    assert.equal(bad.status, 400);
    assert.equal(bad.error, 'invalid_redirect_uri');
    const unknown = await headless(srv.url, authorizeUrl(srv.url, cfg.authorize, {
      client_id: 'nobody', response_type: 'code', redirect_uri: cfg.redirectUri, state: 's', code_challenge: challenge, code_challenge_method: 'S256',
    }));
    assert.equal(unknown.location, null);
    assert.equal(unknown.error, 'invalid_client');
  });

  it('denied consent redirects with access_denied', async () => {
    const { challenge } = pkce();
    const r = await headless(srv.url, authorizeUrl(srv.url, cfg.authorize, {
      client_id: CLIENT_ID, response_type: 'code', redirect_uri: cfg.redirectUri, scope: 'read', state: 'deny-state', code_challenge: challenge, code_challenge_method: 'S256',
    }), { consent: false });
    assert.equal(r.code, null);
    assert.equal(r.error, 'access_denied');
    assert.equal(r.state, 'deny-state');
    assert.equal(r.iss, srv.issuer);
  });

  it('rejects the secret sent with HTTP Basic only (client_secret_post only)', async () => {
    const { verifier, challenge } = pkce();
    const a = await headless(srv.url, authorizeUrl(srv.url, cfg.authorize, {
      client_id: CLIENT_ID, response_type: 'code', redirect_uri: cfg.redirectUri, scope: 'read', state: 's', code_challenge: challenge, code_challenge_method: 'S256',
    }));
    const r = await tokenRequest(srv.url + cfg.token, {
      grant_type: 'authorization_code', code: a.code, redirect_uri: cfg.redirectUri, code_verifier: verifier,
    }, 'basic');
    assert.equal(r.status, 401);
    assert.equal(r.body.error, 'invalid_client');
  });

  it('serves account, me and mementos with a valid token; 401 {detail} otherwise', async () => {
    const { tok } = await connect(srv, cfg, { login: 'bob' });
    const at = tok.body.access_token;
    for (const p of ['/api/v1/account/', '/api/me/', '/api/v1/me/']) {
      const r = await getJson(srv.url + p, at);
      assert.equal(r.status, 200);
      assert.deepEqual(r.body, { id: 1002, email: 'bob@example.com', name: 'Bob Builder' });
    }
    const list = await getJson(`${srv.url}/api/v1/mementos/`, at);
    assert.equal(list.status, 200);
    assert.equal(list.body.count, 2);
    assert.equal(list.body.next, null);
    assert.equal(list.body.previous, null);
    assert.deepEqual(list.body.results[0], {
      id: 11, name: 'Work notes', description: 'Meeting notes and specs', documents_count: 12, created: '2026-01-05T10:00:00Z',
    });
    const one = await getJson(`${srv.url}/api/v1/mementos/12/`, at);
    assert.equal(one.status, 200);
    assert.equal(one.body.id, 12);
    assert.equal((await getJson(`${srv.url}/api/v1/mementos/99/`, at)).status, 404);
    const bad = await getJson(`${srv.url}/api/v1/account/`, 'not-a-token');
    assert.equal(bad.status, 401);
    assert.equal(typeof bad.body.detail, 'string');
    const none = await getJson(`${srv.url}/api/v1/account/`);
    assert.equal(none.status, 401);
    assert.equal(typeof none.body.detail, 'string');
  });

  it('rotates refresh tokens and detects reuse', async () => {
    const { tok } = await connect(srv, cfg);
    const rt1 = tok.body.refresh_token;
    assert.deepEqual(await active(srv.url, rt1), { active: true, kind: 'refresh' });
    assert.deepEqual(await active(srv.url, tok.body.access_token), { active: true, kind: 'access' });
    const r2 = await tokenRequest(srv.url + cfg.token, { grant_type: 'refresh_token', refresh_token: rt1 });
    assert.equal(r2.status, 200);
    assert.notEqual(r2.body.refresh_token, rt1);
    assert.notEqual(r2.body.access_token, tok.body.access_token);
    assert.equal(r2.body.expires_in, 3600);
    assert.equal((await active(srv.url, rt1)).active, false);
    const reuse = await tokenRequest(srv.url + cfg.token, { grant_type: 'refresh_token', refresh_token: rt1 });
    assert.equal(reuse.status, 400);
    assert.equal(reuse.body.error, 'invalid_grant');
    // reuse detection revoked the whole grant, including the newest refresh token
    assert.equal((await active(srv.url, r2.body.refresh_token)).active, false);
    assert.deepEqual(await active(srv.url, 'garbage'), { active: false, kind: null });
  });

  it('expire-refresh-tokens kills every refresh token; access-ttl changes new tokens', async () => {
    const { tok } = await connect(srv, cfg);
    const exp = await postJson(`${srv.url}/__test/expire-refresh-tokens`);
    assert.equal(exp.status, 200);
    assert.ok(exp.body.expired >= 1);
    assert.equal((await active(srv.url, tok.body.refresh_token)).active, false);
    const r = await tokenRequest(srv.url + cfg.token, { grant_type: 'refresh_token', refresh_token: tok.body.refresh_token });
    assert.equal(r.status, 400);
    assert.equal(r.body.error, 'invalid_grant');

    assert.equal((await postJson(`${srv.url}/__test/access-ttl`, { seconds: 1 })).status, 200);
    const { tok: short } = await connect(srv, cfg);
    assert.equal(short.body.expires_in, 1);
    await new Promise((res) => { setTimeout(res, 1100); });
    assert.equal((await active(srv.url, short.body.access_token)).active, false);
    assert.equal((await getJson(`${srv.url}/api/v1/account/`, short.body.access_token)).status, 401);
    await postJson(`${srv.url}/__test/access-ttl`, { seconds: 3600 });
  });
});
