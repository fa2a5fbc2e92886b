export { ingestFile, progressQuery } from './ingest-file.js';
