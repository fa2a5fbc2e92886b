import type { WorkflowExecutionDescription } from '@temporalio/client';

/** An activity Temporal is running or about to retry: what the workflow's own query cannot know yet. */
export interface PendingActivity {
  activity: string;
  attempt: number;
  state: 'scheduled' | 'started' | 'cancel-requested' | 'paused' | 'unknown';
  /** Innermost message of the last attempt's failure (a retry is waiting). */
  lastFailure?: string;
  lastHeartbeat?: string;
  nextAttemptAt?: string;
}

type Timestamp = { seconds?: number | { toNumber(): number } | null; nanos?: number | null } | null | undefined;

function iso(t: Timestamp): string | undefined {
  if (!t?.seconds) return undefined;
  const s = typeof t.seconds === 'number' ? t.seconds : t.seconds.toNumber();
  return new Date(s * 1000 + Math.floor((t.nanos ?? 0) / 1e6)).toISOString();
}

/** The message of the innermost cause: Temporal wraps the failure that says what went wrong. */
export function innermostMessage(err: unknown): string | undefined {
  let e = err as { message?: string | null; cause?: unknown } | null | undefined;
  while (e?.cause) e = e.cause as typeof e;
  return e?.message ?? undefined;
}

// temporal.api.enums.v1.PendingActivityState
const states: Record<number, PendingActivity['state']> = {
  1: 'scheduled',
  2: 'started',
  3: 'cancel-requested',
  4: 'paused',
  5: 'paused',
};

export function pendingActivities(desc: WorkflowExecutionDescription): PendingActivity[] {
  return (desc.raw.pendingActivities ?? []).map((a) => ({
    activity: a.activityType?.name ?? 'unknown',
    attempt: a.attempt ?? 1,
    state: states[Number(a.state ?? 0)] ?? 'unknown',
    lastFailure: innermostMessage(a.lastFailure),
    lastHeartbeat: iso(a.lastHeartbeatTime),
    nextAttemptAt: iso(a.nextAttemptScheduleTime),
  }));
}

/** One line per pending activity, for `status`. */
export function describePending(p: PendingActivity): string {
  const parts = [`${p.activity}: attempt ${p.attempt}, ${p.state}`];
  if (p.lastHeartbeat) parts.push(`last heartbeat ${p.lastHeartbeat}`);
  if (p.nextAttemptAt && p.state === 'scheduled') parts.push(`next attempt ${p.nextAttemptAt}`);
  if (p.lastFailure) parts.push(`last failure: ${p.lastFailure}`);
  return parts.join('; ');
}
