/** The secure transports' settings (issue 5): tlsPort, wssPort, and the tlsCert/tlsKey pair. */
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, renderConfigDoc, type LoadConfigOptions } from '../../src/config/index.js';

function problemsOf(options: LoadConfigOptions): readonly string[] {
  try {
    loadConfig(options);
    return [];
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
}

describe('secure transport settings', () => {
  it('listen for TLS on 5061 and secure WebSocket on 5063 by default, with no certificate configured', () => {
    const config = loadConfig({ env: {} });
    expect([config.tlsPort, config.wssPort, config.tlsCert, config.tlsKey]).toEqual([5061, 5063, undefined, undefined]);
  });

  it('take the ports and the PEM files from flags and the environment', () => {
    const config = loadConfig({
      env: { TIDEWATER_TLS_PORT: '6061', TIDEWATER_TLS_KEY: '/etc/tw/key.pem' },
      flags: { wssPort: '6063', tlsCert: '/etc/tw/cert.pem' },
    });
    expect([config.tlsPort, config.wssPort, config.tlsCert, config.tlsKey]).toEqual([6061, 6063, '/etc/tw/cert.pem', '/etc/tw/key.pem']);
  });

  it('refuse a certificate without its key, naming the key that is missing', () => {
    expect(problemsOf({ env: {}, flags: { tlsCert: '/etc/tw/cert.pem' } })).toEqual([
      'config: tlsKey (default) must be given with tlsCert (both or neither), got nothing; tlsCert is "/etc/tw/cert.pem" (from --tls-cert)',
    ]);
    expect(problemsOf({ env: { TIDEWATER_TLS_KEY: 'key.pem' } })).toEqual([
      'config: tlsCert (default) must be given with tlsKey (both or neither), got nothing; tlsKey is "key.pem" (from TIDEWATER_TLS_KEY)',
    ]);
  });

  it('refuse an empty certificate path and a TLS port shared with another TCP listener', () => {
    expect(problemsOf({ env: {}, flags: { tlsCert: '', tlsKey: 'k.pem' } })).toEqual([
      'config: tlsCert (from --tls-cert) must be a non-empty path to a PEM file, got ""',
    ]);
    expect(problemsOf({ env: {}, flags: { wssPort: '5062' } })).toEqual([
      'config: wssPort (from --wss-port) must differ from wsPort (both are TCP listeners), got "5062"; wsPort is 5062 (default)',
    ]);
    expect(problemsOf({ env: { TIDEWATER_TLS_PORT: 'x' } })).toEqual([
      'config: tlsPort (from TIDEWATER_TLS_PORT) must be a port number from 0 to 65535 (0: any free port), got "x"',
    ]);
  });

  it('are documented with their flags, under TLS', () => {
    const doc = renderConfigDoc();
    expect(doc).toMatch(/## TLS/);
    for (const flag of ['--tls-port', '--wss-port', '--tls-cert', '--tls-key']) expect(doc).toContain(flag);
  });
});
