/** The in-process expiry index behind the memory and cached registration stores. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RegistrationIndex } from '../../src/storage/memory/registration-index.js';
import { freezeBindings } from '../../src/storage/registration-records.js';
import type { Binding } from '../../src/storage/registration-store.js';
import { T0, binding, fullBinding } from './fixtures.js';

describe('RegistrationIndex', () => {
  it('stays bounded when bindings are refreshed many times, and still answers correctly', () => {
    const index = new RegistrationIndex();
    let version = 0;
    index.set('sip:bob@example.com', freezeBindings([binding({ expiresAt: T0 + 50 })]), ++version);
    for (let i = 0; i < 10_000; i++) {
      index.set('sip:alice@example.com', freezeBindings([binding({ expiresAt: T0 + 100 + (i % 7), cseq: i })]), ++version);
    }
    expect(index.expiryEntries).toBeLessThanOrEqual(2 * 2 + 1024 + 1);
    expect(index.expired(T0 + 200, 10).map((r) => [r.aor, r.binding.cseq])).toEqual([
      ['sip:bob@example.com', 1],
      ['sip:alice@example.com', 9999],
    ]);
    expect(index.nextExpiryAt()).toBe(T0 + 50);
    index.remove('sip:bob@example.com');
    expect(index.nextExpiryAt()).toBe(T0 + 100 + (9999 % 7));
  });

  it('ignores a record handed back at the version it already has', () => {
    const index = new RegistrationIndex();
    const bindings = freezeBindings([binding({ expiresAt: T0 + 1 })]);
    index.set('sip:alice@example.com', bindings, 5);
    index.set('sip:alice@example.com', bindings, 5);
    expect(index.expired(T0 + 1, 10)).toHaveLength(1);
    expect(index.counts()).toEqual({ aors: 1, bindings: 1 });
  });

  it('gives back every field of a binding exactly as stored, whatever the Path length and times', () => {
    const index = new RegistrationIndex();
    const bindings = [
      fullBinding(),
      fullBinding({ path: ['sip:edge.example.com;lr'], q: 0, expiresAt: 2 ** 53 - 1, registeredAt: 0 }),
      binding({ expiresAt: T0 + 16_777_215, registeredAt: 16_777_216, callId: 'other@192.0.2.10' }),
    ];
    index.set('sip:alice@example.com', freezeBindings(bindings), 3);
    const record = index.snapshot('sip:alice@example.com')!;
    expect(record).toStrictEqual({ aor: 'sip:alice@example.com', version: 3, bindings });
    (record.bindings[0] as { contact: string }).contact = 'changed';
    (record.bindings[0]!.receivedFrom as { port: number }).port = 1;
    (record.bindings[1]!.path as string[]).push('sip:extra.example.com');
    expect(index.snapshot('sip:alice@example.com')!.bindings).toStrictEqual(bindings);
    expect(index.expired(T0 + 16_777_215, 10).map((r) => r.binding.callId)).toEqual(['ws-reg@df7jal23.invalid', 'other@192.0.2.10']);
  });

  it('finds the bindings of a flow shared by several AoRs, and forgets each AoR that leaves it', () => {
    const index = new RegistrationIndex();
    const flowId = 'udp:198.51.100.7:5060';
    const on = (contact: string) => binding({ contact, flowId });
    index.set('sip:a@example.com', freezeBindings([on('sip:a1@x'), on('sip:a2@x')]), 1);
    index.set('sip:b@example.com', freezeBindings([on('sip:b@x')]), 2);
    index.set('sip:c@example.com', freezeBindings([on('sip:c@x'), binding({ contact: 'sip:c2@x', flowId: 'tcp:1' })]), 3);
    const contacts = () => index.ofFlow(flowId).map((r) => `${r.aor} ${r.binding.contact} ${r.version}`);
    expect(contacts()).toEqual([
      'sip:a@example.com sip:a1@x 1',
      'sip:a@example.com sip:a2@x 1',
      'sip:b@example.com sip:b@x 2',
      'sip:c@example.com sip:c@x 3',
    ]);
    index.remove('sip:a@example.com');
    index.set('sip:c@example.com', freezeBindings([binding({ contact: 'sip:c2@x', flowId: 'tcp:1' })]), 4);
    expect(contacts()).toEqual(['sip:b@example.com sip:b@x 2']);
    expect(index.ofFlow('tcp:1').map((r) => r.version)).toEqual([4]);
    index.set('sip:a@example.com', freezeBindings([on('sip:a3@x')]), 5);
    index.remove('sip:b@example.com');
    expect(contacts()).toEqual(['sip:a@example.com sip:a3@x 5']);
    index.remove('sip:a@example.com');
    expect(index.ofFlow(flowId)).toEqual([]);
  });

  it('answers expiry and flow queries as a plain list of the records would, over any writes', () => {
    const aors = ['sip:a@x', 'sip:b@x', 'sip:c@x', 'sip:d@x'];
    const flows = ['f1', 'f2', undefined];
    const write = fc.record({
      aor: fc.constantFrom(...aors),
      bindings: fc.array(fc.record({ expires: fc.integer({ min: 0, max: 50 }), flow: fc.constantFrom(...flows) }), { maxLength: 3 }),
    });
    fc.assert(
      fc.property(fc.array(write, { maxLength: 1500 }), fc.integer({ min: 0, max: 60 }), (writes, now) => {
        const index = new RegistrationIndex();
        const model = new Map<string, { version: number; bindings: Binding[] }>();
        writes.forEach((w, i) => {
          const bindings = w.bindings.map((b, j) =>
            binding({ contact: `sip:${i}.${j}@x`, expiresAt: T0 + b.expires, ...(b.flow ? { flowId: b.flow } : {}) }),
          );
          if (bindings.length === 0) {
            index.remove(w.aor);
            model.delete(w.aor);
          } else {
            index.set(w.aor, freezeBindings(bindings), i + 1);
            model.set(w.aor, { version: i + 1, bindings });
          }
        });
        const all = [...model].flatMap(([aor, r]) => r.bindings.map((b) => ({ aor, binding: b, version: r.version })));
        const due = all.filter((r) => r.binding.expiresAt <= T0 + now).sort((x, y) => x.binding.expiresAt - y.binding.expiresAt);
        const got = index.expired(T0 + now, 1000);
        expect(got.map((r) => r.binding.expiresAt)).toEqual(due.map((r) => r.binding.expiresAt));
        expect(new Set(got.map((r) => `${r.aor} ${r.binding.contact} ${r.version}`))).toEqual(
          new Set(due.map((r) => `${r.aor} ${r.binding.contact} ${r.version}`)),
        );
        expect(index.nextExpiryAt()).toBe(all.length ? Math.min(...all.map((r) => r.binding.expiresAt)) : undefined);
        for (const flow of ['f1', 'f2']) {
          const expected = all.filter((r) => r.binding.flowId === flow).map((r) => r.binding.contact).sort();
          expect(index.ofFlow(flow).map((r) => r.binding.contact).sort()).toEqual(expected);
        }
        expect(index.counts()).toEqual({ aors: model.size, bindings: all.length });
        expect(index.expiryEntries).toBeLessThanOrEqual(2 * all.length + 1024 + 3);
      }),
      { numRuns: 60 },
    );
  });
});
