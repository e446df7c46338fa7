// Small helpers every module of the test provider uses: logging (stderr only, never token
// values), JSON/HTML answers, request bodies, Bearer tokens, and the look of its HTML pages.

export const log = (msg) => process.stderr.write(`[latchkey-test-provider] ${msg}\n`);

export function sendJson(res, status, body, headers = {}) {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'cache-control': 'no-store',
    'content-length': Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

export function sendHtml(res, status, html, headers = {}) {
  res.writeHead(status, {
    'content-type': 'text/html; charset=utf-8',
    'cache-control': 'no-store',
    'content-length': Buffer.byteLength(html),
    ...headers,
  });
  res.end(html);
}

export const esc = (s) => String(s ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));

export async function readBody(req, limit = 256 * 1024) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > limit) throw new Error('body too large');
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

export async function readJson(req) {
  const text = await readBody(req);
  if (!text.trim()) return {};
  return JSON.parse(text);
}

export const sleep = (ms) => new Promise((r) => { setTimeout(r, ms); });

export function bearer(req) {
  const h = req.headers.authorization || '';
  const m = /^Bearer\s+(\S+)\s*$/i.exec(h);
  return m ? m[1] : null;
}

/** A whole HTML page in the test provider's look. */
export function page(title, body) {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)}</title>
<style>
 :root { color-scheme: light dark; font-family: system-ui, sans-serif; }
 body { display: grid; place-items: center; min-height: 100vh; margin: 0; background: Canvas; }
 main { max-width: 26rem; width: 90%; padding: 2rem; border: 1px solid #8884; border-radius: 12px; }
 h1 { font-size: 1.3rem; margin-top: 0; } label { display: block; margin: .8rem 0 .2rem; }
 input[type=text], input[type=password] { width: 100%; box-sizing: border-box; padding: .5rem; font-size: 1rem; }
 button { margin-top: 1rem; margin-right: .5rem; padding: .5rem 1.2rem; font-size: 1rem; cursor: pointer; }
 .error { color: #c0392b; } code#code { font-size: 1.2rem; word-break: break-all; user-select: all; }
 .muted { opacity: .7; font-size: .9rem; }
</style></head><body><main>${body}</main></body></html>`;
}

// A cookie jar for the headless browser parts (sign-in and device approval): the Cookie header
// to send, and what a response's Set-Cookie headers keep or expire.
export function cookieJar() {
  const jar = new Map();
  const cookieHeader = () => [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
  const keepCookies = (r) => {
    for (const sc of r.headers.getSetCookie()) {
      const [pair, ...attrs] = sc.split(';');
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      const expired = attrs.some((a) => /^\s*expires=.*1970/i.test(a) || /^\s*max-age=0\b/i.test(a));
      if (expired || value === '') jar.delete(name); else jar.set(name, value);
    }
  };
  return { cookieHeader, keepCookies };
}
