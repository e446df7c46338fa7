// The window's clock for the relative times on screen ("expires in 52 min", "5 min ago").
//
// Nothing ticks for its own sake. The cells that show a relative time (RelativeTime.svelte)
// tell the clock which moments they show; the clock sets one timer for the next moment any of
// those texts changes (`nextChange`) and then moves `clock.now`, which only those cells read —
// the list around them is not rendered again. A text that changes in the next minute steps is
// updated at the next whole minute, so a list of many rows, each counting minutes from its own
// second, updates once a minute, not once per row; only the moment a shown time comes
// ("expires in less than a minute" → "expired") is met to the second. While the window is
// hidden or minimised (`document.visibilityState`) no timer runs; on its return the clock
// reads the time at once.

import { untrack } from 'svelte';
import { nextChange, nowSecs } from './format';

/** The longest the clock sleeps, even when nothing shown changes sooner: the timer's clock
 * stands still while the computer is suspended, the wall clock does not. */
export const MAX_SLEEP_SECS = 600;

let now = $state(nowSecs());

/** What the relative-time cells read. */
export const clock = {
  get now(): number {
    return now;
  },
};

/** The moments on screen, with how many cells show each. */
const shown = new Map<number, number>();
let timer: ReturnType<typeof setTimeout> | undefined;
let listening = false;
let queued = false;

function visible(): boolean {
  return document.visibilityState !== 'hidden';
}

/** Reads the time; called from cells' effects too, which must not come to depend on it. */
function readTime() {
  const t = nowSecs();
  if (t !== untrack(() => now)) now = t;
}

function schedule() {
  clearTimeout(timer);
  timer = undefined;
  if (shown.size === 0 || !visible()) return;
  let next = now + MAX_SLEEP_SECS;
  for (const ts of shown.keys()) {
    const at = nextChange(ts, now);
    // The moment a time comes is met exactly; the steps of minutes and more wait for the
    // next whole minute, where every row's change in that minute is shown at once.
    next = Math.min(next, at === ts ? at : Math.ceil(at / 60) * 60);
  }
  // A few milliseconds late, so that the second has surely begun.
  const ms = Math.max(0, next * 1000 - Date.now()) + 20;
  timer = setTimeout(tick, ms);
}

/** Once for all the cells a render mounts or unmounts. */
function reschedule() {
  if (queued) return;
  queued = true;
  queueMicrotask(() => {
    queued = false;
    schedule();
  });
}

function tick() {
  timer = undefined;
  readTime();
  schedule();
}

function onVisibility() {
  if (visible()) readTime();
  schedule();
}

/**
 * A cell shows `ts`: keeps the clock moving for it. Returns the function that stops that (an
 * `$effect`'s cleanup). A newly shown moment is measured from the time now, not from the last
 * tick (the list may have been reloaded after a suspend).
 */
export function showTime(ts: number): () => void {
  shown.set(ts, (shown.get(ts) ?? 0) + 1);
  if (!listening) {
    document.addEventListener('visibilitychange', onVisibility);
    listening = true;
  }
  if (visible()) readTime();
  reschedule();
  return () => {
    const n = (shown.get(ts) ?? 1) - 1;
    if (n > 0) shown.set(ts, n);
    else shown.delete(ts);
    if (shown.size === 0) {
      document.removeEventListener('visibilitychange', onVisibility);
      listening = false;
    }
    reschedule();
  };
}

/** One observer for every cell: which are on screen (or within a row's height of it). */
let observer: IntersectionObserver | undefined;
const watched = new Map<Element, (on: boolean) => void>();

/**
 * Tells `onChange` whether `el` is on screen, now and whenever that changes; returns the
 * function that stops it. A cell off screen stops reading the clock, so the minute's update of
 * a long list changes the texts that can be seen (about ten), not all of them (and their
 * layout); a cell coming into view reads the time at once. Where there is no
 * IntersectionObserver every cell counts as on screen.
 */
export function onScreen(el: Element, onChange: (on: boolean) => void): () => void {
  if (typeof IntersectionObserver === 'undefined') return () => {};
  observer ??= new IntersectionObserver(
    (entries) => {
      for (const e of entries) watched.get(e.target)?.(e.isIntersecting);
    },
    { rootMargin: '100px 0px' },
  );
  watched.set(el, onChange);
  observer.observe(el);
  return () => {
    watched.delete(el);
    observer?.unobserve(el);
  };
}

/**
 * Calls `fn` every `ms` while the window is visible (a dialog's countdown), and once at once
 * when it becomes visible again. Returns the function that stops it.
 */
export function whileVisible(ms: number, fn: () => void): () => void {
  let interval: ReturnType<typeof setInterval> | undefined;
  const update = () => {
    clearInterval(interval);
    interval = undefined;
    if (!visible()) return;
    fn();
    interval = setInterval(fn, ms);
  };
  if (visible()) interval = setInterval(fn, ms);
  document.addEventListener('visibilitychange', update);
  return () => {
    clearInterval(interval);
    document.removeEventListener('visibilitychange', update);
  };
}
