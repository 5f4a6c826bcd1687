/**
 * SIP authentication: HTTP Digest (RFC 3261 §22.4, RFC 7616, RFC 8760) with stateless
 * nonces and nonce-count replay protection, MILENAGE (3GPP TS 35.206) and Digest AKAv1
 * (RFC 3310).
 */
export {
  computeHa1,
  computeHa2,
  computeResponse,
  computeSessionHa1,
  computeUserhash,
  digestAlgorithmInfo,
  digestHash,
  type DigestAlgorithm,
  type DigestAlgorithmInfo,
  type DigestHash,
  type DigestQop,
  type DigestResponseInput,
} from './digest.js';
export {
  buildChallenge,
  formatCredentials,
  parseDigestChallenge,
  parseDigestCredentials,
  parseDigestParams,
  quoteString,
  type ChallengeAlgorithm,
  type ChallengeOptions,
  type CredentialsFields,
  type DigestChallenge,
  type DigestCredentials,
} from './digest-header.js';
export {
  NonceManager,
  type NonceInspection,
  type NonceManagerOptions,
  type NonceVerdict,
} from './nonce.js';
export {
  MemoryNonceCountStore,
  type MemoryNonceCountStoreOptions,
  type NonceCountStore,
} from './nonce-count.js';
export {
  DigestVerifier,
  verifyDigest,
  type DigestChallengeRequest,
  type DigestFailure,
  type DigestFailureReason,
  type DigestVerifierDeps,
  type DigestVerifyRequest,
  type DigestVerifyResult,
} from './digest-verifier.js';
export {
  computeOpc,
  Milenage,
  type MilenageKeys,
  type MilenageOutput,
  type OperatorKey,
} from './milenage.js';
export {
  AKA_V1_MD5,
  akaHa1,
  decodeAkaNonce,
  encodeAkaNonce,
  generateAkaVector,
  resynchronise,
  verifyAkaResponse,
  type AkaKeys,
  type AkaNonceParts,
  type AkaResyncRequest,
  type AkaResyncResult,
  type AkaVector,
  type AkaVectorRequest,
  type AkaVerifyRequest,
  type AkaVerifyResult,
} from './aka.js';
