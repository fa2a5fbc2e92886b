import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from '@temporalio/worker';
import { describe, expect, it } from 'vitest';

/**
 * Determinism guard: histories recorded on the sandbox (happy path, Rucio crash, Temporal crash, worker
 * kill, a permanent failure, `rucio` mode waiting on timers until a rule deadline, an origin-RSE source
 * released to Rucio's reaper; a batch's first and last page and a file it started, which reports its end to
 * the batch) must replay against the current workflow code. A change that would break
 * running workflows fails here. Record new ones with `temporal workflow show -w <id> -o json`. A schedule's scans: one that took files, one that found nothing new, one whose file failed. A batch whose starts roll (each
 * file starts as soon as there is room), and files whose upload inspects the source first (landing only; a copy and a deletion). Files that report their end
 * through the worker (a local activity, one `filesFinished` signal for many files), and a batch receiving those.
 * A batch whose worker starts its files (a local activity, no children: first and last page), and a file so
 * started, which reports to the batch named in its input. A file with a copy whose copy step also verifies
 * and deletes the origin (no verify step), and a batch run that asks about the files carried over from the
 * run before it, at once (middle and last page). Files of the current flow (`input.flow`: no patch
 * markers, started in their upload step), landing only and with a copy and a deletion. A batch that
 * continues as new in a workflow task of its own (first, middle and last page). Files of flow 3, whose
 * registration reports a landing-only file's end (one local activity), and with a copy and a deletion. Files
 * of flow 4, whose upload registers them (the report from the last workflow task again), likewise.
 */
const dir = fileURLToPath(new URL('../fixtures/histories', import.meta.url));
const workflowsPath = fileURLToPath(new URL('../../src/workflows/index.ts', import.meta.url));

describe('replay of recorded histories', () => {
  const files = fs.readdirSync(dir).filter((f) => f.endsWith('.json'));

  it('has recorded histories to replay', () => {
    expect(files.length).toBeGreaterThanOrEqual(10);
  });

  it('replays every recorded history without nondeterminism', async () => {
    const histories = files.map((f) => ({
      workflowId: path.basename(f, '.json'),
      history: JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')) as unknown,
    }));
    const results = [];
    for await (const r of Worker.runReplayHistories({ workflowsPath }, histories)) results.push(r);
    expect(results.map((r) => [r.workflowId, r.error?.message])).toEqual(
      histories.map((h) => [h.workflowId, undefined]),
    );
  }, 120_000);
});
