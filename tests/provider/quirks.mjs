// Each profile's quirks: where it behaves differently from plain oidc-provider, so that it
// looks like the real server Latchkey meets (and where the test switches bend it further).
// - requestQuirks: on the way in (offline_access granted without prompt=consent, client
//   authentication in the body only or Basic only, Fusio's paste mode, revocation and
//   redirect_uri-less code exchange);
// - installAnswerQuirks: on the way out (the oob "copy this code" page, TextMaster's
//   `created_at`, Fusio's `bearer` and comma scopes and refresh errors, the /__test/behaviour
//   switches on token answers, token-error stats);
// - discovery: the /.well-known/ documents each profile publishes (or not).

import querystring from 'node:querystring';
import { DEVICE_AUTH_PATH } from './device.mjs';
import { OOB } from './profiles.mjs';
import { afterToken } from './realworld.mjs';
import { fusioRevoke } from './resources.mjs';
import { state } from './state.mjs';
import { deleteOtherAccessTokens, storeGet } from './storage.mjs';
import { esc, page, sendJson } from './util.mjs';

/** Before oidc-provider: rewrites the request the profile's way; returns true when it answered itself. */
export async function requestQuirks(req, res, url, route) {
  const { profileName, P } = state;
  const path = url.pathname;
  if (path === P.authorize && req.method === 'GET') {
    const scope = url.searchParams.get('scope') ?? '';
    if (scope.split(' ').includes('offline_access') && !url.searchParams.has('prompt')) {
      // oidc-provider drops offline_access unless prompt=consent; these providers simply grant it.
      url.searchParams.set('prompt', 'consent');
      req.url = url.pathname + url.search;
    }
  }

  if (P.authMethod === 'client_secret_post' && req.method === 'POST'
    && (route === 'token' || route === 'revoke' || path === P.introspect)
    && /^Basic\s/i.test(req.headers.authorization || '')) {
    // oidc-provider would accept HTTP Basic here too; these providers take the secret in the body only.
    sendJson(res, 401, {
      error: 'invalid_client',
      error_description: 'client authentication with HTTP Basic is not supported; send client_id and client_secret in the body',
    });
    return true;
  }

  if (profileName === 'fusio') {
    if (path === P.revoke) { await fusioRevoke(req, res); return true; }
    if (path === P.authorize && req.method === 'GET' && !url.searchParams.has('redirect_uri')) {
      // Paste mode: Fusio shows the code when no redirect_uri is given.
      url.searchParams.set('redirect_uri', OOB);
      req.url = url.pathname + url.search;
    }
    if (route === 'token' && req.method === 'POST') {
      const auth = req.headers.authorization || '';
      if (!/^Basic\s+\S+/i.test(auth)) {
        sendJson(res, 400, { error: 'invalid_request', error_description: 'Credentials not available' });
        return true;
      }
      // Fusio ignores credentials in the body.
      const form = { ...req.latchkeyForm };
      delete form.client_secret;
      delete form.client_id;
      if (form.grant_type === 'authorization_code' && !form.redirect_uri && typeof form.code === 'string') {
        // Fusio does not need redirect_uri repeated: use the one the code was issued for.
        const code = storeGet(`AuthorizationCode:${form.code}`);
        if (code?.redirectUri) form.redirect_uri = code.redirectUri;
      }
      req.body = querystring.stringify(form);
    }
  }
  return false;
}

/** Koa middleware around oidc-provider's own routes: the oob page and the token answer quirks. */
export function installAnswerQuirks(provider) {
  const { profileName, P } = state;
  provider.use(async (ctx, next) => {
    await next();

    // Final authorization redirect to the oob URI: show the code instead (paste-the-code mode).
    if (ctx.status >= 300 && ctx.status < 400) {
      const location = ctx.response.get('location');
      if (location && location.startsWith(OOB)) {
        const params = new URL(location).searchParams;
        const code = params.get('code');
        const error = params.get('error');
        ctx.remove('Location');
        ctx.status = 200;
        ctx.set('X-Latchkey-Test-Location', location);
        if (code) ctx.set('X-Latchkey-Test-Code', code);
        if (error) ctx.set('X-Latchkey-Test-Error', error);
        ctx.type = 'html';
        ctx.body = page(code ? 'Your authorization code' : 'Authorization failed', code
          ? `<h1>Copy this code into Latchkey</h1><p><code id="code">${esc(code)}</code></p>
<p class="muted">Paste it into the app to finish connecting your account. It expires in 10 minutes.</p>`
          : `<h1>Authorization failed</h1><p class="error" id="error">${esc(error)}</p>
<p id="error_description">${esc(params.get('error_description'))}</p>`);
      }
    }

    if (ctx.path === P.token && ctx.method === 'POST') {
      const grantType = ctx.req.latchkeyForm?.grant_type;
      const body = ctx.body && typeof ctx.body === 'object' && !Buffer.isBuffer(ctx.body) ? ctx.body : null;
      if (!body) return;
      const { behaviour, stats } = state;
      if (ctx.status >= 400 && typeof body.error === 'string') {
        stats.tokenErrors[body.error] = (stats.tokenErrors[body.error] ?? 0) + 1;
      }
      if (ctx.status === 200 && grantType === 'refresh_token' && behaviour.deleteAccessOnRotation && body.access_token) {
        const fresh = await provider.AccessToken.find(body.access_token).catch(() => undefined);
        if (fresh?.grantId) deleteOtherAccessTokens(fresh.grantId, body.access_token);
      }
      if (ctx.status === 200 && behaviour.expiresIn !== undefined) {
        ctx.body = { ...ctx.body, expires_in: behaviour.expiresIn };
      }
      if (ctx.status === 200) {
        const body = ctx.body;
        if (profileName === 'textmaster') {
          ctx.body = { ...body, created_at: Math.floor(Date.now() / 1000) };
        } else if (profileName === 'fusio') {
          ctx.body = {
            ...body,
            token_type: 'bearer',
            scope: typeof body.scope === 'string' ? body.scope.split(' ').filter(Boolean).join(',') : body.scope,
          };
        }
      } else if (profileName === 'fusio' && grantType === 'refresh_token' && body.error === 'invalid_grant') {
        ctx.status = 400;
        ctx.body = { error: 'invalid_request', error_description: state.refreshErrorDescription };
      }
      const changed = afterToken({ behaviour, status: ctx.status, body: ctx.body, form: ctx.req.latchkeyForm, accessTtl: state.accessTtl });
      if (changed) {
        ctx.status = changed.status;
        if (changed.body === null) {
          ctx.body = '';
          ctx.remove('Content-Type');
        } else {
          ctx.body = changed.body;
        }
      }
    }
  });
}

/** The /.well-known/ discovery documents (fusio: RFC 8414 without revocation; generic: both forms). */
export function discovery(req, res, path) {
  const { profileName, P, base } = state;
  const notFound = () => sendJson(res, 404, profileName === 'rememberizer' ? { detail: 'Not found.' } : { error: 'not_found' });
  if (req.method !== 'GET') return notFound();
  if (profileName === 'fusio' && path === '/.well-known/oauth-authorization-server') {
    return sendJson(res, 200, {
      issuer: base,
      authorization_endpoint: base + P.authorize,
      token_endpoint: base + P.token,
      token_endpoint_auth_methods_supported: ['client_secret_basic'],
      userinfo_endpoint: `${base}/authorization/whoami`,
      scopes_supported: P.scopes.filter((s) => s !== 'offline_access'),
      response_types_supported: ['code'],
      grant_types_supported: ['authorization_code', 'refresh_token', 'client_credentials', 'password'],
    });
  }
  if (profileName === 'generic' && (path === '/.well-known/oauth-authorization-server' || path === '/.well-known/openid-configuration')) {
    return sendJson(res, 200, {
      issuer: base,
      authorization_endpoint: base + P.authorize,
      token_endpoint: base + P.token,
      revocation_endpoint: base + P.revoke,
      introspection_endpoint: base + P.introspect,
      userinfo_endpoint: base + P.userinfo,
      token_endpoint_auth_methods_supported: ['client_secret_post'],
      revocation_endpoint_auth_methods_supported: ['client_secret_post'],
      introspection_endpoint_auth_methods_supported: ['client_secret_post'],
      scopes_supported: ['openid', ...P.scopes],
      response_types_supported: ['code'],
      response_modes_supported: ['query'],
      grant_types_supported: ['authorization_code', 'refresh_token'],
      code_challenge_methods_supported: ['S256'],
      authorization_response_iss_parameter_supported: true,
      ...(state.device.enabled ? { device_authorization_endpoint: base + DEVICE_AUTH_PATH } : {}),
    });
  }
  return notFound();
}
