/**
 * The action table: every emulated RPC action by name, plus the KMS actions SDK v1.2.0 knows that
 * the emulator deliberately does not implement (answered with UnsupportedOperation, not "unknown").
 */
import { aliasActions } from './aliases.js';
import type { ActionHandler } from './context.js';
import { cryptoActions } from './crypto.js';
import { importActions } from './import.js';
import { instanceActions } from './instances.js';
import { keyActions } from './keys.js';
import { secretActions } from './secrets.js';
import { stsActions } from './sts.js';
import { tagActions } from './tags.js';

/** Emulated actions by name. */
export const ACTIONS: Readonly<Record<string, ActionHandler>> = {
  ...keyActions,
  ...importActions,
  ...cryptoActions,
  ...aliasActions,
  ...tagActions,
  ...secretActions,
  ...instanceActions,
  ...stsActions,
};

/** Real KMS 2016-01-20 actions (docs/kms-api.md §1.12) the emulator does not implement. */
export const NOT_EMULATED_ACTIONS: ReadonlySet<string> = new Set([
  'UpdateSecret',
  'GetRandomPassword',
  'UpdateSecretVersionStage',
  'RotateSecret',
  'AsymmetricDecrypt',
  'AsymmetricVerify',
  'AsymmetricSign',
  'AsymmetricEncrypt',
  'GetPublicKey',
  'DescribeKeyVersion',
  'UpdateRotationPolicy',
  'ListKeyVersions',
  'CreateKeyVersion',
  'DescribeService',
  'DescribeRegions',
  'ReEncrypt',
  'ListTagResources',
  'TagResources',
  'UntagResources',
  'SetDeletionProtection',
]);

/** Looks up a handler; `undefined` for unknown or not-emulated actions. */
export function findAction(name: string): ActionHandler | undefined {
  return Object.hasOwn(ACTIONS, name) ? ACTIONS[name] : undefined;
}
