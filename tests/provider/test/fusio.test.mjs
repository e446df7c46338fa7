import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startServer, pkce, authorizeUrl, headless, tokenRequest, getJson, postJson, connect, active, stats, OOB, CLIENT_ID,
} from './helpers.mjs';

const cfg = {
  authorize: '/authorization/authorize',
  token: '/authorization/token',
  auth: 'basic',
  redirectUri: 'http://127.0.0.1:50123/oauth/callback',
  scope: 'consumer consumer.grant',
};
const INVALID_REFRESH = { error: 'invalid_request', error_description: 'Invalid refresh token' };

describe('fusio profile', () => {
  let srv;
  before(async () => { srv = await startServer('fusio'); });
  after(async () => { await srv.stop(); });

  it('serves RFC 8414 discovery without a revocation endpoint', async () => {
    const d = await getJson(`${srv.url}/.well-known/oauth-authorization-server`);
    assert.equal(d.status, 200);
    assert.equal(d.body.issuer, srv.url);
    assert.equal(d.body.authorization_endpoint, `${srv.url}/authorization/authorize`);
    assert.equal(d.body.token_endpoint, `${srv.url}/authorization/token`);
    assert.equal(d.body.userinfo_endpoint, `${srv.url}/authorization/whoami`);
    assert.deepEqual(d.body.token_endpoint_auth_methods_supported, ['client_secret_basic']);
    assert.ok(d.body.scopes_supported.includes('consumer'));
    assert.equal('revocation_endpoint' in d.body, false);
    assert.equal((await getJson(`${srv.url}/.well-known/openid-configuration`)).status, 404);
  });

  it('rejects client_secret in the body with the exact Fusio error, accepts HTTP Basic', async () => {
    const { verifier, challenge } = pkce();
    const a = await headless(srv.url, authorizeUrl(srv.url, cfg.authorize, {
      client_id: CLIENT_ID, response_type: 'code', redirect_uri: cfg.redirectUri, scope: cfg.scope, state: 'st',
      code_challenge: challenge, code_challenge_method: 'S256',
    }));
    assert.equal(a.state, 'st');
    assert.equal(a.iss, srv.issuer);
    const form = { grant_type: 'authorization_code', code: a.code, redirect_uri: cfg.redirectUri, code_verifier: verifier };
    const post = await tokenRequest(srv.url + cfg.token, form, 'post');
    assert.equal(post.status, 400);
    assert.deepEqual(post.body, { error: 'invalid_request', error_description: 'Credentials not available' });
    const basic = await tokenRequest(srv.url + cfg.token, form, 'basic');
    assert.equal(basic.status, 200);
    assert.equal(basic.body.token_type, 'bearer');
    assert.equal(basic.body.scope, 'consumer,consumer.grant');
    assert.equal(basic.body.expires_in, 172800);
    assert.ok(basic.body.access_token && basic.body.refresh_token);
  });

  it('ignores a secret in the body when Basic is present; wrong Basic secret fails', async () => {
    const { tok } = await connect(srv, { ...cfg, auth: 'post+basic' });
    assert.equal(tok.status, 200);
    const { verifier, challenge } = pkce();
    const a = await headless(srv.url, authorizeUrl(srv.url, cfg.authorize, {
      client_id: CLIENT_ID, response_type: 'code', redirect_uri: cfg.redirectUri, scope: 'consumer', state: 's',
      code_challenge: challenge, code_challenge_method: 'S256',
    }));
    const wrong = await tokenRequest(srv.url + cfg.token, {
      grant_type: 'authorization_code', code: a.code, redirect_uri: cfg.redirectUri, code_verifier: verifier,
    }, 'basic', { clientSecret: 'wrong' });
    assert.equal(wrong.status, 401);
    assert.equal(wrong.body.error, 'invalid_client');
  });

  it('PKCE is optional; custom schemes are rejected', async () => {
    const a = await headless(srv.url, authorizeUrl(srv.url, cfg.authorize, {
      client_id: CLIENT_ID, response_type: 'code', redirect_uri: cfg.redirectUri, scope: 'consumer', state: 'nopkce',
    }));
    assert.ok(a.code);
    const tok = await tokenRequest(srv.url + cfg.token, { grant_type: 'authorization_code', code: a.code, redirect_uri: cfg.redirectUri }, 'basic');
    assert.equal(tok.status, 200);
    const custom = await headless(srv.url, authorizeUrl(srv.url, cfg.authorize, {
      client_id: CLIENT_ID, response_type: 'code', redirect_uri: 'app.latchkey:/oauth/callback', scope: 'consumer', state: 's',
    }));
    assert.equal(custom.location, null);
    assert.equal(custom.status, 400);
    assert.equal(custom.error, 'invalid_redirect_uri');
  });

  it('paste mode: no redirect_uri shows the code; the token request needs no redirect_uri either', async () => {
    const { verifier, challenge } = pkce();
    const a = await headless(srv.url, authorizeUrl(srv.url, cfg.authorize, {
      client_id: CLIENT_ID, response_type: 'code', scope: 'consumer', state: 'paste',
      code_challenge: challenge, code_challenge_method: 'S256',
    }));
    assert.equal(a.oob, true);
    assert.ok(a.code);
    assert.ok(a.location.startsWith(OOB));
    const tok = await tokenRequest(srv.url + cfg.token, { grant_type: 'authorization_code', code: a.code, code_verifier: verifier }, 'basic');
    assert.equal(tok.status, 200);
    assert.equal(tok.body.scope, 'consumer');
  });

  it('whoami returns the Fusio user with the token scopes', async () => {
    const { tok } = await connect(srv, cfg);
    const r = await getJson(`${srv.url}/authorization/whoami`, tok.body.access_token);
    assert.equal(r.status, 200);
    assert.deepEqual(r.body, {
      id: 1001, name: 'alice', email: 'alice@example.com', points: 0, scopes: ['consumer', 'consumer.grant'], plans: [],
    });
    assert.equal((await getJson(`${srv.url}/authorization/whoami`, 'bad')).status, 401);
  });

  it('refresh rotates; the old refresh token gets invalid_request "Invalid refresh token"', async () => {
    const { tok } = await connect(srv, cfg);
    const r = await tokenRequest(srv.url + cfg.token, { grant_type: 'refresh_token', refresh_token: tok.body.refresh_token }, 'basic');
    assert.equal(r.status, 200);
    assert.equal(r.body.token_type, 'bearer');
    assert.equal(r.body.scope, 'consumer,consumer.grant');
    assert.notEqual(r.body.refresh_token, tok.body.refresh_token);
    const old = await tokenRequest(srv.url + cfg.token, { grant_type: 'refresh_token', refresh_token: tok.body.refresh_token }, 'basic');
    assert.equal(old.status, 400);
    assert.deepEqual(old.body, INVALID_REFRESH);
    const unknown = await tokenRequest(srv.url + cfg.token, { grant_type: 'refresh_token', refresh_token: 'unknown-token' }, 'basic');
    assert.equal(unknown.status, 400);
    assert.deepEqual(unknown.body, INVALID_REFRESH);
    const viaPost = await tokenRequest(srv.url + cfg.token, { grant_type: 'refresh_token', refresh_token: 'x' }, 'post');
    assert.deepEqual(viaPost.body, { error: 'invalid_request', error_description: 'Credentials not available' });
  });

  it('revoke with the Bearer access token kills the access and the refresh token', async () => {
    await postJson(`${srv.url}/__test/reset-stats`);
    const { tok } = await connect(srv, cfg);
    const r = await fetch(`${srv.url}/authorization/revoke`, {
      method: 'POST', headers: { authorization: `Bearer ${tok.body.access_token}` },
    });
    assert.equal(r.status, 200);
    assert.deepEqual(await r.json(), { success: true });
    assert.deepEqual(await active(srv.url, tok.body.access_token), { active: false, kind: null });
    assert.equal((await active(srv.url, tok.body.refresh_token)).active, false);
    const refresh = await tokenRequest(srv.url + cfg.token, { grant_type: 'refresh_token', refresh_token: tok.body.refresh_token }, 'basic');
    assert.deepEqual(refresh.body, INVALID_REFRESH);
    const again = await fetch(`${srv.url}/authorization/revoke`, {
      method: 'POST', headers: { authorization: `Bearer ${tok.body.access_token}` },
    });
    assert.equal(again.status, 401);
    const s = await stats(srv.url);
    assert.equal(s.revoke, 2);
    assert.equal(s.token.authorization_code, 1);
    assert.equal(s.token.refresh_token, 1);
  });

  it('lists app grants (seeded Acme Reports + Latchkey) and deleting the Latchkey grant revokes its tokens', async () => {
    const { tok } = await connect(srv, cfg, { login: 'bob' });
    const at = tok.body.access_token;
    const list = await getJson(`${srv.url}/consumer/grant`, at);
    assert.equal(list.status, 200);
    assert.equal(list.body.totalResults, 2);
    assert.equal(list.body.itemsPerPage, 16);
    assert.equal(list.body.startIndex, 0);
    const names = list.body.entry.map((e) => e.app.name);
    assert.deepEqual(names.sort(), ['Acme Reports', 'Latchkey']);
    const latchkey = list.body.entry.find((e) => e.app.name === 'Latchkey');
    assert.equal(latchkey.allow, 1);
    assert.deepEqual(latchkey.app, { id: 3, name: 'Latchkey', url: 'http://127.0.0.1' });
    assert.match(latchkey.createDate, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);

    // a second authorization by the same user does not duplicate the entry
    const { tok: tok2 } = await connect(srv, cfg, { login: 'bob' });
    assert.equal((await getJson(`${srv.url}/consumer/grant`, tok2.body.access_token)).body.totalResults, 2);

    const acme = list.body.entry.find((e) => e.app.name === 'Acme Reports');
    const delAcme = await getJson(`${srv.url}/consumer/grant/${acme.id}`, at, { method: 'DELETE' });
    assert.deepEqual(delAcme.body, { success: true, message: 'Grant successfully deleted' });
    assert.equal((await active(srv.url, at)).active, true);

    const del = await getJson(`${srv.url}/consumer/grant/${latchkey.id}`, at, { method: 'DELETE' });
    assert.equal(del.status, 200);
    assert.deepEqual(del.body, { success: true, message: 'Grant successfully deleted' });
    for (const t of [at, tok.body.refresh_token, tok2.body.access_token, tok2.body.refresh_token]) {
      assert.equal((await active(srv.url, t)).active, false);
    }
    assert.equal((await getJson(`${srv.url}/consumer/grant`, at)).status, 401);
    // alice's list is untouched
    const { tok: alice } = await connect(srv, cfg);
    const aliceList = await getJson(`${srv.url}/consumer/grant`, alice.body.access_token);
    assert.ok(aliceList.body.entry.some((e) => e.app.name === 'Acme Reports'));
    assert.equal((await getJson(`${srv.url}/consumer/grant/999`, alice.body.access_token, { method: 'DELETE' })).status, 404);
  });

  it('expired refresh tokens get invalid_request', async () => {
    const { tok } = await connect(srv, cfg);
    await postJson(`${srv.url}/__test/expire-refresh-tokens`);
    const r = await tokenRequest(srv.url + cfg.token, { grant_type: 'refresh_token', refresh_token: tok.body.refresh_token }, 'basic');
    assert.equal(r.status, 400);
    assert.deepEqual(r.body, INVALID_REFRESH);
  });
});
