#!/usr/bin/env node
// Makes sure the system tools the test suite drives are installed (run by `npm test` before
// vitest; plain Node, no dependencies).
//
//   node scripts/test-setup.mjs                       sipp (sip-tester), baresip (baresip-core), openssl, chromium,
//                                                     redis-server, PostgreSQL (postgresql)
//   node scripts/test-setup.mjs sipp=sip-tester kamailio=kamailio   any TOOL=DEBIAN_PACKAGE list
//
// A tool is present when an executable of that name is on PATH (or in /usr/sbin, /sbin).
// Missing tools are installed with apt-get when running as root (`apt-get update` once, then
// `apt-get install -y --no-install-recommends` the packages: baresip-core would otherwise pull
// in ~100 GUI/video packages); otherwise the script exits 1 naming the packages to install.
// apt-get waits for another apt/dpkg run to finish (lock timeout) and is retried while the
// lock is held. One line of output per tool. No apt-get call at all when everything is present.
import { spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

/** Tools `npm test` needs, as tool name -> Debian package. */
const DEFAULT_TOOLS = {
  sipp: 'sip-tester',
  baresip: 'baresip-core',
  openssl: 'openssl',
  chromium: 'chromium',
  // The cluster storage tests run against real Redis and PostgreSQL (started by their harness
  // on loopback when none is running; PostgreSQL's own binaries live in /usr/lib/postgresql).
  'redis-server': 'redis-server',
  pg_ctlcluster: 'postgresql',
};
const EXTRA_DIRS = ['/usr/local/sbin', '/usr/sbin', '/sbin'];
const APT_ENV = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
/** Wait for a concurrent apt/dpkg run to release its lock instead of failing at once. */
const APT_LOCK_WAIT = ['-o', 'DPkg::Lock::Timeout=600'];
const INSTALL = ['install', '-y', '--no-install-recommends'];
/** apt-get output when another apt/dpkg run holds a lock that the timeout above did not cover. */
const LOCK_BUSY = /Could not get lock|Unable to acquire|Unable to lock|is another process using it/i;
const LOCK_RETRIES = 60;
const LOCK_RETRY_MS = 5_000;

/** Absolute path of the executable `name`, or undefined. */
function findExecutable(name) {
  const dirs = [...(process.env.PATH ?? '').split(delimiter).filter(Boolean), ...EXTRA_DIRS];
  for (const dir of dirs) {
    const file = join(dir, name);
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {
      // not in this directory
    }
  }
  return undefined;
}

function parseArgs(argv) {
  if (argv.length === 0) return DEFAULT_TOOLS;
  const tools = {};
  for (const arg of argv) {
    const [tool, pkg] = arg.split('=');
    if (!tool || !pkg) {
      console.error(`test-setup: bad argument "${arg}", expected TOOL=DEBIAN_PACKAGE`);
      process.exit(2);
    }
    tools[tool] = pkg;
  }
  return tools;
}

function apt(args) {
  for (let attempt = 1; ; attempt++) {
    const res = spawnSync('apt-get', [...APT_LOCK_WAIT, ...args], { env: APT_ENV, encoding: 'utf8' });
    if (res.status === 0) return;
    const out = `${res.stdout ?? ''}${res.stderr ?? ''}`.trim();
    if (LOCK_BUSY.test(out) && attempt < LOCK_RETRIES) {
      console.log(`test-setup: apt-get ${args[0]} waits for another apt/dpkg run (attempt ${attempt})`);
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, LOCK_RETRY_MS);
      continue;
    }
    const tail = out.split('\n').slice(-15).join('\n');
    console.error(`test-setup: apt-get ${args.join(' ')} failed (${res.error?.message ?? `exit ${res.status}`}):\n${tail}`);
    process.exit(1);
  }
}

function main() {
  const tools = parseArgs(process.argv.slice(2));
  const missing = [];
  for (const [tool, pkg] of Object.entries(tools)) {
    const path = findExecutable(tool);
    if (path) console.log(`test-setup: ${tool} present (${path})`);
    else missing.push([tool, pkg]);
  }
  if (missing.length === 0) return;

  const packages = [...new Set(missing.map(([, pkg]) => pkg))];
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) {
    for (const [tool, pkg] of missing) console.error(`test-setup: ${tool} missing: install the Debian package ${pkg}`);
    console.error(`test-setup: as root run: apt-get update && apt-get ${INSTALL.join(' ')} ${packages.join(' ')}`);
    process.exit(1);
  }
  apt(['update']);
  console.log('test-setup: apt-get update done');
  apt([...INSTALL, ...packages]);
  for (const [tool, pkg] of missing) {
    const path = findExecutable(tool);
    if (!path) {
      console.error(`test-setup: installed ${pkg} but ${tool} is still not on PATH`);
      process.exit(1);
    }
    console.log(`test-setup: installed ${pkg} (${tool} at ${path})`);
  }
}

main();
