import { defineQuery, defineSignal } from '@temporalio/workflow';
import type { BatchStatus, FileReport } from '../shared/batch-input.js';

/** Sent by a file workflow to the batch that started it when it ends. */
export const fileFinished = defineSignal<[FileReport]>('fileFinished');

/** Sent for the files in flight on one worker that ended at about the same time (one signal, many files). */
export const filesFinished = defineSignal<[FileReport[]]>('filesFinished');

/** Counts, bytes, failures by reason: what `rucio-ingest batch status` shows. */
export const batchStatusQuery = defineQuery<BatchStatus>('status');
