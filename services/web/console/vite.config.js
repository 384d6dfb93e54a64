// The console is served by `youma serve` under /console/ as static files.
// Relative asset paths let the same build work under any mount point, and
// `script-src 'self'` (the server's CSP) means no inline script: the module
// preload polyfill is not needed by any browser the console supports.
import { defineConfig } from 'vite';

export default defineConfig({
  base: './',
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    modulePreload: { polyfill: false },
    chunkSizeWarningLimit: 800,
  },
});
