import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startServer, pkce, authorizeUrl, headless, tokenRequest, getJson, postJson, connect, active, stats, CLIENT_ID, CLIENT_SECRET,
} from './helpers.mjs';

const cfg = {
  authorize: '/oauth/authorize',
  token: '/oauth/token',
  auth: 'post',
  redirectUri: 'http://127.0.0.1:61000/oauth/callback',
  scope: 'read write profile email',
};

const form = (obj) => new URLSearchParams({ client_id: CLIENT_ID, client_secret: CLIENT_SECRET, ...obj });

describe('generic profile', () => {
  let srv;
  before(async () => { srv = await startServer('generic'); });
  after(async () => { await srv.stop(); });

  it('serves the same metadata at both discovery locations', async () => {
    for (const p of ['/.well-known/oauth-authorization-server', '/.well-known/openid-configuration']) {
      const d = await getJson(srv.url + p);
      assert.equal(d.status, 200);
      assert.equal(d.body.issuer, srv.url);
      assert.equal(d.body.authorization_endpoint, `${srv.url}/oauth/authorize`);
      assert.equal(d.body.token_endpoint, `${srv.url}/oauth/token`);
      assert.equal(d.body.revocation_endpoint, `${srv.url}/oauth/revoke`);
      assert.equal(d.body.introspection_endpoint, `${srv.url}/oauth/introspect`);
      assert.equal(d.body.userinfo_endpoint, `${srv.url}/oauth/userinfo`);
      assert.deepEqual(d.body.token_endpoint_auth_methods_supported, ['client_secret_post']);
      assert.equal(d.body.authorization_response_iss_parameter_supported, true);
    }
  });

  it('puts iss in the authorization response (success and error)', async () => {
    const { auth, state, tok } = await connect(srv, cfg);
    assert.equal(auth.iss, srv.issuer);
    assert.equal(auth.state, state);
    assert.equal(tok.status, 200);
    assert.equal(tok.body.expires_in, 3600);
    assert.equal(tok.body.token_type, 'Bearer');
    assert.equal(tok.body.scope, 'read write profile email');
    const { challenge } = pkce();
    const denied = await headless(srv.url, authorizeUrl(srv.url, cfg.authorize, {
      client_id: CLIENT_ID, response_type: 'code', redirect_uri: cfg.redirectUri, scope: 'read', state: 'd',
      code_challenge: challenge, code_challenge_method: 'S256',
    }), { consent: false });
    assert.equal(denied.error, 'access_denied');
    assert.equal(denied.iss, srv.issuer);
  });

  it('custom scheme redirect works, oob is not registered', async () => {
    const { auth } = await connect(srv, cfg, { redirectUri: 'app.latchkey:/oauth/callback' });
    assert.ok(auth.location.startsWith('app.latchkey:/oauth/callback?code='));
    const { challenge } = pkce();
    const oob = await headless(srv.url, authorizeUrl(srv.url, cfg.authorize, {
      client_id: CLIENT_ID, response_type: 'code', redirect_uri: 'urn:ietf:wg:oauth:2.0:oob', state: 's',
      code_challenge: challenge, code_challenge_method: 'S256',
    }));
    assert.equal(oob.error, 'invalid_redirect_uri');
  });

  it('userinfo and introspection', async () => {
    const { tok } = await connect(srv, cfg);
    const u = await getJson(`${srv.url}/oauth/userinfo`, tok.body.access_token);
    assert.equal(u.status, 200);
    assert.deepEqual(u.body, { sub: '1001', name: 'Alice Example', email: 'alice@example.com' });
    assert.equal((await getJson(`${srv.url}/oauth/userinfo`, 'bad')).status, 401);
    const i = await fetch(`${srv.url}/oauth/introspect`, { method: 'POST', body: form({ token: tok.body.access_token }) });
    const ij = await i.json();
    assert.equal(i.status, 200);
    assert.equal(ij.active, true);
    assert.equal(ij.client_id, CLIENT_ID);
    const bad = await (await fetch(`${srv.url}/oauth/introspect`, { method: 'POST', body: form({ token: 'nope' }) })).json();
    assert.equal(bad.active, false);
  });

  it('refresh rotates and reuse is invalid_grant', async () => {
    const { tok } = await connect(srv, cfg);
    const r = await tokenRequest(srv.url + cfg.token, { grant_type: 'refresh_token', refresh_token: tok.body.refresh_token });
    assert.equal(r.status, 200);
    assert.notEqual(r.body.refresh_token, tok.body.refresh_token);
    const old = await tokenRequest(srv.url + cfg.token, { grant_type: 'refresh_token', refresh_token: tok.body.refresh_token });
    assert.equal(old.status, 400);
    assert.equal(old.body.error, 'invalid_grant');
  });

  it('RFC 7009 revocation: refresh token first, then the access token; unknown token is 200', async () => {
    await postJson(`${srv.url}/__test/reset-stats`);
    const { tok } = await connect(srv, cfg);
    const rt = tok.body.refresh_token;
    const at = tok.body.access_token;
    const r1 = await fetch(`${srv.url}/oauth/revoke`, { method: 'POST', body: form({ token: rt, token_type_hint: 'refresh_token' }) });
    assert.equal(r1.status, 200);
    assert.equal((await active(srv.url, rt)).active, false);
    const r2 = await fetch(`${srv.url}/oauth/revoke`, { method: 'POST', body: form({ token: at, token_type_hint: 'access_token' }) });
    assert.equal(r2.status, 200);
    assert.equal((await active(srv.url, at)).active, false);
    assert.equal((await getJson(`${srv.url}/oauth/userinfo`, at)).status, 401);
    const r3 = await fetch(`${srv.url}/oauth/revoke`, { method: 'POST', body: form({ token: 'never-issued' }) });
    assert.equal(r3.status, 200);
    const noAuth = await fetch(`${srv.url}/oauth/revoke`, { method: 'POST', body: new URLSearchParams({ token: 'x', client_id: CLIENT_ID }) });
    assert.equal(noAuth.status, 401);
    assert.equal((await stats(srv.url)).revoke, 4);
  });

  it('revoking only the refresh token ends the grant for refresh', async () => {
    const { tok } = await connect(srv, cfg);
    await fetch(`${srv.url}/oauth/revoke`, { method: 'POST', body: form({ token: tok.body.refresh_token }) });
    const r = await tokenRequest(srv.url + cfg.token, { grant_type: 'refresh_token', refresh_token: tok.body.refresh_token });
    assert.equal(r.body.error, 'invalid_grant');
  });
});
