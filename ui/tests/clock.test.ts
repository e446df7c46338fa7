// The window's clock (src/lib/clock.svelte.ts): the list's relative times update when their
// text changes — once a minute for rows counting minutes, to the second only where a time
// comes — never by rendering the rows again, and not at all while the window is hidden.
import { cleanup, render } from '@testing-library/svelte';
import { flushSync } from 'svelte';
import { afterEach, beforeEach, describe, expect, test, vi } from 'vitest';
import ConnectionList from '../src/components/ConnectionList.svelte';
import { MAX_SLEEP_SECS, whileVisible } from '../src/lib/clock.svelte';
import * as format from '../src/lib/format';
import type { Connection } from '../src/lib/types';
import { connection } from './backend';

// Counts how often the rows' own parts (name, e-mail line) are worked out.
vi.mock('../src/lib/format', async (importOriginal) => {
  const real = await importOriginal<typeof import('../src/lib/format')>();
  return { ...real, displayName: vi.fn(real.displayName) };
});

/** 09:00:10 UTC: ten seconds past a whole minute. */
const T0 = Date.UTC(2026, 0, 5, 9, 0, 10) / 1000;

let visibility: DocumentVisibilityState = 'visible';
function setVisibility(v: DocumentVisibilityState) {
  visibility = v;
  document.dispatchEvent(new Event('visibilitychange'));
}

let timeouts: ReturnType<typeof vi.spyOn>;

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] });
  vi.setSystemTime(T0 * 1000);
  visibility = 'visible';
  Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => visibility });
  timeouts = vi.spyOn(globalThis, 'setTimeout');
});

afterEach(async () => {
  cleanup();
  await Promise.resolve();
  vi.useRealTimers();
  Reflect.deleteProperty(document, 'visibilityState');
  vi.mocked(format.displayName).mockClear();
});

function conn(id: string, expiresAt: number): Connection {
  return connection({ id, name: id, email: `${id}@example.com`, expiresAt });
}

/** Renders the list and lets the cells' clock settle (it schedules once per render). */
async function show(list: Connection[]) {
  render(ConnectionList, { props: { connections: list, onopen: () => {}, onreconnect: () => {} } });
  flushSync();
  await vi.advanceTimersByTimeAsync(0);
  timeouts.mockClear();
}

function expiry(id: string): string {
  const row = document.querySelector(`.connection-row[data-connection-id="${id}"]`);
  return row?.querySelector('.expiry')?.textContent?.trim() ?? '';
}

/** Moves the fake clock to `secs` after T0 (timers due meanwhile fire). */
async function at(secs: number) {
  await vi.advanceTimersByTimeAsync(T0 * 1000 + secs * 1000 - Date.now());
}

describe('the clock of the relative times', () => {
  test('rows counting minutes from different seconds update together, once a minute', async () => {
    await show([
      conn('a', T0 + 52 * 60 + 17),
      conn('b', T0 + 3 * 3600 + 30 * 60 + 41),
      conn('c', T0 + 5 * 86400 + 7200),
    ]);
    expect([expiry('a'), expiry('b'), expiry('c')]).toEqual([
      'expires in 52 min',
      'expires in 3 h 30 min',
      'expires in 5 days',
    ]);
    // a's text changes 18 s from now, b's 42 s from now: both wait for the whole minute.
    await at(49);
    expect([expiry('a'), expiry('b')]).toEqual(['expires in 52 min', 'expires in 3 h 30 min']);
    expect(timeouts).not.toHaveBeenCalled();
    await at(51);
    expect([expiry('a'), expiry('b')]).toEqual(['expires in 51 min', 'expires in 3 h 29 min']);
    // Ten more minutes: ten updates, not one per row and second.
    timeouts.mockClear();
    await at(50 + 600 + 1);
    expect(timeouts).toHaveBeenCalledTimes(10);
    expect([expiry('a'), expiry('b'), expiry('c')]).toEqual([
      'expires in 41 min',
      'expires in 3 h 19 min',
      'expires in 5 days',
    ]);
  });

  test('a time that comes within the minute is met to the second; the rest wait for the minute', async () => {
    await show([conn('soon', T0 + 30), conn('a', T0 + 52 * 60 + 17)]);
    expect(expiry('soon')).toBe('expires in less than a minute');
    await at(29.9);
    expect(expiry('soon')).toBe('expires in less than a minute');
    await at(30.1);
    expect(expiry('soon')).toBe('expired less than a minute ago');
    // That tick moved the clock for every cell: a reads as of it (51 min 47 s).
    expect(expiry('a')).toBe('expires in 51 min');
    expect(timeouts).toHaveBeenCalledTimes(1);
    // Both next change in the minute after 09:01:00 (a at 09:01:28, soon at 09:01:40).
    await at(109);
    expect(timeouts).toHaveBeenCalledTimes(1);
    expect(expiry('a')).toBe('expires in 51 min');
    await at(111);
    expect(timeouts).toHaveBeenCalledTimes(2);
    expect(expiry('a')).toBe('expires in 50 min');
    expect(expiry('soon')).toBe('expired 1 min ago');
  });

  test('rows hours and days away sleep until their next step, at most ten minutes', async () => {
    await show([conn('d', T0 + 20 * 3600 + 1234), conn('c', T0 + 5 * 86400 + 7200)]);
    expect(expiry('d')).toBe('expires in 20 h');
    await at(MAX_SLEEP_SECS - 1);
    expect(timeouts).not.toHaveBeenCalled();
    // The cap: a suspended computer's timers stand still while the wall clock goes on.
    await at(MAX_SLEEP_SECS + 1);
    expect(timeouts).toHaveBeenCalledTimes(1);
    await at(1235 + 60);
    expect(expiry('d')).toBe('expires in 19 h');
    expect(timeouts.mock.calls.length).toBeLessThanOrEqual(3);
  });

  test('no timer runs while the window is hidden; the time is read again when it comes back', async () => {
    await show([conn('a', T0 + 52 * 60 + 17)]);
    expect(vi.getTimerCount()).toBe(1);
    setVisibility('hidden');
    expect(vi.getTimerCount()).toBe(0);
    await at(30 * 60);
    expect(timeouts).not.toHaveBeenCalled();
    expect(expiry('a')).toBe('expires in 52 min');
    setVisibility('visible');
    flushSync();
    expect(expiry('a')).toBe('expires in 22 min');
    expect(vi.getTimerCount()).toBe(1);
  });

  test('a tick changes the time cells and nothing else in the list', async () => {
    await show([conn('a', T0 + 52 * 60 + 17), conn('c', T0 + 5 * 86400 + 7200)]);
    const list = document.querySelector('ul.rows') as HTMLElement;
    const rowsBefore = Array.from(list.children);
    const rowWork = vi.mocked(format.displayName).mock.calls.length;
    expect(rowWork).toBeGreaterThan(0);
    const changed: Node[] = [];
    const observer = new MutationObserver((records) => changed.push(...records.map((r) => r.target)));
    observer.observe(list, { subtree: true, childList: true, characterData: true, attributes: true });
    await at(51);
    await at(3 * 60 + 51);
    observer.disconnect();
    expect(expiry('a')).toBe('expires in 48 min');
    // Only a's time cell changed (c's text stays "5 days"); the rows are the same elements,
    // and none of them was worked out again.
    expect(changed.length).toBeGreaterThan(0);
    for (const node of changed) {
      const el = node instanceof Element ? node : node.parentElement;
      expect(el?.closest('.expiry')).toBeTruthy();
      expect(el?.closest('.connection-row')?.getAttribute('data-connection-id')).toBe('a');
    }
    expect(Array.from(list.children)).toEqual(rowsBefore);
    expect(vi.mocked(format.displayName).mock.calls.length).toBe(rowWork);
  });
});

describe('a dialog countdown (whileVisible)', () => {
  test('ticks every second while visible, not at all while hidden, and once on return', () => {
    const fn = vi.fn();
    const stop = whileVisible(1000, fn);
    vi.advanceTimersByTime(3000);
    expect(fn).toHaveBeenCalledTimes(3);
    setVisibility('hidden');
    vi.advanceTimersByTime(60_000);
    expect(fn).toHaveBeenCalledTimes(3);
    expect(vi.getTimerCount()).toBe(0);
    setVisibility('visible');
    expect(fn).toHaveBeenCalledTimes(4);
    vi.advanceTimersByTime(2000);
    expect(fn).toHaveBeenCalledTimes(6);
    stop();
    vi.advanceTimersByTime(5000);
    expect(fn).toHaveBeenCalledTimes(6);
    expect(vi.getTimerCount()).toBe(0);
  });
});
