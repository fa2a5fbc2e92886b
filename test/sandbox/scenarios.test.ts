import { describe, expect, it } from 'vitest';
import { cli, pythonRucio } from '../fixtures/batch.js';
import type { ScenarioOutcome } from '../../src/cli/demo-scenario.js';

/** Everything the official client shows under a scope and name prefix: files, datasets, containers, replicas. */
const inspectScript = `
import json, sys
from rucio.client import Client
c = Client()
scope, prefix = sys.argv[1], sys.argv[2]
out = {"files": {}, "datasets": {}, "containers": {}}
names = []
for d in c.list_dids(scope, {"name": prefix + "*"}, did_type="all", long=True):
    name, kind = d["name"], d["did_type"]
    if kind == "FILE":
        names.append(name)
        out["files"][name] = {"meta": c.get_metadata(scope, name, plugin="ALL"), "replicas": []}
    else:
        content = sorted(x["name"] for x in c.list_content(scope, name))
        out["datasets" if kind == "DATASET" else "containers"][name] = content
for i in range(0, len(names), 500):
    for r in c.list_replicas([{"scope": scope, "name": n} for n in names[i:i + 500]], all_states=True):
        out["files"][r["name"]]["replicas"] = sorted(k for k, v in r["states"].items() if v == "AVAILABLE")
# Dates (created_at, ...) as text.
print(json.dumps(out, default=str))
`;

interface Seen {
  files: Record<string, { meta: Record<string, unknown>; replicas: string[] }>;
  datasets: Record<string, string[]>;
  containers: Record<string, string[]>;
}

async function demo(name: string, scale?: string): Promise<{ outcome: ScenarioOutcome; seen: Seen }> {
  const r = await cli(['demo', name, '--json', ...(scale ? ['--scale', scale] : [])], {}, 300_000);
  expect(r.code, r.err).toBe(0);
  const outcome = JSON.parse(r.out.trim().split('\n').pop() as string) as ScenarioOutcome;
  expect(outcome).toMatchObject({ scenario: name, failed: 0 });
  expect(outcome.done).toBe(outcome.files);
  // The summary says where to look and what to run.
  expect(r.err).toMatch(/Web UI: +http:\/\/127\.0\.0\.1/);
  expect(r.err).toMatch(/official client: .*rucio /);
  const seen = await pythonRucio<Seen>(inspectScript, [name, `${outcome.run}/`]);
  expect(Object.keys(seen.files)).toHaveLength(outcome.files);
  return { outcome, seen };
}

const onlyReplicas = (seen: Seen) => [...new Set(Object.values(seen.files).map((f) => f.replicas.join(' ')))];

describe('rucio-ingest demo <scenario>: the seed scenarios at a small scale, checked with the official client', () => {
  it('lsst: FITS images, one dataset per visit, landing only', async () => {
    const { outcome, seen } = await demo('lsst', '0.0004');
    expect(outcome.files).toBe(18);
    expect(Object.keys(seen.datasets).sort()).toEqual(
      ['2026120100001', '2026120100002'].map((v) => `${outcome.run}/visit_${v}`),
    );
    for (const content of Object.values(seen.datasets)) expect(content).toHaveLength(9);
    expect(onlyReplicas(seen)).toEqual(['LANDING-1']);
    const f = Object.values(seen.files)[0]!;
    expect(f.meta).toMatchObject({ instrument: 'LSSTCam', night: 20261201 });
    expect(Number(f.meta.bytes) % 2880).toBe(0); // whole FITS blocks
    expect(outcome.left.count).toBe(18); // no --delete-origin
  }, 300_000);

  it('cta: datasets announced by trigger files; a file without its trigger waits; origins deleted', async () => {
    const { outcome, seen } = await demo('cta');
    expect(outcome.files).toBe(50);
    const datasets = Object.keys(seen.datasets);
    expect(datasets.length).toBeGreaterThanOrEqual(2);
    expect(seen.containers[`${outcome.run}/tel_LST1`]?.sort()).toEqual(datasets.sort());
    for (const content of Object.values(seen.datasets)) expect(content.length).toBeGreaterThanOrEqual(5);
    for (const f of Object.values(seen.files)) expect(f.replicas).toEqual(expect.arrayContaining(['LANDING-1']));
    for (const f of Object.values(seen.files)) expect(f.replicas.some((r) => r.startsWith('SAFE-'))).toBe(true);
    expect(Object.keys(seen.files).some((n) => n.includes('obs_9999'))).toBe(false);
    expect(outcome.left).toEqual({ count: 1, sample: ['tel_LST1/obs_9999/LST-1.Run29999.0000.fits.fz'] });
  }, 300_000);

  it('magic: the run tree on ONSITE-BUFFER from a schedule, sanitized, metadata from the path, replicated to PIC, origins deleted by Rucio', async () => {
    const { outcome, seen } = await demo('magic', '0.5');
    expect(outcome.files).toBe(12);
    expect(outcome.scans).toBeGreaterThanOrEqual(3);
    expect(seen.containers[`${outcome.run}/RAW_M1`]?.sort()).toEqual(
      ['1ES2344_514', 'CrabNebula', 'UrsaMinor'].map((s) => `${outcome.run}/RAW_M1/${s}`),
    );
    const name = Object.keys(seen.files).find((n) => n.includes('1ES2344'))!;
    expect(name).toMatch(
      /^magic-demo-[-\d]+\/RAW_M1\/1ES2344_514\/2021_12_15\/05010894\/20211215_M1_05010894\.00\d_D_1ES2344_514-W0\.40_270\.raw\.gz$/,
    );
    expect(seen.files[name]!.meta).toMatchObject({ source: '1ES2344+514', night: '2021_12_15', run: '05010894' });
    expect(seen.files[name]!.meta.original_name).toMatch(/1ES2344\+514-W0\.40=270/);
    // Registered where the DAQ wrote them, copied to PIC, handed to Rucio for deletion, and reaped: the
    // replicas left are the landing copy and PIC's, and the buffer holds none of the files.
    for (const f of Object.values(seen.files)) expect(f.replicas).toEqual(['LANDING-1', 'PIC-DISK']);
    expect(outcome.left.count).toBe(0);
  }, 300_000);

  it('fair: one file every interval from a schedule, 2 copies on QOS=SAFE and 1 on QOS=CHEAP-ANALYSIS', async () => {
    const { outcome, seen } = await demo('fair');
    expect(outcome.files).toBe(5);
    expect(outcome.batches.length).toBeGreaterThanOrEqual(2);
    expect(onlyReplicas(seen)).toEqual(['CHEAP-1 LANDING-1 SAFE-1 SAFE-2']);
    expect(outcome.left.count).toBe(0);
  }, 300_000);

  it('ska: a new dataset each interval, in two project containers, each project with its own QoS', async () => {
    const { outcome, seen } = await demo('ska');
    expect(outcome.files).toBe(32);
    for (const p of ['proj-a', 'proj-b']) {
      const container = seen.containers[`${outcome.run}/${p}`];
      expect(container?.sort()).toEqual([0, 1, 2, 3].map((i) => `${outcome.run}/${p}/obs-000${i}`));
      for (const ds of container!) expect(seen.datasets[ds]).toHaveLength(4);
    }
    for (const [name, f] of Object.entries(seen.files)) {
      const project = name.includes('/proj-a/') ? 'proj-a' : 'proj-b';
      expect(f.meta).toMatchObject({ project });
      if (project === 'proj-a') expect(f.replicas.some((r) => r.startsWith('SAFE-'))).toBe(true);
      else expect(f.replicas).toContain('CHEAP-1');
      expect(f.replicas).toHaveLength(2);
    }
  }, 300_000);

  it('virgo: frames replicated to CHEAP-1, one downloaded from there with the official client and compared', async () => {
    const { outcome, seen } = await demo('virgo', '0.0001');
    expect(outcome.files).toBe(9);
    expect(outcome.readBack).toBe(true);
    expect(onlyReplicas(seen)).toEqual(['CHEAP-1 LANDING-1']);
    expect(outcome.left.count).toBe(0);
  }, 300_000);
});
