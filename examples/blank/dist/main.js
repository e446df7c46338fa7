// The empty page reports that it has loaded, as Latchkey's UI does after its first list, with
// the same start-up marks (ms since the page's time origin) that Latchkey's page sends.
const marks = { timeOrigin: performance.timeOrigin, script: performance.now() };
window.__TAURI_INTERNALS__.invoke('ui_ready', { marks }).catch(() => undefined);
