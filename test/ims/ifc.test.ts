/**
 * Initial Filter Criteria (3GPP TS 29.228 Annex B and F): compiling a service profile's
 * criteria, and matching requests against them in priority order, CNF and DNF, with negation.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  compileFilterCriteria,
  DefaultHandling,
  FilterCriteriaCache,
  ifcRequestOf,
  nextMatch,
  RegistrationType,
  SessionCase,
  sptMatches,
  triggerMatches,
  type IfcRequest,
  type IfcSituation,
  type ServicePointTrigger,
  type TriggerPoint,
} from '../../src/ims/ifc/index.js';
import { request } from './ims-fakes.js';

const ORIG: IfcSituation = { sessionCase: SessionCase.ORIGINATING_REGISTERED, registered: true };
const TERM: IfcSituation = { sessionCase: SessionCase.TERMINATING_REGISTERED, registered: true };
const TERM_UNREG: IfcSituation = { sessionCase: SessionCase.TERMINATING_UNREGISTERED, registered: false };

interface Spt {
  readonly group?: number | number[];
  readonly negated?: boolean;
  readonly body: string;
}

function sptXml(s: Spt): string {
  const groups = s.group === undefined ? [0] : Array.isArray(s.group) ? s.group : [s.group];
  return `<SPT>${s.negated ? '<ConditionNegated>1</ConditionNegated>' : ''}${groups.map((g) => `<Group>${g}</Group>`).join('')}${s.body}</SPT>`;
}

interface Ifc {
  readonly priority: number;
  readonly as: string;
  readonly cnf?: boolean;
  readonly spts?: Spt[];
  readonly dh?: 0 | 1;
  readonly extra?: string;
  readonly asExtra?: string;
}

function ifcXml(i: Ifc): string {
  const trigger = i.spts ? `<TriggerPoint><ConditionTypeCNF>${i.cnf ? 1 : 0}</ConditionTypeCNF>${i.spts.map(sptXml).join('')}</TriggerPoint>` : '';
  const dh = i.dh === undefined ? '' : `<DefaultHandling>${i.dh}</DefaultHandling>`;
  return `<InitialFilterCriteria><Priority>${i.priority}</Priority>${trigger}<ApplicationServer><ServerName>${i.as}</ServerName>${dh}${i.asExtra ?? ''}</ApplicationServer>${i.extra ?? ''}</InitialFilterCriteria>`;
}

function profile(...ifcs: Ifc[]): string {
  return `<ServiceProfile><PublicIdentity><Identity>sip:6505550001@example.com</Identity></PublicIdentity>${ifcs.map(ifcXml).join('')}</ServiceProfile>`;
}

const method = (m: string, extra = ''): string => `<Method>${m}</Method>${extra}`;
const sessionCase = (n: number): string => `<SessionCase>${n}</SessionCase>`;

function invite(extra: string[] = [], body = ''): IfcRequest {
  return ifcRequestOf(
    request(
      [
        'INVITE sip:6505550002@example.com SIP/2.0',
        'Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1',
        'From: <sip:6505550001@example.com>;tag=a',
        'To: <sip:6505550002@example.com>',
        'Call-ID: c1',
        'CSeq: 1 INVITE',
        'Max-Forwards: 70',
        ...(body ? ['Content-Type: application/sdp'] : []),
        ...extra,
      ],
      body,
    ),
  );
}

const AUDIO_VIDEO_SDP = 'v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\nm=video 4002 RTP/AVP 96\r\n';

/** The AS names of the criteria that match, in evaluation order. */
function matching(xml: string, req: IfcRequest, situation: IfcSituation): string[] {
  const criteria = compileFilterCriteria(xml);
  const out: string[] = [];
  for (let i = nextMatch(criteria, req, situation); i >= 0; i = nextMatch(criteria, req, situation, i + 1)) out.push(criteria.criteria[i]!.applicationServer.serverName);
  return out;
}

describe('compiling a service profile', () => {
  it('orders the criteria by Priority and reads the application server of each', () => {
    const compiled = compileFilterCriteria(
      profile(
        { priority: 20, as: 'sip:second.example.com', dh: 1 },
        { priority: 5, as: 'sip:first.example.com', asExtra: '<ServiceInfo>mode=fast</ServiceInfo><IncludeRegisterRequest/>' },
        { priority: 30, as: 'sip:third.example.com', asExtra: '<Extension><IncludeRegisterResponse/></Extension>', extra: '<ProfilePartIndicator>1</ProfilePartIndicator>' },
      ),
    );
    expect(compiled.problems).toEqual([]);
    expect(compiled.criteria.map((c) => [c.priority, c.applicationServer.serverName])).toEqual([
      [5, 'sip:first.example.com'],
      [20, 'sip:second.example.com'],
      [30, 'sip:third.example.com'],
    ]);
    const [first, second, third] = compiled.criteria;
    expect(first!.applicationServer).toEqual({
      serverName: 'sip:first.example.com',
      defaultHandling: DefaultHandling.SESSION_CONTINUED,
      serviceInfo: 'mode=fast',
      includeRegisterRequest: true,
      includeRegisterResponse: false,
    });
    expect(second!.applicationServer.defaultHandling).toBe(DefaultHandling.SESSION_TERMINATED);
    expect(third!.applicationServer.includeRegisterResponse).toBe(true);
    expect(third!.profilePart).toBe('unregistered');
  });

  it('reads the profiles of an IMSSubscription and elements in the TS 29.228 namespace', () => {
    const xml = `<IMSSubscription xmlns="urn:3gpp:ns:ims:1.0"><PrivateID>a@example.com</PrivateID>${profile({ priority: 1, as: 'sip:as.example.com' })}</IMSSubscription>`;
    expect(compileFilterCriteria(xml).criteria.map((c) => c.applicationServer.serverName)).toEqual(['sip:as.example.com']);
  });

  it('leaves out a criterion it cannot use, naming why, and keeps the others', () => {
    const compiled = compileFilterCriteria(
      profile(
        { priority: 1, as: 'sip:bad-regex.example.com', spts: [{ body: '<RequestURI>sip:(unclosed</RequestURI>' }] },
        { priority: 2, as: 'sip:good.example.com', spts: [{ body: method('INVITE') }] },
        { priority: 3, as: 'sip:bad-case.example.com', spts: [{ body: sessionCase(7) }] },
      ),
    );
    expect(compiled.criteria.map((c) => c.applicationServer.serverName)).toEqual(['sip:good.example.com']);
    expect(compiled.problems).toEqual([
      expect.stringMatching(/^InitialFilterCriteria 1 left out: RequestURI 'sip:\(unclosed' is not a usable regular expression/),
      'InitialFilterCriteria 3 left out: SessionCase must be 0 to 4, got 7',
    ]);
  });

  it('gives no criteria for a profile that is not XML or has none', () => {
    expect(compileFilterCriteria('<ServiceProfile><InitialFilterCriteria>').criteria).toEqual([]);
    expect(compileFilterCriteria('<ServiceProfile><InitialFilterCriteria>').problems[0]).toMatch(/not well-formed XML/);
    expect(compileFilterCriteria('<ServiceProfile/>')).toEqual({ criteria: [], problems: [] });
    expect(compileFilterCriteria('')).toEqual({ criteria: [], problems: [] });
  });

  it('compiles a profile once: the cache hands out the same criteria and regular expressions', () => {
    const problems: string[][] = [];
    const cache = new FilterCriteriaCache(2, (p) => problems.push([...p]));
    const xml = profile({ priority: 1, as: 'sip:as.example.com', spts: [{ body: '<RequestURI>^sip:65055</RequestURI>' }] });
    const a = cache.get(xml);
    const b = cache.get(xml);
    expect(b).toBe(a);
    const pattern = (c: typeof a) => (c.criteria[0]!.trigger!.groups[0]![0] as { pattern: RegExp }).pattern;
    expect(pattern(a)).toBeInstanceOf(RegExp);
    expect(pattern(b)).toBe(pattern(a));
    cache.get(profile({ priority: 1, as: 'sip:x.example.com' }));
    cache.get(profile({ priority: 1, as: 'sip:y.example.com' }));
    expect(cache.size).toBe(2);
    expect(cache.get(xml)).not.toBe(a);
    cache.get(profile({ priority: 1, as: 'sip:z.example.com', spts: [{ body: sessionCase(9) }] }));
    expect(problems).toEqual([['InitialFilterCriteria 1 left out: SessionCase must be 0 to 4, got 9']]);
  });

  it('shares one compiled entry between subscribers whose profiles differ only in their identities', () => {
    const cache = new FilterCriteriaCache(100);
    const criteria = profile({ priority: 1, as: 'sip:as.example.com', spts: [{ body: method('INVITE') }] });
    const first = cache.get(criteria);
    for (let n = 2; n <= 50; n++) {
      const other = criteria.replace('6505550001', `65055500${String(n).padStart(2, '0')}`);
      expect(other).not.toBe(criteria);
      expect(cache.get(other)).toBe(first);
    }
    expect(cache.size).toBe(1);
    expect(cache.get(profile({ priority: 1, as: 'sip:other.example.com', spts: [{ body: method('INVITE') }] }))).not.toBe(first);
    expect(cache.size).toBe(2);
  });
});

describe('matching a request', () => {
  it('matches an unconditional criterion and the method, case-insensitively', () => {
    const xml = profile({ priority: 1, as: 'sip:all' }, { priority: 2, as: 'sip:invite', spts: [{ body: method('invite') }] }, { priority: 3, as: 'sip:message', spts: [{ body: method('MESSAGE') }] });
    expect(matching(xml, invite(), ORIG)).toEqual(['sip:all', 'sip:invite']);
  });

  it('matches the Request-URI by regular expression', () => {
    const xml = profile({ priority: 1, as: 'sip:a', spts: [{ body: '<RequestURI>^sip:650555000[0-9]@</RequestURI>' }] }, { priority: 2, as: 'sip:b', spts: [{ body: '<RequestURI>@other\\.net$</RequestURI>' }] });
    expect(matching(xml, invite(), ORIG)).toEqual(['sip:a']);
  });

  it('matches a header by presence, by content, and its absence with ConditionNegated', () => {
    const xml = profile(
      { priority: 1, as: 'sip:has-privacy', spts: [{ body: '<SIPHeader><Header>Privacy</Header></SIPHeader>' }] },
      { priority: 2, as: 'sip:privacy-id', spts: [{ body: '<SIPHeader><Header>privacy</Header><Content>\\bid\\b</Content></SIPHeader>' }] },
      { priority: 3, as: 'sip:no-alert', spts: [{ negated: true, body: '<SIPHeader><Header>Alert-Info</Header></SIPHeader>' }] },
      { priority: 4, as: 'sip:compact-from', spts: [{ body: '<SIPHeader><Header>f</Header><Content>6505550001</Content></SIPHeader>' }] },
    );
    expect(matching(xml, invite(['Privacy: id']), ORIG)).toEqual(['sip:has-privacy', 'sip:privacy-id', 'sip:no-alert', 'sip:compact-from']);
    expect(matching(xml, invite(['Privacy: header', 'Alert-Info: <urn:alert:service:call-waiting>']), ORIG)).toEqual(['sip:has-privacy', 'sip:compact-from']);
  });

  it('matches the session case', () => {
    const xml = profile(
      { priority: 1, as: 'sip:orig', spts: [{ body: sessionCase(0) }] },
      { priority: 2, as: 'sip:term', spts: [{ body: sessionCase(1) }] },
      { priority: 3, as: 'sip:term-unreg', spts: [{ body: sessionCase(2) }] },
    );
    expect(matching(xml, invite(), ORIG)).toEqual(['sip:orig']);
    expect(matching(xml, invite(), TERM)).toEqual(['sip:term']);
    expect(matching(xml, invite(), TERM_UNREG)).toEqual(['sip:term-unreg']);
  });

  it('matches SDP lines of an application/sdp body', () => {
    const xml = profile(
      { priority: 1, as: 'sip:video', spts: [{ body: '<SessionDescription><Line>m</Line><Content>^video</Content></SessionDescription>' }] },
      { priority: 2, as: 'sip:any-media', spts: [{ body: '<SessionDescription><Line>m</Line></SessionDescription>' }] },
    );
    expect(matching(xml, invite([], AUDIO_VIDEO_SDP), ORIG)).toEqual(['sip:video', 'sip:any-media']);
    expect(matching(xml, invite([], AUDIO_VIDEO_SDP.replace(/m=video.*\r\n/, '')), ORIG)).toEqual(['sip:any-media']);
    expect(matching(xml, invite(), ORIG)).toEqual([]);
  });

  it('matches REGISTER by registration type, and any REGISTER without one', () => {
    const xml = profile(
      { priority: 1, as: 'sip:initial', spts: [{ body: method('REGISTER', '<Extension><RegistrationType>0</RegistrationType></Extension>') }] },
      { priority: 2, as: 'sip:re-or-de', spts: [{ body: method('REGISTER', '<Extension><RegistrationType>1</RegistrationType><RegistrationType>2</RegistrationType></Extension>') }] },
      { priority: 3, as: 'sip:any', spts: [{ body: method('REGISTER') }] },
    );
    const reg: IfcRequest = { method: 'REGISTER', requestUri: 'sip:example.com', headerValues: () => [], sdpLines: () => [] };
    const at = (registrationType: RegistrationType) => matching(xml, reg, { ...ORIG, registrationType });
    expect(at(RegistrationType.INITIAL_REGISTRATION)).toEqual(['sip:initial', 'sip:any']);
    expect(at(RegistrationType.RE_REGISTRATION)).toEqual(['sip:re-or-de', 'sip:any']);
    expect(at(RegistrationType.DE_REGISTRATION)).toEqual(['sip:re-or-de', 'sip:any']);
  });

  it('applies a criterion of the registered or unregistered profile part only in that state', () => {
    const xml = profile(
      { priority: 1, as: 'sip:reg-only', extra: '<ProfilePartIndicator>0</ProfilePartIndicator>' },
      { priority: 2, as: 'sip:unreg-only', extra: '<ProfilePartIndicator>1</ProfilePartIndicator>' },
      { priority: 3, as: 'sip:always' },
    );
    expect(matching(xml, invite(), TERM)).toEqual(['sip:reg-only', 'sip:always']);
    expect(matching(xml, invite(), TERM_UNREG)).toEqual(['sip:unreg-only', 'sip:always']);
  });

  it('evaluates CNF (AND of ORs) and DNF (OR of ANDs) over the groups, an SPT being in several', () => {
    const spts: Spt[] = [
      { group: [1, 2], body: method('INVITE') },
      { group: 1, body: sessionCase(1) },
      { group: 2, body: '<SIPHeader><Header>Privacy</Header></SIPHeader>' },
    ];
    const cnf = profile({ priority: 1, as: 'sip:cnf', cnf: true, spts });
    const dnf = profile({ priority: 1, as: 'sip:dnf', cnf: false, spts });
    // CNF: (INVITE or term) and (INVITE or Privacy); DNF: (INVITE and term) or (INVITE and Privacy).
    expect(matching(cnf, invite(), ORIG)).toEqual(['sip:cnf']);
    expect(matching(dnf, invite(), ORIG)).toEqual([]);
    expect(matching(dnf, invite(), TERM)).toEqual(['sip:dnf']);
    expect(matching(dnf, invite(['Privacy: id']), ORIG)).toEqual(['sip:dnf']);
  });

  it('resumes after the criterion last used', () => {
    const criteria = compileFilterCriteria(profile({ priority: 1, as: 'sip:a' }, { priority: 2, as: 'sip:b', spts: [{ body: method('MESSAGE') }] }, { priority: 3, as: 'sip:c' }));
    expect(nextMatch(criteria, invite(), ORIG, 0)).toBe(0);
    expect(nextMatch(criteria, invite(), ORIG, 1)).toBe(2);
    expect(nextMatch(criteria, invite(), ORIG, 3)).toBe(-1);
  });
});

describe('properties of the trigger logic', () => {
  const METHODS = ['INVITE', 'MESSAGE', 'OPTIONS'] as const;
  /** An SPT on the method: true when the request's method is the one named. */
  const spt = fc.record({ method: fc.constantFrom(...METHODS), negated: fc.boolean() }).map(
    ({ method: m, negated }): ServicePointTrigger => ({ kind: 'method', method: m, registrationTypes: 0, negated }),
  );
  const groups = fc.array(fc.array(spt, { minLength: 1, maxLength: 4 }), { minLength: 1, maxLength: 4 });
  const req = fc.constantFrom(...METHODS).map((m): IfcRequest => ({ method: m, requestUri: 'sip:x@example.com', headerValues: () => [], sdpLines: () => [] }));
  const negate = (s: ServicePointTrigger): ServicePointTrigger => ({ ...s, negated: !s.negated });

  it('ConditionNegated turns every SPT into its opposite', () => {
    fc.assert(fc.property(spt, req, (s, r) => sptMatches(negate(s), r, ORIG) === !sptMatches(s, r, ORIG)));
  });

  it('CNF of the groups is the negation of DNF of the negated SPTs (De Morgan)', () => {
    fc.assert(
      fc.property(groups, req, (g, r) => {
        const cnf: TriggerPoint = { cnf: true, groups: g };
        const dnfOfNegated: TriggerPoint = { cnf: false, groups: g.map((group) => group.map(negate)) };
        return triggerMatches(cnf, r, ORIG) === !triggerMatches(dnfOfNegated, r, ORIG);
      }),
    );
  });

  it('one group is an OR in CNF and an AND in DNF; one SPT per group is the reverse', () => {
    fc.assert(
      fc.property(fc.array(spt, { minLength: 1, maxLength: 5 }), req, (list, r) => {
        const values = list.map((s) => sptMatches(s, r, ORIG));
        const or = values.some(Boolean);
        const and = values.every(Boolean);
        const single = [list];
        const apart = list.map((s) => [s]);
        return (
          triggerMatches({ cnf: true, groups: single }, r, ORIG) === or &&
          triggerMatches({ cnf: false, groups: single }, r, ORIG) === and &&
          triggerMatches({ cnf: true, groups: apart }, r, ORIG) === and &&
          triggerMatches({ cnf: false, groups: apart }, r, ORIG) === or
        );
      }),
    );
  });

  it('a compiled profile evaluates to the boolean formula its XML writes, whatever the grouping', () => {
    const xmlSpt = fc.record({ method: fc.constantFrom(...METHODS), negated: fc.boolean(), groups: fc.uniqueArray(fc.integer({ min: 0, max: 3 }), { minLength: 1, maxLength: 3 }) });
    fc.assert(
      fc.property(fc.array(xmlSpt, { minLength: 1, maxLength: 6 }), fc.boolean(), fc.constantFrom(...METHODS), (list, cnf, m) => {
        const xml = profile({ priority: 1, as: 'sip:as', cnf, spts: list.map((s) => ({ group: s.groups, negated: s.negated, body: method(s.method) })) });
        const truth = (s: (typeof list)[number]) => (s.method === m) !== s.negated;
        const ids = [...new Set(list.flatMap((s) => s.groups))];
        const inGroup = (id: number) => list.filter((s) => s.groups.includes(id));
        const expected = cnf ? ids.every((id) => inGroup(id).some(truth)) : ids.some((id) => inGroup(id).every(truth));
        const r: IfcRequest = { method: m, requestUri: 'sip:x@example.com', headerValues: () => [], sdpLines: () => [] };
        return (nextMatch(compileFilterCriteria(xml), r, ORIG) === 0) === expected;
      }),
    );
  });

  it('nextMatch is the first criterion at or after the start that matches on its own', () => {
    const criterionSpec = fc.record({ priority: fc.integer({ min: 0, max: 20 }), method: fc.constantFrom(...METHODS) });
    fc.assert(
      fc.property(fc.array(criterionSpec, { maxLength: 8 }), fc.constantFrom(...METHODS), fc.integer({ min: 0, max: 9 }), (specs, m, from) => {
        const criteria = compileFilterCriteria(profile(...specs.map((s, i) => ({ priority: s.priority, as: `sip:as${i}`, spts: [{ body: method(s.method) }] }))));
        const r: IfcRequest = { method: m, requestUri: 'sip:x@example.com', headerValues: () => [], sdpLines: () => [] };
        const alone = criteria.criteria.map((c) => nextMatch({ criteria: [c], problems: [] }, r, ORIG) === 0);
        let expected = -1;
        for (let i = from; i < alone.length; i++) if (alone[i]) {
          expected = i;
          break;
        }
        const priorities = criteria.criteria.map((c) => c.priority);
        return nextMatch(criteria, r, ORIG, from) === expected && priorities.every((p, i) => i === 0 || priorities[i - 1]! <= p);
      }),
    );
  });
});
