// Command line, lifecycle, demo client, fault injection and stats (one profile stands in for all:
// the fault layer is the same code for every profile).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import {
  startServer, pkce, authorizeUrl, headless, tokenRequest, getJson, postJson, connect, active, stats, CLIENT_ID,
} from './helpers.mjs';

const cfg = {
  authorize: '/api/v1/auth/oauth2/authorize/',
  token: '/api/v1/auth/oauth2/token/',
  auth: 'post',
  redirectUri: 'http://127.0.0.1:40000/oauth/callback',
  scope: 'read offline_access',
};

describe('faults and stats', () => {
  let srv;
  before(async () => { srv = await startServer('rememberizer'); });
  after(async () => { await srv.stop(); });

  it('token 503 with Retry-After for count requests, then normal again; stats count faulted requests', async () => {
    const { tok } = await connect(srv, cfg);
    await postJson(`${srv.url}/__test/reset-stats`);
    const f = await postJson(`${srv.url}/__test/fault`, { route: 'token', status: 503, count: 2, retryAfter: 7 });
    assert.equal(f.status, 200);
    for (let i = 0; i < 2; i += 1) {
      const r = await tokenRequest(srv.url + cfg.token, { grant_type: 'refresh_token', refresh_token: tok.body.refresh_token });
      assert.equal(r.status, 503);
      assert.equal(r.headers.get('retry-after'), '7');
      assert.equal(r.body.error, 'temporarily_unavailable');
    }
    const ok = await tokenRequest(srv.url + cfg.token, { grant_type: 'refresh_token', refresh_token: tok.body.refresh_token });
    assert.equal(ok.status, 200, 'the faults did not consume the refresh token');
    assert.deepEqual(await stats(srv.url), { token: { authorization_code: 0, refresh_token: 3 }, tokenErrors: {}, revoke: 0, resource: 0, lazyPending: 0 });
  });

  it('behaviours: expires_in replaced, old access tokens deleted on rotation, token errors counted', async () => {
    const { tok } = await connect(srv, cfg);
    await postJson(`${srv.url}/__test/reset-stats`);
    await postJson(`${srv.url}/__test/behaviour`, { expiresIn: -100, deleteAccessOnRotation: true });
    const r = await tokenRequest(srv.url + cfg.token, { grant_type: 'refresh_token', refresh_token: tok.body.refresh_token });
    assert.equal(r.status, 200);
    assert.equal(r.body.expires_in, -100);
    assert.equal((await active(srv.url, tok.body.access_token)).active, false, 'the previous access token is gone');
    assert.equal((await active(srv.url, r.body.access_token)).active, true);
    const bogus = await tokenRequest(srv.url + cfg.token, { grant_type: 'refresh_token', refresh_token: 'no-such-token' });
    assert.equal(bogus.body.error, 'invalid_grant');
    assert.deepEqual((await stats(srv.url)).tokenErrors, { invalid_grant: 1 });
    await postJson(`${srv.url}/__test/behaviour`, { expiresIn: null, deleteAccessOnRotation: false });
    const plain = await tokenRequest(srv.url + cfg.token, { grant_type: 'refresh_token', refresh_token: r.body.refresh_token });
    assert.equal(plain.body.expires_in, 3600);
    assert.equal((await active(srv.url, r.body.access_token)).active, true, 'kept when the behaviour is off');
  });

  it('custom status and body; drop destroys the socket; resource route', async () => {
    const { tok } = await connect(srv, cfg);
    await postJson(`${srv.url}/__test/reset-stats`);
    await postJson(`${srv.url}/__test/fault`, { route: 'resource', status: 500, body: { oops: true } });
    const r = await getJson(`${srv.url}/api/v1/account/`, tok.body.access_token);
    assert.equal(r.status, 500);
    assert.deepEqual(r.body, { oops: true });
    assert.equal(r.headers.get('retry-after'), null);

    await postJson(`${srv.url}/__test/fault`, { route: 'resource', drop: true });
    await assert.rejects(fetch(`${srv.url}/api/v1/mementos/`, { headers: { authorization: `Bearer ${tok.body.access_token}` } }));
    const after = await getJson(`${srv.url}/api/v1/mementos/`, tok.body.access_token);
    assert.equal(after.status, 200);
    assert.equal((await stats(srv.url)).resource, 3);
  });

  it('delayMs slows a request that is then handled normally; fault/clear removes pending faults', async () => {
    const { tok } = await connect(srv, cfg);
    await postJson(`${srv.url}/__test/fault`, { route: 'any', delayMs: 300 });
    const t0 = Date.now();
    const r = await getJson(`${srv.url}/api/v1/account/`, tok.body.access_token);
    assert.equal(r.status, 200);
    assert.ok(Date.now() - t0 >= 280);

    await postJson(`${srv.url}/__test/fault`, { route: 'token', status: 502, count: 5 });
    await postJson(`${srv.url}/__test/fault/clear`);
    const ok = await tokenRequest(srv.url + cfg.token, { grant_type: 'refresh_token', refresh_token: tok.body.refresh_token });
    assert.equal(ok.status, 200);
  });

  it('"any" faults do not break the headless sign-in of /__test/authorize', async () => {
    await postJson(`${srv.url}/__test/fault`, { route: 'any', status: 503, count: 1 });
    const { tok } = await connect(srv, cfg);
    assert.equal(tok.status, 503, 'the token request got the fault');
    await postJson(`${srv.url}/__test/fault/clear`);
  });

  it('rejects a bad fault route and unknown test endpoints', async () => {
    assert.equal((await postJson(`${srv.url}/__test/fault`, { route: 'nope', status: 500 })).status, 400);
    assert.equal((await postJson(`${srv.url}/__test/nothing`, {})).status, 404);
  });

  it('login with an unknown user fails cleanly', async () => {
    const { challenge } = pkce();
    const r = await headless(srv.url, authorizeUrl(srv.url, cfg.authorize, {
      client_id: CLIENT_ID, response_type: 'code', redirect_uri: cfg.redirectUri, state: 's',
      code_challenge: challenge, code_challenge_method: 'S256',
    }), { login: 'mallory' });
    assert.equal(r.location, null);
    assert.equal(r.error, 'login_failed');
  });

  it('wrote nothing to stdout after the ready line and no token to stderr', async () => {
    const { tok } = await connect(srv, cfg);
    assert.equal(srv.stdoutLines.length, 1);
    assert.equal(srv.stderr.includes(tok.body.access_token), false);
    assert.equal(srv.stderr.includes(tok.body.refresh_token), false);
  });
});

describe('command line and lifecycle', () => {
  it('--demo adds the latchkey-demo client; --access-ttl sets the lifetime', async () => {
    const srv = await startServer('textmaster', ['--demo', '--access-ttl', '120']);
    try {
      const { verifier, challenge } = pkce();
      const redirectUri = 'http://127.0.0.1:45678/oauth/callback';
      const a = await headless(srv.url, authorizeUrl(srv.url, '/oauth/authorize', {
        client_id: 'latchkey-demo', response_type: 'code', redirect_uri: redirectUri, scope: 'user:read', state: 'demo',
        code_challenge: challenge, code_challenge_method: 'S256',
      }));
      assert.ok(a.code);
      const tok = await tokenRequest(`${srv.url}/oauth/token`, {
        grant_type: 'authorization_code', code: a.code, redirect_uri: redirectUri, code_verifier: verifier,
      }, 'post', { clientId: 'latchkey-demo', clientSecret: 'latchkey-demo-secret' });
      assert.equal(tok.status, 200);
      assert.equal(tok.body.expires_in, 120);
      const home = await fetch(srv.url);
      assert.equal(home.status, 200);
    } finally {
      await srv.stop();
    }
  });

  it('exits when stdin closes with --exit-on-stdin-close', async () => {
    const srv = await startServer('fusio', ['--exit-on-stdin-close']);
    const exited = once(srv.proc, 'exit');
    srv.proc.stdin.end();
    const [code] = await exited;
    assert.equal(code, 0);
  });

  it('keeps running when stdin closes without the flag; exits 0 on SIGTERM and SIGINT', async () => {
    const srv = await startServer('generic');
    srv.proc.stdin.end();
    await new Promise((r) => { setTimeout(r, 200); });
    assert.equal((await getJson(`${srv.url}/__test/stats`)).status, 200);
    const exited = once(srv.proc, 'exit');
    srv.proc.kill('SIGTERM');
    assert.deepEqual(await exited, [0, null]);

    const srv2 = await startServer('generic');
    const exited2 = once(srv2.proc, 'exit');
    srv2.proc.kill('SIGINT');
    assert.deepEqual(await exited2, [0, null]);
  });

  it('refuses an unknown profile', async () => {
    await assert.rejects(startServer('nope'), /exited early \(2\)/);
  });
});
