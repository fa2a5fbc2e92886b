import type { VerifyOptions } from '../storage/types.js';
import { permanent } from './failures.js';

/**
 * RSE attribute an operator sets in Rucio to choose how copies on that RSE are verified
 * (`rucio-admin rse set-attribute --rse SAFE-1 --key ingest_verify --value readback`):
 * - `digest` (default): the storage's RFC 3230 digest; read back when it offers none (unless the
 *   ingestion turned read-back off);
 * - `readback`: always read the object back and checksum it (digests that are cached or not trusted);
 * - `size`: the digest when offered, else the size only (never read back: costly egress, tape buffers).
 */
export const verifyAttribute = 'ingest_verify';

const policies = ['digest', 'readback', 'size'] as const;
export type VerifyPolicy = (typeof policies)[number];

export type VerifyChoice = Pick<VerifyOptions, 'readbackFallback' | 'forceReadback'> & { policy: VerifyPolicy };

/** The verification options for an RSE from its attributes and the ingestion's read-back default. */
export function verifyChoiceFor(
  rse: string,
  attributes: Record<string, unknown>,
  readbackFallback = true,
): VerifyChoice {
  const raw = attributes[verifyAttribute];
  const policy = raw === undefined || raw === null ? 'digest' : String(raw).toLowerCase();
  switch (policy) {
    case 'digest':
      return { policy, readbackFallback, forceReadback: false };
    case 'readback':
      return { policy, readbackFallback: true, forceReadback: true };
    case 'size':
      return { policy, readbackFallback: false, forceReadback: false };
    default:
      throw permanent(
        `RSE ${rse} has ${verifyAttribute}=${String(raw)}, which is not one of ${policies.join(', ')}: fix the attribute in Rucio`,
        'InvalidVerifyPolicy',
      );
  }
}
