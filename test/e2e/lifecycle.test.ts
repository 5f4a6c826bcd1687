/**
 * The graceful stop of the all-in-one (issue 7, Lifecycle) with real SIP clients: on SIGTERM it
 * turns not ready at once (/health/ready 503, /health/live still 200), answers new calls 503
 * with Retry-After, lets the call under way finish, and exits 0 once it has, or once the grace
 * period (`shutdownGraceMs`) is over, saying what was still in flight.
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startImsSipp, type BackgroundSipp } from '../harness/ims-dialogs.js';
import {
  headerValues,
  runImsSipp,
  startAllInOne,
  startImsCallee,
  tracedMessages,
  userFactory,
  type AllInOne,
  type ImsCallee,
  type ImsSippResult,
} from '../harness/ims.js';
import { requireTool } from '../harness/tools.js';

const newUser = userFactory(6505557600);
const DRAINING = /^tidewater: SIGTERM, draining/m;

const cores: AllInOne[] = [];
const sipps: Array<BackgroundSipp | ImsCallee> = [];

afterEach(async () => {
  for (const s of sipps.splice(0)) await s.stop();
  for (const c of cores.splice(0)) await c.dispose();
});

async function start(config: Record<string, unknown> = {}): Promise<AllInOne> {
  const core = await startAllInOne({ config });
  cores.push(core);
  return core;
}

async function health(core: AllInOne, path: string): Promise<[number, string]> {
  const res = await fetch(`http://127.0.0.1:${core.metricsPort()}${path}`);
  return [res.status, await res.text()];
}

function expectSuccess(res: ImsSippResult, core: AllInOne, what: string): void {
  const why = `${what} failed (exit ${res.exitCode}):\n${res.log}\n${res.errors.slice(-3000)}\n--- server ---\n${core.output().slice(-3000)}`;
  expect(res.exitCode, why).toBe(0);
}

describe('the all-in-one stopping on SIGTERM', () => {
  beforeAll(() => {
    requireTool('sipp', 'sip-tester');
  });

  it('turns not ready, refuses a new call with 503 and Retry-After, lets the call under way end, then exits 0', async () => {
    const core = await start();
    const [a, b, c] = [await newUser(core), await newUser(core), await newUser(core)];
    expect(await health(core, '/health/ready')).toEqual([200, 'OK\n']);
    expectSuccess(await runImsSipp(core, c, 'ims-register'), core, 'REGISTER of the later caller');
    const callee = await startImsCallee(core, b, 'answer');
    sipps.push(callee);
    const caller = await startImsSipp(core, a, 'ims-caller-hold', { keys: { callee: b.number } });
    sipps.push(caller);
    await caller.waitForLog(/^answered/m);

    const signalled = Date.now();
    core.signal('SIGTERM');
    await core.waitForLine(DRAINING);
    expect(await health(core, '/health/ready')).toEqual([503, 'draining\n']);
    expect(await health(core, '/health/live')).toEqual([200, 'OK\n']);

    const refused = await runImsSipp(core, c, 'ims-caller-unavailable', { keys: { callee: b.number } });
    expectSuccess(refused, core, 'a new call while draining (expecting 503)');
    const unavailable = tracedMessages(refused, 'received', /^SIP\/2\.0 503 /)[0] ?? '';
    const retryAfter = Number(headerValues(unavailable, 'Retry-After')[0]);
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(5);

    const held = await caller.result;
    expectSuccess(held, core, 'the call under way');
    expect(held.log).toMatch(/^hung up/m);
    expectSuccess(await callee.result, core, 'the callee of the call under way');
    expect(await core.exited()).toEqual({ code: 0, signal: null });
    expect(Date.now() - signalled).toBeLessThan(10_000);
    const output = core.output();
    expect(output).toMatch(/^tidewater: SIGTERM, draining \(not ready, new requests get 503\): 1 call in flight, waiting up to 10000 ms$/m);
    expect(output).toMatch(/^tidewater: drained 1 call in \d+ ms$/m);
    expect(output).toMatch(/^tidewater all-in-one stopped$/m);
  });

  it('gives up after the grace period on a call that rings on, saying what was still in flight', async () => {
    const core = await start({ shutdownGraceMs: 1000 });
    const [a, b] = [await newUser(core), await newUser(core)];
    const callee = await startImsCallee(core, b, 'ring');
    sipps.push(callee);
    const caller = await startImsSipp(core, a, 'ims-caller-hold', { keys: { callee: b.number } });
    sipps.push(caller);
    await caller.waitForLog(/^ringing/m);

    const signalled = Date.now();
    core.signal('SIGTERM');
    expect(await core.exited()).toEqual({ code: 0, signal: null });
    const took = Date.now() - signalled;
    expect(took).toBeGreaterThanOrEqual(1000);
    expect(took).toBeLessThan(4000);
    expect(core.output()).toMatch(/^tidewater: grace period over after \d+ ms, still in flight: 1 server transaction, 1 client transaction$/m);
  });
});
