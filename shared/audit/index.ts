/** Audit: event schema and hash chain, the log and its sinks, and chain verification. */
export {
  ActorKind,
  AuditOutcome,
  AuditPhase,
  buildAuditEvent,
  canonicalJson,
  computeEventHash,
  genesisHash,
  serializeAuditEvent,
} from './event.js';
export type { Actor, AuditDetails, AuditEvent, AuditInput, ChainPosition } from './event.js';
export { findSecretLikeRuns, looksSecret, redactSecretLike } from './guard.js';
export { AuditLog, createAuditLog, memoryAuditSink, writerAuditSink } from './log.js';
export type { AuditLogOptions, AuditSink, ChainHead, MemoryAuditSink } from './log.js';
export { fileAuditSink } from './file-sink.js';
export type { FileAuditSinkOptions } from './file-sink.js';
export { AuditBreak, verifyAuditChain } from './verify.js';
export type { AuditVerifyResult } from './verify.js';
