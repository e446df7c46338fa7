// Plain-words guidance for each error code: what happened and what to do next.
import type { ErrorCode } from './types';

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
    'Check the provider app’s client id, secret and redirect URI at the provider, then try again.',
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
