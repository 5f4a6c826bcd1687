/** The simservs document every new number starts with (INTERFACES.md, XDMS). */
import type { DocumentStore } from '../storage/document-store.js';
import { defaultSimservs, SIMSERVS_AUID, SIMSERVS_DOCUMENT } from './simservs.js';

/**
 * Stores the default simservs document for `impu` unless one exists already (a re-run never
 * overwrites a user's settings). Resolves whether it was created, and the document's entity tag.
 */
export async function provisionDefaultDocument(store: DocumentStore, impu: string): Promise<{ created: boolean; etag?: string }> {
  const key = { auid: SIMSERVS_AUID, xui: impu, name: SIMSERVS_DOCUMENT };
  const result = await store.put(key, defaultSimservs(), { ifNoneMatch: '*' });
  if (result.ok) return { created: true, etag: result.etag };
  return result.currentEtag === undefined ? { created: false } : { created: false, etag: result.currentEtag };
}

/** Removes the simservs document of `impu` (when its number is deleted); resolves whether one existed. */
export async function removeDocument(store: DocumentStore, impu: string): Promise<boolean> {
  const result = await store.delete({ auid: SIMSERVS_AUID, xui: impu, name: SIMSERVS_DOCUMENT });
  return result.ok && result.deleted;
}
