import { fireEvent, render, screen, waitFor, within } from '@testing-library/svelte';
import { describe, expect, test } from 'vitest';
import App from '../src/App.svelte';
import { app, connection, fakeBackend, NOW } from './backend';

function openRow(id: string) {
  const row = Array.from(document.querySelectorAll<HTMLElement>('.connection-row')).find(
    (r) => r.dataset.connectionId === id,
  )!;
  return fireEvent.click(row.querySelector('button')!);
}

describe('connection detail', () => {
  test('shows profile, scopes, mementos, refresh log; Refresh now calls the backend', async () => {
    const c = connection({ lastVerifiedAt: NOW() - 120 });
    const be = fakeBackend({ apps: [app({ connectionCount: 1 })], connections: [c] });
    be.on('connection_detail', () => ({
      connection: c,
      profile: { id: '42', name: 'Alice Example', email: 'alice@example.com', extra: { plan: 'pro' } },
      profileError: null,
      mementos: [{ id: 'm1', name: 'Research', description: 'Papers', documentsCount: 12 }],
      grants: null,
      extrasError: null,
      manageUrl: 'https://rememberizer.ai/apps',
      refreshLog: [
        { at: NOW() - 7200, ok: true, message: null },
        { at: NOW() - 3600, ok: false, message: 'network: timed out' },
      ],
      scopeLabels: {},
    }));
    be.on('refresh_now', () => c);
    render(App);
    await waitFor(() => expect(document.querySelectorAll('.connection-row')).toHaveLength(1));
    await openRow('c-1');

    expect(await screen.findByText('Research')).toBeTruthy();
    expect(screen.getByRole('heading', { name: 'Alice Example' })).toBeTruthy();
    expect(screen.getByText('pro')).toBeTruthy();
    expect(screen.getByText(/12 documents/)).toBeTruthy();
    expect(screen.getByText('requested, not granted')).toBeTruthy();
    expect(screen.getByRole('img', { name: '2 recent refreshes, 1 failed' })).toBeTruthy();
    expect(screen.getByText(/Failed: network: timed out/)).toBeTruthy();
    expect(screen.getByText('Last verified').nextElementSibling?.textContent).toMatch(/^2 min ago/);

    await fireEvent.click(screen.getByRole('button', { name: 'Manage at provider' }));
    expect(be.callsOf('open_external')).toEqual([{ url: 'https://rememberizer.ai/apps' }]);

    await fireEvent.click(screen.getByRole('button', { name: 'Refresh now' }));
    await waitFor(() => expect(be.callsOf('refresh_now')).toEqual([{ id: 'c-1' }]));
  });

  test('Fusio grants can be revoked; needs_reconnect errors offer Reconnect', async () => {
    const c = connection({ preset: 'fusio', appName: 'Work Fusio' });
    const be = fakeBackend({ apps: [app({ preset: 'fusio' })], connections: [c] });
    let grants = [{ id: 'g1', appName: 'Reporting', appUrl: 'https://reports.example.com', createdAt: '2024-05-01T10:00:00Z' }];
    be.on('connection_detail', () => ({
      connection: c,
      profile: null,
      profileError: { code: 'needs_reconnect', message: 'Refresh token is expired' },
      mementos: null,
      grants,
      extrasError: null,
      manageUrl: null,
      refreshLog: [],
      scopeLabels: {},
    }));
    be.on('revoke_grant', () => {
      grants = [];
      return null;
    });
    render(App);
    await waitFor(() => expect(document.querySelectorAll('.connection-row')).toHaveLength(1));
    await openRow('c-1');
    expect(await screen.findByText('Reporting')).toBeTruthy();
    expect(screen.getByText('Refresh token is expired')).toBeTruthy();
    expect(screen.getAllByRole('button', { name: 'Reconnect' }).length).toBeGreaterThanOrEqual(2);
    expect(screen.getByText('No refreshes yet.')).toBeTruthy();

    await fireEvent.click(screen.getByRole('button', { name: 'Revoke at Work Fusio: Reporting' }));
    const dialog = await screen.findByRole('dialog');
    await fireEvent.click(within(dialog).getByRole('button', { name: 'Revoke' }));
    await waitFor(() => expect(be.callsOf('revoke_grant')).toEqual([{ connectionId: 'c-1', grantId: 'g1' }]));
    expect(await screen.findByText('No app grants.')).toBeTruthy();
  });
});

describe('settings', () => {
  test('removing an app with connections asks whether to revoke them', async () => {
    const be = fakeBackend({ apps: [app({ connectionCount: 2 })], connections: [connection()] });
    be.on('remove_app', () => null);
    render(App);
    await waitFor(() => expect(document.body.dataset.ready).toBe('1'));
    await fireEvent.click(screen.getByRole('button', { name: 'Settings' }));
    expect(await screen.findByText('/home/alice/.local/share/latchkey')).toBeTruthy();
    await fireEvent.click(screen.getByRole('button', { name: 'Remove My Rememberizer' }));
    const dialog = await screen.findByRole('dialog');
    expect(within(dialog).getByText(/2 accounts are/)).toBeTruthy();
    await fireEvent.click(within(dialog).getByRole('button', { name: 'Keep them' }));
    await waitFor(() => expect(be.callsOf('remove_app')).toEqual([{ id: 'app-1', revokeConnections: false }]));
  });

  test('refresh margin below 60 is refused; a valid one is saved', async () => {
    const be = fakeBackend();
    render(App);
    await waitFor(() => expect(document.body.dataset.ready).toBe('1'));
    await fireEvent.click(screen.getByRole('button', { name: 'Settings' }));
    const input = (await screen.findByLabelText(/seconds before a token expires/)) as HTMLInputElement;
    expect(input.value).toBe('300');
    await fireEvent.input(input, { target: { value: '30' } });
    await fireEvent.change(input);
    expect(await screen.findByText(/at least 60/)).toBeTruthy();
    expect(be.callsOf('save_settings')).toHaveLength(0);
    await fireEvent.input(input, { target: { value: '600' } });
    await fireEvent.change(input);
    await waitFor(() =>
      expect(be.callsOf('save_settings')).toEqual([
        { settings: { refreshMarginSecs: 600, notifications: true, autostartAgent: true, refreshAtLeastEveryDays: 7 } },
      ]),
    );
  });
});
