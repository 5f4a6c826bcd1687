/**
 * Provisioning through the all-in-one's portal REST API as an operator's tools do it (Ellis's
 * API, docs/portal.md): an account, numbers from the pool, and each number's iFCs, with the
 * operator's API key in `NGV-API-Key`.
 */
import type { AllInOne, TestUser } from './ims.js';

const SIGNUP_CODE = 'secret';
const enc = encodeURIComponent;

/** A number the portal allocated: SIPp's user and password, and its IMPU. */
export interface PortalNumber extends TestUser {
  readonly sipUri: string;
}

/** The portal's base URL from the all-in-one's `listening portal http` line. */
export function portalUrlOf(core: AllInOne): string {
  const m = /listening portal http (\S+):(\d+)/.exec(core.output());
  if (!m) throw new Error(`no portal listener in the all-in-one's output:\n${core.output()}`);
  return `http://${m[1]}:${m[2]}`;
}

export class PortalOperator {
  private constructor(
    private readonly base: string,
    private readonly apiKey: string,
    private readonly email: string,
  ) {}

  /** Signs up `email` (an account for the numbers) and acts with `apiKey` from then on. */
  static async start(core: AllInOne, apiKey: string, email: string): Promise<PortalOperator> {
    const base = portalUrlOf(core);
    const res = await fetch(`${base}/accounts/`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'ngv-signup-code': SIGNUP_CODE },
      body: JSON.stringify({ email, password: 'operator tools 1', full_name: 'ISC tests' }),
    });
    if (res.status !== 201) throw new Error(`POST /accounts/ answered ${res.status}: ${await res.text()}`);
    return new PortalOperator(base, apiKey, email);
  }

  private async call(method: string, path: string, body?: { type: string; text: string }): Promise<Response> {
    const headers: Record<string, string> = { 'ngv-api-key': this.apiKey };
    if (body) headers['content-type'] = body.type;
    return fetch(`${this.base}/accounts/${enc(this.email)}/numbers/${path}`, { method, headers, ...(body ? { body: body.text } : {}) });
  }

  /** `POST .../numbers/`: the next number of the pool, with its SIP password. */
  async allocate(): Promise<PortalNumber> {
    const res = await this.call('POST', '');
    if (res.status !== 200 && res.status !== 201) throw new Error(`POST numbers answered ${res.status}: ${await res.text()}`);
    const n = (await res.json()) as { sip_uri: string; sip_password: string; number: string };
    return { number: n.number, password: n.sip_password, sipUri: n.sip_uri };
  }

  /** `PUT .../numbers/<sip_uri>/ifcs` with a ServiceProfile document; resolves with what the portal stored. */
  async putIfcs(number: PortalNumber, serviceProfile: string): Promise<string> {
    const res = await this.call('PUT', `${enc(number.sipUri)}/ifcs`, { type: 'application/xml', text: serviceProfile });
    const text = await res.text();
    if (res.status !== 200) throw new Error(`PUT ifcs answered ${res.status}: ${text}`);
    return text;
  }

  /** `GET .../numbers/<sip_uri>/ifcs`: the number's ServiceProfile as the HSS keeps it. */
  async getIfcs(number: PortalNumber): Promise<string> {
    const res = await this.call('GET', `${enc(number.sipUri)}/ifcs`);
    const text = await res.text();
    if (res.status !== 200) throw new Error(`GET ifcs answered ${res.status}: ${text}`);
    return text;
  }

  /** `PUT .../numbers/<sip_uri>/simservs` with a simservs document (TS 24.623); resolves with the portal's answer. */
  async putSimservs(number: PortalNumber, simservs: string): Promise<string> {
    const res = await this.call('PUT', `${enc(number.sipUri)}/simservs`, { type: 'application/xml', text: simservs });
    const text = await res.text();
    if (res.status !== 200) throw new Error(`PUT simservs answered ${res.status}: ${text}`);
    return text;
  }
}

/** One InitialFilterCriteria (TS 29.228 Annex B) for {@link serviceProfile}. */
export interface IfcSpec {
  readonly serverName: string;
  readonly priority?: number;
  /** SPTs ANDed in CNF, each in its own group, e.g. `<Method>INVITE</Method>`. */
  readonly spts: readonly string[];
  /** 0 SESSION_CONTINUED (default), 1 SESSION_TERMINATED. */
  readonly defaultHandling?: 0 | 1;
}

/** A ServiceProfile document with these criteria, for `PUT .../ifcs`. */
export function serviceProfile(impu: string, ifcs: readonly IfcSpec[]): string {
  const criteria = ifcs.map((ifc, i) => {
    const spts = ifc.spts.map((s, g) => `<SPT><ConditionNegated>0</ConditionNegated><Group>${g}</Group>${s}</SPT>`).join('');
    return (
      `<InitialFilterCriteria><Priority>${ifc.priority ?? i}</Priority>` +
      `<TriggerPoint><ConditionTypeCNF>1</ConditionTypeCNF>${spts}</TriggerPoint>` +
      `<ApplicationServer><ServerName>${ifc.serverName}</ServerName><DefaultHandling>${ifc.defaultHandling ?? 0}</DefaultHandling></ApplicationServer>` +
      `</InitialFilterCriteria>`
    );
  });
  return `<ServiceProfile><PublicIdentity><Identity>${impu}</Identity></PublicIdentity>${criteria.join('')}</ServiceProfile>`;
}
