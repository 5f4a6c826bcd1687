/**
 * The XDMS (XCAP server for simservs): the fastify plugin, the simservs model the MMTel AS and
 * the portal use, and the provisioning helper. Wiring lives in src/cli.
 */
export { XDMS_ERRORS, XdmsError, type XdmsErrorCode } from './errors.js';
export { provisionDefaultDocument, removeDocument } from './provision.js';
export * from './simservs.js';
export { buildXdmsServer, xcapPlugin, type XcapOptions } from './xcap.js';
export { ATTRIBUTE_MEDIA_TYPE, ELEMENT_MEDIA_TYPE } from './xcap-ops.js';
