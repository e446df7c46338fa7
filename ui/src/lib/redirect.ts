// The redirect URI a person registers at the provider, per preset and mode.
// Mirrors the backend's redirect_uri_for(preset, mode).
import type { PresetId, RedirectMode } from './types';

export const DEEP_LINK_URI = 'app.latchkey:/oauth/callback';
export const LOOPBACK_URI = 'http://127.0.0.1/oauth/callback';
export const OOB_URI = 'urn:ietf:wg:oauth:2.0:oob';

export interface RedirectInfo {
  /** What to register, or null when the provider takes no redirect URI. */
  uri: string | null;
  note: string | null;
}

export function redirectUriFor(preset: PresetId, mode: RedirectMode): RedirectInfo {
  switch (mode) {
    case 'deep_link':
      return { uri: DEEP_LINK_URI, note: null };
    case 'loopback':
      return {
        uri: LOOPBACK_URI,
        note: 'Any port: Latchkey listens on a free port of 127.0.0.1 for each sign-in.',
      };
    case 'paste':
      if (preset === 'fusio') {
        return {
          uri: null,
          note: 'No redirect URI: Fusio then shows the code on its page, and you paste it into Latchkey.',
        };
      }
      return {
        uri: OOB_URI,
        note: 'The provider shows the code on its page, and you paste it into Latchkey.',
      };
  }
}

export const REDIRECT_MODE_LABELS: Record<RedirectMode, string> = {
  deep_link: `App link (${DEEP_LINK_URI})`,
  loopback: 'Loopback (http://127.0.0.1:…/oauth/callback)',
  paste: 'Paste the code',
};

export const REDIRECT_MODE_SHORT: Record<RedirectMode, string> = {
  deep_link: 'App link',
  loopback: 'Loopback',
  paste: 'Paste the code',
};
