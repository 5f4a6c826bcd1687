/**
 * The collections in a Node process's `--trace-gc-nvp` output, for the bench tools that read a
 * target's log (gc-trace.ts, tail.ts).
 */

/** One collection: when (ms since the process started), its kind (`s`, `mc`, ...), every name=value pair. */
export interface GcLine {
  readonly at: number;
  readonly kind: string;
  readonly fields: ReadonlyMap<string, number>;
}

/** `[pid:isolate]   1234 ms: pause=... gc=s ...`: the time and the name=value pairs. */
const LINE = /^\[\d+:0x[0-9a-f]+\]\s+(\d+) ms: (.*)$/;
const PAIR = /([a-z_.]+)=([0-9.]+)%?/g;
const KIND = /gc=([a-z]+)/;

/** The collections in `text`, in order; lines of any other kind are skipped. */
export function gcLines(text: string): GcLine[] {
  const out: GcLine[] = [];
  for (const line of text.split('\n')) {
    const m = LINE.exec(line);
    if (m === null) continue;
    const rest = m[2] ?? '';
    const kind = KIND.exec(rest)?.[1];
    if (kind === undefined) continue;
    const fields = new Map<string, number>();
    for (const p of rest.matchAll(PAIR)) fields.set(p[1]!, Number(p[2]));
    out.push({ at: Number(m[1]), kind, fields });
  }
  return out;
}
