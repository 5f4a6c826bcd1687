/**
 * `tidewater mmtel`: the MMTel application server alone (issue 6), for an S-CSCF in another
 * process to reach over ISC. One proxy core on `sipPort` (UDP and TCP, on `bind`) hosts only the
 * MMTel service, addressed by `serviceHosts.mmtel` or by this process's own address in the
 * S-CSCF's Route; it reads the simservs documents from the XDMS at `xdmsUrl` (XCAP, with
 * `apiKey`) or, when that is unset, from its document store (PostgreSQL with `postgresUrl`, else
 * the data folder). Its health endpoints and metrics are on `metricsPort`; on SIGTERM it drains
 * like the all-in-one (new requests get 503, what is in flight gets `shutdownGraceMs`).
 */
import type { AllInOneConfig } from '../config/index.js';
import { createMmtelService, type SimservsDocuments } from '../ims/mmtel/index.js';
import { XcapClient } from '../xdms/index.js';
import type { RunningServer } from './all-in-one-command.js';
import { startSipNode } from './sip-node.js';
import { openStores } from './storage.js';

/** Where the documents come from, and what closes them. */
async function documentsOf(config: AllInOneConfig): Promise<{ documents: SimservsDocuments; where: string; close(): Promise<void> }> {
  if (config.xdmsUrl !== undefined) {
    return { documents: new XcapClient({ url: config.xdmsUrl, ...(config.apiKey ? { apiKey: config.apiKey } : {}) }), where: config.xdmsUrl, close: async () => undefined };
  }
  const stores = await openStores(config, ['documents']);
  return { documents: stores.documents, where: stores.where.documents, close: () => stores.close() };
}

/** Starts the MMTel AS alone (src/cli/sip-node.ts); `stop()` closes its listeners (SIP, metrics) and its documents. */
export async function startMmtelAlone(config: AllInOneConfig): Promise<RunningServer> {
  const source = await documentsOf(config);
  return startSipNode({
    name: 'mmtel',
    config,
    sip: [
      ['UDP', config.sipPort],
      ['TCP', config.sipPort],
    ],
    close: () => source.close(),
    build: async ({ onError }) => {
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
      return { services: [mmtel], defaultService: mmtel, describe: { host: config.serviceHosts.mmtel, documents: source.where } };
    },
  });
}
