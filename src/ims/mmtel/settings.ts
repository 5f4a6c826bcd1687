/**
 * Each served user's supplementary service settings: the simservs document the XDMS keeps
 * (TS 24.623; AUID `org.etsi.ngn.simservs`, document `simservs.xml`, XUI the IMPU), read on every
 * request so a change takes effect on the next call. A parsed document is kept per user with its
 * entity tag and parsed again only when the tag changes.
 */
import type { DocumentKey, StoredDocument } from '../../storage/document-store.js';
import { parseSimservs, SIMSERVS_AUID, SIMSERVS_DOCUMENT, type SimservsSettings } from '../../xdms/simservs.js';
import type { Uri } from '../../sip/index.js';
import type { HomeDomain } from '../identity.js';

/** The part of a document store (or of an XCAP client of a remote XDMS) the AS reads. */
export interface SimservsDocuments {
  get(key: DocumentKey): Promise<StoredDocument | undefined>;
}

const DEFAULT_MAX_ENTRIES = 10_000;

export class SimservsReader {
  private readonly parsed = new Map<string, { readonly etag: string; readonly settings: SimservsSettings }>();

  constructor(
    private readonly documents: SimservsDocuments,
    private readonly home: HomeDomain,
    private readonly maxEntries = DEFAULT_MAX_ENTRIES,
  ) {}

  /**
   * The settings of the user `uri` names (its IMPU, or for a number the home domain's
   * `sip:<digits>@domain` form), or undefined when the user has no document. Rejects when the
   * store fails or the stored document is not valid simservs (SimservsInvalid names the element).
   */
  async settingsOf(uri: Uri): Promise<SimservsSettings | undefined> {
    for (const xui of this.home.candidates(uri)) {
      if (xui.startsWith('tel:')) continue;
      const doc = await this.documents.get({ auid: SIMSERVS_AUID, xui, name: SIMSERVS_DOCUMENT });
      if (doc) return this.settingsFrom(xui, doc);
    }
    return undefined;
  }

  private settingsFrom(xui: string, doc: StoredDocument): SimservsSettings {
    const known = this.parsed.get(xui);
    if (known && known.etag === doc.etag) return known.settings;
    const settings = parseSimservs(doc.content);
    this.parsed.delete(xui);
    if (this.parsed.size >= this.maxEntries) this.parsed.delete(this.parsed.keys().next().value!);
    this.parsed.set(xui, { etag: doc.etag, settings });
    return settings;
  }
}
