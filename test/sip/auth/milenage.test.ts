import { describe, it, expect } from 'vitest';
import { computeOpc, Milenage } from '../../../src/sip/auth/milenage.js';
import { hex, loadFixture, TS35208_SET1, type MilenageSet } from './fixtures.js';

/** Checks every MILENAGE output of one test set, through each entry point. */
function expectSetMatches(v: MilenageSet): void {
  const [k, op, rand, sqn, amf] = [hex(v.k), hex(v.op), hex(v.rand), hex(v.sqn), hex(v.amf)];
  expect(computeOpc(k, op).toString('hex')).toBe(v.opc);
  const fromOp = new Milenage(k, { op });
  expect(fromOp.opc.toString('hex')).toBe(v.opc);
  const m = new Milenage(k, { opc: hex(v.opc) });
  expect(m.f1(rand, sqn, amf).toString('hex')).toBe(v.f1);
  expect(m.f1star(rand, sqn, amf).toString('hex')).toBe(v.f1star);
  expect(m.f2(rand).toString('hex')).toBe(v.f2);
  expect(m.f3(rand).toString('hex')).toBe(v.f3);
  expect(m.f4(rand).toString('hex')).toBe(v.f4);
  expect(m.f5(rand).toString('hex')).toBe(v.f5);
  expect(m.f5star(rand).toString('hex')).toBe(v.f5star);
  const keys = m.f2345(rand);
  expect([keys.res, keys.ck, keys.ik, keys.ak].map((b) => b.toString('hex'))).toEqual([
    v.f2,
    v.f3,
    v.f4,
    v.f5,
  ]);
  const all = fromOp.compute(rand, sqn, amf);
  expect(
    [all.macA, all.macS, all.res, all.ck, all.ik, all.ak, all.akStar].map((b) => b.toString('hex')),
  ).toEqual([v.f1, v.f1star, v.f2, v.f3, v.f4, v.f5, v.f5star]);
}

describe('MILENAGE (3GPP TS 35.206)', () => {
  it('reproduces TS 35.208 test set 1', () => {
    expectSetMatches(TS35208_SET1);
  });

  it('gives the same outputs when one instance is reused across different RANDs', () => {
    const v = TS35208_SET1;
    const m = new Milenage(hex(v.k), { op: hex(v.op) });
    const first = m.compute(hex(v.rand), hex(v.sqn), hex(v.amf));
    m.compute(Buffer.alloc(16, 0x5a), Buffer.alloc(6, 1), Buffer.alloc(2, 2));
    m.f2(Buffer.alloc(16, 0xa5));
    const again = m.compute(hex(v.rand), hex(v.sqn), hex(v.amf));
    expect(again).toEqual(first);
    expect(again.res.toString('hex')).toBe(v.f2);
  });

  it('does not let a caller mutate the stored OPc through the input buffer', () => {
    const opc = hex(TS35208_SET1.opc);
    const m = new Milenage(hex(TS35208_SET1.k), { opc });
    opc.fill(0);
    expect(m.f2(hex(TS35208_SET1.rand)).toString('hex')).toBe(TS35208_SET1.f2);
  });

  it('rejects inputs of the wrong length', () => {
    const v = TS35208_SET1;
    expect(() => new Milenage(Buffer.alloc(15), { op: hex(v.op) })).toThrow(/K must be/);
    expect(() => new Milenage(hex(v.k), { opc: Buffer.alloc(17) })).toThrow(/OPc must be/);
    const m = new Milenage(hex(v.k), { op: hex(v.op) });
    expect(() => m.f2(Buffer.alloc(8))).toThrow(/RAND must be/);
    expect(() => m.f1(hex(v.rand), Buffer.alloc(5), hex(v.amf))).toThrow(/SQN must be/);
    expect(() => m.f1(hex(v.rand), hex(v.sqn), Buffer.alloc(3))).toThrow(/AMF must be/);
  });
});

for (const [file, count] of [
  ['milenage-ts35208.json', 20],
  ['milenage-ts35207.json', 6],
] as const) {
  const fixture = await loadFixture<MilenageSet[]>(file);
  describe(`MILENAGE against shared fixture ${file}`, () => {
    if (!fixture.ok) {
      it('finds the shared fixture directory', () => {
        expect.fail(fixture.message);
      });
      return;
    }
    it(`holds all ${count} test sets`, () => {
      expect(fixture.data.map((v) => v.set)).toEqual(Array.from({ length: count }, (_, i) => i + 1));
    });
    for (const v of fixture.data) {
      it(`matches every output of test set ${v.set}`, () => {
        expectSetMatches(v);
      });
    }
  });
}
