// The oidc-provider instance: its configuration for the profile (clients, client
// authentication, scopes, routes, PKCE, refresh-token rotation, TTLs, the error page), the
// per-app redirect URIs Latchkey uses, and the profile's quirks installed around it
// (quirks.mjs). The device flow adds its own middleware afterwards (device.mjs).

import { DEVICE_GRANT, deviceEnabled, deviceFeature } from './device.mjs';
import { USERS } from './profiles.mjs';
import { installAnswerQuirks } from './quirks.mjs';
import { state } from './state.mjs';
import { MapAdapter } from './storage.mjs';
import { esc, log, page } from './util.mjs';

function clientMeta(clientId, secret, name) {
  const { profileName, P } = state;
  return {
    client_id: clientId,
    client_secret: secret,
    client_name: name,
    application_type: 'native',
    grant_types: ['authorization_code', 'refresh_token', ...(deviceEnabled(profileName) ? [DEVICE_GRANT] : [])],
    response_types: ['code'],
    redirect_uris: P.redirectUris,
    token_endpoint_auth_method: P.authMethod,
  };
}

/**
 * Builds the provider for state.profileName at state.base. oidc-provider is imported here, on
 * first use, so that server.mjs has already sent its console output to stderr.
 */
export async function createProvider({ demo }) {
  const { default: Provider } = await import('oidc-provider');
  const { profileName, P, base } = state;
  const clients = [clientMeta('latchkey-test', 'latchkey-test-secret', 'Latchkey')];
  if (demo) clients.push(clientMeta('latchkey-demo', 'latchkey-demo-secret', 'Latchkey Demo'));

  const provider = new Provider(base, {
    adapter: MapAdapter,
    clients,
    clientAuthMethods: [P.authMethod],
    scopes: P.scopes,
    claims: { openid: ['sub'], profile: ['name'], email: ['email'] },
    cookies: { keys: ['latchkey-test-cookie-key-1'] },
    findAccount: async (ctx, id) => {
      const u = USERS[id];
      if (!u) return undefined;
      return { accountId: String(u.id), claims: async () => ({ sub: String(u.id), name: u.name, email: u.email }) };
    },
    features: {
      devInteractions: { enabled: false },
      revocation: { enabled: profileName !== 'fusio' },
      introspection: { enabled: profileName === 'generic' },
      userinfo: { enabled: false },
      rpInitiatedLogout: { enabled: false },
      deviceFlow: deviceFeature(profileName, page),
    },
    interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
    routes: {
      authorization: P.authorize,
      token: P.token,
      revocation: P.revoke && profileName !== 'fusio' ? P.revoke : '/__oidc/revoke',
      introspection: P.introspect ?? '/__oidc/introspect',
      userinfo: '/__oidc/userinfo',
      jwks: '/__oidc/jwks',
      end_session: '/__oidc/session/end',
    },
    pkce: { required: () => P.pkceRequired },
    issueRefreshToken: async (ctx, client) => client.grantTypeAllowed('refresh_token'),
    rotateRefreshToken: () => true,
    expiresWithSession: async () => false,
    ttl: {
      AccessToken: () => state.accessTtl,
      AuthorizationCode: 600,
      RefreshToken: 30 * 24 * 3600,
      Grant: 365 * 24 * 3600,
      Session: 24 * 3600,
      Interaction: 3600,
      IdToken: 3600,
    },
    renderError: async (ctx, out) => {
      ctx.type = 'html';
      ctx.set('X-Latchkey-Error', String(out.error ?? 'error'));
      if (out.error_description) ctx.set('X-Latchkey-Error-Description', String(out.error_description).replace(/[^\x20-\x7e]/g, '?'));
      ctx.body = page('Authorization error', `<h1>Something went wrong</h1>
<p class="error" id="error">${esc(out.error)}</p><p id="error_description">${esc(out.error_description)}</p>`);
    },
  });
  provider.on('server_error', (ctx, err) => log(`oidc-provider server_error: ${err?.message}`));

  // Latchkey gives every provider app its own callback path (`…/oauth/callback/<id>`, RFC 9700
  // §4.4.2). A person registers that exact URI; this server stands for any of them: a registered
  // `…/oauth/callback` also allows `…/oauth/callback/<4–32 of 0-9a-z>`, and nothing else.
  const PER_APP = /^(app\.latchkey:\/oauth\/callback|http:\/\/127\.0\.0\.1(?::\d+)?\/oauth\/callback)\/[0-9a-z]{4,32}$/;
  const redirectUriAllowed = provider.Client.prototype.redirectUriAllowed;
  provider.Client.prototype.redirectUriAllowed = function allowPerApp(value) {
    if (redirectUriAllowed.call(this, value)) return true;
    return typeof value === 'string' && PER_APP.test(value)
      && redirectUriAllowed.call(this, value.slice(0, value.lastIndexOf('/')));
  };

  installAnswerQuirks(provider);
  return provider;
}
