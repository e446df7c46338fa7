import { fireEvent, render, screen, waitFor, within } from '@testing-library/svelte';
import { describe, expect, test, vi } from 'vitest';
import App from '../src/App.svelte';
import ConnectionList, { firstRows } from '../src/components/ConnectionList.svelte';
import { app, connection, fakeBackend, NOW } from './backend';

function rows() {
  return Array.from(document.querySelectorAll<HTMLElement>('.connection-row'));
}

describe('connections list', () => {
  test('a set waiting for a locked keychain and rejected app credentials each say so, with the fix', async () => {
    fakeBackend({
      apps: [app()],
      connections: [
        connection({ status: 'waiting_to_save', lastError: null }),
        connection({
          id: 'c-2',
          name: 'Bob',
          email: 'bob@example.com',
          appCredentialsRejected: 'The provider did not accept the client id or secret (invalid_client)',
        }),
      ],
    });
    render(App);
    await waitFor(() => expect(rows()).toHaveLength(2));
    const [alice, bob] = rows();
    expect(within(alice).getByText('Keychain locked — waiting to save')).toBeTruthy();
    expect(within(alice).getByText(/saved as soon as it is unlocked/)).toBeTruthy();
    expect(within(alice).queryByRole('button', { name: /Reconnect/ })).toBeNull();
    expect(within(bob).getByText(/rejected the app's credentials/)).toBeTruthy();
    expect(within(bob).getByText(/enter its client secret again/)).toBeTruthy();
    expect(within(bob).queryByRole('button', { name: /Reconnect/ })).toBeNull();
  });

  test('empty state explains Latchkey and offers Connect account', async () => {
    fakeBackend();
    render(App);
    expect(await screen.findByText(/keeps their sign-in tokens in your system keychain/)).toBeTruthy();
    expect(screen.getByText('Connect an account to get started.')).toBeTruthy();
    expect(screen.getByRole('button', { name: 'Connect account' })).toBeTruthy();
    expect(screen.getByRole('button', { name: 'Settings' })).toBeTruthy();
    await waitFor(() => expect(document.body.dataset.ready).toBe('1'));
  });

  test('rows show name, email, status badge and expiry; needs_reconnect offers Reconnect', async () => {
    fakeBackend({
      apps: [app()],
      connections: [
        connection(),
        connection({ id: 'c-2', name: 'Bob', email: 'bob@example.com', status: 'refreshing' }),
        connection({
          id: 'c-3',
          name: 'Carol',
          email: 'carol@example.com',
          status: 'needs_reconnect',
          lastError: 'The provider rejected the refresh token (invalid_grant).',
        }),
        connection({ id: 'c-4', name: 'Dan', email: null, status: 'revocation_pending' }),
      ],
    });
    render(App);
    await waitFor(() => expect(rows()).toHaveLength(4));
    expect(document.body.dataset.ready).toBe('1');
    const [alice, bob, carol, dan] = rows();
    expect(alice.dataset.connectionId).toBe('c-1');
    expect(within(alice).getByText('Alice Example')).toBeTruthy();
    expect(within(alice).getByText(/alice@example\.com/)).toBeTruthy();
    expect(within(alice).getByText('Connected')).toBeTruthy();
    expect(within(alice).getByText('expires in 3 h')).toBeTruthy();
    expect(within(bob).getByText('Refreshing')).toBeTruthy();
    expect(within(carol).getByText('Needs reconnect')).toBeTruthy();
    expect(within(carol).getByText(/invalid_grant/)).toBeTruthy();
    expect(within(carol).getByRole('button', { name: /Reconnect/ })).toBeTruthy();
    expect(within(alice).queryByRole('button', { name: /Reconnect/ })).toBeNull();
    expect(within(dan).getByText('Revocation pending')).toBeTruthy();
  });

  test('the first paint takes one round trip; provider apps and presets are asked for after it', async () => {
    const be = fakeBackend({ apps: [app()], connections: [connection()] });
    render(App);
    await waitFor(() => expect(be.callsOf('list_presets')).toHaveLength(1));
    const cmds = be.calls.map((c) => c.cmd);
    expect(cmds.slice(0, cmds.indexOf('ui_ready'))).toEqual(['initial_state']);
    expect(document.body.dataset.firstState).toBe('asked');
    expect(cmds).toContain('list_apps');
    expect(rows()).toHaveLength(1);
  });

  test('the state index.html asked for before the bundle ran is used, once, and not asked again', async () => {
    const be = fakeBackend({ apps: [app()], connections: [connection()] });
    const w = window as unknown as { __latchkeyFirst?: Promise<unknown> };
    w.__latchkeyFirst = Promise.resolve({
      connections: [connection({ id: 'c-early', name: 'Early Bird' })],
      error: null,
      health: null,
      notices: [],
    });
    render(App);
    await waitFor(() => expect(be.callsOf('ui_ready')).toHaveLength(1));
    const cmds = be.calls.map((c) => c.cmd);
    expect(cmds.slice(0, cmds.indexOf('ui_ready'))).toEqual([]);
    expect(w.__latchkeyFirst).toBeUndefined();
    expect(screen.getByText('Early Bird')).toBeTruthy();
    expect(document.body.dataset.firstState).toBe('early');
    // The list is read again once the window listens: the backend's list replaces it.
    await waitFor(() => expect(rows()[0].dataset.connectionId).toBe('c-1'));
  });

  test('a failed early round trip still ends in a painted window, and is not sent again', async () => {
    const be = fakeBackend({ apps: [app()], connections: [] });
    const w = window as unknown as { __latchkeyFirst?: Promise<unknown> };
    w.__latchkeyFirst = Promise.reject({ code: 'keychain', message: 'The keychain is locked.' });
    w.__latchkeyFirst.catch(() => {});
    render(App);
    await waitFor(() => expect(document.body.dataset.ready).toBe('1'));
    expect(w.__latchkeyFirst).toBeUndefined();
    expect(be.callsOf('initial_state')).toHaveLength(0);
  });

  test('a long list builds the rows a window shows first, and the rest right after', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    try {
      const many = Array.from({ length: 50 }, (_, i) => connection({ id: `c-${i}`, name: `User ${i}` }));
      render(ConnectionList, { props: { connections: many, onopen: () => {}, onreconnect: () => {} } });
      expect(rows()).toHaveLength(firstRows());
      expect(rows()[0].dataset.connectionId).toBe('c-0');
      await vi.advanceTimersByTimeAsync(0);
      expect(rows()).toHaveLength(50);
      expect(rows()[49].dataset.connectionId).toBe('c-49');
    } finally {
      vi.useRealTimers();
    }
  });

  test('connections-changed reloads the list', async () => {
    const be = fakeBackend();
    render(App);
    await screen.findByText('Connect an account to get started.');
    be.state.connections = [connection()];
    await be.emit({ kind: 'connectionsChanged' });
    await waitFor(() => expect(rows()).toHaveLength(1));
  });

  test('events come through one waiting call at a time, never through scripts the app runs in the page', async () => {
    const be = fakeBackend();
    render(App);
    await screen.findByText('Connect an account to get started.');
    await waitFor(() => expect(be.callsOf('next_events')).toHaveLength(1));
    be.state.connections = [connection()];
    await be.emit({ kind: 'connectionsChanged' });
    await be.emit({ kind: 'notice', payload: { level: 'info', message: 'Hello from the app' } });
    await screen.findByText('Hello from the app');
    await waitFor(() => expect(rows()).toHaveLength(1));
    // One call answered per event, and the next one waiting.
    expect(be.callsOf('next_events')).toHaveLength(3);
    expect(new Set(be.callsOf('next_events').map((a) => a.page)).size).toBe(1);
    expect(be.calls.filter((c) => c.cmd.startsWith('plugin:event'))).toEqual([]);
  });

  test('after the first paint the window listens, then takes the notices and the list that came meanwhile', async () => {
    const be = fakeBackend({ apps: [app()], connections: [connection()] });
    be.on('events_ready', () => {
      // A connection added and a notice queued between the first state and the subscriptions.
      be.state.connections = [connection(), connection({ id: 'c-2', name: 'Bob' })];
      return [{ level: 'info', message: 'Came in meanwhile' }];
    });
    render(App);
    await waitFor(() => expect(screen.getByText('Came in meanwhile')).toBeTruthy());
    await waitFor(() => expect(rows()).toHaveLength(2));
    const cmds = be.calls.map((c) => c.cmd);
    expect(cmds.indexOf('ui_ready')).toBeLessThan(cmds.indexOf('events_ready'));
    expect(cmds.indexOf('events_ready')).toBeLessThan(cmds.lastIndexOf('list_connections'));
  });

  test('a connection to show (an activated notification) opens its detail, even before the page listened', async () => {
    const be = fakeBackend({ apps: [app({ connectionCount: 1 })], connections: [connection()] });
    be.on('take_notices', () => [{ level: 'show', message: '', connectionId: 'c-1' }]);
    be.on('connection_detail', () => ({
      connection: connection(),
      profile: null,
      profileError: null,
      mementos: null,
      grants: null,
      extrasError: null,
      manageUrl: null,
      refreshLog: [],
      scopeLabels: {},
    }));
    render(App);
    expect(await screen.findByRole('heading', { name: 'Alice Example' })).toBeTruthy();
    expect(be.callsOf('connection_detail')).toEqual([{ id: 'c-1' }]);
    expect(screen.queryByRole('button', { name: 'Dismiss notice' })).toBeNull();
  });

  test('a notice event shows a dismissible banner', async () => {
    const be = fakeBackend();
    render(App);
    await screen.findByText('Connect an account to get started.');
    await be.emit({ kind: 'notice', payload: {
      level: 'info',
      message: 'No sign-in is in progress. Start one with Connect account.',
    } });
    const banner = await screen.findByText('No sign-in is in progress. Start one with Connect account.');
    expect(banner).toBeTruthy();
    await fireEvent.click(screen.getByRole('button', { name: 'Dismiss notice' }));
    await waitFor(() =>
      expect(screen.queryByText('No sign-in is in progress. Start one with Connect account.')).toBeNull(),
    );
  });
});

describe('connect flow', () => {
  test('pick app, wait for the browser, close on connect-finished and highlight the row', async () => {
    const be = fakeBackend({ apps: [app(), app({ id: 'app-2', name: 'Work Fusio', preset: 'fusio', redirectMode: 'loopback' })] });
    const expiresAt = NOW() + 600;
    be.on('start_connect', () => ({
      flowId: 'flow-1',
      authorizeUrl: 'https://api.rememberizer.ai/api/v1/auth/oauth2/authorize/?client_id=cid&state=s',
      mode: 'deep_link',
      redirectUri: 'app.latchkey:/oauth/callback',
      expiresAt,
    }));
    render(App);
    await screen.findByText('Connect an account to get started.');

    await fireEvent.click(screen.getByRole('button', { name: 'Connect account' }));
    const dialog = await screen.findByRole('dialog');
    expect(within(dialog).getByText('Work Fusio')).toBeTruthy();
    await fireEvent.click(within(dialog).getByRole('radio', { name: /Work Fusio/ }));
    await fireEvent.click(within(dialog).getByRole('button', { name: 'Continue' }));

    await screen.findByText('Waiting for your browser…');
    expect(be.callsOf('start_connect')).toEqual([{ appId: 'app-2', connectionId: null }]);
    const url = document.getElementById('authorize-url') as HTMLInputElement;
    expect(url.value).toContain('client_id=cid');
    expect(url.readOnly).toBe(true);
    expect(screen.getByText(/Time left/).textContent).toMatch(/(10:00|9:5\d)/);

    const newConn = connection({ id: 'c-new', appId: 'app-2', appName: 'Work Fusio', preset: 'fusio', name: 'Zed' });
    be.state.connections = [connection(), newConn];
    // A finished event for some other flow is ignored.
    await be.emit({ kind: 'connectFinished', payload: { flowId: 'other', ok: false, error: { code: 'flow', message: 'x' } } });
    expect(screen.getByRole('dialog')).toBeTruthy();
    await be.emit({ kind: 'connectFinished', payload: { flowId: 'flow-1', ok: true, connection: newConn } });

    await waitFor(() => expect(screen.queryByRole('dialog')).toBeNull());
    await waitFor(() => expect(rows()).toHaveLength(2));
    const row = rows().find((r) => r.dataset.connectionId === 'c-new')!;
    await waitFor(() => expect(row.classList.contains('highlight')).toBe(true));
    expect(be.callsOf('cancel_connect')).toEqual([]);
  });

  test('Cancel calls cancel_connect', async () => {
    const be = fakeBackend({ apps: [app()] });
    be.on('start_connect', () => ({
      flowId: 'flow-9',
      authorizeUrl: 'https://example.com/auth',
      mode: 'loopback',
      redirectUri: 'http://127.0.0.1:4567/oauth/callback',
      expiresAt: NOW() + 600,
    }));
    render(App);
    await screen.findByText('Connect an account to get started.');
    await fireEvent.click(screen.getByRole('button', { name: 'Connect account' }));
    // A single app is preselected.
    await fireEvent.click(await screen.findByRole('button', { name: 'Continue' }));
    await screen.findByText('Waiting for your browser…');
    await fireEvent.click(screen.getByRole('button', { name: 'Cancel' }));
    await waitFor(() => expect(screen.queryByRole('dialog')).toBeNull());
    expect(be.callsOf('cancel_connect')).toEqual([{ flowId: 'flow-9' }]);
  });

  test('a failed sign-in shows the error with Try again', async () => {
    const be = fakeBackend({ apps: [app()] });
    let n = 0;
    be.on('start_connect', () => ({
      flowId: `flow-${++n}`,
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
      error: { code: 'provider_rejected', message: 'access_denied: The user denied the request' },
    } });
    expect(await screen.findByText('The account was not connected.')).toBeTruthy();
    expect(screen.getByText(/access_denied/)).toBeTruthy();
    await fireEvent.click(screen.getByRole('button', { name: 'Try again' }));
    await screen.findByText('Waiting for your browser…');
    expect(be.callsOf('start_connect')).toHaveLength(2);
  });

  test('a sign-in without a needed scope offers to connect again with it', async () => {
    const be = fakeBackend({ apps: [app({ preset: 'textmaster', scopes: 'public' })] });
    let n = 0;
    be.on('start_connect', () => ({
      flowId: `flow-${++n}`,
      authorizeUrl: 'https://example.com/auth',
      mode: 'deep_link',
      redirectUri: null,
      expiresAt: NOW() + 600,
    }));
    be.on('add_scope', (a) => app({ preset: 'textmaster', scopes: `public ${a.scope as string}` }));
    render(App);
    await screen.findByText('Connect an account to get started.');
    await fireEvent.click(screen.getByRole('button', { name: 'Connect account' }));
    await fireEvent.click(await screen.findByRole('button', { name: 'Continue' }));
    await screen.findByText('Waiting for your browser…');
    await be.emit({ kind: 'connectFinished', payload: {
      flowId: 'flow-1',
      ok: false,
      error: { code: 'missing_scope', message: 'TextMaster did not grant the permission “user:read”…', scope: 'user:read' },
    } });
    await fireEvent.click(await screen.findByRole('button', { name: 'Connect again with user:read' }));
    await screen.findByText('Waiting for your browser…');
    expect(be.callsOf('add_scope')).toEqual([{ appId: 'app-1', scope: 'user:read' }]);
    expect(be.callsOf('start_connect')).toHaveLength(2);
  });

  test('a sign-in that stays unanswered says what to do if the provider showed an error', async () => {
    vi.useFakeTimers({ shouldAdvanceTime: true });
    try {
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
      expect(screen.queryByTestId('stuck-hint')).toBeNull();
      await vi.advanceTimersByTimeAsync(21_000);
      expect((await screen.findByTestId('stuck-hint')).textContent).toMatch(/showed an error page instead of sending you/);
    } finally {
      vi.useRealTimers();
    }
  });

  test('paste mode submits the code', async () => {
    const tm = app({ id: 'app-tm', preset: 'textmaster', name: 'TextMaster', redirectMode: 'paste' });
    const be = fakeBackend({ apps: [tm] });
    be.on('start_connect', () => ({
      flowId: 'flow-p',
      authorizeUrl: 'https://app.textmaster.com/oauth/authorize?client_id=cid',
      mode: 'paste',
      redirectUri: 'urn:ietf:wg:oauth:2.0:oob',
      expiresAt: NOW() + 600,
    }));
    const made = connection({ id: 'c-tm', appId: 'app-tm', preset: 'textmaster', appName: 'TextMaster' });
    be.on('submit_code', () => {
      be.state.connections = [made];
      return made;
    });
    render(App);
    await screen.findByText('Connect an account to get started.');
    await fireEvent.click(screen.getByRole('button', { name: 'Connect account' }));
    await fireEvent.click(await screen.findByRole('button', { name: 'Continue' }));
    await screen.findByText(/the provider will show you a code\. Paste it here\./);

    // Empty submit is caught before calling the backend.
    await fireEvent.click(screen.getByRole('button', { name: 'Submit' }));
    expect(await screen.findByText('Paste the code the provider showed you.')).toBeTruthy();
    expect(be.callsOf('submit_code')).toHaveLength(0);

    const input = document.getElementById('paste-code') as HTMLInputElement;
    await fireEvent.input(input, { target: { value: '  abc123  ' } });
    await fireEvent.click(screen.getByRole('button', { name: 'Submit' }));
    await waitFor(() => expect(screen.queryByRole('dialog')).toBeNull());
    expect(be.callsOf('submit_code')).toEqual([{ flowId: 'flow-p', code: 'abc123' }]);
    await waitFor(() => expect(rows()).toHaveLength(1));
  });

  test('with no provider apps the dialog opens on the add-app form', async () => {
    fakeBackend();
    render(App);
    await screen.findByText('Connect an account to get started.');
    await fireEvent.click(screen.getByRole('button', { name: 'Connect account' }));
    const dialog = await screen.findByRole('dialog', { name: 'Add a provider app' });
    expect(within(dialog).getByLabelText('Client id')).toBeTruthy();
  });

  test('Escape closes the dialog', async () => {
    fakeBackend({ apps: [app()] });
    render(App);
    await screen.findByText('Connect an account to get started.');
    await fireEvent.click(screen.getByRole('button', { name: 'Connect account' }));
    await screen.findByRole('dialog');
    await fireEvent.keyDown(window, { key: 'Escape' });
    await waitFor(() => expect(screen.queryByRole('dialog')).toBeNull());
  });
});

describe('revoke', () => {
  test('confirm, pending result, then remove here only', async () => {
    const be = fakeBackend({ apps: [app({ connectionCount: 1 })], connections: [connection()] });
    be.on('revoke_connection', (a) =>
      a.localOnly
        ? (() => {
            be.state.connections = [];
            return {
              revokedAtProvider: false,
              pending: false,
              message: 'Removed from Latchkey. Rememberizer has no revocation endpoint.',
              manageUrl: 'https://rememberizer.ai/apps',
            };
          })()
        : {
            revokedAtProvider: false,
            pending: true,
            message: 'The provider could not be reached (network error).',
            manageUrl: null,
          },
    );
    render(App);
    await waitFor(() => expect(rows()).toHaveLength(1));
    await fireEvent.click(screen.getByRole('button', { name: 'Settings' }));
    await screen.findByRole('heading', { name: 'Settings' });
    await fireEvent.click(screen.getByRole('button', { name: /^Revoke Alice/ }));

    const dialog = await screen.findByRole('dialog');
    expect(within(dialog).getByText(/deletes the tokens/)).toBeTruthy();
    await fireEvent.click(within(dialog).getByRole('button', { name: 'Revoke' }));

    expect(await within(dialog).findByText('Revocation pending — will retry')).toBeTruthy();
    expect(within(dialog).getByText(/could not be reached/)).toBeTruthy();
    expect(be.callsOf('revoke_connection')).toEqual([{ id: 'c-1', localOnly: false }]);

    await fireEvent.click(within(dialog).getByRole('button', { name: 'Retry' }));
    await within(dialog).findByText('Revocation pending — will retry');
    expect(be.callsOf('revoke_connection')).toHaveLength(2);

    await fireEvent.click(within(dialog).getByRole('button', { name: 'Remove here only' }));
    expect(await within(dialog).findByText(/Rememberizer has no revocation endpoint/)).toBeTruthy();
    expect(be.callsOf('revoke_connection')[2]).toEqual({ id: 'c-1', localOnly: true });
    await fireEvent.click(within(dialog).getByRole('button', { name: 'Manage at provider' }));
    expect(be.callsOf('open_external')).toEqual([{ url: 'https://rememberizer.ai/apps' }]);
    await fireEvent.click(within(dialog).getByRole('button', { name: 'Close' }));
    await waitFor(() => expect(screen.queryByRole('dialog')).toBeNull());
  });
});
