// Plain-words guidance for each error code: what happened and what to do next.
import type { ApiError, ErrorCode, ErrorReason } from './types';

export const ERROR_TITLES: Record<ErrorCode, string> = {
  needs_reconnect: 'This account needs to be connected again.',
  keychain_unavailable: 'Latchkey can’t reach your system keychain.',
  provider_rejected: 'The provider refused the request.',
  network: 'The provider could not be reached.',
  invalid_input: 'Some details need fixing.',
  not_found: 'That item no longer exists.',
  flow: 'The sign-in did not complete.',
  missing_scope: 'A permission (scope) is missing.',
  internal: 'Something went wrong inside Latchkey.',
  damaged_data: 'Latchkey’s data file is damaged.',
};

export const ERROR_HINTS: Record<ErrorCode, string> = {
  needs_reconnect: 'Use Reconnect to sign in again; your settings for this account are kept.',
  keychain_unavailable:
    'Unlock your keychain (or start your system’s keyring service), then try again.',
  provider_rejected:
    'The provider’s own words are above. If it keeps happening, check the provider app’s settings in Latchkey and at the provider.',
  network: 'Check your internet connection and the provider’s address, then try again.',
  invalid_input: 'Correct the details and try again.',
  not_found: 'It may have been removed meanwhile; the list has been reloaded.',
  flow: 'Start again with Connect account.',
  missing_scope:
    'The connection was granted fewer permissions than this needs. Add the scope to the provider app if needed, then Reconnect and allow it.',
  internal: 'Try again. If it keeps happening, the app’s log has the details.',
  damaged_data:
    'Nothing was overwritten. Restore the last good copy, or start empty; the damaged file is kept aside.',
};

/** Titles where the exact error says more than its code. */
export const REASON_TITLES: Partial<Record<ErrorReason, string>> = {
  access_denied: 'You declined access at the provider.',
  invalid_scope: 'The provider refused the requested permissions.',
  client_rejected: 'The provider did not accept the provider app.',
  provider_unavailable: 'The provider had a problem.',
  unreachable: 'The provider could not be reached.',
  keychain_locked: 'Your keychain is locked.',
  busy: 'Another Latchkey process is busy with this connection.',
};

/** What to do next, by the exact error: the hint follows the actual error, not its family. */
export const REASON_HINTS: Record<ErrorReason, string> = {
  access_denied:
    'Nothing was connected and nothing is wrong with the app. Try again when you are ready, and choose Allow at the provider.',
  invalid_scope:
    'The provider app asks for scopes the provider does not offer it. Edit the scopes of the provider app in Settings (or allow them at the provider), then try again.',
  client_rejected:
    'Check the provider app’s client id and secret, and the redirect URI registered at the provider; edit the provider app in Settings, then try again.',
  invalid_grant:
    'The sign-in code or token is no longer valid (codes last only minutes). Start again.',
  unsupported:
    'The provider does not allow this kind of sign-in for this app. Check the provider app’s redirect mode and endpoints.',
  provider_unavailable:
    'Nothing was lost. Try again in a few minutes; Latchkey keeps retrying background refreshes by itself.',
  unreachable:
    'Nothing was lost. Check your internet connection and the provider’s address, then try again later.',
  busy: 'The agent or latchkey-cli is working on it. Nothing was lost; try again in a moment.',
  keychain_locked:
    'Unlock your keychain (log in again, or open your keyring app). Nothing was lost: Latchkey saves what waits as soon as it is unlocked.',
};

export function errorTitle(e: ApiError): string {
  return (e.reason && REASON_TITLES[e.reason]) || ERROR_TITLES[e.code];
}

export function errorHint(e: ApiError): string {
  return (e.reason && REASON_HINTS[e.reason]) || ERROR_HINTS[e.code];
}
