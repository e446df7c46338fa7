// The page's own start-up timeline, for `make bench` (README "Performance"): milliseconds since
// the page's time origin (`performance.timeOrigin`, when its navigation began). Imported first
// by main.ts, so `script` is when the bundle began to run.

export const marks: Record<string, number> = { script: performance.now() };

/** Records that `name` happened now. */
export function mark(name: string) {
  marks[name] = performance.now();
}
