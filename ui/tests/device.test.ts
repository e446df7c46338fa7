import { fireEvent, render, screen, waitFor } from '@testing-library/svelte';
import { describe, expect, test, vi } from 'vitest';
import DeviceSignIn from '../src/components/DeviceSignIn.svelte';
import type { Connection } from '../src/lib/types';
import { app, connection, fakeBackend, NOW } from './backend';

const START = {
  flowId: 'f1',
  userCode: 'WDJB-MJHT',
  verificationUri: 'https://id.example/device',
  verificationUriComplete: 'https://id.example/device?user_code=WDJB-MJHT',
  expiresAt: NOW() + 600,
  interval: 5,
};

describe('sign in on another device', () => {
  test('shows the code and the address, waits, and finishes with the connection', async () => {
    const be = fakeBackend();
    let approve: (v: Connection) => void = () => {};
    be.on('start_device', () => START);
    be.on('wait_device', () => new Promise((r) => (approve = r)));
    const onfinished = vi.fn();
    render(DeviceSignIn, { props: { app: app({ deviceAuthorizationUrl: 'https://id.example/device/auth' }), onfinished, oncancel: vi.fn() } });
    expect(await screen.findByText('WDJB-MJHT')).toBeTruthy();
    expect((document.getElementById('device-verification-uri') as HTMLInputElement).value).toBe('https://id.example/device');
    expect(screen.getByText(/Waiting for you to approve/)).toBeTruthy();
    expect(be.callsOf('start_device')).toEqual([{ appId: 'app-1' }]);
    expect(be.callsOf('wait_device')).toEqual([{ flowId: 'f1' }]);
    const c = connection();
    approve(c);
    await waitFor(() => expect(onfinished).toHaveBeenCalledWith(c));
  });

  test('a denial is shown with a way to try again; cancel stops the polling', async () => {
    const be = fakeBackend();
    be.on('start_device', () => START);
    be.on('wait_device', () => {
      throw { code: 'provider_rejected', message: 'You declined the request at the provider (access_denied)' };
    });
    be.on('cancel_device', () => null);
    const oncancel = vi.fn();
    render(DeviceSignIn, { props: { app: app(), onfinished: vi.fn(), oncancel } });
    expect(await screen.findByText(/access_denied/)).toBeTruthy();
    await fireEvent.click(screen.getByRole('button', { name: 'Try again' }));
    await waitFor(() => expect(be.callsOf('start_device')).toHaveLength(2));
    await fireEvent.click(await screen.findByRole('button', { name: 'Back' }));
    expect(oncancel).toHaveBeenCalled();
  });
});
