import fs from 'node:fs/promises';
import os from 'node:os';
import { ApplicationFailure } from '@temporalio/activity';
import type { Client } from '@temporalio/client';
import { fileInputOf, manifestLineSchema, type FileTemplate, type ManifestRef } from '../shared/batch-input.js';
import { fileSummary } from '../shared/file-summary.js';
import { workflowIdFor, type IngestInput } from '../shared/ingest-input.js';
import { saKeys } from '../workflows/search-attribute-keys.js';

export interface PageItem {
  workflowId: string;
  did: string;
  bytes: number;
  input: IngestInput;
  summary: string;
}

export interface FileState {
  workflowId: string;
  /** Temporal's execution status name (RUNNING, COMPLETED, FAILED, ...), or NOT_FOUND. */
  status: string;
  /** The IngestProblem search attribute of a failed file. */
  problem?: string;
}

/** A page is read in chunks of this size until it has its lines. */
const chunkBytes = 256 * 1024;

/**
 * Read `limit` manifest lines starting at byte `offset`. Reading page k never rescans pages before it, so
 * paging through a manifest of a million lines is linear.
 */
export async function readLines(
  path: string,
  offset: number,
  limit: number,
): Promise<{ lines: Array<{ text: string; at: number }>; nextOffset: number; eof: boolean }> {
  const fh = await fs.open(path, 'r');
  try {
    const lines: Array<{ text: string; at: number }> = [];
    let pos = offset;
    let carry = Buffer.alloc(0);
    let carryAt = offset;
    for (;;) {
      const buf = Buffer.alloc(chunkBytes);
      const { bytesRead } = await fh.read(buf, 0, chunkBytes, pos);
      if (bytesRead === 0) {
        // A last line without a newline still counts.
        if (carry.length > 0 && carry.toString('utf8').trim() !== '')
          lines.push({ text: carry.toString('utf8'), at: carryAt });
        return { lines, nextOffset: pos, eof: true };
      }
      let data = Buffer.concat([carry, buf.subarray(0, bytesRead)]);
      let dataAt = carryAt;
      pos += bytesRead;
      for (;;) {
        const nl = data.indexOf(0x0a);
        if (nl < 0) break;
        const text = data.subarray(0, nl).toString('utf8');
        const next = dataAt + nl + 1;
        if (text.trim() !== '') lines.push({ text, at: dataAt });
        data = data.subarray(nl + 1);
        dataAt = next;
        if (lines.length >= limit) {
          const size = (await fh.stat()).size;
          return { lines, nextOffset: next, eof: next >= size };
        }
      }
      carry = Buffer.from(data);
      carryAt = dataAt;
    }
  } finally {
    await fh.close();
  }
}

export function createBatchActivities(deps: { client: Client }) {
  return {
    /** One page of the batch's manifest, as lifecycle inputs ready to start. */
    async readManifestPage(input: {
      manifest: ManifestRef;
      offset: number;
      limit: number;
      template: FileTemplate;
      batchId: string;
    }): Promise<{ items: PageItem[]; nextOffset: number; eof: boolean }> {
      const m = input.manifest;
      const st = await fs.stat(m.path).catch((err: NodeJS.ErrnoException) => {
        // Retried: a shared file system not mounted yet on this host is fixed without losing the batch.
        throw new Error(
          `batch manifest ${m.path} cannot be read on worker host ${os.hostname()} (${err.code ?? err.message}): ` +
            'every worker must see it; with workers on several hosts put RUCIO_INGEST_STATE_DIR on a shared file system',
        );
      });
      if (st.size !== m.size || Math.abs(st.mtimeMs - m.mtimeMs) > 1) {
        throw ApplicationFailure.nonRetryable(
          `batch manifest ${m.path} changed since the batch was planned (${m.size} B, now ${st.size} B): ` +
            'a manifest is written once; plan a new batch instead',
          'ManifestChanged',
        );
      }
      const page = await readLines(m.path, input.offset, Math.min(500, input.limit));
      const items = page.lines.map(({ text, at }) => {
        let raw: unknown;
        try {
          raw = JSON.parse(text);
        } catch {
          throw ApplicationFailure.nonRetryable(`${m.path} at byte ${at}: not JSON`, 'ManifestCorrupt');
        }
        const parsed = manifestLineSchema.safeParse(raw);
        if (!parsed.success)
          throw ApplicationFailure.nonRetryable(
            `${m.path} at byte ${at}: ${parsed.error.issues[0]?.message ?? 'invalid line'}`,
            'ManifestCorrupt',
          );
        const fileInput = fileInputOf(parsed.data, input.template, input.batchId);
        return {
          workflowId: workflowIdFor(fileInput.did),
          did: `${fileInput.did.scope}:${fileInput.did.name}`,
          bytes: parsed.data.bytes,
          input: fileInput,
          summary: fileSummary(fileInput, parsed.data.bytes),
        };
      });
      return { items, nextOffset: page.nextOffset, eof: page.eof };
    },

    /** How files ended that did not report to the batch (started elsewhere, or a report lost). */
    async describeFiles(input: { workflowIds: string[] }): Promise<FileState[]> {
      const out: FileState[] = [];
      for (const workflowId of input.workflowIds) {
        try {
          const d = await deps.client.workflow.getHandle(workflowId).describe();
          out.push({ workflowId, status: d.status.name, problem: d.typedSearchAttributes.get(saKeys.problem) });
        } catch (err) {
          if ((err as { name?: string }).name === 'WorkflowNotFoundError')
            out.push({ workflowId, status: 'NOT_FOUND' });
          else throw err;
        }
      }
      return out;
    },
  };
}

export type BatchActivities = ReturnType<typeof createBatchActivities>;
