import { readFileSync } from 'node:fs';
import path from 'node:path';
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node } from 'yaml';
import { z } from 'zod';
import { parseDidReference, scopePattern } from './values.js';

/** A profile's message names the file, the option and the line: `profile.yaml line 4: qos: expected ...`. */
export class ProfileError extends Error {
  override name = 'ProfileError';
}

const text = (what = 'a string') =>
  z.string({ error: `expected ${what}` }).min(1, { error: `expected ${what}, not an empty string` });
const flag = z.boolean({ error: 'expected true or false' });
const integer = (min: number, max?: number) => {
  const what = `expected a whole number ${max === undefined ? `of at least ${min}` : `from ${min} to ${max}`}`;
  const n = z.number({ error: what }).int({ error: what }).min(min, { error: what });
  return max === undefined ? n : n.max(max, { error: what });
};
const listOf = (item: z.ZodString, what: string) => z.array(item, { error: `expected a list of ${what}` });
const oneOf = <T extends readonly [string, ...string[]]>(values: T) =>
  z.enum(values, { error: `expected ${values.join(' or ')}` });

const didReference = text('SCOPE:NAME').superRefine((value, ctx) => {
  const did = parseDidReference(value);
  if (typeof did === 'string') ctx.addIssue({ code: 'custom', message: `expected SCOPE:NAME: ${did}` });
});
const regex = text('a regular expression').superRefine((value, ctx) => {
  try {
    new RegExp(value);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: `not a valid regular expression: ${(err as Error).message}` });
  }
});
const qosTarget = z.string({ error: 'expected COPIES:EXPRESSION, e.g. 2:QOS=SAFE' }).regex(/^\d+:[^:,]+/, {
  error: 'expected COPIES:EXPRESSION, e.g. 2:QOS=SAFE or 1:QOS=CHEAP-ANALYSIS,lifetime=86400',
});

type CamelCase<S extends string> = S extends `${infer Head}-${infer Tail}`
  ? `${Head}${Capitalize<CamelCase<Tail>>}`
  : S;
type Camelized<T> = { [K in keyof T as K extends string ? CamelCase<K> : K]: T[K] };

function camelized<T extends Record<string, unknown>>(options: T): Camelized<T> {
  return Object.fromEntries(
    Object.entries(options).map(([k, v]) => [k.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase()), v]),
  ) as Camelized<T>;
}

/** Batch options of one experiment, under the same names as the CLI flags. Unknown keys are refused. */
export const profileSchema = z
  .strictObject({
    scope: z
      .string({ error: 'expected a Rucio scope' })
      .regex(scopePattern, { error: 'expected 1-25 letters, digits, _ . -' }),
    dataset: didReference,
    container: listOf(didReference, 'SCOPE:NAME strings, outermost first'),
    rse: text('an RSE name'),
    qos: listOf(qosTarget, 'COPIES:EXPRESSION strings'),
    mode: oneOf(['direct', 'rucio']),
    'delete-origin': flag,
    'origin-rse': text('an RSE name'),
    'origin-url': text('the URL at which --origin-rse serves the directory'),
    meta: z.record(
      z.string(),
      z.union([z.string(), z.number(), z.boolean()], { error: 'expected a string, number or boolean' }),
      {
        error: 'expected a mapping of key: value',
      },
    ),
    md5: flag,
    'name-rule': oneOf(['keep', 'sanitize']),
    'rule-deadline': integer(1),
    'heartbeat-timeout': integer(2, 3600),
    'task-queue': text(),
    'allow-empty': flag,
    layout: oneOf(['flat', 'tree']),
    'name-prefix': text(),
    'path-pattern': regex,
    'name-template': text('a name template'),
    'dataset-template': text('a name template'),
    'container-template': listOf(text('a name template'), 'name templates, outermost first'),
    'meta-from-path': listOf(text('a --path-pattern group name'), '--path-pattern group names'),
    'meta-sidecar': text('a file name suffix such as .meta'),
    'meta-schema': text('the path of a JSON Schema file'),
    concurrency: integer(1, 2000),
    'batch-id': text(),
    'page-size': integer(1, 500),
    settle: integer(0),
    'trigger-suffix': text('a file name suffix'),
    'require-sidecar': flag,
  })
  .partial()
  .transform(camelized);

export type ProfileOptions = z.infer<typeof profileSchema>;

/** The node at `keys` (a key's own node for a mapping entry, so its line is the key's), or the deepest found. */
function nodeAt(doc: Document, keys: ReadonlyArray<PropertyKey>): Node | undefined {
  let node: unknown = doc.contents;
  let found: Node | undefined = doc.contents ?? undefined;
  for (const key of keys) {
    if (isMap(node)) {
      const pair = node.items.find((p) => isScalar(p.key) && p.key.value === key);
      if (!pair) break;
      found = isScalar(pair.key) ? pair.key : found;
      node = pair.value;
    } else if (isSeq(node) && typeof key === 'number') {
      node = node.items[key];
      if (!node) break;
      found = node as Node;
    } else break;
  }
  return found;
}

function optionName(keys: ReadonlyArray<PropertyKey>): string {
  return keys.map((k, i) => (typeof k === 'number' ? `[${k}]` : i === 0 ? String(k) : `.${String(k)}`)).join('');
}

/**
 * YAML reads `run: 007` as the number 7. In `meta`, a plain scalar whose text is a zero-padded number keeps
 * its text, as --meta does, so run numbers keep their zeros.
 */
function keepZeroPaddedMeta(doc: Document, options: Record<string, unknown>): void {
  const meta = doc.get('meta');
  if (!isMap(meta) || typeof options.meta !== 'object' || options.meta === null) return;
  for (const pair of meta.items) {
    if (
      isScalar(pair.key) &&
      isScalar(pair.value) &&
      pair.value.type === 'PLAIN' &&
      /^-?0\d/.test(pair.value.source ?? '')
    ) {
      (options.meta as Record<string, unknown>)[String(pair.key.value)] = pair.value.source;
    }
  }
}

/** Read and check a profile; `meta-schema` is resolved against the profile's own directory. */
export function loadProfile(file: string): ProfileOptions {
  let source: string;
  try {
    source = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ProfileError(`cannot read profile ${file}: ${(err as Error).message}`);
  }
  const lineCounter = new LineCounter();
  const doc = parseDocument(source, { lineCounter, prettyErrors: false });
  const syntaxError = doc.errors[0];
  if (syntaxError) {
    const line = syntaxError.linePos?.[0].line ?? lineCounter.linePos(syntaxError.pos[0]).line;
    throw new ProfileError(`${file} line ${line}: not valid YAML: ${syntaxError.message.split('\n')[0]}`);
  }
  const raw: unknown = doc.toJS() ?? {};
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new ProfileError(`${file}: expected a mapping of option: value, such as "scope: magic"`);
  }
  keepZeroPaddedMeta(doc, raw as Record<string, unknown>);

  const parsed = profileSchema.safeParse(raw);
  if (!parsed.success) {
    const lines = parsed.error.issues.flatMap((issue) => {
      const paths = issue.code === 'unrecognized_keys' ? issue.keys.map((k) => [...issue.path, k]) : [issue.path];
      return paths.map((keys) => {
        const node = nodeAt(doc, keys);
        const where = node?.range ? ` line ${lineCounter.linePos(node.range[0]).line}` : '';
        const message =
          issue.code === 'unrecognized_keys' ? 'unknown option: check its spelling against --help' : issue.message;
        return `${file}${where}: ${optionName(keys)}: ${message}`;
      });
    });
    throw new ProfileError(lines.join('\n'));
  }
  const options = parsed.data;
  if (options.metaSchema !== undefined) options.metaSchema = path.resolve(path.dirname(file), options.metaSchema);
  return options;
}
