import { defineConfig } from 'vitest/config';
import { svelte } from '@sveltejs/vite-plugin-svelte';

// The window runs under a strict CSP (default-src 'self'; style-src 'self'):
// component styles are extracted into a CSS file, nothing is inlined.
export default defineConfig({
  plugins: [svelte()],
  base: './',
  clearScreen: false,
  server: { port: 5173, strictPort: true },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    assetsInlineLimit: 0,
    rollupOptions: {
      output: {
        // Everything the first screen imports statically (the Svelte runtime, the IPC layer,
        // formatting) goes in the entry chunk: the first load is one script and one style
        // sheet, not four requests through the app's protocol handler. The views loaded on
        // demand (detail, settings, dialogs) import it from there.
        manualChunks(id, { getModuleInfo }) {
          const seen = new Set<string>();
          const eager = (m: string): boolean => {
            if (seen.has(m)) return false;
            seen.add(m);
            const info = getModuleInfo(m);
            if (!info) return false;
            if (info.isEntry) return true;
            return info.importers.some(eager);
          };
          return eager(id) ? 'index' : undefined;
        },
      },
    },
  },
  resolve: process.env.VITEST ? { conditions: ['browser'] } : undefined,
  test: {
    environment: 'jsdom',
    include: ['tests/**/*.test.ts'],
    setupFiles: ['tests/setup.ts'],
  },
});
