// Vite + Preact build of the dashboard UI into ../dist-ui (served by the dashboard; nothing from a CDN).
// `npx vite --config services/dashboard/ui/vite.config.mjs` serves it with hot reload, proxying /api to a
// dashboard on 127.0.0.1:8080.
import { fileURLToPath } from 'node:url';
import preact from '@preact/preset-vite';
import { defineConfig } from 'vite';

export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: '/',
  plugins: [preact()],
  build: {
    outDir: fileURLToPath(new URL('../dist-ui', import.meta.url)),
    emptyOutDir: true,
    // No inline script (the Content-Security-Policy allows only 'self') and no data: URLs for assets.
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
    sourcemap: false,
    target: 'es2020',
  },
  server: { proxy: { '/api': 'http://127.0.0.1:8080' } },
});
