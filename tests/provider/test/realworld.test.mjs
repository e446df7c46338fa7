// The switches of realworld.mjs: what real servers do that the plain profiles do not.
import { describe, it, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import {
  startServer, pkce, authorizeUrl, headless, tokenRequest, getJson, postJson, connect, stats, CLIENT_ID,
} from './helpers.mjs';

const cfg = {
  authorize: '/oauth/authorize',
  token: '/oauth/token',
  auth: 'post',
  redirectUri: 'http://127.0.0.1:61000/oauth/callback',
  scope: 'read profile email offline_access',
};

const behave = (srv, b) => postJson(`${srv.url}/__test/behaviour`, b);
const refresh = (srv, rt) => tokenRequest(srv.url + cfg.token, { grant_type: 'refresh_token', refresh_token: rt });

describe('real-world switches (generic profile)', () => {
  let srv;
  before(async () => { srv = await startServer('generic'); });
  after(async () => { await srv.stop(); });
  afterEach(async () => {
    await behave(srv, {
      lazyRotation: false, reuseAge: null, bareRefreshError: null, exactLoopback: null, nonceRequired: false, idTokenNonce: null,
    });
  });

  it('rejects a bad switch value', async () => {
    assert.equal((await behave(srv, { bareRefreshError: 500 })).status, 400);
    assert.equal((await behave(srv, { exactLoopback: 'x' })).status, 400);
  });

  it('lazy rotation: a rotation stays pending until the new access token is used', async () => {
    await behave(srv, { lazyRotation: true });
    const { tok } = await connect(srv, cfg);
    const before = (await stats(srv.url)).lazyPending;
    const r1 = await refresh(srv, tok.body.refresh_token);
    const r2 = await refresh(srv, r1.body.refresh_token);
    assert.equal((await stats(srv.url)).lazyPending, before + 2);
    assert.equal((await getJson(`${srv.url}/oauth/userinfo`, r2.body.access_token)).status, 200);
    assert.equal((await stats(srv.url)).lazyPending, before + 1, 'using the newest token completes its rotation only');
  });

  it('reused tokens: the original created_at with the remaining expires_in', async () => {
    await behave(srv, { reuseAge: 1000 });
    const { tok } = await connect(srv, cfg);
    const now = Math.floor(Date.now() / 1000);
    assert.ok(Math.abs(tok.body.created_at - (now - 1000)) <= 2, String(tok.body.created_at));
    assert.equal(tok.body.expires_in, 3600 - 1000);
  });

  it('a refused refresh can be a bare 400 or 401', async () => {
    await behave(srv, { bareRefreshError: 400 });
    const r = await refresh(srv, 'not-a-refresh-token');
    assert.equal(r.status, 400);
    assert.equal(r.body, '');
    await behave(srv, { bareRefreshError: 401 });
    assert.equal((await refresh(srv, 'nope')).status, 401);
  });

  it('exact loopback matching: another port gets a bare 403', async () => {
    const exact = 'http://127.0.0.1:61000/oauth/callback';
    await behave(srv, { exactLoopback: [exact] });
    const { challenge } = pkce();
    const other = await fetch(authorizeUrl(srv.url, cfg.authorize, {
      client_id: CLIENT_ID, response_type: 'code', redirect_uri: 'http://127.0.0.1:61001/oauth/callback',
      scope: 'read', state: 's', code_challenge: challenge, code_challenge_method: 'S256',
    }), { redirect: 'manual' });
    assert.equal(other.status, 403);
    const { tok } = await connect(srv, cfg, { redirectUri: exact });
    assert.equal(tok.status, 200);
  });

  it('nonce: required with openid, echoed in the ID token (or replaced by the switch)', async () => {
    await behave(srv, { nonceRequired: true });
    const { challenge } = pkce();
    const without = await fetch(authorizeUrl(srv.url, cfg.authorize, {
      client_id: CLIENT_ID, response_type: 'code', redirect_uri: cfg.redirectUri, scope: 'openid profile',
      state: 's', code_challenge: challenge, code_challenge_method: 'S256',
    }), { redirect: 'manual' });
    assert.equal(without.status, 400);
    const idNonce = (t) => JSON.parse(Buffer.from(t.body.id_token.split('.')[1], 'base64url')).nonce;
    const { tok } = await connect(srv, cfg, { scope: 'openid profile', nonce: 'n-123' });
    assert.equal(tok.status, 200);
    assert.equal(idNonce(tok), 'n-123');
    await behave(srv, { idTokenNonce: 'someone-elses' });
    const swapped = await connect(srv, cfg, { scope: 'openid profile', nonce: 'n-456' });
    assert.equal(idNonce(swapped.tok), 'someone-elses');
  });

  it('issuers with a path: path-inserted, OpenID-appended, and a mismatched issuer', async () => {
    const inserted = await getJson(`${srv.url}/.well-known/oauth-authorization-server/tenant`);
    assert.equal(inserted.body.issuer, `${srv.url}/tenant`);
    assert.equal((await getJson(`${srv.url}/tenant/.well-known/openid-configuration`)).status, 404);
    const appended = await getJson(`${srv.url}/oidc-tenant/.well-known/openid-configuration`);
    assert.equal(appended.body.issuer, `${srv.url}/oidc-tenant`);
    const wrong = await getJson(`${srv.url}/.well-known/oauth-authorization-server/wrong-tenant`);
    assert.notEqual(wrong.body.issuer, `${srv.url}/wrong-tenant`);
  });
});
