// The relative times of rows out of view (src/lib/clock.svelte.ts `onScreen`): they keep their
// text through the clock's updates, and read the time when they come into view — so the
// minute's update of a long list touches the rows that can be seen, not all of them. A file of
// its own: the clock keeps one IntersectionObserver for the page, here a fake one.
import { cleanup, render } from '@testing-library/svelte';
import { flushSync } from 'svelte';
import { afterEach, beforeEach, expect, test, vi } from 'vitest';
import ConnectionList from '../src/components/ConnectionList.svelte';
import { connection } from './backend';

/** 09:00:10 UTC: ten seconds past a whole minute. */
const T0 = Date.UTC(2026, 0, 5, 9, 0, 10) / 1000;

let report: ((target: Element, on: boolean) => void) | undefined;
const observed = new Set<Element>();

class FakeObserver {
  constructor(cb: (entries: { target: Element; isIntersecting: boolean }[]) => void) {
    report = (target, on) => cb([{ target, isIntersecting: on }]);
  }
  observe(el: Element) {
    observed.add(el);
  }
  unobserve(el: Element) {
    observed.delete(el);
  }
  disconnect() {
    observed.clear();
  }
}

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] });
  vi.setSystemTime(T0 * 1000);
  Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => 'visible' });
  vi.stubGlobal('IntersectionObserver', FakeObserver);
});

afterEach(() => {
  cleanup();
  vi.useRealTimers();
  vi.unstubAllGlobals();
  Reflect.deleteProperty(document, 'visibilityState');
});

function cell(id: string): Element {
  const el = document.querySelector(`.connection-row[data-connection-id="${id}"] .expiry > span`);
  if (!el) throw new Error(`no time cell in row ${id}`);
  return el;
}

test('a time out of view keeps its text through the minute, and reads the clock when it comes into view', async () => {
  const at = T0 + 52 * 60 + 17;
  const list = ['a', 'b'].map((id) => connection({ id, name: id, expiresAt: at }));
  render(ConnectionList, { props: { connections: list, onopen: () => {}, onreconnect: () => {} } });
  flushSync();
  await vi.advanceTimersByTimeAsync(0);
  expect(observed.has(cell('a')) && observed.has(cell('b'))).toBe(true);
  expect(cell('b').textContent).toBe('expires in 52 min');
  report?.(cell('a'), true);
  report?.(cell('b'), false);
  flushSync();
  // Past the whole minute: the row in view counts down, the one out of view is not touched.
  await vi.advanceTimersByTimeAsync(51_000);
  expect(cell('a').textContent).toBe('expires in 51 min');
  expect(cell('b').textContent).toBe('expires in 52 min');
  // Into view: the time now, at once, without waiting for the next minute.
  await vi.advanceTimersByTimeAsync(30_000);
  report?.(cell('b'), true);
  flushSync();
  expect(cell('b').textContent).toBe('expires in 50 min');
  // Gone with its row: no longer observed.
  const b = cell('b');
  cleanup();
  expect(observed.has(b)).toBe(false);
});
