/**
 * `tidewater mmtel`: the MMTel application server alone (issue 6), for an S-CSCF in another
 * process to reach over ISC. One proxy core on `sipPort` (UDP and TCP, on `bind`) hosts only the
 * MMTel service, addressed by `serviceHosts.mmtel` or by this process's own address in the
 * S-CSCF's Route; it reads the simservs documents from the XDMS at `xdmsUrl` (XCAP, with
 * `apiKey`) or, when that is unset, from the data folder.
 */
import type { AllInOneConfig } from '../config/index.js';
import { createMmtelService, type SimservsDocuments } from '../ims/mmtel/index.js';
import { createLogger, errorSink } from '../observability/log.js';
import { ProxyCore, SipStack, TransportLayer, type ProxyListener, type TransportProtocol } from '../sip/index.js';
import { XcapClient } from '../xdms/index.js';
import { advertisedHost, localAliases, type ListenerInfo } from './all-in-one.js';
import type { RunningServer } from './all-in-one-command.js';
import { openDatabase } from './storage.js';

/** Where the documents come from, and what closes them. */
function documentsOf(config: AllInOneConfig): { documents: SimservsDocuments; close(): void } {
  if (config.xdmsUrl !== undefined) {
    return { documents: new XcapClient({ url: config.xdmsUrl, ...(config.apiKey ? { apiKey: config.apiKey } : {}) }), close: () => undefined };
  }
  const stores = openDatabase(config.dataDir);
  return { documents: stores.documents, close: () => stores.close() };
}

/** Starts the MMTel AS alone; `stop()` closes its listeners and the data folder. */
export async function startMmtelAlone(config: AllInOneConfig): Promise<RunningServer> {
  const log = createLogger(config.log.level);
  const onError = errorSink(log, 'mmtel');
  const source = documentsOf(config);
  const transports = new TransportLayer();
  try {
    const advertised = advertisedHost(config.bind);
    const listeners: ProxyListener[] = [];
    const info: ListenerInfo[] = [];
    let port = config.sipPort;
    for (const protocol of ['UDP', 'TCP'] as TransportProtocol[]) {
      // Port 0: UDP picks a free port and TCP takes the same one.
      const bound = await transports.listen({ protocol, address: config.bind, port });
      port = bound.port;
      listeners.push({ protocol, host: advertised, port: bound.port });
      info.push({ service: 'sip', protocol: protocol.toLowerCase(), address: bound.address, port: bound.port });
    }
    const stack = new SipStack({ transport: transports, onError });
    transports.onMessage((m) => stack.receive(m));
    transports.onError(onError);
    const mmtel = createMmtelService({
      host: config.serviceHosts.mmtel,
      domain: config.domain,
      documents: source.documents,
      internationalPrefixes: config.mmtel.internationalPrefixes,
      homeCountryCode: config.mmtel.homeCountryCode,
      maxDiversions: config.mmtel.maxDiversions,
      onError,
    });
    // A Route naming this process by address (the iFC's ServerName) reaches the AS too.
    const core = new ProxyCore({ transactions: stack, listeners, aliases: localAliases(listeners), services: [mmtel], defaultService: mmtel, onError });
    stack.setUser(core);
    log.info({ domain: config.domain, host: config.serviceHosts.mmtel, documents: config.xdmsUrl ?? config.dataDir }, 'mmtel started');
    return {
      listeners: info,
      notices: [],
      stop: async () => {
        await transports.close();
        source.close();
        log.flush();
      },
    };
  } catch (e) {
    await transports.close();
    source.close();
    throw e;
  }
}
