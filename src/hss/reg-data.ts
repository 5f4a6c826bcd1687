/**
 * The state changes of `PUT /impu/<impu>/reg-data` (Clearwater's reqtypes), mapped onto the
 * Server-Assignment-Types of TS 29.229 §6.3.15 and applied as TS 29.228 §6.1.2 says.
 */
import type { SubscriberStore } from '../storage/index.js';
import type { Hss } from '../ims/hss.js';
import { HssError } from './errors.js';

export const REQ_TYPES = ['reg', 'call', 'dereg-user', 'dereg-timeout', 'dereg-admin', 'dereg-auth-failure'] as const;
export type ReqType = (typeof REQ_TYPES)[number];

const MAX_CAS_ATTEMPTS = 5;

function needServerName(reqtype: ReqType, serverName: string | undefined): string {
  if (serverName === undefined) {
    throw new HssError('TW_ERR_HSS_BAD_REQUEST', `body/server_name is required for reqtype ${reqtype} (no default S-CSCF is configured)`);
  }
  return serverName;
}

/**
 * Applies `reqtype` to `impu`'s implicit set:
 * - `reg`: REGISTRATION or RE_REGISTRATION, the set becomes REGISTERED at `serverName`;
 * - `call`: UNREGISTERED_USER, a NOT_REGISTERED set becomes UNREGISTERED at `serverName`
 *   (unregistered service, TS 29.228 §6.1.2.1), a served set is left as it is;
 * - `dereg-user`, `dereg-admin`, `dereg-timeout`: USER_, ADMINISTRATIVE_ and
 *   TIMEOUT_DEREGISTRATION, the set becomes NOT_REGISTERED (also when it already was);
 * - `dereg-auth-failure`: AUTHENTICATION_FAILURE, no change.
 * TW_ERR_HSS_USER_UNKNOWN for an unknown identity.
 */
export async function applyRegDataChange(deps: { store: SubscriberStore; hss: Hss }, impu: string, reqtype: ReqType, serverName: string | undefined): Promise<void> {
  const current = await deps.store.getRegistrationState(impu);
  if (!current) throw new HssError('TW_ERR_HSS_USER_UNKNOWN', `unknown public identity ${impu}`);
  switch (reqtype) {
    case 'reg': {
      const scscf = needServerName(reqtype, serverName);
      await deps.hss.serverAssignment(impu, current.state === 'REGISTERED' ? 'RE_REGISTRATION' : 'REGISTRATION', scscf);
      return;
    }
    case 'call':
      return unregisteredService(deps.store, impu, needServerName(reqtype, serverName));
    case 'dereg-user':
    case 'dereg-admin':
      await deps.hss.serverAssignment(impu, 'USER_DEREGISTRATION', serverName ?? '');
      return;
    case 'dereg-timeout':
      await deps.hss.serverAssignment(impu, 'TIMEOUT_DEREGISTRATION', serverName ?? '');
      return;
    case 'dereg-auth-failure':
      return;
  }
}

async function unregisteredService(store: SubscriberStore, impu: string, scscf: string): Promise<void> {
  for (let attempt = 0; attempt < MAX_CAS_ATTEMPTS; attempt++) {
    const current = await store.getRegistrationState(impu);
    if (!current) throw new HssError('TW_ERR_HSS_USER_UNKNOWN', `unknown public identity ${impu}`);
    if (current.state !== 'NOT_REGISTERED') return;
    const result = await store.setRegistrationState(impu, { state: 'UNREGISTERED', scscf }, current.version);
    if (result.ok) return;
  }
  throw new HssError('TW_ERR_HSS_UNAVAILABLE', `registration state of ${impu} kept changing; try again`);
}
