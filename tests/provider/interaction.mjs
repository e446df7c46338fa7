// The sign-in and consent pages oidc-provider sends the browser to (/interaction/<uid>): the
// login form (alice or bob, any non-empty password), the consent form (allow / deny), and the
// grant they create on "allow" (recorded as a Fusio app grant too). Every page says in
// X-Latchkey-* headers what it is, for the headless browser (browser.mjs) and device.mjs.

import querystring from 'node:querystring';
import { state } from './state.mjs';
import { USERS, recordAppGrant, userByLogin } from './profiles.mjs';
import { esc, page, readBody, sendHtml } from './util.mjs';

/** Answers /interaction/<uid> (GET shows the page, POST takes the form) and /interaction/<uid>/abort. */
export async function interaction(req, res, path) {
  const m = /^\/interaction\/([^/]+)(\/abort)?$/.exec(path);
  if (!m) return sendHtml(res, 404, page('Not found', '<h1>Not found</h1>'));
  let details;
  try {
    details = await state.provider.interactionDetails(req, res);
  } catch (err) {
    return sendHtml(res, 400, page('Session expired', `<h1>This sign-in has expired</h1>
<p>Start again from the app.</p>`), { 'X-Latchkey-Error': 'invalid_request', 'X-Latchkey-Error-Description': 'interaction session not found' });
  }
  const { uid, prompt, params, session, grantId } = details;
  const client = await state.provider.Client.find(params.client_id);
  const clientName = client?.clientName || params.client_id;
  const scopes = String(params.scope ?? '').split(' ').filter(Boolean);

  if (m[2]) { // abort = deny
    if (req.method === 'POST') await readBody(req);
    return state.provider.interactionFinished(req, res, {
      error: 'access_denied', error_description: 'End-User denied the authorization request',
    }, { mergeWithLastSubmission: false });
  }

  if (req.method === 'GET') {
    if (prompt.name === 'login') return sendHtml(res, 200, loginPage(uid, clientName), { 'X-Latchkey-Prompt': 'login' });
    if (prompt.name === 'consent') {
      const who = USERS[session?.accountId];
      return sendHtml(res, 200, consentPage(uid, clientName, scopes, who), { 'X-Latchkey-Prompt': 'consent' });
    }
    return sendHtml(res, 501, page('Not implemented', `<h1>Unsupported prompt ${esc(prompt.name)}</h1>`));
  }
  if (req.method !== 'POST') return sendHtml(res, 405, page('Method not allowed', '<h1>Method not allowed</h1>'));

  const form = querystring.parse(await readBody(req));
  if (form.prompt === 'login' && prompt.name === 'login') {
    const user = userByLogin(form.login ?? '');
    if (!user || !form.password) {
      return sendHtml(res, 200, loginPage(uid, clientName, 'Unknown user or empty password. Try alice or bob with any password.'), {
        'X-Latchkey-Prompt': 'login', 'X-Latchkey-Login-Error': 'login_failed',
      });
    }
    return state.provider.interactionFinished(req, res, { login: { accountId: String(user.id) } }, { mergeWithLastSubmission: false });
  }
  if (form.prompt === 'consent' && prompt.name === 'consent') {
    if (form.decision === 'deny') {
      return state.provider.interactionFinished(req, res, {
        error: 'access_denied', error_description: 'End-User denied the authorization request',
      }, { mergeWithLastSubmission: false });
    }
    const grant = grantId
      ? await state.provider.Grant.find(grantId)
      : new state.provider.Grant({ accountId: session.accountId, clientId: params.client_id });
    const d = prompt.details;
    if (d.missingOIDCScope) grant.addOIDCScope(d.missingOIDCScope.join(' '));
    if (d.missingOIDCClaims) grant.addOIDCClaims(d.missingOIDCClaims);
    if (d.missingResourceScopes) {
      for (const [indicator, s] of Object.entries(d.missingResourceScopes)) grant.addResourceScope(indicator, s.join(' '));
    }
    const savedGrantId = await grant.save();
    recordAppGrant(session.accountId, params.client_id, savedGrantId);
    return state.provider.interactionFinished(req, res, { consent: { grantId: savedGrantId } }, { mergeWithLastSubmission: true });
  }
  return sendHtml(res, 400, page('Bad request', `<h1>Unexpected form for prompt ${esc(prompt.name)}</h1>`));
}

function loginPage(uid, clientName, error) {
  return page('Sign in', `<h1>Sign in to continue to ${esc(clientName)}</h1>
<p class="muted">Latchkey test provider (${esc(state.profileName)}). Users: alice, bob; any non-empty password.</p>
${error ? `<p class="error" role="alert">${esc(error)}</p>` : ''}
<form method="post" action="/interaction/${esc(uid)}" autocomplete="off">
  <input type="hidden" name="prompt" value="login">
  <label for="login">Username</label><input id="login" type="text" name="login" value="alice" required autofocus>
  <label for="password">Password</label><input id="password" type="password" name="password" value="password" required>
  <button type="submit" id="submit">Sign in</button>
</form>`);
}

function consentPage(uid, clientName, scopes, who) {
  return page('Authorize', `<h1>${esc(clientName)} wants to access your account</h1>
<p>Signed in as <strong>${esc(who?.name ?? '?')}</strong> (${esc(who?.email ?? '')}).</p>
<p>Requested access:</p><ul id="scopes">${scopes.map((s) => `<li>${esc(s)}</li>`).join('') || '<li>basic access</li>'}</ul>
<form method="post" action="/interaction/${esc(uid)}">
  <input type="hidden" name="prompt" value="consent">
  <button type="submit" id="allow" name="decision" value="allow">Allow</button>
  <button type="submit" id="deny" name="decision" value="deny">Deny</button>
</form>`);
}
