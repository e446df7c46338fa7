import { act, cleanup } from '@testing-library/svelte';
import '@testing-library/svelte/vitest';
import { clearMocks } from '@tauri-apps/api/mocks';
import { afterEach } from 'vitest';

afterEach(async () => {
  // Unmount components (and their event listeners) before the IPC mock goes.
  await act();
  cleanup();
  clearMocks();
  delete document.body.dataset.ready;
});
