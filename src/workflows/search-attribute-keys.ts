import type { SearchAttributePair } from '@temporalio/common';

type KeywordKey = Extract<SearchAttributePair, { key: { type: 'KEYWORD' } }>['key'];

/**
 * Keys of the custom search attributes that make ingested files findable in the Temporal Web UI
 * (e.g. `RucioScope="lsst" AND IngestStep="replicate"`). Plain values and a type-only import, so workflow
 * code needs nothing beyond @temporalio/workflow; their registration lives in src/shared/search-attributes.ts.
 */
const keyword = (name: string): KeywordKey => ({ name, type: 'KEYWORD' });

export const saKeys = {
  scope: keyword('RucioScope'),
  dataset: keyword('RucioDataset'),
  landingRse: keyword('LandingRse'),
  step: keyword('IngestStep'),
  problem: keyword('IngestProblem'),
  batch: keyword('RucioBatch'),
};

/**
 * What a batch's file workflow starts with: findable by scope, dataset, RSE and batch, and its first step:
 * `upload` for files of the current flow (its activity waits there for a worker), `queued` for older ones
 * (until their first workflow task names the step).
 */
export function batchFileAttributes(
  file: { did: { scope: string }; dataset: { scope: string; name: string }; landingRse: string },
  batchId: string,
  step: 'queued' | 'upload' = 'queued',
): SearchAttributePair[] {
  return [
    { key: saKeys.scope, value: file.did.scope },
    { key: saKeys.dataset, value: `${file.dataset.scope}:${file.dataset.name}` },
    { key: saKeys.landingRse, value: file.landingRse },
    { key: saKeys.step, value: step },
    { key: saKeys.batch, value: batchId },
  ];
}
