/**
 * A number's service settings: the simservs document (3GPP TS 24.623, kept by the XDMS) and the
 * iFCs of its implicit set's service profile (TS 29.228 Annex B, kept by the HSS), read and
 * written in this process or over HTTP, with the same validation as the XDMS and the HSS
 * provisioning API.
 */
import { StorageError } from '../storage/index.js';
import {
  defaultSettings,
  parseSimservs,
  serializeSimservs,
  SIMSERVS_AUID,
  SIMSERVS_DOCUMENT,
  SimservsInvalid,
  validateSimservs,
  type SimservsSettings,
} from '../xdms/index.js';
import { badField, PortalError } from './errors.js';
import type { PortalDocuments, PortalSubscribers } from './subscribers.js';

export class ServiceSettings {
  constructor(
    private readonly documents: PortalDocuments,
    private readonly subscribers: PortalSubscribers,
  ) {}

  private key(impu: string) {
    return { auid: SIMSERVS_AUID, xui: impu, name: SIMSERVS_DOCUMENT };
  }

  /** The stored simservs document; 404 when the number has none. */
  async simservs(impu: string): Promise<string> {
    const doc = await this.documents.get(this.key(impu));
    if (!doc) throw new PortalError('TW_ERR_PORTAL_NOT_FOUND', `no simservs document for ${impu}`);
    return doc.content;
  }

  /**
   * Replaces the document after validating it (400 with the path at fault). With `etag` (what
   * the writer read; `''` for "no document") only if the document is unchanged since: 409
   * otherwise, so a form never overwrites a change made meanwhile over XCAP.
   */
  async putSimservs(impu: string, text: unknown, etag?: string): Promise<void> {
    if (typeof text !== 'string' || text.trim() === '') throw badField('body', 'must be a simservs XML document');
    const problem = validateSimservs(text);
    if (problem !== undefined) throw badField('body', `not a valid simservs document: ${problem}`);
    const condition = etag === undefined ? undefined : etag === '' ? { ifNoneMatch: '*' as const } : { ifMatch: etag };
    const result = await this.documents.put(this.key(impu), text, condition);
    if (!result.ok) throw new PortalError('TW_ERR_PORTAL_CHANGED', 'the settings were changed elsewhere meanwhile; check them and save again');
  }

  /** The settings the services page edits (the defaults when there are none) and the document's entity tag (`''`: none). */
  async settings(impu: string): Promise<{ settings: SimservsSettings; etag: string }> {
    const doc = await this.documents.get(this.key(impu));
    if (!doc) return { settings: defaultSettings(), etag: '' };
    try {
      return { settings: parseSimservs(doc.content), etag: doc.etag };
    } catch (error) {
      if (error instanceof SimservsInvalid) return { settings: defaultSettings(), etag: doc.etag };
      throw error;
    }
  }

  /** Writes settings as a simservs document if it is still at `etag`, validated as any other write. */
  async putSettings(impu: string, settings: SimservsSettings, etag: string): Promise<void> {
    await this.putSimservs(impu, serializeSimservs(settings), etag);
  }

  /** The implicit set's ServiceProfile with its InitialFilterCriteria. */
  async ifcs(impu: string): Promise<string> {
    return this.subscribers.filterCriteria(impu);
  }

  /** Replaces the filter criteria with those of a ServiceProfile document (validated as the HSS does). */
  async putIfcs(impu: string, body: unknown): Promise<string> {
    try {
      return await this.subscribers.putFilterCriteria(impu, body);
    } catch (error) {
      if (error instanceof StorageError && error.code === 'TW_ERR_STORAGE_INVALID') throw badField('body', error.message);
      throw error;
    }
  }
}
