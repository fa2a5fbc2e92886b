import { didNamePattern } from '../rucio/dids.js';
import { didNameFor, nameRules, type NameRule } from '../shared/did-naming.js';
import { renderTemplate, templateProblems } from './template.js';
import {
  maxDidNameLength,
  parseDidReference,
  scopePattern,
  valueFromPath,
  type Did,
  type MetaValue,
} from './values.js';

export type { Did, MetaValue } from './values.js';

/**
 * How the files of a batch are named in Rucio. `flat`: every file in one dataset, named by its base name.
 * `tree`: the directory tree is mirrored — a file is named by its relative path, its directory is its
 * dataset and the directories above are containers.
 */
export interface NamespaceOptions {
  scope: string;
  layout: 'flat' | 'tree';
  /** `SCOPE:NAME`: flat — every file's dataset; tree — the dataset of files at the top of the tree. */
  dataset?: string;
  /** `SCOPE:NAME`, outermost first: containers above the dataset (flat layout). */
  containers?: string[];
  nameRule: NameRule;
  /** Put before every name derived from a path or template; adds no container of its own. */
  namePrefix?: string;
  /** A regex with named groups that must match the whole relative path. */
  pathPattern?: string;
  nameTemplate?: string;
  datasetTemplate?: string;
  /** Outermost first. */
  containerTemplates?: string[];
  /** Named groups of `pathPattern` that become metadata. */
  metaFromPath?: string[];
}

export interface MappedFile {
  did: Did;
  dataset: Did;
  containers: Did[];
  metadata: Record<string, MetaValue>;
}

/** One file cannot be mapped to a Rucio name; the message names the file and what to do. */
export class NamespaceError extends Error {
  override name = 'NamespaceError';
}

/** Placeholders every template may use besides the `--path-pattern` groups. */
export const builtinPlaceholders = ['path', 'dir', 'file', 'stem'] as const;
type PathParts = Record<(typeof builtinPlaceholders)[number], string>;

function pathPartsOf(relativePath: string): PathParts {
  const slash = relativePath.lastIndexOf('/');
  const file = relativePath.slice(slash + 1);
  const dot = file.lastIndexOf('.');
  return {
    path: relativePath,
    dir: slash < 0 ? '' : relativePath.slice(0, slash),
    file,
    stem: dot > 0 ? file.slice(0, dot) : file,
  };
}

function anchored(pattern: string): RegExp {
  return new RegExp(`^(?:${pattern})$`);
}

/** The named groups of a pattern: an empty alternative makes it match '' with every group present. */
function namedGroupsOf(pattern: string): string[] {
  return Object.keys(new RegExp(`(?:${pattern})|`).exec('')?.groups ?? {});
}

const didNameRule = 'letters, digits, / . - _, starting with a letter, digit or /';

function fixedDidProblem(text: string, option: string): string | undefined {
  const did = parseDidReference(text);
  if (typeof did === 'string') return `${option} ${did}`;
  if (did.name.length > maxDidNameLength || !didNamePattern.test(did.name)) {
    return `${option} "${text}": the name must be at most ${maxDidNameLength} ${didNameRule}`;
  }
  return undefined;
}

/** Problems with the options themselves (not with any one file); empty when they are fine. */
export function validateNamespaceOptions(opts: NamespaceOptions): string[] {
  const problems: string[] = [];
  if (!scopePattern.test(opts.scope ?? '')) problems.push(`--scope "${opts.scope}" is not 1-25 letters, digits, _ . -`);
  if (opts.layout !== 'flat' && opts.layout !== 'tree') problems.push(`--layout "${opts.layout}" is not flat or tree`);
  if (!nameRules.includes(opts.nameRule))
    problems.push(`--name-rule "${opts.nameRule}" is not ${nameRules.join(' or ')}`);

  const fixedDids = [
    ...(opts.dataset === undefined ? [] : [{ text: opts.dataset, option: '--dataset' }]),
    ...(opts.containers ?? []).map((text) => ({ text, option: '--container' })),
  ];
  for (const { text, option } of fixedDids) {
    const problem = fixedDidProblem(text, option);
    if (problem) problems.push(problem);
  }
  if (opts.layout === 'flat' && opts.dataset === undefined && opts.datasetTemplate === undefined) {
    problems.push('the flat layout puts every file in one dataset: pass --dataset SCOPE:NAME or --dataset-template');
  }
  if (opts.containers?.length && opts.containerTemplates) {
    problems.push('--container and --container-template both name the containers: pass only one of them');
  } else if (opts.containers?.length && opts.layout === 'tree') {
    problems.push('--container applies to the flat layout; in the tree layout the directories become containers');
  }
  if (opts.namePrefix !== undefined && opts.namePrefix.includes('//')) {
    problems.push(`--name-prefix "${opts.namePrefix}" contains //: remove the empty part`);
  }

  let groups: string[] = [];
  if (opts.pathPattern !== undefined) {
    try {
      anchored(opts.pathPattern);
      groups = namedGroupsOf(opts.pathPattern);
    } catch (err) {
      problems.push(
        `--path-pattern "${opts.pathPattern}" is not a valid regular expression: ${(err as Error).message}`,
      );
    }
    for (const g of groups.filter((g) => (builtinPlaceholders as readonly string[]).includes(g))) {
      problems.push(`--path-pattern group "${g}" hides the builtin {${g}}: rename the group`);
    }
  }
  const known = new Set<string>([...builtinPlaceholders, ...groups]);
  const templates: Array<[string | undefined, string]> = [
    [opts.nameTemplate, '--name-template'],
    [opts.datasetTemplate, '--dataset-template'],
    ...(opts.containerTemplates ?? []).map((t): [string, string] => [t, '--container-template']),
  ];
  for (const [template, option] of templates) {
    if (template !== undefined) problems.push(...templateProblems(template, known, option));
  }
  for (const key of opts.metaFromPath ?? []) {
    if (!groups.includes(key)) {
      problems.push(
        opts.pathPattern === undefined
          ? `--meta-from-path ${key} needs a --path-pattern with a group (?<${key}>...)`
          : `--meta-from-path ${key} is not a group of --path-pattern "${opts.pathPattern}"`,
      );
    }
  }
  return problems;
}

/** Relative paths come from a directory walk or a manifest: refuse those that could name files outside it. */
function checkRelativePath(relativePath: string): void {
  const parts = relativePath.split('/');
  if (relativePath === '' || parts.some((p) => p === '' || p === '.' || p === '..')) {
    throw new NamespaceError(
      `"${relativePath}" is not a relative path of the form dir/sub/file (no leading /, no empty, . or .. parts): fix the manifest entry`,
    );
  }
}

function applyNameRule(name: string, rule: NameRule): string {
  return rule === 'keep'
    ? name
    : name
        .split('/')
        .map((part) => (part === '' ? part : didNameFor(part, rule)))
        .join('/');
}

/**
 * Compile the options once into a function that names one file. Throws NamespaceError for options that
 * are not valid (see validateNamespaceOptions) and, from the returned function, for a file that cannot be named.
 */
export function compileNamespace(opts: NamespaceOptions): (relativePath: string) => MappedFile {
  const problems = validateNamespaceOptions(opts);
  if (problems.length > 0) throw new NamespaceError(`invalid naming options: ${problems.join('; ')}`);

  const pattern = opts.pathPattern === undefined ? undefined : anchored(opts.pathPattern);
  const fixedDataset = opts.dataset === undefined ? undefined : (parseDidReference(opts.dataset) as Did);
  const fixedContainers = (opts.containers ?? []).map((c) => parseDidReference(c) as Did);
  const prefix = opts.namePrefix ?? '';

  return (relativePath) => {
    checkRelativePath(relativePath);
    const parts = pathPartsOf(relativePath);
    let groups: Record<string, string | undefined> = {};
    if (pattern) {
      const m = pattern.exec(relativePath);
      if (!m) {
        throw new NamespaceError(
          `${relativePath} does not match --path-pattern ${opts.pathPattern}: fix the pattern, or move or exclude the file`,
        );
      }
      groups = m.groups ?? {};
    }
    const values = { ...groups, ...parts };

    const fromTemplate = (template: string, option: string): string => {
      const r = renderTemplate(template, values);
      if ('text' in r) return r.text;
      throw new NamespaceError(
        `${relativePath}: ${option} "${template}" needs {${r.missing}}, but that group of --path-pattern matched nothing here: make the group match every path or leave it out of the template`,
      );
    };
    // A name derived from the path: prefixed, passed through the name rule, checked against Rucio's rules.
    const derived = (name: string, what: string): Did => {
      const full = applyNameRule(prefix + name, opts.nameRule);
      checkDerivedName(full, what, relativePath, opts.nameRule);
      return { scope: opts.scope, name: full };
    };

    const rawFileName =
      opts.nameTemplate !== undefined
        ? fromTemplate(opts.nameTemplate, '--name-template')
        : opts.layout === 'flat'
          ? parts.file
          : parts.path;
    const did = derived(rawFileName, 'file');

    let dataset: Did;
    if (opts.datasetTemplate !== undefined)
      dataset = derived(fromTemplate(opts.datasetTemplate, '--dataset-template'), 'dataset');
    else if (opts.layout === 'tree' && parts.dir !== '') dataset = derived(parts.dir, 'dataset');
    else if (fixedDataset) dataset = fixedDataset;
    else {
      throw new NamespaceError(
        `${relativePath} is at the top of the tree, so no directory names its dataset: pass --dataset SCOPE:NAME for top-level files`,
      );
    }

    let containers: Did[];
    if (opts.containerTemplates !== undefined) {
      containers = opts.containerTemplates.map((t) => derived(fromTemplate(t, '--container-template'), 'container'));
    } else if (opts.layout === 'tree') {
      const dirs = parts.dir === '' ? [] : parts.dir.split('/');
      containers = dirs.slice(0, -1).map((_, i) => derived(dirs.slice(0, i + 1).join('/'), 'container'));
    } else {
      containers = fixedContainers;
    }

    const metadata: Record<string, MetaValue> = {};
    for (const key of opts.metaFromPath ?? []) {
      const value = groups[key];
      if (value !== undefined) metadata[key] = valueFromPath(value);
    }
    // Only the name rule can make them differ: keep the name the file has on disk.
    if (prefix + rawFileName !== did.name) {
      metadata.original_name = opts.layout === 'flat' && opts.nameTemplate === undefined ? parts.file : relativePath;
    }
    return { did, dataset, containers, metadata };
  };
}

function checkDerivedName(name: string, what: string, relativePath: string, rule: NameRule): void {
  if (name === '') {
    throw new NamespaceError(`${relativePath}: its ${what} name is empty: check --name-template and --name-prefix`);
  }
  if (name.length > maxDidNameLength) {
    throw new NamespaceError(
      `${relativePath}: its ${what} name is ${name.length} characters, Rucio allows ${maxDidNameLength}: shorten --name-prefix or name it with a shorter template`,
    );
  }
  if (!didNamePattern.test(name)) {
    throw new NamespaceError(
      rule === 'keep'
        ? `${relativePath}: ${what} name "${name}" is not a valid Rucio DID name (${didNameRule}): pass --name-rule sanitize to replace the other characters with _`
        : `${relativePath}: ${what} name "${name}" is not a valid Rucio DID name (${didNameRule})`,
    );
  }
}
