// The test provider's storage: oidc-provider's adapter over one in-memory Map (so the test
// control endpoints can see, age and delete every stored token), and the grant bookkeeping
// (which stored tokens belong to which grant; destroying a grant with all its tokens).

import { state } from './state.mjs';

// A plain Map so the test-control endpoints can see (and age) every stored token.
export const store = new Map(); // `${model}:${id}` -> { payload, expiresAt }
export const grantMembers = new Map(); // grantId -> Set of keys
const GRANTABLE = new Set(['AccessToken', 'AuthorizationCode', 'RefreshToken', 'DeviceCode', 'BackchannelAuthenticationRequest']);
export function storeGet(key) {
  const e = store.get(key);
  if (!e) return undefined;
  if (e.expiresAt && e.expiresAt <= Date.now()) { store.delete(key); return undefined; }
  return e.payload;
}
export class MapAdapter {
  constructor(model) { this.model = model; }
  key(id) { return `${this.model}:${id}`; }
  async upsert(id, payload, expiresIn) {
    const key = this.key(id);
    store.set(key, { payload, expiresAt: expiresIn ? Date.now() + expiresIn * 1000 : 0 });
    if (this.model === 'Session' && payload.uid) store.set(`sessionUid:${payload.uid}`, { payload: id, expiresAt: 0 });
    if (payload.userCode) store.set(`${this.model}:userCode:${payload.userCode}`, { payload: id, expiresAt: 0 }); // device flow
    if (GRANTABLE.has(this.model) && payload.grantId) {
      if (!grantMembers.has(payload.grantId)) grantMembers.set(payload.grantId, new Set());
      grantMembers.get(payload.grantId).add(key);
    }
  }
  async find(id) { return storeGet(this.key(id)); }
  async findByUid(uid) { const id = storeGet(`sessionUid:${uid}`); return id ? this.find(id) : undefined; }
  async findByUserCode(userCode) { const id = storeGet(this.key(`userCode:${userCode}`)); return id ? this.find(id) : undefined; }
  async consume(id) { const p = storeGet(this.key(id)); if (p) p.consumed = Math.floor(Date.now() / 1000); }
  async destroy(id) { store.delete(this.key(id)); }
  async revokeByGrantId(grantId) {
    for (const key of grantMembers.get(grantId) ?? []) store.delete(key);
    grantMembers.delete(grantId);
  }
}

/** Destroys a grant and every token issued under it. */
export async function destroyGrant(grantId) {
  const { provider } = state;
  for (const model of ['AccessToken', 'RefreshToken', 'AuthorizationCode']) {
    await provider[model].adapter.revokeByGrantId(grantId);
  }
  const grant = await provider.Grant.find(grantId);
  if (grant) await grant.destroy();
}

/** Deletes the grant's access tokens except `keep` (django-oauth-toolkit's rotation). */
export function deleteOtherAccessTokens(grantId, keep) {
  for (const key of [...(grantMembers.get(grantId) ?? [])]) {
    if (key.startsWith('AccessToken:') && key !== `AccessToken:${keep}`) store.delete(key);
  }
}

/** Makes every stored refresh token expired; returns how many there were. */
export function expireRefreshTokens() {
  let n = 0;
  const past = Math.floor(Date.now() / 1000) - 1;
  for (const [key, e] of store) {
    if (key.startsWith('RefreshToken:')) { e.payload.exp = past; n += 1; }
  }
  return n;
}
