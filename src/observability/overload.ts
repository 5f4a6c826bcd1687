/**
 * Overload control of a SIP process (issue 7): new requests are refused with 503 and Retry-After
 * while the delay a request waits before the process starts on it is over the target
 * (`overload.targetLatencyMs`; the gate is LoadMonitor, src/sip/proxy/load-monitor.ts). The
 * refusal is stateless, before the transaction layer keeps anything (SipStackOptions.admit).
 *
 * What is measured: under overload, a UDP request waits in the kernel's receive buffer of the
 * listening socket (4 MiB: seconds of work), not in the process. The event loop's own delay does
 * not show that wait: libuv reads at most 32 datagrams per turn, so timers keep firing on time
 * while requests queue for seconds, retransmissions (T1 = 500 ms) multiply the load and nothing
 * completes (measured: loop delay 30-160 ms while REGISTERs waited 20-40 s). Nor does the time
 * from a request's arrival in the process to its answer, which starts after that wait. So a
 * probe measures the wait itself: every 10 ms a small datagram goes from a socket of this module
 * to the SIP listener and queues behind whatever is there; its delay when the transport layer
 * hands it up is the delay a request arriving with it meets, the event loop's included. Until it
 * comes back, the age of the oldest probe still out counts as a lower bound. The probe is a SIP
 * response that matches no transaction, which the stack and the proxy core drop (its Via is not
 * this proxy's); it costs about 0.3 % of a core under load. With no SIP traffic for
 * {@link IDLE_TICKS} probes in a row the probe pauses (100 datagrams a second would otherwise be
 * most of what an idle node does: 3.2 % of a core of the all-in-one's 4.7 %), and the next
 * message of any transport starts it again with a probe at once, queued behind whatever arrived
 * with that message.
 *
 * TCP, TLS and WebSocket flows have their own kernel buffers and flow control (a sender that
 * outpaces the process is slowed down, not queued for); their load shows in the probe as event
 * loop delay.
 */
import { createSocket, type Socket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import { performance } from 'node:perf_hooks';
import { LoadMonitor, type Admission, type SipRequest, type TransportLayer } from '../sip/index.js';
import type { MetricSource } from './http.js';

/** The `overload` configuration group. */
export interface OverloadSettings {
  readonly enabled: boolean;
  readonly targetLatencyMs: number;
}

export interface OverloadControl {
  /** SipStackOptions.admit; undefined when overload control is off. */
  readonly admit: ((request: SipRequest) => Admission) | undefined;
  /** For the metrics listener. */
  readonly metrics: readonly MetricSource[];
  stop(): void;
}

/** How often a probe is sent, ms. */
const PROBE_EVERY_MS = 10;
/** Probes remembered while out at most (10 s of them); older ones count as lost. */
const MAX_PENDING = 1000;
const PROBE_BRANCH = 'z9hG4bK-tw-load-probe';
/** Probes in a row with no other message in between after which the probe pauses (100 ms). */
const IDLE_TICKS = 10;

/**
 * Starts the probe against the first UDP listener of `transports` (every SIP process listens on
 * UDP) and returns the admission for the stack; `stop()` closes the probe's socket.
 */
export function startOverloadControl(settings: OverloadSettings, transports: TransportLayer): OverloadControl {
  if (!settings.enabled) return { admit: undefined, metrics: [], stop: () => undefined };
  const listener = transports.listeners.find((l) => l.protocol === 'UDP');
  if (listener === undefined) throw new Error('overload control needs a UDP listener to measure its queue');
  const monitor = new LoadMonitor({ targetLatencyMs: settings.targetLatencyMs, clock: performance });
  const probe = new QueueProbe(listener.address, listener.port, (delayMs) => monitor.record(delayMs));
  const unsubscribe = transports.onMessage((m) => {
    if (m.flow.protocol === 'UDP' && m.flow.local.port === listener.port && probe.arrived(m.data, m.flow.remote.address, m.flow.remote.port)) return;
    probe.traffic();
  });
  const metrics: MetricSource[] = [
    { name: 'tidewater_overload_queue_delay_ms', help: 'Delay a new request meets before this process starts on it, as last measured, ms.', type: 'gauge', read: () => monitor.stats.latencyMs },
    { name: 'tidewater_overload_target_ms', help: 'Queueing delay over which new requests get 503 (overload.targetLatencyMs).', type: 'gauge', read: () => monitor.targetLatencyMs },
    { name: 'tidewater_overload_admitted_total', help: 'New requests admitted by overload control.', type: 'counter', read: () => monitor.stats.admitted },
    { name: 'tidewater_overload_refused_total', help: 'New requests refused with 503 by overload control.', type: 'counter', read: () => monitor.stats.refused },
  ];
  return {
    admit: () => monitor.admit(),
    metrics,
    stop() {
      unsubscribe();
      probe.close();
    },
  };
}

/**
 * Datagrams sent to the listener at `address`:`port` (loopback when it listens on every
 * address), each numbered; `record` hears the queueing delay on each arrival and each send.
 */
class QueueProbe {
  private readonly socket: Socket;
  private readonly target: string;
  /** Sent and not yet back, oldest first. */
  private readonly pending: Array<{ readonly seq: number; readonly sentAt: number }> = [];
  private head = Buffer.alloc(0);
  private port = -1;
  private seq = 0;
  private lastDelay = 0;
  private timer: NodeJS.Timeout | undefined;
  /** Probes sent since the last other message. */
  private idleTicks = 0;
  /** Paused for want of traffic (not stopped for good). */
  private paused = false;
  /** Closed, or its socket failed: never probes again. */
  private stopped = false;
  private listenerPort = -1;

  constructor(
    address: string,
    listenerPort: number,
    private readonly record: (delayMs: number) => void,
  ) {
    const v6 = isIPv6(address);
    const wildcard = address === '0.0.0.0' || address === '::';
    this.target = wildcard ? (v6 ? '::1' : '127.0.0.1') : address;
    this.socket = createSocket(v6 ? 'udp6' : 'udp4');
    // A failing probe socket stops probing: the last delay stands, nothing is refused for it.
    this.socket.on('error', () => {
      this.stopped = true;
      this.stopProbing();
    });
    this.socket.bind({ address: this.target, port: 0 }, () => {
      if (this.stopped) return;
      this.port = this.socket.address().port;
      const host = v6 ? `[${this.target}]` : this.target;
      this.head = Buffer.from(
        `SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP ${host}:${this.port};branch=${PROBE_BRANCH}\r\nFrom: <sip:probe@invalid>;tag=p\r\n` +
          'To: <sip:probe@invalid>\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\nCall-ID: tw-load-probe-',
        'latin1',
      );
      this.listenerPort = listenerPort;
      this.startTicking();
    });
    this.socket.unref();
  }

  /** A datagram the SIP listener received; true when it is a probe of ours (from our socket). */
  arrived(data: Buffer, fromAddress: string, fromPort: number): boolean {
    if (fromPort !== this.port || fromAddress !== this.target) return false;
    const seq = Number(data.toString('latin1', this.head.length, data.length - 4));
    while (this.pending.length > 0 && this.pending[0]!.seq < seq) this.pending.shift();
    if (this.pending[0]?.seq !== seq) return true;
    const now = performance.now();
    this.lastDelay = now - this.pending.shift()!.sentAt;
    this.record(this.delay(now));
    return true;
  }

  /** Any other message, on any transport: a paused probe starts again. */
  traffic(): void {
    this.idleTicks = 0;
    if (!this.paused || this.stopped) return;
    this.paused = false;
    this.startTicking();
    this.send();
  }

  close(): void {
    this.stopped = true;
    this.stopProbing();
    this.socket.close();
  }

  /** The last measured delay, or the age of the oldest probe still out if that is longer. */
  private delay(now: number): number {
    const oldest = this.pending[0];
    return oldest === undefined ? this.lastDelay : Math.max(this.lastDelay, now - oldest.sentAt);
  }

  private startTicking(): void {
    this.timer = setInterval(() => this.tick(), PROBE_EVERY_MS);
    this.timer.unref();
  }

  /** Pauses once IDLE_TICKS probes went by with no other message and none is still out. */
  private tick(): void {
    if (++this.idleTicks > IDLE_TICKS && this.pending.length === 0) {
      this.stopProbing();
      this.paused = true;
      return;
    }
    this.send();
  }

  private send(): void {
    const listenerPort = this.listenerPort;
    const now = performance.now();
    const seq = ++this.seq;
    this.pending.push({ seq, sentAt: now });
    if (this.pending.length > MAX_PENDING) this.pending.shift();
    this.record(this.delay(now));
    this.socket.send([this.head, Buffer.from(`${seq}\r\n\r\n`, 'latin1')], listenerPort, this.target, (error) => {
      if (error) this.forget(seq);
    });
  }

  /** A probe that never left: its age says nothing about the queue. */
  private forget(seq: number): void {
    const i = this.pending.findIndex((p) => p.seq === seq);
    if (i >= 0) this.pending.splice(i, 1);
  }

  private stopProbing(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }
}
