export { ingestFile, progressQuery } from './ingest-file.js';
export { ingestBatch } from './ingest-batch.js';
export { batchStatusQuery, fileFinished } from './batch-signals.js';
export { scanDirectory } from './scan-directory.js';
