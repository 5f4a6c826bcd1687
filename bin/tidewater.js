#!/usr/bin/env node
// The `tidewater` command: runs the compiled CLI (dist/, built by `npm install` or `npm run build`).
let cli;
try {
  cli = await import('../dist/src/cli/main.js');
} catch (error) {
  if (error?.code !== 'ERR_MODULE_NOT_FOUND' || !String(error.message).includes('dist')) throw error;
  process.stderr.write('tidewater: the CLI is not built yet; run `npm install` or `npm run build` in the repository\n');
  process.exit(1);
}
await cli.run(process.argv);
