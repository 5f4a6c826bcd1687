/**
 * The live heap of a Node process started with `--inspect=127.0.0.1:0`: a full garbage
 * collection through the inspector (HeapProfiler.collectGarbage), then Runtime.getHeapUsage.
 */
import WebSocket from 'ws';

const DEBUGGER_URL = /Debugger listening on (ws:\/\/\S+)/;

/** Bytes of live heap after a full GC, or undefined when `stderr` shows no inspector. */
export async function liveHeap(stderr: string): Promise<number | undefined> {
  const url = DEBUGGER_URL.exec(stderr)?.[1];
  if (url === undefined) return undefined;
  const ws = new WebSocket(url);
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  let next = 0;
  const pending = new Map<number, (result: Record<string, unknown>) => void>();
  ws.on('message', (data: Buffer) => {
    const msg = JSON.parse(data.toString('utf8')) as { id?: number; result?: Record<string, unknown> };
    if (msg.id !== undefined) pending.get(msg.id)?.(msg.result ?? {});
  });
  const call = (method: string): Promise<Record<string, unknown>> =>
    new Promise((resolve) => {
      const id = ++next;
      pending.set(id, resolve);
      ws.send(JSON.stringify({ id, method }));
    });
  try {
    // Twice: the first collection's finalizers can free more for the second.
    await call('HeapProfiler.collectGarbage');
    await call('HeapProfiler.collectGarbage');
    const usage = await call('Runtime.getHeapUsage');
    return typeof usage.usedSize === 'number' ? usage.usedSize : undefined;
  } finally {
    ws.close();
  }
}
