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
    expect(el('app-scopes').value).toBe('backend');
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
          scopes: 'backend',
          redirectMode: 'loopback',
          callbackId: expect.stringMatching(/^[0-9a-f]{8}$/),
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
    expect(screen.getByText(/discovers them/)).toBeTruthy();
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
});
