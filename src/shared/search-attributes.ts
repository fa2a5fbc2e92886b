import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

/**
 * Custom search attributes that make ingested files findable in the Temporal Web UI
 * (e.g. `RucioScope="lsst" AND IngestStep="replicate"`). Registered by the sandbox at start;
 * a production namespace needs them too (`temporal operator search-attribute create`).
 * Safe to import from workflow code (@temporalio/common only).
 */
export const searchAttributes = {
  RucioScope: 'Keyword',
  RucioDataset: 'Keyword',
  LandingRse: 'Keyword',
  IngestStep: 'Keyword',
  IngestProblem: 'Keyword',
} as const;

export const saKeys = {
  scope: defineSearchAttributeKey('RucioScope', SearchAttributeType.KEYWORD),
  dataset: defineSearchAttributeKey('RucioDataset', SearchAttributeType.KEYWORD),
  landingRse: defineSearchAttributeKey('LandingRse', SearchAttributeType.KEYWORD),
  step: defineSearchAttributeKey('IngestStep', SearchAttributeType.KEYWORD),
  problem: defineSearchAttributeKey('IngestProblem', SearchAttributeType.KEYWORD),
};
