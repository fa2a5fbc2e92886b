import fs from 'node:fs/promises';
import { Context } from '@temporalio/activity';
import type { RucioClient } from '../rucio/client.js';
import type { Did } from '../rucio/dids.js';
import { declareTombstone, normalizeAdler32 } from '../rucio/replicas.js';
import { deleteRule, listDidRules, listRuleLocks, type Rule } from '../rucio/rules.js';
import { RseCache } from '../rucio/rse-cache.js';
import { DatasetCache } from '../rucio/dataset-cache.js';
import { RucioBulk } from '../rucio/bulk.js';
import { RucioError } from '../rucio/errors.js';
import type { FileReport } from '../shared/batch-input.js';
import type { QosTarget, Source } from '../shared/ingest-input.js';
import { adapterFor, checksumBuffer, checksumFile, checksumStream, memorySource } from '../storage/index.js';
import { copy } from '../storage/copy.js';
import type { Checksums, UploadOptions, VerifyResult } from '../storage/types.js';
import { classify, permanent } from './failures.js';
import { verifyChoiceFor, type VerifyChoice } from './verify-policy.js';
import {
  resumableChecksumMinBytes,
  sourceIdentity,
  usableCheckpoint,
  usableInspection,
  type FinishedInspection,
  type Inspected,
  type SourceIdentity,
} from './checksum-resume.js';
import { fileMetadata, type MetaInputs } from './file-metadata.js';
import { tempSiblingUrl } from '../storage/url.js';

interface DeleteOriginInput {
  source: Source;
  did: Did;
  checksums: Checksums;
  verifiedRses: string[];
}

interface PreflightInput {
  landingRse: string;
  qos: QosTarget[];
  did: Did;
}

/** What inspection takes: the source, what to compute, how its metadata is found. */
export type InspectInput = {
  source: Source;
  md5: boolean;
  allowEmpty: boolean;
  refused?: { code: string; message: string };
  /** Pre-flight first, in this step (one activity fewer a file). */
  preflight?: PreflightInput;
} & MetaInputs;

interface UploadInput {
  source: Source;
  did: Did;
  landingRse: string;
  checksums: Checksums;
  md5: boolean;
}

/** Step 3: what registration takes. */
export interface RegisterInput {
  did: Did;
  landingRse: string;
  checksums: Checksums;
  metadata: Record<string, string | number | boolean>;
  dataset: Did;
  containers: Did[];
  origin?: { rse: string; pfn: string };
  /** Protect the landing copy with its rule in this step too (one activity fewer a file). */
  landingRule?: boolean;
  /**
   * Registration is the file's last step: once it is done, tell the batch (one local activity a file
   * instead of two). A failed report does not fail the registration: the workflow then reports itself.
   */
  thenReport?: BatchReport;
}

/**
 * Registration done by the upload, once the bytes are there: the inspection supplies the checksums, and
 * its metadata (from a sidecar or schema) replaces `metadata` when it has any. No report to the batch from
 * here: a batch told "done" before the file's workflow has closed can end, and its worker with it (`ingest
 * --wait` runs one in the CLI), leaving the file's last workflow task to no one; a report from that task is
 * covered by the worker's graceful shutdown.
 */
export type ThenRegister = Omit<RegisterInput, 'did' | 'landingRse' | 'checksums' | 'thenReport'>;

/** An upload that inspects its source first (no checksums yet), and may register the file after. */
export type InspectAndUploadInput = InspectInput & { did: Did; landingRse: string; thenRegister?: ThenRegister };

interface VerifyInput {
  did: Did;
  checksums: Checksums;
  ruleIds: string[];
  readbackFallback: boolean;
  /** Once verified, delete the origin in this step too (one activity fewer a file). */
  deleteOrigin?: { source: Source };
}

/** What a direct copy's step verifies when it is the file's last copy (no verify step of its own). */
type ThenVerify = Omit<VerifyInput, 'did' | 'checksums'>;

/** The checksums of an inspection, without its metadata. */
function checksumsOf(i: Inspected): Checksums {
  return i.md5 === undefined
    ? { bytes: i.bytes, adler32: i.adler32 }
    : { bytes: i.bytes, adler32: i.adler32, md5: i.md5 };
}

export interface ActivityDeps {
  rucio: RucioClient;
  /** The Rucio account rules are created for. */
  account: string;
  /** Scheme used to reach RSEs (davs by default). */
  scheme?: string;
  /** Shared RSE facts (default: one per set of activities). */
  rseCache?: RseCache;
  /** Cross-file coalescing of catalogue calls (default: one per set of activities). */
  bulk?: RucioBulk;
  /** How a registration that ends its file tells the batch (the report activity's, shared by the worker). */
  reportToBatch?: (input: BatchReport) => Promise<{ delivered: boolean }>;
}

/** A file's end, for its batch. */
export interface BatchReport {
  batchWorkflowId: string;
  report: FileReport;
}

/**
 * What became of the report a registration carried: `delivered`, `batch-ended` (terminated: nothing to
 * tell), or `not-sent` (no report function here, or Temporal unreachable): the workflow reports itself.
 */
export type ReportOutcome = 'delivered' | 'batch-ended' | 'not-sent';

export interface Progress {
  signal: AbortSignal;
  onProgress: (bytes: number) => void;
  attempt: number;
  /** Storage and checksum calls fail (retryably) when no byte moved for this long. */
  noProgressTimeoutMs: number;
  /** What the previous attempt's last heartbeat carried. */
  previousDetails: unknown;
  /** Add to what each heartbeat carries (read at heartbeat time). */
  setDetails(extra: () => Record<string, unknown>): void;
  /** Heartbeat now (the SDK still throttles what reaches the server). */
  beat(): void;
}

/**
 * Run a transfer or checksum activity body with heartbeats on a timer: they say the worker is alive, so
 * a killed worker is noticed within the heartbeat timeout. A transfer that stalls is caught by the storage
 * layer's own no-progress guard, set to the same timeout; waiting on a server-side digest or rename under
 * load (XRootD queues checksum computations) is not mistaken for a stall.
 */
async function heartbeating<T>(fn: (p: Progress) => Promise<T>): Promise<T> {
  const ctx = Context.current();
  const timeoutMs = ctx.info.heartbeatTimeoutMs || 60_000;
  let bytes = 0;
  let extra: () => Record<string, unknown> = () => ({});
  const beat = () => ctx.heartbeat({ bytes, ...extra() });
  const timer = setInterval(beat, Math.max(1000, Math.min(5000, timeoutMs / 4)));
  try {
    return await fn({
      signal: ctx.cancellationSignal,
      onProgress: (b) => {
        bytes = b;
      },
      attempt: ctx.info.attempt,
      noProgressTimeoutMs: timeoutMs,
      previousDetails: ctx.info.heartbeatDetails,
      setDetails: (f) => {
        extra = f;
      },
      beat,
    });
  } catch (err) {
    throw stoppedByTemporal(ctx) ?? err;
  } finally {
    clearInterval(timer);
  }
}

/**
 * The SDK's CancelledFailure when Temporal asked this attempt to stop (the file was cancelled, or the activity
 * paused or reset), for the activity to throw instead of the transfer's own "aborted" error: the SDK reports
 * an attempt as cancelled only on that failure. Else the cancel of a file caught mid-transfer came back to
 * its workflow as a failed attempt, and the file failed instead of being cancelled and cleaned up.
 */
function stoppedByTemporal(ctx: Context): unknown {
  const asked = ctx.cancellationDetails;
  const stop = asked && (asked.cancelRequested || asked.paused || asked.reset);
  return ctx.cancellationSignal.aborted && stop ? ctx.cancellationSignal.reason : undefined;
}

/**
 * How long a catalogue call waits for others of its kind to share one bulk call
 * (RUCIO_INGEST_BULK_WINDOW_MS, default 25; RUCIO_INGEST_BULK_BUSY_WINDOW_MS, default 600, while the
 * kind's calls carry several files, i.e. files arrive together), and how many bulk calls of one kind a
 * worker has in flight at once (RUCIO_INGEST_BULK_IN_FLIGHT, default 1; 0 for no limit). With the limit,
 * calls that find one of their kind out keep gathering until it returns: a loaded Rucio, which answers
 * slowly, gets fuller calls. Rucio's CPU goes by the call as much as by the item: 600 ms instead of 200 took
 * a quarter off it in a batch with a copy, and a third of its calls (2026-12-07, Performance in the README).
 */
function bulkOptions(env: NodeJS.ProcessEnv = process.env): {
  windowMs: number;
  busyWindowMs: number;
  maxInFlight?: number;
} {
  const num = (name: string, dflt: number) => {
    const v = Number(env[name] ?? dflt);
    return Number.isFinite(v) && v >= 0 ? v : dflt;
  };
  const inFlight = num('RUCIO_INGEST_BULK_IN_FLIGHT', 1);
  const windowMs = num('RUCIO_INGEST_BULK_WINDOW_MS', 25);
  return {
    windowMs,
    busyWindowMs: Math.max(windowMs, num('RUCIO_INGEST_BULK_BUSY_WINDOW_MS', 600)),
    maxInFlight: inFlight > 0 ? inFlight : undefined,
  };
}

/**
 * Local sources up to this size are read once, whole: the inspection checksums the bytes in memory and the
 * upload sends those same bytes, without reading and hashing the file a second time. At most this much a
 * running upload (64 activity slots: 256 MiB); bigger files stream, with resumable checksums.
 */
const wholeReadMaxBytes = 4 * 1024 * 1024;

/**
 * A small local file, whole. A file that changed while being read (another size, or a newer modification
 * time after the read than before it) is refused as the upload refuses one that changed after inspection.
 */
async function readWhole(path: string, before: { size: number; mtimeMs: number }, signal?: AbortSignal) {
  const data = await fs.readFile(path, { signal });
  const after = await fs.stat(path);
  if (data.length !== before.size || after.size !== before.size || after.mtimeMs !== before.mtimeMs) {
    throw permanent(
      `source changed while ingesting: ${path} was ${before.size} B, read ${data.length} B, now ${after.size} B. ` +
        'Something still writes it: run the same command again once it is complete.',
      'SourceChanged',
    );
  }
  return data;
}

export function createActivities(deps: ActivityDeps) {
  const { rucio } = deps;
  const scheme = deps.scheme ?? 'davs';
  // RSE protocols, attributes and expressions change rarely: minutes of caching save ~13 REST calls a file.
  const rseCache = deps.rseCache ?? new RseCache(rucio);
  // The files in flight on this worker share bulk catalogue calls: one POST /replicas for the files of an
  // RSE that arrive within a few milliseconds, one attachment call per dataset, one rule call per rule shape.
  const bulk = deps.bulk ?? new RucioBulk(rucio, bulkOptions());
  // Files of one dataset arrive by the thousand: ensure it once per few minutes, not once a file.
  const datasets = new DatasetCache(rucio, bulk);

  async function reportQuietly(r: BatchReport): Promise<ReportOutcome> {
    if (!deps.reportToBatch) return 'not-sent';
    try {
      return (await deps.reportToBatch(r)).delivered ? 'delivered' : 'batch-ended';
    } catch (err) {
      Context.current().log.warn('report to the batch failed: the workflow sends it', {
        batch: r.batchWorkflowId,
        error: err instanceof Error ? err.message : String(err),
      });
      return 'not-sent';
    }
  }

  function pfnOn(rse: string, did: Did, operation: 'read' | 'write' | 'delete' = 'write'): Promise<string> {
    return rseCache.pfn(rse, did, scheme, operation);
  }

  /**
   * Every replica the rules require is AVAILABLE in Rucio with the source's adler32, and the storage confirms
   * it (Digest, or read-back); then, if asked, the origin goes.
   */
  async function verifyWith(input: VerifyInput, p: Progress) {
    // The file's size and adler32 in Rucio come with its replicas: one call for both.
    const states = new Map<string, string>();
    const held = await bulk.listReplicas(input.did);
    for (const [rse, s] of Object.entries(held?.states ?? {})) states.set(rse, s);
    const heldAdler = held?.adler32 ? normalizeAdler32(held.adler32) : undefined;
    if (!held || held.bytes !== input.checksums.bytes || heldAdler !== input.checksums.adler32) {
      throw permanent(
        `Rucio holds ${input.did.scope}:${input.did.name} as ${held ? `${held.bytes} B adler32 ${held.adler32}` : 'nothing'}, the source is ${input.checksums.bytes} B adler32 ${input.checksums.adler32}`,
        'VerificationFailed',
      );
    }
    const rses = new Set<string>();
    for (const id of input.ruleIds) {
      const locks = await listRuleLocks(rucio, id);
      if (locks.length === 0) throw new Error(`rule ${id} has no locks yet`);
      for (const l of locks) {
        if (l.state !== 'OK') throw new Error(`rule ${id}: lock on ${l.rse} is ${l.state}, not OK yet`);
        rses.add(l.rse);
      }
    }
    const results: Array<{ rse: string; pfn: string; result: VerifyResult }> = [];
    for (const rse of [...rses].sort()) {
      if (states.get(rse) !== 'AVAILABLE') {
        throw permanent(
          `replica on ${rse} is ${states.get(rse) ?? 'missing'} in Rucio, not AVAILABLE`,
          'VerificationFailed',
        );
      }
      const pfn = await pfnOn(rse, input.did, 'read');
      const choice = await verifyChoice(rse, input.readbackFallback);
      const result = await adapterFor(pfn).verify(pfn, input.checksums, {
        signal: p.signal,
        onProgress: p.onProgress,
        readbackFallback: choice.readbackFallback,
        forceReadback: choice.forceReadback,
      });
      if (!result.ok) {
        throw permanent(
          `replica on ${rse} (${pfn}) failed verification by ${result.method}: ${result.reason ?? 'mismatch'}`,
          'VerificationFailed',
        );
      }
      // Passed by reading back after the storage's digest disagreed: the storage answers digests wrongly.
      if (result.method === 'readback' && result.reason)
        Context.current().log.warn('a wrong digest answer, overruled by the read-back', {
          rse,
          pfn,
          reason: result.reason,
        });
      results.push({ rse, pfn, result });
    }
    const verified = results.map((r) => ({ rse: r.rse, method: r.result.method }));
    const originDeleted = input.deleteOrigin
      ? (
          await deleteOrigin({
            source: input.deleteOrigin.source,
            did: input.did,
            checksums: input.checksums,
            // A size-only check (RSE policy `size` on a storage without digest) never licenses a deletion.
            verifiedRses: verified.filter((v) => v.method !== 'stat').map((v) => v.rse),
          })
        ).deleted
      : undefined;
    return {
      verified,
      // Every replica Rucio lists for the file (the landing and origin copies too), with its state.
      replicas: Object.fromEntries([...states].sort(([a], [b]) => a.localeCompare(b))),
      originDeleted,
    };
  }

  /** A permanent Rucio error, prefixed with the part of the request it is about. */
  async function explained<T>(p: Promise<T>, what: string): Promise<T> {
    try {
      return await p;
    } catch (err) {
      if (err instanceof RucioError && err.kind === 'permanent') {
        throw permanent(`${what}: ${err.message}`, err.exceptionClass);
      }
      throw err;
    }
  }

  /** How copies on `rse` are verified: the RSE's `ingest_verify` attribute, else digest-then-read-back. */
  async function verifyChoice(rse: string, readbackFallback = true): Promise<VerifyChoice> {
    return verifyChoiceFor(rse, await rseCache.attributes(rse), readbackFallback);
  }

  /** Options of a write to `rse` (upload or copy): progress, the expected content, the RSE's verify policy. */
  async function writeOptions(p: Progress, rse: string, expected: Checksums, md5: boolean): Promise<UploadOptions> {
    return {
      onProgress: p.onProgress,
      signal: p.signal,
      noProgressTimeoutMs: p.noProgressTimeoutMs,
      // md5 is computed once, by the inspection. Bytes and adler32 of what is sent tell a source changed
      // since; the storage, asked right after the write, gives adler32 in one digest request where md5
      // took a second one (XRootD answers one algorithm a request, reading the file for each). md5 is
      // registered in Rucio, checked on a name found already there, and checked again before any deletion.
      md5: md5 && expected.md5 === undefined,
      expected,
      attempt: p.attempt,
      verify: await verifyChoice(rse),
    };
  }

  function sourceUrl(source: Source): string {
    return source.kind === 'local' ? source.path : source.pfn;
  }

  /**
   * Before anything moves: the landing RSE exists and every QoS expression resolves to enough RSEs,
   * so a bad request fails at once and leaves nothing half-registered.
   */
  async function preflightChecks(input: PreflightInput): Promise<void> {
    await explained(pfnOn(input.landingRse, input.did), `landing RSE ${input.landingRse} (--rse)`);
    for (const t of input.qos) {
      const rses = await explained(
        rseCache.resolve(t.rseExpression),
        `QoS target ${t.copies}:${t.rseExpression} (--qos)`,
      );
      if (rses.length < t.copies) {
        throw permanent(
          `expression ${t.rseExpression} matches ${rses.length} RSE(s) (${rses.join(', ') || 'none'}), fewer than the ${t.copies} copies asked`,
          'InsufficientTargetRSEs',
        );
      }
    }
  }

  /** Remove the origin copy, never the only verified one; for an RSE origin the Rucio way (tombstone → reaper). */
  async function deleteOrigin(input: DeleteOriginInput): Promise<{ deleted: boolean }> {
    const others = input.verifiedRses.filter((r) => input.source.kind === 'local' || r !== input.source.rse);
    if (others.length === 0) {
      throw permanent('refusing to delete the origin: it would be the only verified copy', 'OnlyCopy');
    }
    if (input.source.kind === 'local') {
      const st = await fs.stat(input.source.path).catch(() => undefined);
      if (!st) return { deleted: false };
      if (st.size !== input.checksums.bytes) {
        throw permanent(
          `${input.source.path} changed size since it was ingested (${st.size} B now): not deleting it`,
          'SourceChanged',
        );
      }
      await fs.unlink(input.source.path);
      return { deleted: true };
    }
    // Drop any rule still protecting the origin replica, then mark it obsolete: the reaper deletes it.
    for await (const r of listDidRules(rucio, input.did)) {
      if (r.rse_expression === input.source.rse && r.account === deps.account) await deleteRule(rucio, r.id, true);
    }
    await declareTombstone(rucio, input.source.rse, [input.did]);
    return { deleted: true };
  }

  /**
   * Step 1: size and checksums of the source, refusing what cannot be a complete file; with a sidecar or
   * a schema, the file's final metadata too (checked before any byte moves).
   */
  async function inspectWith(
    input: InspectInput,
    p: Progress,
  ): Promise<{ inspected: Inspected; identity?: SourceIdentity; content?: Buffer }> {
    if (input.preflight) await preflightChecks(input.preflight);
    if (input.refused) throw permanent(input.refused.message, input.refused.code);
    const metadata = await fileMetadata(input, sourceUrl(input.source));
    let sums: Checksums;
    let identity: SourceIdentity | undefined;
    let content: Buffer | undefined;
    if (input.source.kind === 'local') {
      const source = input.source.path;
      const st = await fs.stat(source).catch((err: NodeJS.ErrnoException) => {
        throw permanent(`source ${source} cannot be read: ${err.code ?? err.message}`, 'SourceNotReadable');
      });
      if (!st.isFile()) throw permanent(`source ${source} is not a regular file`, 'SourceNotReadable');
      await fs.access(source, fs.constants.R_OK).catch((err: NodeJS.ErrnoException) => {
        throw permanent(`source ${source} is not readable: ${err.code}`, 'SourceNotReadable');
      });
      identity = { path: source, size: st.size, mtimeMs: st.mtimeMs };
      const file = { path: input.source.path, size: st.size, mtimeMs: st.mtimeMs, md5: input.md5 };
      const resumeFrom = usableCheckpoint(p.previousDetails, file);
      if (!resumeFrom && st.size <= wholeReadMaxBytes) {
        content = await readWhole(source, st, p.signal);
        sums = await checksumBuffer(content, input.md5);
      } else {
        if (resumeFrom) {
          Context.current().log.info('resuming the checksum where the previous attempt stopped', {
            path: file.path,
            fromByte: resumeFrom.bytes,
          });
        }
        sums = await checksumFile(input.source.path, {
          bytes: st.size,
          md5: input.md5,
          onProgress: p.onProgress,
          signal: p.signal,
          noProgressTimeoutMs: p.noProgressTimeoutMs,
          resumeFrom,
          // Each heartbeat then carries the hashers' state, for the next attempt to carry on from.
          onCheckpointable:
            st.size >= resumableChecksumMinBytes || resumeFrom
              ? (read) => p.setDetails(() => ({ checkpoint: { ...file, state: read() } }))
              : undefined,
        });
      }
    } else {
      const adapter = adapterFor(input.source.pfn);
      const st = await adapter.stat(input.source.pfn, p.signal);
      if (!st) throw permanent(`source ${input.source.pfn} does not exist on ${input.source.rse}`, 'SourceNotFound');
      const stream = await adapter.read(input.source.pfn, p.signal);
      sums = await checksumStream(stream, {
        md5: input.md5,
        onProgress: p.onProgress,
        signal: p.signal,
        noProgressTimeoutMs: p.noProgressTimeoutMs,
      });
    }
    if (sums.bytes === 0 && !input.allowEmpty) {
      throw permanent(
        `source ${sourceUrl(input.source)} is empty (0 bytes): most often a write still in progress or failed. Re-run with --allow-empty if it is meant to be empty.`,
        'EmptySource',
      );
    }
    return { inspected: metadata ? { ...sums, metadata } : sums, identity, content };
  }

  /** Step 2: put the bytes on the landing RSE at Rucio's deterministic path (or accept them there). */
  async function uploadWith(input: UploadInput, p: Progress, content?: Buffer) {
    const pfn = await pfnOn(input.landingRse, input.did);
    const opts = await writeOptions(p, input.landingRse, input.checksums, input.md5);
    const result =
      input.source.kind !== 'local'
        ? await copy(input.source.pfn, pfn, opts)
        : content
          ? await adapterFor(pfn).uploadFrom(memorySource(content, input.source.path, input.checksums), pfn, opts)
          : await adapterFor(pfn).upload(input.source.path, pfn, opts);
    const sent = 'checksums' in result ? result.checksums : undefined;
    if (sent && (sent.bytes !== input.checksums.bytes || sent.adler32 !== input.checksums.adler32)) {
      // Not retried: every attempt would compare against the same inspection, and a source still
      // being written must not be ingested half-way. A new run re-inspects it.
      throw permanent(
        `source changed while ingesting: inspected ${input.checksums.bytes} B adler32 ${input.checksums.adler32}, ` +
          `sent ${sent.bytes} B adler32 ${sent.adler32}. Something still writes it: run the same command again once it is complete.`,
        'SourceChanged',
      );
    }
    return { pfn, alreadyThere: result.alreadyThere, attempt: p.attempt };
  }

  /** Step 3: file DID + replica + metadata + dataset attachment; every call idempotent. */
  async function registerWith(input: RegisterInput) {
    const { did, checksums } = input;
    const file = { ...did, bytes: checksums.bytes, adler32: checksums.adler32, md5: checksums.md5 };
    // The origin replica is catalogued too, so deleting it later is Rucio's job and the catalogue stays true.
    if (input.origin) await bulk.addReplica(input.origin.rse, { ...file, pfn: input.origin.pfn });
    // DID, landing replica and attachment in one call, shared with the other files in flight.
    await datasets.registerFile(input.landingRse, input.dataset, input.containers, file);
    if (Object.keys(input.metadata).length > 0) await bulk.setMetadata(did, input.metadata);
    const landingRuleId = input.landingRule
      ? (
          await bulk.addRule(
            did,
            ruleFor({ copies: 1, rseExpression: input.landingRse, grouping: 'NONE' }),
            deps.account,
          )
        ).id
      : undefined;
    const report = input.thenReport ? await reportQuietly(input.thenReport) : undefined;
    return { attempt: Context.current().info.attempt, landingRuleId, report };
  }

  function ruleFor(target: QosTarget, purgeReplicas?: boolean) {
    return {
      copies: target.copies,
      rseExpression: target.rseExpression,
      lifetime: target.lifetime,
      grouping: target.grouping,
      purgeReplicas,
      comment: 'rucio-ingest',
    };
  }

  return {
    /** Pre-flight as a step of its own (workflows started before inspection took it over). */
    async preflight(input: PreflightInput) {
      return classify(() => preflightChecks(input));
    },

    /** Step 1 as an activity of its own (workflows started before the upload took it over). */
    async inspectSource(input: InspectInput): Promise<Inspected> {
      return classify(() => heartbeating(async (p) => (await inspectWith(input, p)).inspected));
    },

    /**
     * Step 2, with step 1 first when `checksums` is not given (one activity fewer a file: the default for
     * new workflows). The finished inspection goes into the heartbeat, so a retried upload of an unchanged
     * file does not read it again (what a separate inspection activity used to keep).
     */
    async upload(input: UploadInput | InspectAndUploadInput) {
      return classify(() =>
        heartbeating(async (p) => {
          let inspected: Inspected | undefined;
          let checksums: Checksums;
          // A small file's bytes, read whole by the inspection: sent from memory.
          let content: Buffer | undefined;
          if ('checksums' in input) checksums = input.checksums;
          else {
            // Only a retry can find a finished inspection in its heartbeat details (then the file is statted).
            const now = p.attempt > 1 ? await sourceIdentity(input.source) : undefined;
            inspected = usableInspection(p.previousDetails, now);
            let identity = now;
            if (inspected)
              Context.current().log.info('inspected by the previous attempt, unchanged since', { path: now?.path });
            else ({ inspected, identity, content } = await inspectWith(input, p));
            const done: FinishedInspection = { identity, result: inspected };
            p.setDetails(() => ({ inspected: done }));
            p.beat();
            checksums = checksumsOf(inspected);
          }
          const up = await uploadWith(
            { source: input.source, did: input.did, landingRse: input.landingRse, checksums, md5: input.md5 },
            p,
            content,
          );
          // Registering here keeps the catalogue's wait out of the workflow task (a local activity holds it:
          // past 10 s Temporal heartbeats or times the task out). A retry finds the bytes there (a digest).
          const then = 'thenRegister' in input ? input.thenRegister : undefined;
          const registered = then
            ? await registerWith({
                ...then,
                did: input.did,
                landingRse: input.landingRse,
                checksums,
                metadata: inspected?.metadata ?? then.metadata,
              })
            : undefined;
          return { ...up, ...(inspected && { inspected }), ...(registered && { registered }) };
        }),
      );
    },

    /** Step 3 as a step of its own (runs started before the upload took it over). */
    async register(input: RegisterInput) {
      return classify(() => registerWith(input));
    },

    /** Protect a replica with a rule (idempotent: an identical existing rule is reused). */
    async addRule(input: { did: Did; target: QosTarget; purgeReplicas?: boolean }) {
      return classify(async () => {
        const { id, created } = await bulk.addRule(input.did, ruleFor(input.target, input.purgeReplicas), deps.account);
        return { ruleId: id, created };
      });
    },

    /** Step 4 (direct mode): copy to RSEs matching the expression and register those replicas. */
    async replicateDirect(input: {
      did: Did;
      target: QosTarget;
      fromRse: string;
      checksums: Checksums;
      md5: boolean;
      /** Add the target's rule in this step too, once its replicas are registered (OK at once). */
      addRule?: boolean;
      /** The file's dataset: each copy is registered through it, in one call (runs started earlier send none). */
      dataset?: { did: Did; containers: Did[] };
      /**
       * The file's last copy: verify every rule (the earlier targets' and this one's, added here) and delete
       * the origin in this step too. A retry copies nothing again (the replicas are registered).
       */
      thenVerify?: ThenVerify;
    }) {
      return classify(() =>
        heartbeating(async (p) => {
          const candidates = await rseCache.resolve(input.target.rseExpression);
          if (candidates.length < input.target.copies) {
            throw permanent(
              `expression ${input.target.rseExpression} matches ${candidates.length} RSE(s) (${candidates.join(', ') || 'none'}), fewer than the ${input.target.copies} copies asked`,
              'InsufficientTargetRSEs',
            );
          }
          const have = new Set<string>();
          // What Rucio holds now; each registration below reads its result back and hands it to the next.
          const held = await bulk.listReplicas(input.did);
          for (const [rse, state] of Object.entries(held?.states ?? {})) if (state === 'AVAILABLE') have.add(rse);
          // Prefer RSEs that already hold the file: a retried activity never copies twice.
          const chosen = [...candidates.filter((r) => have.has(r)), ...candidates.filter((r) => !have.has(r))].slice(
            0,
            input.target.copies,
          );
          const src = await pfnOn(input.fromRse, input.did, 'read');
          const copied: Array<{ rse: string; mode: string }> = [];
          for (const rse of chosen) {
            if (have.has(rse)) continue;
            const dst = await pfnOn(rse, input.did);
            const res = await copy(src, dst, await writeOptions(p, rse, input.checksums, input.md5));
            const file = {
              ...input.did,
              bytes: input.checksums.bytes,
              adler32: input.checksums.adler32,
              md5: input.checksums.md5,
            };
            if (input.dataset) await datasets.registerFile(rse, input.dataset.did, input.dataset.containers, file);
            else await bulk.addReplica(rse, file);
            copied.push({ rse, mode: res.mode });
          }
          const ruleId = input.addRule
            ? (await bulk.addRule(input.did, ruleFor(input.target), deps.account)).id
            : undefined;
          const verification = input.thenVerify
            ? await verifyWith(
                {
                  ...input.thenVerify,
                  did: input.did,
                  checksums: input.checksums,
                  ruleIds: [...input.thenVerify.ruleIds, ...(ruleId ? [ruleId] : [])],
                },
                p,
              )
            : undefined;
          return { rses: chosen, copied, attempt: p.attempt, ruleId, verification };
        }),
      );
    },

    async ruleStatus(input: { ruleId: string }): Promise<
      Pick<Rule, 'id' | 'state' | 'rse_expression' | 'error'> & {
        locks: { ok: number; replicating: number; stuck: number };
      }
    > {
      return classify(async () => {
        const r = await bulk.ruleState(input.ruleId);
        return {
          id: r.id,
          state: r.state,
          rse_expression: r.rse_expression,
          error: r.error ?? null,
          locks: { ok: r.locks_ok_cnt ?? 0, replicating: r.locks_replicating_cnt ?? 0, stuck: r.locks_stuck_cnt ?? 0 },
        };
      });
    },

    /**
     * Step 5: every replica the rules require is AVAILABLE in Rucio with the source's adler32, and the
     * storage confirms it (Digest, or read-back).
     */
    async verifyReplicas(input: VerifyInput) {
      return classify(() => heartbeating((p) => verifyWith(input, p)));
    },

    /**
     * The file is done: its trigger file goes, so the next scan does not take it again. Already gone is
     * fine; a trigger this worker may not remove is reported, not retried (the data is safely ingested).
     */
    async removeTrigger(input: { path: string }): Promise<{ removed: boolean; problem?: string }> {
      try {
        await fs.unlink(input.path);
        return { removed: true };
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'ENOENT') return { removed: false };
        if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS')
          return { removed: false, problem: `cannot remove the trigger ${input.path}: ${(err as Error).message}` };
        throw err; // an I/O error of a shared file system: retried
      }
    },

    /**
     * A cancelled file: on each RSE it may have written to, remove its bytes unless Rucio lists the replica
     * there (registered bytes stay: the catalogue is true), and every temporary of its attempts.
     */
    async discardUnregistered(input: { did: Did; rses: string[]; expressions: string[] }) {
      return classify(async () => {
        const rses = new Set(input.rses);
        for (const e of input.expressions) for (const r of await rseCache.resolve(e)) rses.add(r);
        const registered = new Set(Object.keys((await bulk.listReplicas(input.did))?.states ?? {}));
        const removed: string[] = [];
        for (const rse of [...rses].sort()) {
          const pfn = await pfnOn(rse, input.did, 'delete');
          const adapter = adapterFor(pfn);
          const temps = Array.from({ length: 20 }, (_, i) => tempSiblingUrl(pfn, `a${i + 1}`));
          for (const url of registered.has(rse) ? temps : [pfn, ...temps]) {
            if (await adapter.delete(url)) removed.push(url);
          }
        }
        return { removed };
      });
    },

    /** Step 6: remove the origin copy; for an RSE origin the Rucio way (tombstone → reaper). */
    async deleteAtOrigin(input: DeleteOriginInput) {
      return classify(() => deleteOrigin(input));
    },
  };
}

export type LifecycleActivities = ReturnType<typeof createActivities>;
