/**
 * Bundles what the portal's web pages load in the browser: JsSIP (CommonJS on npm, no browser
 * build shipped) as one IIFE exposing `window.JsSIP`, into dist/web/. Run by `npm run build`
 * and `prepare`, so `npm install && npm start` serves it.
 */
import { build } from 'esbuild';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);

await build({
  entryPoints: [require.resolve('jssip')],
  bundle: true,
  format: 'iife',
  globalName: 'JsSIP',
  platform: 'browser',
  target: ['chrome110', 'firefox110', 'safari16'],
  minify: true,
  legalComments: 'eof',
  outfile: path.join(root, 'dist/web/jssip.min.js'),
  logLevel: 'warning',
});
