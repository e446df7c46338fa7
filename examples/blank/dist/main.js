// The empty page reports that it has loaded, as Latchkey's UI does after its first list.
window.__TAURI_INTERNALS__.invoke('ui_ready').catch(() => undefined);
