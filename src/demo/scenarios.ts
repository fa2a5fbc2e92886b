import { createHash, randomFillSync } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { writeFits } from './fits.js';

/**
 * The seed scenarios: data shaped as each experiment's, and the rucio-ingest options a data manager of that
 * experiment would use. Pure generation and configuration; `src/cli/demo-scenario.ts` runs them.
 */
export type ScenarioName = 'lsst' | 'cta' | 'magic' | 'fair' | 'ska' | 'virgo';
export const scenarioNames: ScenarioName[] = ['lsst', 'cta', 'magic', 'fair', 'ska', 'virgo'];

export interface ScenarioContext {
  /** Where the scenario writes its data (a fresh directory). */
  root: string;
  /** Unique for this run: the name prefix of every DID, the batch and schedule names. */
  run: string;
  /** 1 is the seed's own size (a whole night); the demo's default is far smaller. */
  scale: number;
  /** The on-site buffer: a directory of the non-deterministic ONSITE-BUFFER's storage, and its URL there. */
  buffer: { rse: string; dir: string; url: string; owner: { uid: number; gid: number } };
}

/**
 * Files the DAQ writes into the buffer belong to the storage's service user (as when written through it):
 * Rucio's reaper deletes them through the storage, which may only remove what it owns. A no-op unless root.
 */
function ownAsStorage(dir: string, owner: { uid: number; gid: number }): void {
  if (process.getuid?.() !== 0) return;
  fs.chownSync(dir, owner.uid, owner.gid);
  for (const e of fs.readdirSync(dir, { recursive: true, withFileTypes: true }))
    fs.chownSync(path.join(e.parentPath, e.name), owner.uid, owner.gid);
}

/** Ingest a tree now, as one batch. */
export interface BatchPlan {
  kind: 'batch';
  source: string;
  args: string[];
  files: number;
  bytes: number;
  dataRoot?: string;
  /** After the batch: download this DID from this RSE with the official client and compare it. */
  readBack?: { did: string; rse: string; sha256: string };
}

/** A schedule scanning a directory that a generator fills every interval. */
export interface SchedulePlan {
  kind: 'schedule';
  schedules: Array<{ name: string; directory: string; args: string[] }>;
  intervalMs: number;
  steps: number;
  /** Writes step `i`'s files; returns their count and bytes. */
  step: (i: number) => { files: number; bytes: number };
  /** Where the files are written, when not the scenario's root (the buffer). */
  dataRoot?: string;
  /** RSEs whose origin replicas Rucio deletes: the demo runs a reaper pass over them at the end. */
  reap?: string[];
}

export interface Scenario {
  name: ScenarioName;
  scope: string;
  summary: string;
  /** The scale the demo runs at without --scale: a couple of minutes at most on the sandbox. */
  demoScale: number;
  plan: (ctx: ScenarioContext) => BatchPlan | SchedulePlan;
  /** A command for the official client that shows what was ingested. */
  officialCheck: (ctx: ScenarioContext) => string;
}

/** A small deterministic generator (mulberry32): the same scale gives the same data shapes. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function writeRandom(file: string, size: number): number {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const fd = fs.openSync(file, 'w');
  try {
    const chunk = Buffer.alloc(Math.min(size, 1024 * 1024));
    for (let left = size; left > 0; left -= chunk.length) {
      const n = Math.min(left, chunk.length);
      randomFillSync(chunk, 0, n);
      fs.writeSync(fd, chunk, 0, n);
    }
  } finally {
    fs.closeSync(fd);
  }
  return size;
}

const atLeast = (min: number, n: number) => Math.max(min, Math.round(n));
const MiB = 1024 * 1024;

/** LSST: 45,248 × 18 MB FITS images a night, one dataset per visit, landing only (no replication). */
const lsst: Scenario = {
  name: 'lsst',
  scope: 'lsst',
  summary: '18 MB FITS images, one dataset per visit, landing RSE only',
  demoScale: 0.0005,
  plan: ({ root, run, scale }) => {
    const files = atLeast(1, 45_248 * scale);
    const perVisit = 9; // the science rafts' CCDs of one visit, scaled down
    let bytes = 0;
    for (let i = 0; i < files; i++) {
      const visit = 2026120100001 + Math.floor(i / perVisit);
      const detector = i % perVisit;
      const file = path.join(root, `visit_${visit}`, `raw_${visit}_R22_S${String(detector).padStart(2, '0')}.fits`);
      fs.mkdirSync(path.dirname(file), { recursive: true });
      bytes += writeFits(file, 18 * 1000 * 1000, {
        TELESCOP: 'LSST',
        INSTRUME: 'LSSTCam',
        VISIT: visit,
        DETECTOR: detector,
        FILTER: ['u', 'g', 'r', 'i', 'z', 'y'][Math.floor(i / perVisit) % 6] as string,
        'DATE-OBS': new Date(Date.UTC(2026, 11, 1, 3, 0, 30 * Math.floor(i / perVisit))).toISOString().slice(0, 19),
        EXPTIME: 30,
      });
    }
    return {
      kind: 'batch',
      source: root,
      files,
      bytes,
      args: [
        ...['--scope', 'lsst', '--layout', 'tree', '--name-prefix', `${run}/`, '--rse', 'LANDING-1'],
        ...['--meta', 'instrument=LSSTCam', '--meta', 'night=20261201', '--concurrency', '64'],
      ],
    };
  },
  officialCheck: ({ run }) => `rucio list-dids lsst:${run}/* --filter type=DATASET`,
};

/**
 * CTA: ~500,000 files a night in 10–200 datasets of 5–2000 files, 1 MB–2 GB each, each file announced by a
 * trigger file once complete. Scaled down: file sizes too (1/500), so the demo's bytes stay small.
 */
const cta: Scenario = {
  name: 'cta',
  scope: 'cta',
  summary: 'datasets of 5–2000 files of 1 MB–2 GB (sizes scaled down 500×), announced by trigger files',
  demoScale: 0.0001,
  plan: ({ root, run, scale }) => {
    const rnd = prng(500_000);
    const total = atLeast(10, 500_000 * scale);
    let files = 0;
    let bytes = 0;
    for (let ds = 0; files < total; ds++) {
      let size = atLeast(5, Math.exp(Math.log(5) + rnd() * Math.log(2000 / 5)) * scale * 100);
      // No dataset under 5 files: a remainder that small joins this one.
      if (total - files - size < 5) size = total - files;
      for (let i = 0; i < size; i++, files++) {
        // log-uniform between 1 MB and 2 GB, divided by 500
        const fileBytes = Math.round(Math.exp(Math.log(1e6) + rnd() * Math.log(2000)) / 500);
        const f = path.join(
          root,
          `tel_LST1/obs_${String(ds).padStart(4, '0')}`,
          `LST-1.Run${20000 + ds}.${String(i).padStart(4, '0')}.fits.fz`,
        );
        bytes += writeRandom(f, fileBytes);
        fs.writeFileSync(`${f}.trigger`, '');
      }
    }
    // One more still being written: no trigger yet, so it waits for a later run.
    writeRandom(path.join(root, 'tel_LST1/obs_9999/LST-1.Run29999.0000.fits.fz'), 4096);
    return {
      kind: 'batch',
      source: root,
      files,
      bytes,
      args: [
        ...['--scope', 'cta', '--layout', 'tree', '--name-prefix', `${run}/`, '--rse', 'LANDING-1'],
        ...['--trigger-suffix', '.trigger', '--qos', '1:QOS=SAFE', '--delete-origin'],
      ],
    };
  },
  officialCheck: ({ run }) => `rucio list-dids cta:${run}/tel_LST1/* --filter type=DATASET`,
};

/** MAGIC's run tree and file names (`20211215_M1_05010894.015_D_1ES2344+514-W0.40=270.raw.gz`): files from..from+count. */
export function magicTree(root: string, from: number, count: number): { files: number; bytes: number } {
  const sources = ['1ES2344+514-W0.40=270', 'CrabNebula-W0.40+035', 'UrsaMinor-W0.40=180'];
  let bytes = 0;
  for (let i = from; i < from + count; i++) {
    const source = sources[Math.floor(i / 4) % sources.length] as string;
    const day = 15 + (Math.floor(i / 12) % 10);
    const run = String(5010894 + Math.floor(i / 4)).padStart(8, '0');
    const subrun = String(1 + (i % 4)).padStart(3, '0');
    const dir = path.join(root, 'RAW_M1', source.split('-')[0] as string, `2021_12_${day}`, run);
    bytes += writeRandom(path.join(dir, `202112${day}_M1_${run}.${subrun}_D_${source}.raw.gz`), MiB + i);
  }
  return { files: count, bytes };
}

/**
 * MAGIC: the DAQ writes runs into the on-site buffer (the non-deterministic ONSITE-BUFFER, mounted on the
 * DTN); a schedule (a cron at PIC today) ingests each new run in tree layout, names sanitized, metadata from
 * the path, the buffer's files registered as replicas where they are, copied off-site to PIC and, once
 * verified, handed to Rucio for deletion (a tombstone: Rucio's reaper deletes them).
 */
const magic: Scenario = {
  name: 'magic',
  scope: 'magic',
  summary: 'RAW_M1/<source>/<date>/<run>/<file> on ONSITE-BUFFER from a schedule, to PIC, origin deleted by Rucio',
  demoScale: 1,
  plan: ({ run, scale, buffer }) => {
    const perStep = atLeast(1, 8 * scale);
    const steps = 3;
    fs.mkdirSync(buffer.dir, { recursive: true });
    return {
      kind: 'schedule',
      intervalMs: 5000,
      steps,
      dataRoot: buffer.dir,
      reap: [buffer.rse],
      // The DAQ writes whole runs (4 subruns) into the buffer; the settle time keeps a file being written out.
      step: (i) => {
        const written = magicTree(buffer.dir, i * perStep, perStep);
        ownAsStorage(buffer.dir, buffer.owner);
        return written;
      },
      schedules: [
        {
          name: `${run}`,
          directory: buffer.dir,
          args: [
            ...['--scope', 'magic', '--layout', 'tree', '--name-prefix', `${run}/`, '--name-rule', 'sanitize'],
            ...['--path-pattern', 'RAW_M1/(?<source>[^/]+)/(?<night>[0-9_]+)/(?<run>[0-9]+)/[^/]+'],
            ...['--meta-from-path', 'source', '--meta-from-path', 'night', '--meta-from-path', 'run'],
            ...['--origin-rse', buffer.rse, '--origin-url', buffer.url],
            ...['--rse', 'LANDING-1', '--qos', '1:PIC-DISK', '--delete-origin', '--settle', '2'],
          ],
        },
      ],
    };
  },
  officialCheck: ({ run }) => `rucio list-dids magic:${run}/RAW_M1/* --filter type=CONTAINER`,
};

/** FAIR: one file every 10 minutes, 2 copies on QOS=SAFE and 1 on QOS=CHEAP-ANALYSIS. */
const fair: Scenario = {
  name: 'fair',
  scope: 'fair',
  summary: 'one file every interval (10 min at scale 1) with 2:QOS=SAFE + 1:QOS=CHEAP-ANALYSIS',
  demoScale: 1 / 150,
  plan: ({ root, run, scale }) => {
    const intervalMs = atLeast(2000, 600_000 * scale);
    fs.mkdirSync(root, { recursive: true });
    return {
      kind: 'schedule',
      intervalMs,
      steps: 5,
      step: (i) => {
        const f = path.join(root, `fair-${run}-${String(i).padStart(4, '0')}.h5`);
        return { files: 1, bytes: writeRandom(f, 2 * MiB + i) };
      },
      schedules: [
        {
          name: run,
          directory: root,
          args: [
            ...['--scope', 'fair', '--dataset', `fair:${run}`, '--name-prefix', `${run}/`, '--rse', 'LANDING-1'],
            ...['--qos', '2:QOS=SAFE', '--qos', '1:QOS=CHEAP-ANALYSIS', '--delete-origin', '--settle', '1'],
          ],
        },
      ],
    };
  },
  officialCheck: ({ run }) => `rucio list-file-replicas fair:${run}`,
};

/**
 * SKA: a group of files every interval, each group a new dataset; the datasets fall into two containers
 * (two projects), each project with its own QoS, each its own schedule.
 */
const ska: Scenario = {
  name: 'ska',
  scope: 'ska',
  summary: 'a group of files every interval into a new dataset; two projects (containers), each with its own QoS',
  demoScale: 1 / 100,
  plan: ({ root, run, scale }) => {
    const intervalMs = atLeast(2000, 600_000 * scale);
    const projects = [
      { name: 'proj-a', qos: '1:QOS=SAFE' },
      { name: 'proj-b', qos: '1:QOS=CHEAP-ANALYSIS' },
    ];
    for (const p of projects) fs.mkdirSync(path.join(root, p.name), { recursive: true });
    return {
      kind: 'schedule',
      intervalMs,
      steps: 4,
      step: (i) => {
        let bytes = 0;
        let files = 0;
        for (const p of projects) {
          const ds = path.join(root, p.name, `obs-${String(i).padStart(4, '0')}`);
          for (let k = 0; k < 4; k++, files++) {
            const f = path.join(ds, `vis-${k}.ms.tar`);
            bytes += writeRandom(f, MiB / 2 + k);
            fs.writeFileSync(`${f}.meta`, JSON.stringify({ project: p.name, obs_id: i, beam: k }));
          }
        }
        return { files, bytes };
      },
      schedules: projects.map((p) => ({
        name: `${run}-${p.name}`,
        directory: path.join(root, p.name),
        args: [
          ...[
            '--scope',
            'ska',
            '--path-pattern',
            '(?<obs>[^/]+)/[^/]+',
            '--name-template',
            `${run}/${p.name}/{obs}/{file}`,
          ],
          ...['--dataset-template', `${run}/${p.name}/{obs}`, '--container-template', `${run}/${p.name}`],
          ...['--meta-sidecar', '.meta', '--require-sidecar', '--rse', 'LANDING-1', '--qos', p.qos, '--settle', '1'],
        ],
      })),
    };
  },
  officialCheck: ({ run }) => `rucio list-content ska:${run}/proj-a`,
};

/** Virgo: 1-second frames (small files), replicated to another RSE; one is then read back from there. */
const virgo: Scenario = {
  name: 'virgo',
  scope: 'virgo',
  summary: '1-second frames, replicated to CHEAP-1, one downloaded from there with the official client',
  demoScale: 1 / 1440,
  plan: ({ root, run, scale }) => {
    const frames = atLeast(5, 86_400 * scale);
    const gps = 1448928018;
    let bytes = 0;
    let first = '';
    for (let i = 0; i < frames; i++) {
      const t = gps + i;
      const f = path.join(root, String(Math.floor(t / 100000)), `V-V1Online-${t}-1.gwf`);
      bytes += writeRandom(f, 300_000 + (i % 1000));
      if (i === 0) first = f;
    }
    // Its origin is deleted once replicated: keep what it held to compare the download with.
    const sha256 = createHash('sha256').update(fs.readFileSync(first)).digest('hex');
    return {
      kind: 'batch',
      source: root,
      files: frames,
      bytes,
      args: [
        ...['--scope', 'virgo', '--dataset', `virgo:${run}`, '--name-prefix', `${run}/`, '--rse', 'LANDING-1'],
        ...['--qos', '1:CHEAP-1', '--delete-origin', '--concurrency', '64'],
      ],
      readBack: { did: `virgo:${run}/${path.basename(first)}`, rse: 'CHEAP-1', sha256 },
    };
  },
  officialCheck: ({ run }) => `rucio list-file-replicas virgo:${run} --rses CHEAP-1`,
};

export const scenarios: Record<ScenarioName, Scenario> = { lsst, cta, magic, fair, ska, virgo };
