/**
 * Binding expiry on several core nodes sharing one registration store: each expired binding is
 * claimed by one node (RegistrationStore.claimExpired), so the nodes split the sweep, every
 * binding goes exactly once and every emptied set is de-registered once (SAR
 * TIMEOUT_DEREGISTRATION, TS 24.229 §5.4.1.7); the bindings a node claimed and then died
 * holding are expired by another node once the lease is over. Run over the in-process store
 * and over a real Redis (one connection per node).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { BindingExpiry } from '../../src/ims/core/expiry.js';
import type { Hss, ServerAssignmentType } from '../../src/ims/hss.js';
import type { Binding, BindingRef, ImplicitSet, RegistrationStore } from '../../src/storage/index.js';
import { FakeClock } from '../harness/fake-clock.js';
import { disposeRedis, memoryStores, redisStores, type SharedStores } from './shared-stores.js';

const NOW = 1_700_000_000_000;
const SCSCF = 'sip:scscf.example.com';

afterAll(disposeRedis);

/** One view of the shared registrations per node; `close` releases them. */
interface SharedRegistrations {
  readonly nodes: RegistrationStore[];
  close(): Promise<void>;
}

const registrationsOf =
  (open: (count: number) => SharedStores | Promise<SharedStores>) =>
  async (count: number): Promise<SharedRegistrations> => {
    const shared = await open(count);
    return { nodes: shared.nodes.map((n) => n.registrations), close: () => shared.close() };
  };

function binding(contact: string, expiresAt: number): Binding {
  return { contact, path: [], expiresAt, callId: `reg-${contact}`, cseq: 1, registeredAt: NOW - 3_600_000 };
}

/** The SARs the nodes sent, as `<impu> <type>`; only SAR is expected of the HSS here. */
function fakeHss(sars: string[]): Hss {
  const unexpected = async (): Promise<never> => {
    throw new Error('binding expiry only sends SAR');
  };
  return {
    userAuthorization: unexpected,
    authVector: unexpected,
    locationInfo: unexpected,
    implicitSetOf: unexpected,
    async serverAssignment(impu: string, type: ServerAssignmentType, scscf: string) {
      expect(scscf).toBe(SCSCF);
      sars.push(`${impu} ${type}`);
      const implicitSet: ImplicitSet = { id: impu, serviceProfile: '', members: [{ impu, implicitSetId: impu, barred: false }] };
      return { implicitSet };
    },
  };
}

/** `count` core nodes' expiry sweepers over the shared store, on one wall clock. */
function nodes(shared: SharedRegistrations, options: { batch?: number; leaseMs?: number } = {}) {
  const clock = new FakeClock();
  const state = { wall: NOW };
  const sars: string[] = [];
  const changes: string[] = [];
  /** Every binding each node's sweeps claimed, as `<aor> <contact>`. */
  const claimed: string[][] = [];
  /** The lease of every claim the sweepers made. */
  const leases: number[] = [];
  const sweepers = shared.nodes.map((store, i) => {
    const mine: string[] = [];
    claimed.push(mine);
    // The node's view of the store, recording what its claims returned.
    const recording: RegistrationStore = {
      get: (aor) => store.get(aor),
      put: (aor, data, expected) => store.put(aor, data, expected),
      delete: (aor, expected) => store.delete(aor, expected),
      expiredBefore: (now, limit) => store.expiredBefore(now, limit),
      claimExpired: async (now, leaseMs, limit) => {
        leases.push(leaseMs);
        const refs: BindingRef[] = await store.claimExpired(now, leaseMs, limit);
        mine.push(...refs.map((r) => `${r.aor} ${r.binding.contact}`));
        return refs;
      },
      nextExpiryAt: () => store.nextExpiryAt(),
      bindingsOfFlow: (flowId) => store.bindingsOfFlow(flowId),
      list: (page) => store.list(page),
      count: () => store.count(),
    };
    return new BindingExpiry({
      registrations: recording,
      hss: fakeHss(sars),
      scscf: SCSCF,
      clock,
      now: () => state.wall,
      onChange: (e) => changes.push(`core${i + 1} ${e.aor} ${e.cause} ${e.bindings.length} ${e.implicitSet ? 'set' : '-'}`),
      ...options,
    });
  });
  return { sweepers, state, sars, changes, claimed, leases };
}

const aorOf = (i: number): string => `sip:+1555${String(i).padStart(7, '0')}@example.com`;

describe.each([
  ['in-process store', registrationsOf(memoryStores)],
  ['Redis', registrationsOf(redisStores)],
])('binding expiry across core nodes sharing a %s', (_name, open) => {
  it('splits the expired bindings between two nodes sweeping at once: each goes once, each emptied set is de-registered once', async () => {
    const shared = await open(2);
    try {
      const store = shared.nodes[0]!;
      const expired: string[] = [];
      const emptied: string[] = [];
      const kept: string[] = [];
      for (let i = 0; i < 30; i++) {
        const bindings = [binding(`sip:ue${i}@192.0.2.1`, NOW - 1000 - i)];
        if (i % 3 === 0) bindings.push(binding(`sip:ue${i}b@192.0.2.2`, NOW - 10));
        if (i % 5 === 0) bindings.push(binding(`sip:ue${i}live@192.0.2.3`, NOW + 600_000));
        expect((await store.put(aorOf(i), { bindings }, 0)).ok).toBe(true);
        for (const b of bindings) if (b.expiresAt <= NOW) expired.push(`${aorOf(i)} ${b.contact}`);
        (i % 5 === 0 ? kept : emptied).push(aorOf(i));
      }
      const n = nodes(shared, { batch: 7 });
      const [core1, core2] = n.sweepers as [BindingExpiry, BindingExpiry];

      const removed = [0, 0];
      for (let round = 0; round < 20; round++) {
        const [a, b] = await Promise.all([core1.sweep(), core2.sweep()]);
        removed[0]! += a;
        removed[1]! += b;
        if (a + b === 0) break;
      }
      expect(removed[0]! + removed[1]!).toBe(expired.length);
      expect(removed[0]).toBeGreaterThan(0);
      expect(removed[1]).toBeGreaterThan(0);
      // No binding was handed to both nodes, and none that had not expired. (A set's second
      // expired binding may go with the first's write before anyone claimed it.)
      const claimed = n.claimed.flat();
      expect(new Set(claimed).size).toBe(claimed.length);
      for (const ref of claimed) expect(expired).toContain(ref);
      expect(claimed.length).toBeGreaterThanOrEqual(emptied.length + kept.length);

      // One change per set, whichever node made it; a SAR for each set left without bindings.
      const perAor = new Map<string, string[]>();
      for (const change of n.changes) {
        const [, aor] = change.split(' ');
        perAor.set(aor!, [...(perAor.get(aor!) ?? []), change.slice(change.indexOf(' ') + 1)]);
      }
      expect([...perAor.keys()].sort()).toEqual([...emptied, ...kept].sort());
      for (const aor of emptied) expect(perAor.get(aor)).toEqual([`${aor} expired 0 set`]);
      for (const aor of kept) expect(perAor.get(aor)).toEqual([`${aor} expired 1 -`]);
      expect([...n.sars].sort()).toEqual(emptied.map((aor) => `${aor} TIMEOUT_DEREGISTRATION`).sort());

      for (const aor of emptied) expect(await store.get(aor)).toBeUndefined();
      for (const aor of kept) expect((await store.get(aor))?.bindings.map((b) => b.expiresAt)).toEqual([NOW + 600_000]);
      expect(await store.count()).toEqual({ aors: kept.length, bindings: kept.length });
      expect(new Set(n.leases)).toEqual(new Set([10_000]));
    } finally {
      await shared.close();
    }
  });

  it('leaves the bindings a node claimed and died holding to another node, which expires them once the lease is over', async () => {
    const shared = await open(2);
    try {
      const [dead, store] = shared.nodes as [RegistrationStore, RegistrationStore];
      for (let i = 0; i < 5; i++) {
        expect((await store.put(aorOf(i), { bindings: [binding(`sip:ue${i}@192.0.2.1`, NOW - 100)] }, 0)).ok).toBe(true);
      }
      // The dying node's last sweep: it claimed everything due, for the default lease, and stopped.
      const held = await dead.claimExpired(NOW, 10_000, 1000);
      expect(held.map((r) => r.aor).sort()).toEqual([0, 1, 2, 3, 4].map(aorOf));
      // Meanwhile the UE of one set refreshed its binding.
      const refreshed = aorOf(4);
      const before = (await store.get(refreshed))!;
      expect((await store.put(refreshed, { bindings: [binding('sip:ue4@192.0.2.1', NOW + 600_000)] }, before.version)).ok).toBe(true);

      const n = nodes({ nodes: [store], close: async () => {} }, { leaseMs: 3000 });
      const survivor = n.sweepers[0]!;
      expect(await survivor.sweep()).toBe(0);
      n.state.wall = NOW + 9_999;
      expect(await survivor.sweep()).toBe(0);
      expect(n.changes).toEqual([]);
      expect(n.sars).toEqual([]);

      n.state.wall = NOW + 10_000;
      expect(await survivor.sweep()).toBe(4);
      const gone = [0, 1, 2, 3].map(aorOf);
      expect([...n.changes].sort()).toEqual(gone.map((aor) => `core1 ${aor} expired 0 set`).sort());
      expect([...n.sars].sort()).toEqual(gone.map((aor) => `${aor} TIMEOUT_DEREGISTRATION`).sort());
      expect(await survivor.sweep()).toBe(0);
      expect(await store.count()).toEqual({ aors: 1, bindings: 1 });
      expect((await store.get(refreshed))?.bindings[0]?.expiresAt).toBe(NOW + 600_000);
      expect(new Set(n.leases)).toEqual(new Set([3000]));
    } finally {
      await shared.close();
    }
  });
});
