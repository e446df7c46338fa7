import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, getJson, postJson, tokenRequest, CLIENT_ID, CLIENT_SECRET } from './helpers.mjs';

const GRANT = 'urn:ietf:params:oauth:grant-type:device_code';

async function deviceAuth(srv, scope = 'read') {
  const r = await fetch(`${srv.url}/device/auth`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
    body: new URLSearchParams({ client_id: CLIENT_ID, client_secret: CLIENT_SECRET, scope }),
  });
  return { status: r.status, body: await r.json() };
}
const poll = (srv, deviceCode) => tokenRequest(`${srv.url}/oauth/token`, { grant_type: GRANT, device_code: deviceCode });

describe('device authorization grant (generic profile)', () => {
  let srv;
  before(async () => { srv = await startServer('generic'); });
  after(async () => { await srv.stop(); });

  it('is announced by discovery', async () => {
    const d = await getJson(`${srv.url}/.well-known/oauth-authorization-server`);
    assert.equal(d.body.device_authorization_endpoint, `${srv.url}/device/auth`);
  });

  it('answers pending, then tokens once the person approves', async () => {
    const a = await deviceAuth(srv);
    assert.equal(a.status, 200);
    assert.match(a.body.user_code, /^[A-Z]{4}-[A-Z]{4}$/);
    assert.equal(a.body.verification_uri, `${srv.url}/device`);
    assert.equal(a.body.interval, 1);
    const pending = await poll(srv, a.body.device_code);
    assert.equal(pending.status, 400);
    assert.equal(pending.body.error, 'authorization_pending');
    const ok = await postJson(`${srv.url}/__test/device/approve`, { user_code: a.body.user_code });
    assert.deepEqual(ok.body, { approved: true, denied: false });
    const t = await poll(srv, a.body.device_code);
    assert.equal(t.status, 200);
    assert.ok(t.body.access_token && t.body.refresh_token);
    const polls = (await postJson(`${srv.url}/__test/device/polls`, {})).body.polls.map((p) => p.answer);
    assert.deepEqual(polls.slice(-2), ['authorization_pending', 'tokens']);
  });

  it('a denial reaches the device as access_denied', async () => {
    const a = await deviceAuth(srv);
    const r = await postJson(`${srv.url}/__test/device/approve`, { user_code: a.body.user_code, consent: false });
    assert.equal(r.body.approved, false);
    const t = await poll(srv, a.body.device_code);
    assert.equal(t.body.error, 'access_denied');
  });

  it('forces slow_down, expired_token and access_denied, and odd intervals, on request', async () => {
    await postJson(`${srv.url}/__test/device/behaviour`, { answer: 'slow_down', count: 2 });
    await postJson(`${srv.url}/__test/device/behaviour`, { answer: 'expired_token' });
    const a = await deviceAuth(srv);
    assert.equal((await poll(srv, a.body.device_code)).body.error, 'slow_down');
    assert.equal((await poll(srv, a.body.device_code)).body.error, 'slow_down');
    assert.equal((await poll(srv, a.body.device_code)).body.error, 'expired_token');
    assert.equal((await poll(srv, a.body.device_code)).body.error, 'authorization_pending');
    await postJson(`${srv.url}/__test/device/behaviour`, { interval: 0, expiresIn: '7' });
    const b = await deviceAuth(srv);
    assert.equal(b.body.interval, 0);
    assert.equal(b.body.expires_in, '7');
    await postJson(`${srv.url}/__test/device/behaviour`, { interval: 1, expiresIn: null });
  });
});
