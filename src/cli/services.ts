/**
 * `tidewater hss`, `tidewater xdms` and `tidewater portal`: one function alone, on the data folder's SQLite stores
 * (issue 4: each service also starts on its own). Same configuration as the all-in-one; only
 * the keys a service uses matter to it.
 */
import type { AddressInfo } from 'node:net';
import type { AllInOneConfig } from '../config/index.js';
import { startHssServers } from '../hss/index.js';
import { buildPortalServer } from '../portal/index.js';
import { buildXdmsServer } from '../xdms/index.js';
import type { RunningServer } from './all-in-one-command.js';
import { apiAccess } from './api-key.js';
import { rangeOf } from './number-range.js';
import { openDatabase } from './storage.js';

export async function startHssAlone(config: AllInOneConfig): Promise<RunningServer> {
  const access = apiAccess(config);
  const stores = openDatabase(config.dataDir);
  try {
    const hss = await startHssServers({
      store: stores.subscribers,
      bind: config.bind,
      homeDomain: config.domain,
      serverName: `sip:${config.serviceHosts.scscf}`,
      signallingPort: config.hssPort,
      provisioningPort: config.hssProvisioningPort,
      ...(access.key ? { apiKey: access.key } : {}),
    });
    return {
      listeners: [
        { service: 'hss', protocol: 'http', address: config.bind, port: hss.signallingPort },
        { service: 'hss-provisioning', protocol: 'http', address: config.bind, port: hss.provisioningPort },
      ],
      notices: access.notices,
      stop: async () => {
        await hss.close();
        stores.close();
      },
    };
  } catch (e) {
    stores.close();
    throw e;
  }
}

export async function startXdmsAlone(config: AllInOneConfig): Promise<RunningServer> {
  const access = apiAccess(config);
  const stores = openDatabase(config.dataDir);
  try {
    const xdms = await buildXdmsServer({ store: stores.documents, logger: false, ...(access.key ? { apiKey: access.key } : {}) });
    await xdms.listen({ host: config.bind, port: config.xdmsPort });
    const bound = xdms.server.address() as AddressInfo;
    return {
      listeners: [{ service: 'xdms', protocol: 'http', address: bound.address, port: bound.port }],
      notices: access.notices,
      stop: async () => {
        await xdms.close();
        stores.close();
      },
    };
  } catch (e) {
    stores.close();
    throw e;
  }
}

/**
 * The portal alone. A core in another process sees a password reset once its HSS cache entry
 * ages out (10 s), not at once as inside the all-in-one.
 */
export async function startPortalAlone(config: AllInOneConfig): Promise<RunningServer> {
  const access = apiAccess(config);
  const stores = openDatabase(config.dataDir);
  try {
    const portal = await buildPortalServer({
      accounts: stores.accounts,
      subscribers: stores.subscribers,
      registrations: stores.registrations,
      documents: stores.documents,
      domain: config.domain,
      pool: rangeOf(config.numberPool),
      signupCode: config.signupCode,
      ...(config.pstnPool ? { pstnPool: rangeOf(config.pstnPool) } : {}),
      ...(access.key ? { apiKey: access.key } : {}),
      outboundProxy: `${config.domain}:${config.sipPort} (UDP or TCP)`,
    });
    await portal.listen({ host: config.bind, port: config.portalPort });
    const bound = portal.server.address() as AddressInfo;
    return {
      listeners: [{ service: 'portal', protocol: 'http', address: bound.address, port: bound.port }],
      notices: access.notices,
      stop: async () => {
        await portal.close();
        stores.close();
      },
    };
  } catch (e) {
    stores.close();
    throw e;
  }
}
