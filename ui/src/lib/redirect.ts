// The redirect URI a person registers at the provider, per preset, mode and provider app.
// Mirrors the backend's redirect_uri_for(preset, mode, callback_id, loopback_port); the
// preset's paste-mode URI comes from the preset table.
import type { Preset, RedirectMode } from './types';

export const CALLBACK_PATH = '/oauth/callback';
export const OOB_URI = 'urn:ietf:wg:oauth:2.0:oob';

export interface RedirectInfo {
  /** What to register, or null when the provider takes no redirect URI. */
  uri: string | null;
  note: string | null;
}

/**
 * Each provider app has its own callback path, so an answer meant for one app can never
 * complete a sign-in at another (mix-up defence, RFC 9700 §4.4.2). Apps saved before that
 * have none and keep the shared path.
 */
export function callbackPath(callbackId: string | null | undefined): string {
  return callbackId ? `${CALLBACK_PATH}/${callbackId}` : CALLBACK_PATH;
}

/** A port for a new fixed-port app: one of the dynamic range (49152–65535), picked once. */
export function newLoopbackPort(): number {
  const [n] = crypto.getRandomValues(new Uint16Array(1));
  return 49152 + (n % 16384);
}

/** A fresh callback id for a new app: 8 random hex digits (the backend checks it). */
export function newCallbackId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(4));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

export function redirectUriFor(
  preset: Pick<Preset, 'name' | 'pasteRedirectUri'>,
  mode: RedirectMode,
  callbackId: string | null = null,
  loopbackPort: number | null = null,
): RedirectInfo {
  switch (mode) {
    case 'deep_link':
      return { uri: `app.latchkey:${callbackPath(callbackId)}`, note: null };
    case 'loopback':
      if (loopbackPort) {
        return {
          uri: `http://127.0.0.1:${loopbackPort}${callbackPath(callbackId)}`,
          note: `Exactly this, port ${loopbackPort} included: Latchkey listens on that port for each sign-in.`,
        };
      }
      return {
        uri: `http://127.0.0.1${callbackPath(callbackId)}`,
        note: 'Any port: Latchkey listens on a free port of 127.0.0.1 for each sign-in (RFC 8252). If the provider refuses the sign-in (often a bare “403 Forbidden” page), it matches the port too: choose a fixed port.',
      };
    case 'paste':
      if (!preset.pasteRedirectUri) {
        return {
          uri: null,
          note: `No redirect URI: ${preset.name} then shows the code on its page, and you paste it into Latchkey.`,
        };
      }
      return {
        uri: preset.pasteRedirectUri,
        note: 'The provider shows the code on its page, and you paste it into Latchkey.',
      };
  }
}

export const REDIRECT_MODE_LABELS: Record<RedirectMode, string> = {
  deep_link: `App link (app.latchkey:${CALLBACK_PATH}/…)`,
  loopback: `Loopback (http://127.0.0.1:…${CALLBACK_PATH}/…)`,
  paste: 'Paste the code',
};

export const REDIRECT_MODE_SHORT: Record<RedirectMode, string> = {
  deep_link: 'App link',
  loopback: 'Loopback',
  paste: 'Paste the code',
};
