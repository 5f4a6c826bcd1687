/**
 * The read-modify-write loop every registration writer needs: read the record, decide, write
 * with compare-and-set, and start over when another writer got there first. With it a REGISTER,
 * the expiry sweeper and a flow failure handled on different nodes at once never lose each
 * other's changes (RFC 3261 §10.3: the registrar processes one AoR's changes atomically).
 */
import type { Binding, RegistrationData, RegistrationRecord, RegistrationStore } from './registration-store.js';

/**
 * Decides the new bindings from the current record (undefined: no bindings), or returns
 * undefined to write nothing. It may run several times, so it must not have side effects.
 */
export type RegistrationUpdate = (current: RegistrationRecord | undefined) => RegistrationData | undefined;

/** How {@link updateRegistration} ended. */
export type UpdateOutcome =
  /** Written; `bindings` is what is now stored (empty: the record was removed). */
  | { readonly status: 'written'; readonly version: number; readonly bindings: readonly Binding[] }
  /** The update chose to write nothing; `record` is what it saw. */
  | { readonly status: 'unchanged'; readonly record: RegistrationRecord | undefined }
  /** Every attempt met a concurrent write; the caller answers 500 and the client retries. */
  | { readonly status: 'contended' };

/**
 * Applies `update` to the record of `aor` with compare-and-set, retrying up to `maxAttempts`
 * times (default 5) on conflict. Store failures reject.
 */
export async function updateRegistration(
  store: RegistrationStore,
  aor: string,
  update: RegistrationUpdate,
  maxAttempts = 5,
): Promise<UpdateOutcome> {
  for (let attempt = 0; attempt < maxAttempts; attempt++) {
    const current = await store.get(aor);
    const next = update(current);
    if (next === undefined) return { status: 'unchanged', record: current };
    const result = await store.put(aor, next, current?.version ?? 0);
    if (result.ok) return { status: 'written', version: result.version, bindings: next.bindings };
  }
  return { status: 'contended' };
}
