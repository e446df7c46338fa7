import { fireEvent, render, screen, waitFor } from '@testing-library/svelte';
import { describe, expect, test, vi } from 'vitest';
import AppForm from '../src/components/AppForm.svelte';
import { app, fakeBackend, PRESETS } from './backend';

function el<T extends HTMLElement = HTMLInputElement>(id: string): T {
  const e = document.getElementById(id);
  if (!e) throw new Error(`#${id} missing`);
  return e as T;
}

async function setValue(id: string, value: string) {
  const e = el(id);
  if (e instanceof HTMLSelectElement) await fireEvent.change(e, { target: { value } });
  else await fireEvent.input(e, { target: { value } });
}

function redirectUri(): string {
  return el('app-redirect-uri').value;
}

describe('provider app form', () => {
  test('missing client id and secret are reported inline; nothing is saved', async () => {
    const be = fakeBackend();
    render(AppForm, { props: { presets: PRESETS, onsaved: vi.fn(), oncancel: vi.fn() } });
    expect(el('app-name').value).toBe('Rememberizer');
    expect(el('app-scopes').value).toBe('read offline_access');
    await fireEvent.click(screen.getByRole('button', { name: 'Save' }));
    expect(await screen.findByText('Enter the client id the provider gave you.')).toBeTruthy();
    expect(screen.getByText('Enter the client secret the provider gave you.')).toBeTruthy();
    expect(el('app-client-id').getAttribute('aria-invalid')).toBe('true');
    expect(be.callsOf('save_app')).toHaveLength(0);
  });

  test('Fusio requires a base URL and rejects plain http to a remote host', async () => {
    const be = fakeBackend();
    const onsaved = vi.fn();
    be.on('save_app', (a) => app({ ...(a.input as object), id: 'new-id' }));
    render(AppForm, { props: { presets: PRESETS, onsaved, oncancel: vi.fn() } });
    await setValue('app-preset', 'fusio');
    expect(el('app-name').value).toBe('Fusio');
    expect(el('app-scopes').value).toBe('consumer');
    await setValue('app-client-id', 'fusio-client');
    await setValue('app-client-secret', 's3cret');

    await fireEvent.click(screen.getByRole('button', { name: 'Save' }));
    expect(await screen.findByText('Enter the address of your Fusio server.')).toBeTruthy();

    await setValue('app-base-url', 'http://fusio.example.com');
    expect(await screen.findByText(/plain http:\/\/ is only allowed for 127\.0\.0\.1 or localhost/)).toBeTruthy();
    await fireEvent.click(screen.getByRole('button', { name: 'Save' }));
    expect(be.callsOf('save_app')).toHaveLength(0);

    await setValue('app-base-url', 'http://127.0.0.1:8080');
    await fireEvent.click(screen.getByRole('button', { name: 'Save' }));
    await waitFor(() => expect(onsaved).toHaveBeenCalled());
    expect(be.callsOf('save_app')).toEqual([
      {
        input: {
          preset: 'fusio',
          name: 'Fusio',
          baseUrl: 'http://127.0.0.1:8080',
          clientId: 'fusio-client',
          clientSecret: 's3cret',
          scopes: 'consumer',
          redirectMode: 'loopback',
          callbackId: expect.stringMatching(/^[0-9a-f]{8}$/),
          authorizeUrl: null,
          tokenUrl: null,
          revocationUrl: null,
          userinfoUrl: null,
          deviceAuthorizationUrl: null,
          authMethod: null,
          loopbackPort: null,
        },
      },
    ]);
  });

  test('redirect URI and redirect modes follow the preset', async () => {
    fakeBackend();
    render(AppForm, { props: { presets: PRESETS, onsaved: vi.fn(), oncancel: vi.fn() } });
    // Rememberizer: app link by default, only its own modes offered; a new app gets its own
    // callback path, shown before saving.
    expect(redirectUri()).toMatch(/^app\.latchkey:\/oauth\/callback\/[0-9a-f]{8}$/);
    const id = redirectUri().split('/').pop();
    const modes = () =>
      Array.from(el<HTMLSelectElement>('app-redirect-mode').options).map((o) => o.textContent?.trim());
    expect(modes()).toEqual([
      'App link (app.latchkey:/oauth/callback/…)',
      'Loopback (http://127.0.0.1:…/oauth/callback/…)',
    ]);
    await setValue('app-redirect-mode', 'loopback');
    expect(redirectUri()).toBe(`http://127.0.0.1/oauth/callback/${id}`);
    expect(screen.getByText(/Any port/)).toBeTruthy();

    await setValue('app-preset', 'textmaster');
    await setValue('app-redirect-mode', 'paste');
    expect(redirectUri()).toBe('urn:ietf:wg:oauth:2.0:oob');

    await setValue('app-preset', 'fusio');
    expect(modes()).toEqual(['Loopback (http://127.0.0.1:…/oauth/callback/…)', 'Paste the code']);
    await setValue('app-redirect-mode', 'paste');
    expect(document.getElementById('app-redirect-uri')).toBeNull();
    expect(screen.getByTestId('redirect-note').textContent).toMatch(/No redirect URI/);
  });

  test('generic shows optional endpoint URLs and validates them', async () => {
    const be = fakeBackend();
    render(AppForm, { props: { presets: PRESETS, onsaved: vi.fn(), oncancel: vi.fn() } });
    await setValue('app-preset', 'generic');
    expect(screen.getByText(/what the server publishes/)).toBeTruthy();
    await setValue('app-base-url', 'https://auth.example.com');
    await setValue('app-client-id', 'c');
    await setValue('app-token-url', 'http://auth.example.com/token');
    await fireEvent.click(screen.getByRole('button', { name: 'Save' }));
    expect(await screen.findByText(/plain http:\/\//)).toBeTruthy();
    expect(be.callsOf('save_app')).toHaveLength(0);
  });

  test('editing keeps the stored secret when left empty and shows server errors', async () => {
    const be = fakeBackend();
    be.on('save_app', () => {
      throw { code: 'invalid_input', message: 'The scopes contain a character that is not allowed.' };
    });
    render(AppForm, {
      props: { presets: PRESETS, app: app({ baseUrl: 'https://staging.rememberizer.ai' }), onsaved: vi.fn(), oncancel: vi.fn() },
    });
    expect(screen.getByText('Leave empty to keep the stored secret.')).toBeTruthy();
    expect(el('app-base-url').value).toBe('https://staging.rememberizer.ai');
    expect(el<HTMLSelectElement>('app-preset').disabled).toBe(true);
    // An app saved before apps had their own path keeps the shared one.
    expect(redirectUri()).toBe('app.latchkey:/oauth/callback');
    await fireEvent.click(screen.getByRole('button', { name: 'Save' }));
    expect(await screen.findByText('The scopes contain a character that is not allowed.')).toBeTruthy();
    expect(screen.getByText('The provider app was not saved.')).toBeTruthy();
    const input = be.callsOf('save_app')[0].input as Record<string, unknown>;
    expect(input.id).toBe('app-1');
    expect(input.clientSecret).toBeNull();
    expect(input.callbackId).toBeUndefined();
  });

  test('editing shows the app its own registered address', async () => {
    fakeBackend();
    render(AppForm, {
      props: { presets: PRESETS, app: app({ callbackId: '7c1e0b2a' }), onsaved: vi.fn(), oncancel: vi.fn() },
    });
    expect(redirectUri()).toBe('app.latchkey:/oauth/callback/7c1e0b2a');
  });

  test('generic: the endpoints can stand in for the server address; the client authentication is a choice', async () => {
    const be = fakeBackend();
    const onsaved = vi.fn();
    be.on('save_app', (a) => app({ ...(a.input as object), id: 'new-id' }));
    render(AppForm, { props: { presets: PRESETS, onsaved, oncancel: vi.fn() } });
    await setValue('app-preset', 'generic');
    await setValue('app-client-id', 'c');
    await fireEvent.click(screen.getByRole('button', { name: 'Save' }));
    expect(await screen.findByText(/or its authorization and token endpoints below/)).toBeTruthy();
    await setValue('app-authorize-url', 'https://id.example.com/authorize');
    await setValue('app-token-url', 'https://id.example.com/token');
    await setValue('app-device-url', 'http://id.example.com/device');
    await fireEvent.click(screen.getByRole('button', { name: 'Save' }));
    expect(el('app-device-url').getAttribute('aria-invalid')).toBe('true');
    await setValue('app-device-url', '');
    await setValue('app-auth-method', 'client_secret_basic');
    await fireEvent.click(screen.getByRole('button', { name: 'Save' }));
    await waitFor(() => expect(onsaved).toHaveBeenCalled());
    const input = be.callsOf('save_app')[0].input as Record<string, unknown>;
    expect(input.baseUrl).toBeNull();
    expect(input.authorizeUrl).toBe('https://id.example.com/authorize');
    expect(input.tokenUrl).toBe('https://id.example.com/token');
    expect(input.authMethod).toBe('client_secret_basic');
    expect(input.deviceAuthorizationUrl).toBeNull();
  });

  test('every preset can override its endpoints (Advanced)', async () => {
    const be = fakeBackend();
    const onsaved = vi.fn();
    be.on('save_app', (a) => app({ ...(a.input as object), id: 'new-id' }));
    render(AppForm, { props: { presets: PRESETS, onsaved, oncancel: vi.fn() } });
    await setValue('app-preset', 'textmaster');
    await setValue('app-client-id', 'c');
    await setValue('app-client-secret', 's');
    await setValue('app-base-url', 'https://app.staging.example');
    await setValue('app-token-url', 'https://auth.staging.example/oauth/token');
    await setValue('app-userinfo-url', 'not a url');
    await fireEvent.click(screen.getByRole('button', { name: 'Save' }));
    expect(el('app-userinfo-url').getAttribute('aria-invalid')).toBe('true');
    expect(be.callsOf('save_app')).toHaveLength(0);
    await setValue('app-userinfo-url', 'https://api.staging.example/v1/clients/users/me');
    await fireEvent.click(screen.getByRole('button', { name: 'Save' }));
    await waitFor(() => expect(onsaved).toHaveBeenCalled());
    const input = be.callsOf('save_app')[0].input as Record<string, unknown>;
    expect(input.tokenUrl).toBe('https://auth.staging.example/oauth/token');
    expect(input.userinfoUrl).toBe('https://api.staging.example/v1/clients/users/me');
    expect(input.authorizeUrl).toBeNull();
  });

  test('a fixed loopback port is picked once, shown in the exact URI and checked', async () => {
    const be = fakeBackend();
    const onsaved = vi.fn();
    be.on('save_app', (a) => app({ ...(a.input as object), id: 'new-id' }));
    render(AppForm, { props: { presets: PRESETS, onsaved, oncancel: vi.fn() } });
    await setValue('app-redirect-mode', 'loopback');
    expect(redirectUri()).toMatch(/^http:\/\/127\.0\.0\.1\/oauth\/callback\/[0-9a-f]{8}$/);
    expect(screen.getByText(/bare “403 Forbidden” page/)).toBeTruthy();
    await fireEvent.click(screen.getByTestId('fixed-port'));
    const picked = Number(el('app-loopback-port').value);
    expect(picked).toBeGreaterThanOrEqual(49152);
    expect(redirectUri()).toMatch(new RegExp(`^http://127\\.0\\.0\\.1:${picked}/oauth/callback/[0-9a-f]{8}$`));
    await setValue('app-loopback-port', '80');
    await setValue('app-client-id', 'c');
    await setValue('app-client-secret', 's');
    await fireEvent.click(screen.getByRole('button', { name: 'Save' }));
    expect(await screen.findByText('Choose a port from 1024 to 65535.')).toBeTruthy();
    await setValue('app-loopback-port', '48123');
    expect(redirectUri()).toMatch(/^http:\/\/127\.0\.0\.1:48123\/oauth\/callback\//);
    await fireEvent.click(screen.getByRole('button', { name: 'Save' }));
    await waitFor(() => expect(onsaved).toHaveBeenCalled());
    expect((be.callsOf('save_app')[0].input as Record<string, unknown>).loopbackPort).toBe(48123);
  });

  test('discovery shows the server’s default scopes before the app is saved', async () => {
    const be = fakeBackend();
    be.on('discover_provider', () => ({
      found: true,
      issuer: 'https://id.example.com',
      authorizeUrl: 'https://id.example.com/authorize',
      tokenUrl: 'https://id.example.com/token',
      revocationUrl: null,
      userinfoUrl: 'https://id.example.com/userinfo',
      deviceAuthorizationUrl: 'https://id.example.com/device',
      authMethod: 'client_secret_basic',
      defaultScopes: 'openid profile email offline_access',
      scopesSupported: ['openid', 'profile', 'email', 'offline_access', 'admin'],
    }));
    render(AppForm, { props: { presets: PRESETS, onsaved: vi.fn(), oncancel: vi.fn() } });
    await setValue('app-preset', 'generic');
    expect(el('app-scopes').value).toBe('');
    const base = el('app-base-url');
    await fireEvent.input(base, { target: { value: 'https://id.example.com' } });
    await fireEvent.change(base);
    await waitFor(() => expect(el('app-scopes').value).toBe('openid profile email offline_access'));
    expect(be.callsOf('discover_provider')).toEqual([{ preset: 'generic', baseUrl: 'https://id.example.com' }]);
    expect(screen.getByTestId('discovery-found').textContent).toContain('https://id.example.com');
    expect(el('app-token-url').placeholder).toBe('https://id.example.com/token');
    expect(el('app-device-url').placeholder).toBe('https://id.example.com/device');
    expect(el<HTMLSelectElement>('app-auth-method').options[0].textContent).toContain('from the server’s metadata');
  });
});
