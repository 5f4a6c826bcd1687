/** Benchmark settings from the environment: integers and lists, a clear message naming the key otherwise. */

export const LIST_SPLIT = /[\s,]+/;

/** Prints `prefix: message` and exits 2 (bad setting). */
export function fail(prefix: string, message: string): never {
  console.error(`${prefix}: ${message}`);
  process.exit(2);
}

/** Integer setting `key` (>= `min`), `fallback` when unset or empty. */
export function intEnv(prefix: string, key: string, fallback: number, min: number): number {
  const raw = process.env[key];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min) fail(prefix, `${key}=${raw}: expected an integer >= ${min}`);
  return value;
}

/** Comma or space separated positive integers of `key`, or of `fallback`. */
export function intListEnv(prefix: string, key: string, fallback: string): number[] {
  const raw = process.env[key] || fallback;
  const values = raw.split(LIST_SPLIT).filter((r) => r !== '').map(Number);
  if (values.length === 0 || values.some((r) => !Number.isInteger(r) || r < 1)) {
    fail(prefix, `${key}=${raw}: expected positive integers separated by commas`);
  }
  return values;
}

/** Log line with the wall-clock time. */
export function log(line: string): void {
  console.log(`[${new Date().toISOString().slice(11, 19)}] ${line}`);
}
