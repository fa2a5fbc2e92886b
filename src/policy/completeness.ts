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

/** Suffixes whose `<file><suffix>` the rules look for next to each file (found in the directory listing). */
export function companionSuffixes(r: CompletenessRules): string[] {
  return [r.triggerSuffix, r.requiredSidecar].filter((x): x is string => Boolean(x));
}

/**
 * Whether `file` may be taken now. `companions`: the suffixes of `companionSuffixes` for which
 * `<file><suffix>` exists (the directory listing says, no stat a file).
 */
export function readiness(
  file: { path: string; mtimeMs: number },
  rules: CompletenessRules,
  nowMs: number,
  companions: ReadonlySet<string>,
): Readiness {
  if (rules.triggerSuffix && !companions.has(rules.triggerSuffix)) return { ready: false, why: 'no-trigger' };
  if (rules.requiredSidecar && !companions.has(rules.requiredSidecar)) return { ready: false, why: 'no-sidecar' };
  // Checked last: a file written on after its trigger appeared is still not taken.
  if ((rules.settleSeconds ?? 0) > 0 && nowMs - file.mtimeMs < rules.settleSeconds! * 1000)
    return { ready: false, why: 'settling' };
  return { ready: true, ...(rules.triggerSuffix ? { trigger: file.path + rules.triggerSuffix } : {}) };
}

/** "2 no trigger file yet, 1 written to within the settle time", or '' when nothing waits. */
export function describeWaiting(waiting: Partial<Record<WaitReason, number>>): string {
  return Object.entries(waiting)
    .map(([why, n]) => `${n} ${waitReasonText[why as WaitReason]}`)
    .join(', ');
}
