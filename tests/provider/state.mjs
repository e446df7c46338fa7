// The test provider's shared mutable state, in one place. Every module reads and writes it
// through `state` (never a copy): server.mjs fills it in at start-up, the /__test/ control
// endpoints (control.mjs) change it while the server runs.

import { realWorldDefaults } from './realworld.mjs';

export const emptyStats = () => ({ token: { authorization_code: 0, refresh_token: 0 }, tokenErrors: {}, revoke: 0, resource: 0 });

export const state = {
  // Set once by server.mjs (initState, then as the server comes up).
  profileName: null, // 'rememberizer' | 'textmaster' | 'fusio' | 'generic'
  P: null, // PROFILES[profileName] (profiles.mjs)
  base: null, // 'http://127.0.0.1:PORT', the issuer
  provider: null, // the oidc-provider instance (oidc.mjs)
  device: null, // the device flow's hooks (device.mjs installDevice)

  // Changed by tests through /__test/.
  accessTtl: null, // seconds, for access tokens issued from now on
  stats: emptyStats(), // counted on arrival, before faults
  faults: [], // pending injected faults: { route, status, count, delayMs, retryAfter, drop, body }
  // Behaviours a test can switch on (/__test/behaviour):
  // - expiresIn: replaces `expires_in` in every token answer with this JSON value (0, -100,
  //   400000000, "soon"…); undefined = leave it alone;
  // - deleteAccessOnRotation: a refresh deletes the access tokens issued before it for the same
  //   grant, as django-oauth-toolkit does.
  // - and what real servers do (realworld.mjs).
  behaviour: null,
  refreshErrorDescription: 'Invalid refresh token', // Fusio's refresh-error text
};

/** Called once by server.mjs, after the command line is read. */
export function initState({ profileName, P, accessTtl }) {
  state.profileName = profileName;
  state.P = P;
  state.accessTtl = accessTtl;
  state.behaviour = { expiresIn: undefined, deleteAccessOnRotation: false, ...realWorldDefaults(profileName) };
}
