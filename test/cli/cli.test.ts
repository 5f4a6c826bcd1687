import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { CONFIG_FIELDS } from '../../src/config/index.js';
import { repoRoot, runNode, tempDataDir, tidewater } from './run-cli.js';

describe('tidewater --help', () => {
  it('lists the commands', async () => {
    const help = await tidewater(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^Usage: tidewater /);
    expect(help.stdout).toMatch(/^ {2}all-in-one /m);
    expect(help.stdout).toMatch(/^ {2}subscriber /m);
  });

  it('lists the subscriber commands', async () => {
    const help = await tidewater(['subscriber', '--help']);
    for (const command of ['add [options] <number|impu>', 'list', 'show [options] <impu|number>', 'remove [options] <impu|number>']) {
      expect(help.stdout).toContain(`  ${command}`);
    }
    const add = await tidewater(['subscriber', 'add', '--help']);
    for (const flag of ['--password <password>', '--also <impu...>', '--config <file>', '--data-dir <dir>', '--domain <domain>']) {
      expect(add.stdout).toContain(flag);
    }
  });

  it('lists every configuration flag of all-in-one with its environment variable', async () => {
    const help = await tidewater(['all-in-one', '--help']);
    expect(help.stdout).toContain('--config <file>');
    const text = help.stdout.replace(/\s+/g, ' ');
    for (const f of CONFIG_FIELDS) {
      expect(help.stdout).toContain(`${f.flag} <${f.valueName}>`);
      expect(text).toContain(`env ${f.env}`);
    }
  });
});

describe('bad flags and configuration stop with a message naming the key', () => {
  it('an unknown flag', async () => {
    const result = await tidewater(['all-in-one', '--sip-prot', '5070']);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain("tidewater: unknown option '--sip-prot'");
    expect(result.stderr).toContain('Did you mean --sip-port?');
  });

  it('a bad flag value, before anything starts', async () => {
    const result = await tidewater(['all-in-one', '--sip-port', 'x', '--data-dir', tempDataDir()]);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe('tidewater: config: sipPort (from --sip-port) must be a port number from 0 to 65535 (0: any free port), got "x"\n');
    expect(result.stdout).toBe('');
  });

  it('a bad environment variable', async () => {
    const result = await tidewater(['all-in-one'], { TIDEWATER_REGISTRATION_MIN_EXPIRES: 'x' });
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      'tidewater: config: registration.minExpires (from TIDEWATER_REGISTRATION_MIN_EXPIRES) must be an integer from 1 to 2147483647, got "x"\n',
    );
  });

  it('an unknown key in the config file, for the subscriber commands too', async () => {
    const file = path.join(path.dirname(tempDataDir()), 'tw.yaml');
    writeFileSync(file, 'registration:\n  maxExpire: 10\n');
    for (const args of [['all-in-one'], ['subscriber', 'list']]) {
      const result = await tidewater([...args, '--config', file]);
      expect(result.code).toBe(1);
      expect(result.stderr).toBe(`tidewater: config: unknown key registration.maxExpire in config file ${file} (did you mean registration.maxExpires?)\n`);
    }
  });

  it('a missing argument or an unknown command', async () => {
    const missing = await tidewater(['subscriber', 'add']);
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toContain("missing required argument 'number|impu'");
    const unknown = await tidewater(['subscribers']);
    expect(unknown.code).not.toBe(0);
    expect(unknown.stderr).toContain("unknown command 'subscribers'");
  });
});

describe('bin/tidewater.js', () => {
  it('runs the built CLI (what npx tidewater and npm start run)', async () => {
    const pkg = JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { version: string; bin: Record<string, string>; scripts: Record<string, string> };
    expect(pkg.bin.tidewater).toBe('bin/tidewater.js');
    expect(pkg.scripts.start).toBe('node bin/tidewater.js all-in-one');
    const result = await runNode([path.join(repoRoot, 'bin/tidewater.js')], ['--version']);
    expect(result.stderr).toBe('');
    expect(result.stdout.trim()).toBe(pkg.version);
  });
});
