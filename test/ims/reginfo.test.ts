import { describe, expect, it } from 'vitest';
import { escapeXml, fullReginfo, reginfoXml, reportContacts, REGINFO_NS, type ReportedContact } from '../../src/ims/core/reginfo.js';
import type { Binding } from '../../src/storage/index.js';
import { childrenNamed, parseXml } from './mini-xml.js';

const NOW = 1_700_000_000_000;

function binding(contact: string, extra: Partial<Binding> = {}): Binding {
  return { contact, path: [], expiresAt: NOW + 600_000, callId: 'reg-1', cseq: 1, registeredAt: NOW - 30_000, ...extra };
}

describe('reginfo documents (RFC 3680 §5.3)', () => {
  it('lists each non-barred identity with the contacts, their expiry, q, Call-ID, CSeq and instance', () => {
    const report = reportContacts(new Map(), [binding('sip:a@10.0.0.1:5060', { q: 0.5, instanceId: '<urn:uuid:1>', regId: 1 })], 'registered', NOW);
    const identities = [
      { impu: 'sip:6505550001@example.com', barred: false },
      { impu: 'tel:+16505550001', barred: false },
      { impu: 'sip:hidden@example.com', barred: true },
    ];
    const doc = parseXml(reginfoXml(fullReginfo(0, identities, report, NOW)));
    expect(doc.name).toBe('reginfo');
    expect(doc.attrs).toMatchObject({ xmlns: REGINFO_NS, version: '0', state: 'full' });
    const regs = childrenNamed(doc, 'registration');
    expect(regs.map((r) => r.attrs.aor)).toEqual(['sip:6505550001@example.com', 'tel:+16505550001']);
    expect(regs.every((r) => r.attrs.state === 'active')).toBe(true);
    expect(new Set(regs.map((r) => r.attrs.id)).size).toBe(2);
    const contact = childrenNamed(regs[0]!, 'contact')[0]!;
    expect(contact.attrs).toMatchObject({
      state: 'active',
      event: 'registered',
      expires: '600',
      q: '0.5',
      callid: 'reg-1',
      cseq: '1',
      'duration-registered': '30',
    });
    expect(childrenNamed(contact, 'uri')[0]!.text).toBe('sip:a@10.0.0.1:5060');
    const params = childrenNamed(contact, 'unknown-param').map((p) => [p.attrs.name, p.text]);
    expect(params).toEqual([
      ['+sip.instance', '<urn:uuid:1>'],
      ['reg-id', '1'],
    ]);
  });

  it('escapes markup in URIs, Call-IDs and identities so the document stays well-formed', () => {
    const nasty = 'sip:a&b@h;x="<y>"';
    const callId = `c'"<&>`;
    const report = reportContacts(new Map(), [binding(nasty, { callId })], 'registered', NOW);
    const xml = reginfoXml(fullReginfo(3, [{ impu: 'sip:o\'"<&>@example.com', barred: false }], report, NOW));
    expect(xml).not.toContain('<y>');
    const doc = parseXml(xml);
    const reg = childrenNamed(doc, 'registration')[0]!;
    expect(reg.attrs.aor).toBe('sip:o\'"<&>@example.com');
    const contact = childrenNamed(reg, 'contact')[0]!;
    expect(contact.attrs.callid).toBe(callId);
    expect(childrenNamed(contact, 'uri')[0]!.text).toBe(nasty);
  });

  it('replaces characters XML cannot carry', () => {
    expect(escapeXml('a\u0001b\ud800c\td')).toBe('a\ufffdb\ufffdc\td');
    expect(escapeXml('😀&')).toBe('😀&amp;');
  });

  it('keeps an unchanged contact event, marks a re-registration refreshed and a new contact registered', () => {
    const first = reportContacts(new Map(), [binding('sip:a@h')], 'registered', NOW);
    const next = reportContacts(first.next, [binding('sip:a@h', { cseq: 2 }), binding('sip:b@h', { callId: 'reg-2' })], 'refreshed', NOW);
    expect(next.active.map((c) => [c.binding.contact, c.event])).toEqual([
      ['sip:a@h', 'refreshed'],
      ['sip:b@h', 'registered'],
    ]);
    const again = reportContacts(next.next, [binding('sip:a@h', { cseq: 2 }), binding('sip:b@h', { callId: 'reg-2' })], 'refreshed', NOW);
    expect(again.active.map((c) => c.event)).toEqual(['refreshed', 'registered']);
    expect(again.terminated).toEqual([]);
  });

  it('reports a vanished contact once as terminated, with the event its cause implies', () => {
    const reported = (b: Binding): Map<string, ReportedContact> => reportContacts(new Map(), [b], 'registered', NOW).next;
    const live = binding('sip:a@h');
    const past = binding('sip:a@h', { expiresAt: NOW - 1 });
    expect(reportContacts(reported(live), [], 'deregistered', NOW).terminated[0]!.event).toBe('unregistered');
    expect(reportContacts(reported(live), [], 'flow-failed', NOW).terminated[0]!.event).toBe('deactivated');
    expect(reportContacts(reported(live), [], 'expired', NOW).terminated[0]!.event).toBe('expired');
    // gone from a REGISTER's refresh of another contact, but its time had run out: expired
    expect(reportContacts(reportContacts(new Map(), [past], 'registered', NOW - 10).next, [], 'refreshed', NOW).terminated[0]!.event).toBe('expired');
    const gone = reportContacts(reported(live), [], 'deregistered', NOW);
    expect(reportContacts(gone.next, [], 'none', NOW).terminated).toEqual([]);
  });

  it('gives a terminated contact expires 0 and its registration the terminated state, then init', () => {
    const before = reportContacts(new Map(), [binding('sip:a@h')], 'registered', NOW);
    const after = reportContacts(before.next, [], 'deregistered', NOW);
    const doc = parseXml(reginfoXml(fullReginfo(1, [{ impu: 'sip:u@example.com', barred: false }], after, NOW)));
    const reg = childrenNamed(doc, 'registration')[0]!;
    expect(reg.attrs.state).toBe('terminated');
    expect(childrenNamed(reg, 'contact')[0]!.attrs).toMatchObject({ state: 'terminated', event: 'unregistered', expires: '0' });
    const empty = parseXml(reginfoXml(fullReginfo(2, [{ impu: 'sip:u@example.com', barred: false }], reportContacts(after.next, [], 'none', NOW), NOW)));
    expect(childrenNamed(empty, 'registration')[0]!.attrs.state).toBe('init');
    expect(childrenNamed(empty, 'registration')[0]!.children).toEqual([]);
  });
});
