/**
 * Custom search attributes of rucio-ingest, by name and type, as the Temporal server registers them
 * (`temporal operator search-attribute create`; the sandbox does it at start). The workflow's keys for the
 * same names are in src/workflows/search-attribute-keys.ts.
 */
export const searchAttributes = {
  RucioScope: 'Keyword',
  RucioDataset: 'Keyword',
  LandingRse: 'Keyword',
  IngestStep: 'Keyword',
  IngestProblem: 'Keyword',
  RucioBatch: 'Keyword',
} as const;
