// Issue #15: the window tells the truth — hints follow the actual error, the revoke
// confirmation says what will happen at this provider before the click, provider apps are told
// apart by their server, recoveries are news, and the theme can be chosen.
import { fireEvent, render, screen, waitFor, within } from '@testing-library/svelte';
import { describe, expect, test } from 'vitest';
import App from '../src/App.svelte';
import ErrorBox from '../src/components/ErrorBox.svelte';
import { normaliseError } from '../src/lib/api';
import type { ApiError, Connection } from '../src/lib/types';
import { app, connection, fakeBackend, NOW } from './backend';

function rows() {
  return Array.from(document.querySelectorAll<HTMLElement>('.connection-row'));
}

describe('error hints follow the actual error', () => {
  const box = (e: ApiError) => {
    const { container, unmount } = render(ErrorBox, { error: e });
    const text = container.textContent ?? '';
    unmount();
    return text;
  };
  const rejected = (reason: ApiError['reason']): ApiError => ({
    code: 'provider_rejected',
    message: 'The provider said no',
    reason,
  });

  test('a declined consent says try again when ready, never check the credentials', () => {
    const t = box(rejected('access_denied'));
    expect(t).toMatch(/You declined access at the provider/);
    expect(t).toMatch(/Try again when you are ready/);
    expect(t).not.toMatch(/client id|secret/);
  });

  test('each OAuth error has its own advice', () => {
    expect(box(rejected('invalid_scope'))).toMatch(/scopes/);
    expect(box(rejected('client_rejected'))).toMatch(/client id and secret/);
    const later = box({ code: 'network', message: 'timed out', reason: 'provider_unavailable' });
    expect(later).toMatch(/Nothing was lost/);
    expect(later).toMatch(/try again in a few minutes/i);
    expect(box({ code: 'network', message: 'dns', reason: 'unreachable' })).toMatch(/internet connection/);
    const locked = box({ code: 'keychain_unavailable', message: 'locked', reason: 'keychain_locked' });
    expect(locked).toMatch(/Your keychain is locked/);
    expect(locked).toMatch(/Nothing was lost/);
    // No reason: the code's own hint, which no longer blames the credentials for everything.
    expect(box({ code: 'provider_rejected', message: 'x' })).not.toMatch(/client id/);
  });

  test('the reason survives the IPC boundary; an unknown one is dropped', () => {
    expect(normaliseError({ code: 'provider_rejected', message: 'm', reason: 'access_denied' }).reason).toBe(
      'access_denied',
    );
    expect(normaliseError({ code: 'provider_rejected', message: 'm', reason: 'made_up' }).reason).toBeUndefined();
  });

  test('a sign-in declined at the provider is reported as declined in the connect dialog', async () => {
    const be = fakeBackend({ apps: [app()] });
    be.on('start_connect', () => ({
      flowId: 'flow-1',
      authorizeUrl: 'https://example.com/auth',
      mode: 'deep_link',
      redirectUri: null,
      expiresAt: NOW() + 600,
    }));
    render(App);
    await screen.findByText('Connect an account to get started.');
    await fireEvent.click(screen.getByRole('button', { name: 'Connect account' }));
    await fireEvent.click(await screen.findByRole('button', { name: 'Continue' }));
    await screen.findByText('Waiting for your browser…');
    await be.emit({ kind: 'connectFinished', payload: {
      flowId: 'flow-1',
      ok: false,
      error: {
        code: 'provider_rejected',
        message: 'You declined the request at the provider (access_denied)',
        reason: 'access_denied',
      },
    } });
    const dialog = await screen.findByRole('dialog');
    expect(await within(dialog).findByText(/Try again when you are ready/)).toBeTruthy();
    expect(within(dialog).queryByText(/client id/)).toBeNull();
  });
});

describe('the revoke confirmation says what will happen at this provider', () => {
  async function openRevoke(c: Connection) {
    const be = fakeBackend({ apps: [app({ connectionCount: 1 })], connections: [c] });
    be.on('revoke_connection', () => ({
      revokedAtProvider: false,
      pending: false,
      message: 'Removed here.',
      manageUrl: c.manageUrl ?? null,
    }));
    render(App);
    await waitFor(() => expect(rows()).toHaveLength(1));
    await fireEvent.click(screen.getByRole('button', { name: 'Settings' }));
    await fireEvent.click(await screen.findByRole('button', { name: /^Revoke Alice/ }));
    return { be, dialog: await screen.findByRole('dialog') };
  }

  test('cannot: removal here only, the provider page offered before the click', async () => {
    const { be, dialog } = await openRevoke(
      connection({ revocation: 'cannot', manageUrl: 'https://rememberizer.ai/apps', appName: 'Rememberizer' }),
    );
    expect(within(dialog).getByRole('heading', { name: 'Remove Alice Example?' })).toBeTruthy();
    expect(within(dialog).getByText(/offers apps no way to revoke/)).toBeTruthy();
    expect(within(dialog).queryByText(/asks Rememberizer/)).toBeNull();
    await fireEvent.click(within(dialog).getByRole('button', { name: 'Open Rememberizer’s page' }));
    expect(be.callsOf('open_external')).toEqual([{ url: 'https://rememberizer.ai/apps' }]);
    expect(be.callsOf('revoke_connection')).toHaveLength(0);
    await fireEvent.click(within(dialog).getByRole('button', { name: 'Remove from Latchkey' }));
    await waitFor(() => expect(be.callsOf('revoke_connection')).toEqual([{ id: 'c-1', localOnly: false }]));
  });

  test('cannot, at a server whose page Latchkey does not know: it names the server, offers no link', async () => {
    const { dialog } = await openRevoke(
      connection({ revocation: 'cannot', manageUrl: null, server: 'api.staging.example' }),
    );
    expect(within(dialog).getByText(/connected apps at api\.staging\.example/)).toBeTruthy();
    expect(within(dialog).queryByRole('button', { name: /page/ })).toBeNull();
  });

  test('revokes: the provider revokes; no hedging', async () => {
    const { dialog } = await openRevoke(connection({ revocation: 'revokes', appName: 'Work Fusio' }));
    expect(within(dialog).getByText(/asks Work Fusio to revoke this sign-in/)).toBeTruthy();
    expect(within(dialog).queryByText(/may not be offered|no way/)).toBeNull();
    expect(within(dialog).getByRole('button', { name: 'Revoke' })).toBeTruthy();
  });

  test('tries: says honestly that it may not be offered', async () => {
    const { dialog } = await openRevoke(
      connection({ revocation: 'tries', appName: 'TextMaster', manageUrl: 'https://tm.example/apps' }),
    );
    expect(within(dialog).getByText(/may not be offered/)).toBeTruthy();
    expect(within(dialog).getByRole('button', { name: 'Revoke' })).toBeTruthy();
    expect(within(dialog).getByRole('button', { name: 'Open TextMaster’s page' })).toBeTruthy();
  });
});

describe('provider apps are told apart', () => {
  test('the picker shows each app’s server and never repeats the name', async () => {
    fakeBackend({
      apps: [
        app({ id: 'prod', name: 'Rememberizer', server: 'api.rememberizer.ai' }),
        app({ id: 'stage', name: 'Rememberizer', server: 'api.staging.example:8443' }),
      ],
    });
    render(App);
    await screen.findByText('Connect an account to get started.');
    await fireEvent.click(screen.getByRole('button', { name: 'Connect account' }));
    const dialog = await screen.findByRole('dialog');
    const subs = Array.from(dialog.querySelectorAll('.app-sub')).map((e) => e.textContent?.trim());
    expect(subs).toEqual(['api.rememberizer.ai · App link', 'api.staging.example:8443 · App link']);
    expect(dialog.textContent).not.toMatch(/Rememberizer · Rememberizer/);
  });

  test('a custom name keeps the preset beside it', async () => {
    fakeBackend({ apps: [app({ name: 'Work notes', server: '127.0.0.1:4000' })] });
    render(App);
    await screen.findByText('Connect an account to get started.');
    await fireEvent.click(screen.getByRole('button', { name: 'Connect account' }));
    const dialog = await screen.findByRole('dialog');
    expect(dialog.querySelector('.app-sub')?.textContent?.trim()).toBe('Rememberizer · 127.0.0.1:4000 · App link');
  });
});

describe('recovery is news too', () => {
  test('a connection that needed reconnecting, or waited for the keychain, says when it works again', async () => {
    const be = fakeBackend({
      apps: [app()],
      connections: [
        connection({ status: 'needs_reconnect', lastError: 'invalid_grant' }),
        connection({ id: 'c-2', name: 'Bob', email: 'bob@example.com', status: 'waiting_to_save' }),
        connection({ id: 'c-3', name: 'Carol', email: 'carol@example.com' }),
      ],
    });
    render(App);
    await waitFor(() => expect(rows()).toHaveLength(3));
    expect(document.querySelector('.notice')).toBeNull();
    // Bob passes through Refreshing on the way.
    be.state.connections = be.state.connections.map((c) => (c.id === 'c-2' ? { ...c, status: 'refreshing' } : c));
    await be.emit({ kind: 'connectionsChanged' });
    await waitFor(() => expect(screen.getByText('Refreshing')).toBeTruthy());
    be.state.connections = be.state.connections.map((c) => ({ ...c, status: 'connected', lastError: null }));
    await be.emit({ kind: 'connectionsChanged' });
    expect(await screen.findByText('Alice Example works again.')).toBeTruthy();
    expect(screen.getByText(/Bob works again: the keychain is unlocked/)).toBeTruthy();
    expect(screen.queryByText(/Carol works again/)).toBeNull();
    // Said once.
    await be.emit({ kind: 'connectionsChanged' });
    await waitFor(() => expect(document.querySelectorAll('.notice')).toHaveLength(2));
  });
});

describe('theme', () => {
  test('Settings → Theme: dark and light override the system; system follows it again', async () => {
    fakeBackend();
    render(App);
    await waitFor(() => expect(document.body.dataset.ready).toBe('1'));
    await fireEvent.click(screen.getByRole('button', { name: 'Settings' }));
    const select = (await screen.findByLabelText('Theme')) as HTMLSelectElement;
    expect(select.value).toBe('system');
    await fireEvent.change(select, { target: { value: 'dark' } });
    expect(document.documentElement.dataset.theme).toBe('dark');
    expect(localStorage.getItem('latchkey.theme')).toBe('dark');
    await fireEvent.change(select, { target: { value: 'system' } });
    expect(document.documentElement.dataset.theme).toBeUndefined();
    expect(localStorage.getItem('latchkey.theme')).toBeNull();
  });
});

describe('a detail whose connection is gone', () => {
  test('says it is no longer in Latchkey, not that something failed', async () => {
    const c = connection();
    const be = fakeBackend({ apps: [app({ connectionCount: 1 })], connections: [c] });
    be.on('connection_detail', () => {
      throw { code: 'not_found', message: 'no connection "c-1"' };
    });
    render(App);
    await waitFor(() => expect(rows()).toHaveLength(1));
    await fireEvent.click(rows()[0].querySelector('button')!);
    expect(await screen.findByText('This connection is no longer in Latchkey.')).toBeTruthy();
    expect(screen.queryByText('Details could not be loaded.')).toBeNull();
  });
});
