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
