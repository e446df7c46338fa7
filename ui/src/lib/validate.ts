// Client-side checks for the provider app form. The backend checks again.

const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);

/** Returns an error sentence, or null when the URL is acceptable. */
export function checkUrl(value: string): string | null {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return 'Enter a full address, starting with https://';
  }
  if (url.protocol === 'https:') return url.hostname ? null : 'The address needs a host name.';
  if (url.protocol === 'http:') {
    if (LOOPBACK_HOSTS.has(url.hostname)) return null;
    return 'Use https:// — plain http:// is only allowed for 127.0.0.1 or localhost.';
  }
  return 'Use an https:// address.';
}
