/**
 * Times (ms since the Unix epoch) that a process keeps in an object for as long as a
 * registration lives, stored as two small integers.
 *
 * V8 keeps a number that is not a small integer (31 or 32 bits, by build) in an object field as
 * an object of its own, which every full collection then marks; a time in ms is such a number.
 * Split at 2^24 ms, both halves stay small integers until the year 285,000, and are kept in the
 * field itself.
 */
const SPLIT = 0x1000000;

/** The high half of the time `ms` (a non-negative integer). */
export function timeHigh(ms: number): number {
  return Math.floor(ms / SPLIT);
}

/** The low half of the time `ms`, given its high half. */
export function timeLow(ms: number, high: number): number {
  return ms - high * SPLIT;
}

/** The time made of `high` and `low`. */
export function timeOf(high: number, low: number): number {
  return high * SPLIT + low;
}
