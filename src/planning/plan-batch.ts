import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { once } from 'node:events';
import { CollisionFinder } from '../policy/collisions.js';
import { manifestFormatOf, readManifest, validateManifest, type ManifestEntry } from '../policy/manifest.js';
import { mergeMetadata } from '../policy/metadata.js';
import { compileNamespace, NamespaceError, type MappedFile, type NamespaceOptions } from '../policy/namespace.js';
import { parseDidReference, type MetaValue } from '../policy/values.js';
import { walkDirectory } from '../policy/walk.js';
import {
  companionSuffixes,
  describeWaiting,
  hasRules,
  markerSuffixes,
  readiness,
  type CompletenessRules,
  type WaitReason,
} from '../policy/completeness.js';
import type { ManifestLine, ManifestRef } from '../shared/batch-input.js';
import { isValidDidName } from '../shared/did-naming.js';
import type { Source } from '../shared/ingest-input.js';
import { listProblems, RequestError } from '../shared/request-error.js';
import type { ScanLedger } from './scan-ledger.js';

export interface PlanOptions {
  /** Directories and manifests (.jsonl, .csv), in the order given. */
  sources: string[];
  namespace: NamespaceOptions;
  /** Every file's metadata (--meta); the path's, the manifest line's and the sidecar's are merged over it. */
  metadata: Record<string, MetaValue>;
  /** Manifest paths are PFNs of replicas on this RSE. */
  originRse?: string;
  /**
   * With originRse, a directory is that RSE's storage as mounted here, and this URL is where the RSE serves
   * it: a file's PFN is this URL and its relative path.
   */
  originUrl?: string;
  /** Sidecar files are metadata, not data: not ingested. */
  excludeSuffixes: string[];
  /** Where the batch's manifest is written. */
  manifestPath: string;
  /** Only complete files of a directory are taken (settle, trigger, sidecar); the others wait. */
  completeness?: CompletenessRules;
  /** Filled in: files of directories left for a later scan, by reason. */
  waiting?: Partial<Record<WaitReason, number>>;
  /** A schedule's scan: files its earlier scans took are passed over (one directory source only). */
  ledger?: ScanLedger;
  /** No file to take is an answer (a scan that finds nothing new), not a refusal. */
  emptyOk?: boolean;
}

/** One file planned: where it comes from and how to describe it in messages. */
interface Planned {
  line: ManifestLine;
  where: string;
}

const statConcurrency = 32;

/**
 * Plan a batch: list every source once (directories sorted, so the same tree gives the same manifest), map
 * each file to its Rucio names, and write the manifest the batch pages through. Name problems and clashes
 * are gathered over the whole batch and refused together, before anything moves. Memory stays bounded:
 * entries stream to the manifest, and the clash check spills to disk beyond its in-memory limit.
 */
export async function planBatch(o: PlanOptions): Promise<ManifestRef> {
  const mapName = compileNamespace(o.namespace);
  const collisions = new CollisionFinder();
  const problems: string[] = [];
  let problemCount = 0;
  const problem = (p: string) => {
    problemCount += 1;
    if (problems.length < 20) problems.push(p);
  };

  fs.mkdirSync(path.dirname(o.manifestPath), { recursive: true });
  const tmp = `${o.manifestPath}.planning`;
  const out = fs.createWriteStream(tmp);
  let files = 0;
  let bytes = 0;
  const write = async (p: Planned) => {
    const did = 'input' in p.line ? p.line.input.did : p.line.did;
    await collisions.add(`${did.scope}:${did.name}`, p.where);
    files += 1;
    bytes += p.line.bytes;
    if (!out.write(`${JSON.stringify(p.line)}\n`)) await once(out, 'drain');
  };

  if (o.ledger && (o.sources.length !== 1 || (o.originRse && !o.originUrl)))
    throw new Error('a scan ledger is for one watched directory');
  try {
    for (const src of o.sources) {
      const st = await fsp.stat(src).catch(() => undefined);
      if (!st) throw new RequestError(`${src} does not exist: give a directory or a manifest (.jsonl, .csv)`);
      if (st.isDirectory()) {
        if (o.originRse && !o.originUrl)
          throw new RequestError(
            `${src} is a directory: with --origin-rse give a manifest of the replicas' PFNs, or --origin-url, the URL at which ${o.originRse} serves this directory`,
          );
        const rules = o.completeness ?? {};
        const excludeSuffixes = [...o.excludeSuffixes, ...markerSuffixes(rules)];
        const now = Date.now();
        const walk = walkDirectory(src, { excludeSuffixes, companionSuffixes: companionSuffixes(rules) });
        for await (const f of walk) {
          const seen = { size: f.size ?? -1, mtime: f.mtimeMs ?? 0 };
          if (o.ledger && (await o.ledger.seen(f.relativePath, seen.size, seen.mtime))) continue;
          let trigger: string | undefined;
          if (!f.refused && hasRules(rules)) {
            const r = readiness(
              { path: f.absolutePath, mtimeMs: f.mtimeMs ?? now },
              rules,
              now,
              f.companions ?? new Set(),
            );
            if (!r.ready) {
              if (o.waiting) o.waiting[r.why] = (o.waiting[r.why] ?? 0) + 1;
              continue;
            }
            trigger = r.trigger;
          }
          const mapped = tryMap(mapName, f.relativePath, f.relativePath, problem);
          if (!mapped) continue;
          await write({
            where: path.join(src, f.relativePath),
            line: lineOf(
              o.originRse && o.originUrl
                ? { kind: 'rse', rse: o.originRse, pfn: `${o.originUrl.replace(/\/+$/, '')}/${f.relativePath}` }
                : { kind: 'local', path: f.absolutePath },
              mapped,
              o.metadata,
              undefined,
              f.size ?? 0,
              f.refused,
              trigger,
            ),
          });
          await o.ledger?.take(f.relativePath, seen.size, seen.mtime);
        }
      } else {
        const format = manifestFormatOf(src);
        if (!format) throw new RequestError(`${src} is neither a directory nor a manifest (.jsonl, .ndjson or .csv)`);
        await planManifest(src, format, o, mapName, problem, write);
      }
    }
    out.end();
    await once(out, 'finish');
    const clash = await collisions.finish(20);
    for (const c of clash.collisions) problems.push(`${c.key}: ${c.first} and ${c.second}`);
    if (problemCount > 0 || clash.count > 0) {
      const parts = [];
      if (problemCount > 0) parts.push(listProblems('files cannot be named in Rucio', problems, problemCount));
      if (clash.count > 0)
        parts.push(
          listProblems(
            'DIDs would be ingested twice (two sources map to one name)',
            clash.collisions.map((c) => `${c.key}: ${c.first} and ${c.second}`),
            clash.count,
          ),
        );
      throw new RequestError(
        `${parts.join('\n')}\nNothing was started. Fix the names (see --name-rule, --layout, --name-template) and run again.`,
      );
    }
    if (files === 0 && o.emptyOk) return { path: o.manifestPath, files: 0, bytes: 0, size: 0, mtimeMs: 0 };
    if (files === 0) {
      const waiting = describeWaiting(o.waiting ?? {});
      throw new RequestError(
        waiting
          ? `no file of ${o.sources.join(', ')} is complete yet (${waiting}): run again later`
          : `no file to ingest in ${o.sources.join(', ')}`,
      );
    }
    fs.renameSync(tmp, o.manifestPath);
    const done = fs.statSync(o.manifestPath);
    return { path: o.manifestPath, files, bytes, size: done.size, mtimeMs: done.mtimeMs };
  } finally {
    out.destroy();
    fs.rmSync(tmp, { force: true });
  }
}

function tryMap(
  mapName: (relativePath: string) => MappedFile,
  relativePath: string,
  where: string,
  problem: (p: string) => void,
): MappedFile | undefined {
  try {
    return mapName(relativePath);
  } catch (err) {
    if (err instanceof NamespaceError) {
      problem(err.message.includes(where) ? err.message : `${where}: ${err.message}`);
      return undefined;
    }
    throw err;
  }
}

function lineOf(
  source: Source,
  mapped: MappedFile,
  requestMeta: Record<string, MetaValue>,
  lineMeta: Record<string, MetaValue> | undefined,
  bytes: number,
  refused?: { code: string; message: string },
  trigger?: string,
): ManifestLine {
  return {
    source,
    did: mapped.did,
    dataset: mapped.dataset,
    containers: mapped.containers,
    metadata: mergeMetadata([requestMeta, mapped.metadata, lineMeta]),
    bytes,
    ...(refused ? { refused } : {}),
    ...(trigger ? { trigger } : {}),
  };
}

async function planManifest(
  file: string,
  format: 'jsonl' | 'csv',
  o: PlanOptions,
  mapName: (relativePath: string) => MappedFile,
  problem: (p: string) => void,
  write: (p: Planned) => Promise<void>,
): Promise<void> {
  // Every line that does not parse is reported at once (a first pass), and then nothing starts.
  const check = await validateManifest(file, format, 20);
  if (check.errorCount > 0)
    throw new RequestError(
      `${listProblems(
        `lines of ${file} do not parse`,
        check.errors.map((e) => e.message),
        check.errorCount,
      )}\nNothing was started.`,
    );
  const base = path.dirname(path.resolve(file));
  // Sizes are looked up a chunk at a time, in parallel (a network file system answers slowly, not rarely).
  let chunk: Array<{ line: number; entry: ManifestEntry }> = [];
  const flush = async () => {
    const sizes = await Promise.all(
      chunk.map(async ({ entry }) =>
        o.originRse ? 0 : ((await fsp.stat(path.resolve(base, entry.path)).catch(() => undefined))?.size ?? 0),
      ),
    );
    for (const [i, { line, entry }] of chunk.entries()) {
      const where = `${file} line ${line}`;
      const abs = o.originRse ? entry.path : path.resolve(base, entry.path);
      const rel = o.originRse ? path.posix.basename(new URL(entry.path).pathname) : relativeOrBase(base, abs);
      const mapped = tryMap(mapName, rel, where, problem);
      if (!mapped) continue;
      if (entry.name !== undefined) {
        if (!isValidDidName(entry.name)) {
          problem(`${where}: name "${entry.name}" is not a valid Rucio DID name (letters, digits, / . - _ only)`);
          continue;
        }
        mapped.did = { scope: mapped.did.scope, name: entry.name };
      }
      if (entry.dataset !== undefined) {
        const ds = parseDidReference(entry.dataset);
        if (typeof ds === 'string') {
          problem(`${where}: dataset ${ds}`);
          continue;
        }
        mapped.dataset = ds;
        mapped.containers = (o.namespace.containers ?? []).flatMap((c) => {
          const d = parseDidReference(c);
          return typeof d === 'string' ? [] : [d];
        });
      }
      const source: Source = o.originRse ? { kind: 'rse', rse: o.originRse, pfn: abs } : { kind: 'local', path: abs };
      await write({ where, line: lineOf(source, mapped, o.metadata, entry.meta, sizes[i] ?? 0) });
    }
    chunk = [];
  };
  for await (const item of readManifest(file, format)) {
    chunk.push(item);
    if (chunk.length >= statConcurrency) await flush();
  }
  await flush();
}

function relativeOrBase(base: string, abs: string): string {
  const rel = path.relative(base, abs);
  return rel.startsWith('..') || path.isAbsolute(rel) ? path.basename(abs) : rel.split(path.sep).join('/');
}
