/**
 * The MMTel AS for a callee (sescase=term): incoming barring and anonymous rejection
 * (TS 24.611), privacy towards the callee (TS 24.607) and communication diversion (TS 24.604),
 * on a real proxy core and SIP stack over a fake network with a fake clock. The fake S-CSCF
 * sends the ISC request and gets back what the AS forwards.
 */
import { describe, expect, it } from 'vitest';
import { send, answer, cancelOf } from '../sip/proxy/harness.js';
import {
  ALICE,
  BOB,
  CAROL,
  DAVE,
  SCSCF_ROUTE,
  barringService,
  diversion,
  forwarded,
  got,
  isc,
  mmtelRig,
  responses,
} from './mmtel-rig.js';

const NUMBER = (n: number) => `sip:65055500${n.toString().padStart(2, '0')}@example.com`;

describe('MMTel AS, terminating: pass-through, barring and privacy', () => {
  it('sends the call back to the S-CSCF along its Route, unchanged, and relays the answers', async () => {
    const t = mmtelRig();
    await t.simservs(BOB, diversion([]) + barringService('incoming', [{ allow: true }]));
    send(t.scscf, isc(t.scscf, { headers: [['Alert-Info', '<urn:alert:service:call-waiting>']] }));
    await t.settle();
    const fwd = forwarded(t.scscf);
    expect(fwd).toHaveLength(1);
    expect(fwd[0]!.uriString).toBe(BOB);
    expect(fwd[0]!.getAll('route')).toEqual([SCSCF_ROUTE]);
    expect(fwd[0]!.has('record-route')).toBe(false);
    expect(fwd[0]!.get('alert-info')).toBe('<urn:alert:service:call-waiting>');
    expect(fwd[0]!.get('p-asserted-identity')).toBe(`<${ALICE}>`);
    expect(fwd[0]!.has('history-info')).toBe(false);
    answer(t.scscf, 'INVITE', 180);
    await t.settle();
    answer(t.scscf, 'INVITE', 200);
    await t.settle();
    expect(got(t.scscf)).toEqual([100, 180, 200]);
  });

  it('passes a call for a user without a document, and methods it has no service for', async () => {
    const t = mmtelRig();
    send(t.scscf, isc(t.scscf));
    send(t.scscf, isc(t.scscf, { method: 'OPTIONS' }));
    await t.settle();
    expect(forwarded(t.scscf)).toHaveLength(1);
    expect(forwarded(t.scscf, 'OPTIONS')).toHaveLength(1);
  });

  it('bars every incoming call with an allow=false rule without conditions (603)', async () => {
    const t = mmtelRig();
    await t.simservs(BOB, barringService('incoming', [{ allow: false }]));
    send(t.scscf, isc(t.scscf));
    send(t.scscf, isc(t.scscf, { method: 'MESSAGE' }));
    await t.settle();
    expect(forwarded(t.scscf)).toHaveLength(0);
    expect(forwarded(t.scscf, 'MESSAGE')).toHaveLength(0);
    expect(responses(t.scscf, 603).map((r) => r.reason)).toEqual(['Decline - incoming communication barred', 'Decline - incoming communication barred']);
  });

  it('lets a matching allow=true rule win over an allow=false one, and ignores an inactive service', async () => {
    const t = mmtelRig();
    await t.simservs(BOB, barringService('incoming', [{ allow: false }, { allow: true }]));
    send(t.scscf, isc(t.scscf));
    await t.settle();
    expect(forwarded(t.scscf)).toHaveLength(1);
    await t.simservs(BOB, barringService('incoming', [{ allow: false }], false));
    send(t.scscf, isc(t.scscf));
    await t.settle();
    expect(forwarded(t.scscf)).toHaveLength(2);
  });

  it('rejects anonymous callers (Privacy: id, or an anonymous From) and lets identified ones through', async () => {
    const t = mmtelRig();
    await t.simservs(BOB, barringService('incoming', [{ conditions: ['anonymous'], allow: false }]));
    send(t.scscf, isc(t.scscf, { headers: [['Privacy', 'id']] }));
    const anonFrom = isc(t.scscf, { noPai: true });
    anonFrom.set('from', `"Anonymous" <sip:anonymous@anonymous.invalid>;tag=x1`);
    send(t.scscf, anonFrom);
    await t.settle();
    expect(responses(t.scscf, 603).map((r) => r.reason)).toEqual(['Decline - anonymous communication rejected', 'Decline - anonymous communication rejected']);
    expect(forwarded(t.scscf)).toHaveLength(0);
    send(t.scscf, isc(t.scscf));
    await t.settle();
    expect(forwarded(t.scscf)).toHaveLength(1);
  });

  it('removes P-Asserted-Identity towards a callee when the caller asked for identity privacy', async () => {
    const t = mmtelRig();
    await t.simservs(BOB, diversion([]));
    send(t.scscf, isc(t.scscf, { headers: [['Privacy', 'id']] }));
    await t.settle();
    const fwd = forwarded(t.scscf);
    expect(fwd[0]!.has('p-asserted-identity')).toBe(false);
    expect(fwd[0]!.get('privacy')).toBe('id');
  });

  it('answers 500 when the document store fails, so the S-CSCF applies DefaultHandling', async () => {
    const t = mmtelRig({ failing: true });
    send(t.scscf, isc(t.scscf));
    await t.settle();
    expect(got(t.scscf)).toEqual([100, 500]);
    expect(String(t.errors[0])).toMatch(/XDMS down/);
  });

  it('applies a changed document on the very next call, without a restart', async () => {
    const t = mmtelRig();
    await t.simservs(BOB, diversion([]) + barringService('incoming', [{ allow: true }]));
    send(t.scscf, isc(t.scscf));
    await t.settle();
    expect(forwarded(t.scscf).map((r) => r.uriString)).toEqual([BOB]);
    await t.simservs(BOB, diversion([{ target: CAROL }]) + barringService('incoming', [{ allow: true }]));
    send(t.scscf, isc(t.scscf));
    await t.settle();
    expect(forwarded(t.scscf).map((r) => r.uriString)).toEqual([BOB, CAROL]);
    await t.simservs(BOB, diversion([{ target: CAROL }]) + barringService('incoming', [{ allow: false }]));
    send(t.scscf, isc(t.scscf));
    await t.settle();
    expect(forwarded(t.scscf)).toHaveLength(2);
    expect(responses(t.scscf, 603)).toHaveLength(1);
  });
});

describe('MMTel AS, terminating: communication diversion', () => {
  it('forwards unconditionally at once: 181 to the caller, new Request-URI, History-Info with cause 302', async () => {
    const t = mmtelRig();
    await t.simservs(BOB, diversion([{ target: CAROL }]));
    send(t.scscf, isc(t.scscf));
    await t.settle();
    const fwd = forwarded(t.scscf);
    expect(fwd).toHaveLength(1);
    expect(fwd[0]!.uriString).toBe(CAROL);
    expect(fwd[0]!.getAll('route')).toEqual([SCSCF_ROUTE]);
    expect(fwd[0]!.get('to')).toBe(`<${BOB}>`);
    expect(fwd[0]!.getAll('history-info')).toEqual([
      `<${BOB}?Reason=SIP%3Bcause%3D302%3Btext%3D%22Moved%20Temporarily%22>;index=1`,
      `<${CAROL};cause=302>;index=1.1;mp=1`,
    ]);
    expect(got(t.scscf)).toEqual([100, 181]);
    expect(responses(t.scscf, 181)[0]!.getAll('history-info')).toHaveLength(2);
    answer(t.scscf, 'INVITE', 200);
    await t.settle();
    expect(got(t.scscf)).toEqual([100, 181, 200]);
  });

  it('keeps silent towards the caller when the rule says notify-caller false', async () => {
    const t = mmtelRig();
    await t.simservs(BOB, diversion([{ target: CAROL, options: '<notify-caller>false</notify-caller>' }]));
    send(t.scscf, isc(t.scscf));
    await t.settle();
    expect(forwarded(t.scscf)[0]!.uriString).toBe(CAROL);
    expect(got(t.scscf)).toEqual([100]);
  });

  it('diverts a busy callee (486) to the busy target with cause 486; the caller never sees the 486', async () => {
    const t = mmtelRig();
    await t.simservs(BOB, diversion([{ conditions: ['busy'], target: CAROL }]));
    send(t.scscf, isc(t.scscf));
    await t.settle();
    expect(forwarded(t.scscf).map((r) => r.uriString)).toEqual([BOB]);
    answer(t.scscf, 'INVITE', 486);
    await t.settle();
    const fwd = forwarded(t.scscf);
    expect(fwd.map((r) => r.uriString)).toEqual([BOB, CAROL]);
    expect(fwd[1]!.getAll('history-info')).toEqual([
      `<${BOB}?Reason=SIP%3Bcause%3D486%3Btext%3D%22Busy%20Here%22>;index=1`,
      `<${CAROL};cause=486>;index=1.1;mp=1`,
    ]);
    expect(fwd[1]!.getAll('route')).toEqual([SCSCF_ROUTE]);
    answer(t.scscf, 'INVITE', 200);
    await t.settle();
    expect(got(t.scscf)).toEqual([100, 181, 200]);
  });

  it('passes a 486 through when there is no busy rule', async () => {
    const t = mmtelRig();
    await t.simservs(BOB, diversion([{ conditions: ['no-answer'], target: CAROL }]));
    send(t.scscf, isc(t.scscf));
    await t.settle();
    answer(t.scscf, 'INVITE', 486);
    await t.settle();
    expect(forwarded(t.scscf)).toHaveLength(1);
    expect(got(t.scscf)).toEqual([100, 486]);
  });

  it('diverts on no answer: after NoReplyTimer it cancels the ringing branch, then forwards with cause 408', async () => {
    const t = mmtelRig();
    await t.simservs(BOB, diversion([{ conditions: ['no-answer'], target: CAROL }], 15));
    send(t.scscf, isc(t.scscf));
    await t.settle();
    answer(t.scscf, 'INVITE', 180);
    await t.settle();
    t.r.clock.advance(14_900);
    await t.settle();
    expect(forwarded(t.scscf, 'CANCEL')).toHaveLength(0);
    t.r.clock.advance(100);
    await t.settle();
    expect(forwarded(t.scscf, 'CANCEL')).toHaveLength(1);
    answer(t.scscf, 'CANCEL', 200);
    answer(t.scscf, 'INVITE', 487);
    await t.settle();
    const fwd = forwarded(t.scscf);
    expect(fwd.map((r) => r.uriString)).toEqual([BOB, CAROL]);
    expect(fwd[1]!.getAll('history-info')[1]).toBe(`<${CAROL};cause=408>;index=1.1;mp=1`);
    expect(got(t.scscf)).toEqual([100, 180, 181]);
  });

  it('does not divert once the callee answered, nor after the caller cancelled', async () => {
    const t = mmtelRig();
    await t.simservs(BOB, diversion([{ conditions: ['no-answer'], target: CAROL }, { conditions: ['busy'], target: DAVE }], 10));
    send(t.scscf, isc(t.scscf));
    await t.settle();
    answer(t.scscf, 'INVITE', 200);
    await t.settle();
    t.r.clock.advance(20_000);
    await t.settle();
    expect(forwarded(t.scscf, 'CANCEL')).toHaveLength(0);
    expect(forwarded(t.scscf)).toHaveLength(1);

    const invite = isc(t.scscf);
    send(t.scscf, invite);
    await t.settle();
    answer(t.scscf, 'INVITE', 180);
    await t.settle();
    send(t.scscf, cancelOf(invite));
    await t.settle();
    expect(forwarded(t.scscf, 'CANCEL')).toHaveLength(1);
    answer(t.scscf, 'INVITE', 486);
    await t.settle();
    expect(forwarded(t.scscf)).toHaveLength(2);
    expect(responses(t.scscf, 487)).toHaveLength(1);
  });

  it('diverts an unregistered callee at once (regstate=unreg) and on the S-CSCF’s 480, with cause 404', async () => {
    const t = mmtelRig();
    await t.simservs(BOB, diversion([{ conditions: ['not-registered'], target: CAROL }]));
    send(t.scscf, isc(t.scscf, { regstate: 'unreg' }));
    await t.settle();
    let fwd = forwarded(t.scscf);
    expect(fwd.map((r) => r.uriString)).toEqual([CAROL]);
    expect(fwd[0]!.getAll('history-info')[1]).toBe(`<${CAROL};cause=404>;index=1.1;mp=1`);
    send(t.scscf, isc(t.scscf));
    await t.settle();
    answer(t.scscf, 'INVITE', 480);
    await t.settle();
    fwd = forwarded(t.scscf);
    expect(fwd.map((r) => r.uriString)).toEqual([CAROL, BOB, CAROL]);
    expect(fwd[2]!.getAll('history-info')[1]).toBe(`<${CAROL};cause=404>;index=1.1;mp=1`);
  });

  for (const status of [408, 503, 500]) {
    it(`diverts a callee that is not reachable (${status}) with cause 503`, async () => {
      const t = mmtelRig();
      await t.simservs(BOB, diversion([{ conditions: ['not-reachable'], target: CAROL }]));
      send(t.scscf, isc(t.scscf));
      await t.settle();
      answer(t.scscf, 'INVITE', status);
      await t.settle();
      const fwd = forwarded(t.scscf);
      expect(fwd.map((r) => r.uriString)).toEqual([BOB, CAROL]);
      expect(fwd[1]!.getAll('history-info')).toEqual([
        `<${BOB}?Reason=SIP%3Bcause%3D503%3Btext%3D%22Service%20Unavailable%22>;index=1`,
        `<${CAROL};cause=503>;index=1.1;mp=1`,
      ]);
      expect(got(t.scscf)).toEqual([100, 181]);
    });
  }

  it('selects rules by the media of the offer: video calls to one target, audio-only to another', async () => {
    const t = mmtelRig();
    await t.simservs(BOB, diversion([{ media: ['video'], target: DAVE }, { media: ['audio'], target: CAROL }]));
    send(t.scscf, isc(t.scscf, { media: ['audio'] }));
    send(t.scscf, isc(t.scscf, { media: ['audio', 'video'] }));
    await t.settle();
    expect(forwarded(t.scscf).map((r) => r.uriString).sort()).toEqual([CAROL, DAVE].sort());
    const byCall = new Map(forwarded(t.scscf).map((r) => [r.body.toString().includes('m=video') ? 'av' : 'a', r.uriString]));
    expect(byCall.get('a')).toBe(CAROL);
    expect(byCall.get('av')).toBe(DAVE);
  });

  it('does not apply a video rule to an audio call whose video stream is disabled (port 0), nor to one without SDP', async () => {
    const t = mmtelRig();
    await t.simservs(BOB, diversion([{ media: ['video'], target: DAVE }]));
    const req = isc(t.scscf);
    req.setBody('v=0\r\no=- 1 1 IN IP4 192.0.2.5\r\ns=-\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\nm=video 0 RTP/AVP 96\r\n', 'application/sdp');
    send(t.scscf, req);
    send(t.scscf, isc(t.scscf));
    await t.settle();
    expect(forwarded(t.scscf).map((r) => r.uriString)).toEqual([BOB, BOB]);
  });

  it('answers 480 for a forwarding target that cannot be used, at once or after a busy', async () => {
    const t = mmtelRig();
    await t.simservs(BOB, diversion([{ target: 'sip:voicemail@nowhere.invalid' }]));
    send(t.scscf, isc(t.scscf));
    await t.settle();
    expect(forwarded(t.scscf)).toHaveLength(0);
    expect(responses(t.scscf, 480)[0]!.reason).toBe('Temporarily Unavailable - invalid forwarding target');
    await t.simservs(BOB, diversion([{ conditions: ['busy'], target: 'sip:carol@example.com:99999' }]));
    send(t.scscf, isc(t.scscf));
    await t.settle();
    answer(t.scscf, 'INVITE', 486);
    await t.settle();
    expect(forwarded(t.scscf)).toHaveLength(1);
    expect(responses(t.scscf, 480)).toHaveLength(2);
    expect(responses(t.scscf, 486)).toHaveLength(0);
  });

  it('answers 480 for a target that loops back to the served user or to a user the call was diverted from', async () => {
    const t = mmtelRig();
    await t.simservs(BOB, diversion([{ target: 'sip:6505550002@example.com;user=phone' }]));
    send(t.scscf, isc(t.scscf));
    await t.settle();
    await t.simservs(BOB, diversion([{ target: 'tel:6505550001' }]));
    // Alice forwarded to Bob before; Bob forwarding back to Alice's number is a loop.
    send(t.scscf, isc(t.scscf, { headers: [['History-Info', `<${ALICE}>;index=1`], ['History-Info', `<${BOB};cause=302>;index=1.1;mp=1`]] }));
    await t.settle();
    expect(forwarded(t.scscf)).toHaveLength(0);
    expect(responses(t.scscf, 480).map((r) => r.reason)).toEqual(['Temporarily Unavailable - diversion loop', 'Temporarily Unavailable - diversion loop']);
  });

  it('counts earlier diversions in History-Info: the fifth is made, a sixth gets 480', async () => {
    const t = mmtelRig();
    await t.simservs(BOB, diversion([{ target: CAROL }]));
    const chain = (n: number): Array<[string, string]> => {
      const out: Array<[string, string]> = [['History-Info', `<${NUMBER(10)}>;index=1`]];
      let index = '1';
      for (let i = 1; i <= n; i++) {
        const next = `${index}.1`;
        out.push(['History-Info', `<${i === n ? BOB : NUMBER(10 + i)};cause=302>;index=${next};mp=${index}`]);
        index = next;
      }
      return out;
    };
    send(t.scscf, isc(t.scscf, { headers: chain(4) }));
    await t.settle();
    const fwd = forwarded(t.scscf);
    expect(fwd).toHaveLength(1);
    const hi = fwd[0]!.getAll('history-info');
    expect(hi).toHaveLength(6);
    expect(hi[4]).toBe(`<${BOB};cause=302?Reason=SIP%3Bcause%3D302%3Btext%3D%22Moved%20Temporarily%22>;index=1.1.1.1.1;mp=1.1.1.1`);
    expect(hi[5]).toBe(`<${CAROL};cause=302>;index=1.1.1.1.1.1;mp=1.1.1.1.1`);
    send(t.scscf, isc(t.scscf, { headers: chain(5) }));
    await t.settle();
    expect(forwarded(t.scscf)).toHaveLength(1);
    expect(responses(t.scscf, 480)[0]!.reason).toBe('Temporarily Unavailable - too many diversions');
  });
});

describe('MMTel AS, terminating: the finer points', () => {
  it('diverts on no answer when the callee side sent only 100 Trying, and hides the served user from the target on request', async () => {
    const t = mmtelRig();
    await t.simservs(BOB, diversion([{ conditions: ['no-answer'], target: CAROL, options: '<reveal-identity-to-target>false</reveal-identity-to-target>' }], 5));
    send(t.scscf, isc(t.scscf));
    await t.settle();
    answer(t.scscf, 'INVITE', 100);
    await t.settle();
    t.r.clock.advance(5_000);
    await t.settle();
    expect(forwarded(t.scscf, 'CANCEL')).toHaveLength(1);
    answer(t.scscf, 'INVITE', 487);
    await t.settle();
    const fwd = forwarded(t.scscf);
    expect(fwd.map((r) => r.uriString)).toEqual([BOB, CAROL]);
    expect(fwd[1]!.getAll('history-info')[0]).toBe(`<${BOB}?Reason=SIP%3Bcause%3D408%3Btext%3D%22Request%20Timeout%22&Privacy=history>;index=1`);
  });

  it('removes P-Asserted-Identity when the callee has identity presentation (OIP) deactivated', async () => {
    const t = mmtelRig();
    await t.simservs(BOB, '<originating-identity-presentation active="false"/>');
    send(t.scscf, isc(t.scscf));
    await t.settle();
    expect(forwarded(t.scscf)[0]!.has('p-asserted-identity')).toBe(false);
  });

  it('answers 400 for a malformed History-Info instead of guessing the diversion count', async () => {
    const t = mmtelRig();
    await t.simservs(BOB, diversion([{ target: CAROL }]));
    send(t.scscf, isc(t.scscf, { headers: [['History-Info', '<sip:broken']] }));
    await t.settle();
    expect(forwarded(t.scscf)).toHaveLength(0);
    expect(got(t.scscf)).toEqual([100, 400]);
  });
});
