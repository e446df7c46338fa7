// Time and text formatting. All timestamps are unix seconds.

export function nowSecs(): number {
  return Math.floor(Date.now() / 1000);
}

/** "3 h", "5 min", "2 days", "less than a minute". */
export function duration(secs: number): string {
  const s = Math.abs(Math.round(secs));
  if (s < 60) return 'less than a minute';
  const min = Math.floor(s / 60);
  if (min < 60) return `${min} min`;
  const h = Math.floor(min / 60);
  if (h < 48) {
    const rest = min % 60;
    return h < 10 && rest >= 5 ? `${h} h ${rest} min` : `${h} h`;
  }
  const days = Math.floor(h / 24);
  return `${days} days`;
}

/** "in 3 h" / "3 h ago" (a moment that has come is past). */
export function relative(ts: number, now: number): string {
  const d = ts - now;
  return d > 0 ? `in ${duration(d)}` : `${duration(d)} ago`;
}

/** A past event: "just now", "5 min ago" (the UI's clock stands still between the moments a
 * shown time changes, so an event a moment old may look like it is in the future). */
export function ago(ts: number, now: number): string {
  const d = Math.max(0, now - ts);
  return d < 60 ? 'just now' : `${duration(-d)} ago`;
}

export function expiryText(expiresAt: number | null, now: number): string {
  if (expiresAt === null) return 'no expiry given';
  if (expiresAt > now) return `expires ${relative(expiresAt, now)}`;
  return `expired ${relative(expiresAt, now)}`;
}

/** The steps `duration` counts in at `secs` from now: minutes below 10 h ("9 h 55 min"), hours
 * below 48 h, days beyond. Each step's bounds are multiples of the smaller steps. */
function stepAt(secs: number): number {
  return secs < 10 * 3600 ? 60 : secs < 48 * 3600 ? 3600 : 86400;
}

/**
 * The first moment after `now` (unix seconds) at which a relative text about `ts` made by
 * `relative`, `ago` or `expiryText` can read differently: the next step of `duration`, or the
 * moment `ts` comes ("expires in less than a minute" becomes "expired less than a minute ago").
 */
export function nextChange(ts: number, now: number): number {
  const d = ts - now;
  if (d > 0) {
    if (d < 60) return ts;
    // Counting down: the shown step drops when the seconds past a whole step run out.
    return now + (d % stepAt(d)) + 1;
  }
  const s = -d;
  const step = stepAt(s);
  return now + step * (Math.floor(s / step) + 1) - s;
}

export function dateTime(ts: number | null): string {
  if (ts === null) return '—';
  return new Date(ts * 1000).toLocaleString();
}

export function dateFromString(s: string | null): string {
  if (!s) return '—';
  const d = new Date(s);
  return Number.isNaN(d.getTime()) ? s : d.toLocaleDateString();
}

/** "9:05" for a countdown. */
export function countdown(secs: number): string {
  const s = Math.max(0, Math.floor(secs));
  const m = Math.floor(s / 60);
  return `${m}:${String(s % 60).padStart(2, '0')}`;
}

export function initial(name: string): string {
  const ch = name.trim().charAt(0);
  return ch ? ch.toUpperCase() : '?';
}

/** The name a person knows a connection by. */
export function displayName(c: {
  label: string | null;
  name: string | null;
  email: string | null;
  accountId: string;
}): string {
  return c.label ?? c.name ?? c.email ?? c.accountId;
}

/**
 * The line under a provider app's name: its preset (unless the name already says it), its
 * server, and more parts — so "Rememberizer" at staging and at production look different, and
 * no word repeats ("Rememberizer · Rememberizer").
 */
export function appSubtitle(
  name: string,
  presetName: string | null,
  server: string | null | undefined,
  ...more: string[]
): string {
  const parts: string[] = [];
  if (presetName && !name.toLowerCase().includes(presetName.toLowerCase())) parts.push(presetName);
  if (server) parts.push(server);
  parts.push(...more.filter((m) => m));
  return parts.join(' · ');
}
