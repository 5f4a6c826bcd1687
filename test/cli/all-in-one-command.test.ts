import { describe, expect, it } from 'vitest';
import { addSubscriberHint, listenerLine } from '../../src/cli/all-in-one-command.js';
import { allInOneConfigSchema } from '../../src/config/index.js';

describe('the all-in-one ready lines', () => {
  it('print each listener as `listening <service> <protocol> <address>:<port>`', () => {
    expect(listenerLine({ service: 'sip', protocol: 'udp', address: '0.0.0.0', port: 5060 })).toBe('listening sip udp 0.0.0.0:5060');
    expect(listenerLine({ service: 'metrics', protocol: 'http', address: '::1', port: 9090 })).toBe('listening metrics http [::1]:9090');
  });

  it('tell how to add a subscriber to this server, naming the data folder and domain only when not the defaults', () => {
    expect(addSubscriberHint(allInOneConfigSchema.parse({}))).toBe(
      'add a subscriber: npx tidewater subscriber add 6505550001 --password <password>',
    );
    expect(addSubscriberHint(allInOneConfigSchema.parse({ dataDir: '/tmp/my data', domain: 'ims.test' }), 'tw.yaml')).toBe(
      "add a subscriber: npx tidewater subscriber add 6505550001 --password <password> --config tw.yaml --data-dir '/tmp/my data' --domain ims.test",
    );
  });
});
