import { fireEvent, render, screen, waitFor } from '@testing-library/svelte';
import { describe, expect, test } from 'vitest';
import App from '../src/App.svelte';
import { app, connection, fakeBackend } from './backend';

const PATH = '/home/alice/.local/share/app.latchkey.desktop/latchkey.json';
const DAMAGED = { code: 'damaged_data', message: `Latchkey's data file ${PATH} is damaged.` };

/** A backend whose data file is damaged until `restore_backup` or `start_empty` is called. */
function damagedBackend(backupAvailable: boolean) {
  const be = fakeBackend();
  let damaged = true;
  const fail = <T>(ok: () => T) => (): T => {
    if (damaged) throw DAMAGED;
    return ok();
  };
  be.on('list_connections', fail(() => be.state.connections));
  be.on('list_apps', fail(() => be.state.apps));
  be.on('data_health', () => ({
    damaged,
    path: PATH,
    backupAvailable: damaged && backupAvailable,
    detail: damaged ? 'unreadable at line 1, column 2' : null,
  }));
  const recovered = (restored: boolean) => () => {
    damaged = false;
    if (restored) {
      be.state.apps = [app()];
      be.state.connections = [connection()];
    }
    return { restored, keptAt: `${PATH}.damaged-1700000000`, message: `Kept at ${PATH}.damaged-1700000000.` };
  };
  be.on('restore_backup', recovered(true));
  be.on('start_empty', recovered(false));
  return be;
}

describe('recovery screen', () => {
  test('a damaged file opens on the recovery screen; restore brings the list back', async () => {
    const be = damagedBackend(true);
    render(App);
    expect(await screen.findByRole('heading', { name: /data file is damaged/ })).toBeTruthy();
    await waitFor(() => expect(document.body.dataset.ready).toBe('1'));
    expect(screen.getAllByText(PATH).length).toBeGreaterThan(0);
    expect(screen.getByText(/could not be read \(unreadable at line 1, column 2\)\./)).toBeTruthy();
    expect(screen.queryByText(/could not be loaded/)).toBeNull();
    expect(document.querySelector('.alert-error')).toBeNull();
    expect(screen.queryByRole('button', { name: 'Connect account' })).toBeNull();
    expect(screen.getByRole('button', { name: 'Start empty' })).toBeTruthy();
    await fireEvent.click(screen.getByRole('button', { name: 'Restore the last good copy' }));
    await waitFor(() => expect(document.querySelectorAll('.connection-row')).toHaveLength(1));
    expect(be.callsOf('restore_backup')).toHaveLength(1);
    expect(be.callsOf('start_empty')).toHaveLength(0);
    expect(screen.queryByRole('heading', { name: /data file is damaged/ })).toBeNull();
    expect(screen.getByText(/Kept at .*damaged-1700000000/)).toBeTruthy();
    expect(screen.getByRole('button', { name: 'Connect account' })).toBeTruthy();
  });

  test('without a last good copy only Start empty is offered', async () => {
    const be = damagedBackend(false);
    render(App);
    await screen.findByRole('heading', { name: /data file is damaged/ });
    expect(screen.queryByRole('button', { name: 'Restore the last good copy' })).toBeNull();
    expect(screen.getByText(/no earlier good copy/)).toBeTruthy();
    await fireEvent.click(screen.getByRole('button', { name: 'Start empty' }));
    await screen.findByText('Connect an account to get started.');
    expect(be.callsOf('start_empty')).toHaveLength(1);
  });

  test('a failed restore says so and stays on the recovery screen', async () => {
    const be = damagedBackend(true);
    be.on('restore_backup', () => {
      throw { code: 'internal', message: 'cannot write latchkey.json: disk full' };
    });
    render(App);
    await fireEvent.click(await screen.findByRole('button', { name: 'Restore the last good copy' }));
    expect(await screen.findByText(/disk full/)).toBeTruthy();
    expect(screen.getByRole('heading', { name: /data file is damaged/ })).toBeTruthy();
  });
});
