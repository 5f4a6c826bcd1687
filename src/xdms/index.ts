/**
 * The XDMS (XCAP server for simservs): the fastify plugin, the simservs model the MMTel AS and
 * the portal use, the provisioning helper, and {@link XcapClient}, the portal's client of an XDMS
 * in another process. Wiring lives in src/cli.
 */
export { XDMS_ERRORS, XdmsError, type XdmsErrorCode } from './errors.js';
export { provisionDefaultDocument, removeDocument } from './provision.js';
export * from './simservs.js';
export { buildXdmsServer, xcapPlugin, type XcapOptions } from './xcap.js';
export { ATTRIBUTE_MEDIA_TYPE, ELEMENT_MEDIA_TYPE } from './xcap-ops.js';
export { XcapClient, type XcapClientOptions, type XcapDocuments } from './xcap-client.js';
