/**
 * Which files of a watched directory are complete enough to ingest. Data arrives while we scan: a file
 * still being written must never be taken half-way. The rules are the peers' conventions, each optional:
 * - settle: no write for S seconds (the modification time is older than that; every write moves it);
 * - trigger: `<file><suffix>` exists (CTA's on-site convention); the trigger is removed once the file is done;
 * - sidecar: the metadata sidecar `<file><meta-sidecar suffix>` exists (DUNE's declaration convention).
 */
export interface CompletenessRules {
  settleSeconds?: number;
  triggerSuffix?: string;
  /** The sidecar suffix that must exist (the --meta-sidecar suffix), when required. */
  requiredSidecar?: string;
}

export type WaitReason = 'settling' | 'no-trigger' | 'no-sidecar';

export type Readiness = { ready: true; trigger?: string } | { ready: false; why: WaitReason };

export const waitReasonText: Record<WaitReason, string> = {
  settling: 'written to within the settle time',
  'no-trigger': 'no trigger file yet',
  'no-sidecar': 'no metadata sidecar yet',
};

export function hasRules(r: CompletenessRules): boolean {
  return (r.settleSeconds ?? 0) > 0 || Boolean(r.triggerSuffix) || Boolean(r.requiredSidecar);
}

/** Suffixes of files that describe data and are not data themselves. */
export function markerSuffixes(r: CompletenessRules): string[] {
  return r.triggerSuffix ? [r.triggerSuffix] : [];
}

/**
 * Whether `file` may be taken now. `exists` answers for the trigger and sidecar paths (the caller decides
 * how: a stat, or a set of names already listed).
 */
export async function readiness(
  file: { path: string; mtimeMs: number },
  rules: CompletenessRules,
  nowMs: number,
  exists: (path: string) => Promise<boolean>,
): Promise<Readiness> {
  if (rules.triggerSuffix && !(await exists(file.path + rules.triggerSuffix)))
    return { ready: false, why: 'no-trigger' };
  if (rules.requiredSidecar && !(await exists(file.path + rules.requiredSidecar)))
    return { ready: false, why: 'no-sidecar' };
  // Checked last: a file written on after its trigger appeared is still not taken.
  if ((rules.settleSeconds ?? 0) > 0 && nowMs - file.mtimeMs < rules.settleSeconds! * 1000)
    return { ready: false, why: 'settling' };
  return { ready: true, ...(rules.triggerSuffix ? { trigger: file.path + rules.triggerSuffix } : {}) };
}
