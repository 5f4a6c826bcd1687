import { FakeClock } from '../../harness/fake-clock.js';
import { startDnsServer, type TestDnsServer, type Zone } from '../../harness/dns-server.js';
import { NodeDnsClient, SipResolver, type SipResolverOptions } from '../../../src/sip/resolver/index.js';

export interface Rig {
  server: TestDnsServer;
  clock: FakeClock;
  resolver: SipResolver;
  close(): Promise<void>;
}

/** A test DNS server for `zone` and a SipResolver using the real node:dns Resolver against it. */
export async function rig(zone: Zone, options: Partial<SipResolverOptions> = {}): Promise<Rig> {
  const server = await startDnsServer(zone);
  const dns = new NodeDnsClient({ servers: [server.address], timeoutMs: 150, tries: 1 });
  const clock = new FakeClock();
  const resolver = new SipResolver({ dns, clock, random: () => 0.5, ...options });
  return {
    server,
    clock,
    resolver,
    close: async () => {
      dns.cancel();
      await server.close();
    },
  };
}

/** Returns the given draws in turn. */
export function scripted(...draws: number[]): () => number {
  let i = 0;
  return () => {
    if (i >= draws.length) throw new Error('random drawn more often than scripted');
    return draws[i++]!;
  };
}
