// The colour theme: follow the system (default), or light / dark chosen in Settings. The
// choice lives in this window's storage (it is a matter of the screen, not of the data) and
// is applied as `data-theme` on <html>, which app.css honours beside the media query.

export type Theme = 'system' | 'light' | 'dark';
const KEY = 'latchkey.theme';

export function storedTheme(): Theme {
  try {
    const t = localStorage.getItem(KEY);
    return t === 'light' || t === 'dark' ? t : 'system';
  } catch {
    return 'system';
  }
}

export function applyTheme(t: Theme): void {
  const root = document.documentElement;
  if (t === 'system') delete root.dataset.theme;
  else root.dataset.theme = t;
}

export function setTheme(t: Theme): void {
  try {
    if (t === 'system') localStorage.removeItem(KEY);
    else localStorage.setItem(KEY, t);
  } catch {
    /* storage unavailable: the choice lasts this session */
  }
  applyTheme(t);
}
