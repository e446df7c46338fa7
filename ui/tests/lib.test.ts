import { mockIPC } from '@tauri-apps/api/mocks';
import { describe, expect, test } from 'vitest';
import * as api from '../src/lib/api';
import { ago, countdown, duration, expiryText, nextChange, relative } from '../src/lib/format';
import { redirectUriFor } from '../src/lib/redirect';
import { checkUrl } from '../src/lib/validate';
import { PRESETS } from './backend';

describe('api error normalisation', () => {
  test('keeps a backend {code, message}', () => {
    expect(api.normaliseError({ code: 'network', message: 'timed out' })).toEqual({
      code: 'network',
      message: 'timed out',
    });
  });

  test('anything else becomes internal', () => {
    expect(api.normaliseError('boom')).toEqual({ code: 'internal', message: 'boom' });
    expect(api.normaliseError(new Error('x'))).toEqual({ code: 'internal', message: 'Error: x' });
    expect(api.normaliseError(null)).toEqual({ code: 'internal', message: 'null' });
    expect(api.normaliseError({ code: 7, message: 'm' })).toEqual({
      code: 'internal',
      message: '[object Object]',
    });
  });

  test('an unknown code string keeps the message but becomes internal', () => {
    expect(api.normaliseError({ code: 'weird', message: 'm' })).toEqual({ code: 'internal', message: 'm' });
  });

  test('wrappers reject with normalised errors and pass camelCase args', async () => {
    const seen: unknown[] = [];
    mockIPC((cmd, args) => {
      seen.push([cmd, args]);
      if (cmd === 'refresh_now') throw { code: 'needs_reconnect', message: 'invalid_grant' };
      if (cmd === 'list_apps') throw 'plain string';
      if (cmd === 'revoke_connection') return { revokedAtProvider: true, pending: false, message: 'ok', manageUrl: null };
    });
    await expect(api.refreshNow('c1')).rejects.toEqual({ code: 'needs_reconnect', message: 'invalid_grant' });
    await expect(api.listApps()).rejects.toEqual({ code: 'internal', message: 'plain string' });
    await api.revokeConnection('c1', true);
    await api.startConnect('a1');
    expect(seen).toContainEqual(['revoke_connection', { id: 'c1', localOnly: true }]);
    expect(seen).toContainEqual(['start_connect', { appId: 'a1', connectionId: null }]);
  });
});

describe('redirect URIs', () => {
  test('per preset and mode', () => {
    const [rememberizer, fusio, generic, textmaster] = ['rememberizer', 'fusio', 'generic', 'textmaster'].map(
      (id) => PRESETS.find((p) => p.id === id)!,
    );
    expect(redirectUriFor(rememberizer, 'deep_link').uri).toBe('app.latchkey:/oauth/callback');
    expect(redirectUriFor(fusio, 'loopback').uri).toBe('http://127.0.0.1/oauth/callback');
    expect(redirectUriFor(generic, 'deep_link', 'ab12cd34').uri).toBe('app.latchkey:/oauth/callback/ab12cd34');
    expect(redirectUriFor(fusio, 'loopback', 'ab12cd34').uri).toBe('http://127.0.0.1/oauth/callback/ab12cd34');
    // The paste-mode URI comes from the preset table: Fusio sends none.
    expect(redirectUriFor(fusio, 'paste').uri).toBeNull();
    expect(redirectUriFor(generic, 'paste').uri).toBe('urn:ietf:wg:oauth:2.0:oob');
    expect(redirectUriFor(textmaster, 'paste', 'ab12cd34').uri).toBe('urn:ietf:wg:oauth:2.0:oob');
    expect(redirectUriFor(fusio, 'loopback').note).toMatch(/any port/i);
    expect(redirectUriFor(textmaster, 'paste').uri).toBe('urn:ietf:wg:oauth:2.0:oob');
    expect(redirectUriFor(fusio, 'paste').uri).toBeNull();
    expect(redirectUriFor(fusio, 'paste').note).toMatch(/no redirect uri/i);
  });
});

describe('URL validation', () => {
  test('https and loopback http only', () => {
    expect(checkUrl('https://fusio.example.com')).toBeNull();
    expect(checkUrl('http://127.0.0.1:8080')).toBeNull();
    expect(checkUrl('http://localhost:3000/x')).toBeNull();
    expect(checkUrl('http://fusio.example.com')).toMatch(/https/);
    expect(checkUrl('ftp://x.example')).toMatch(/https/);
    expect(checkUrl('fusio.example.com')).toMatch(/full address/);
  });
});

describe('formatting', () => {
  test('durations and expiry', () => {
    expect(duration(3 * 3600 + 30)).toBe('3 h');
    expect(duration(90)).toBe('1 min');
    expect(duration(3 * 86400)).toBe('3 days');
    expect(expiryText(1000 + 3 * 3600, 1000)).toBe('expires in 3 h');
    expect(expiryText(1000 - 120, 1000)).toBe('expired 2 min ago');
    expect(expiryText(null, 1000)).toBe('no expiry given');
    expect(countdown(599)).toBe('9:59');
  });

  test('a time that has come is past', () => {
    expect(relative(1000, 1000)).toBe('less than a minute ago');
    expect(expiryText(1000, 1000)).toBe('expired less than a minute ago');
    expect(expiryText(1001, 1000)).toBe('expires in less than a minute');
  });

  test('nextChange is the first second at which a relative text reads differently', () => {
    // Offsets on every side of each step: seconds, minutes, the 10 h and 48 h bounds, days.
    const offsets = [1, 30, 59, 60, 61, 119, 125, 3599, 3600, 3900, 35999, 36000, 36001, 40000, 172799, 172800, 180000, 500000];
    const texts = [expiryText, relative, ago];
    for (const o of [...offsets, 0, ...offsets.map((x) => -x)]) {
      const now = 1_700_000_000;
      const ts = now + o;
      const next = nextChange(ts, now);
      expect(next, `offset ${o}`).toBeGreaterThan(now);
      // Nothing changes before it, so no text is ever late; relative() changes at it (between
      // 1 and 10 h the minutes are left out below 5 — "3 h" — so there it may come early).
      for (const f of texts) expect(f(ts, next - 1), `offset ${o}`).toBe(f(ts, now));
      if (Math.abs(o) < 3600 || Math.abs(o) >= 10 * 3600) {
        expect(relative(ts, next), `offset ${o}`).not.toBe(relative(ts, next - 1));
      }
    }
  });
});
