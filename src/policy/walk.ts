import { lstat, readdir, realpath, stat } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import path from 'node:path';

/** A file found under the root; `refused` when it is listed but cannot be ingested, with the reason. */
export interface WalkedFile {
  absolutePath: string;
  /** '/'-separated, relative to the root; a symlink's own path, not its target's. */
  relativePath: string;
  size?: number;
  /** Last modification (of the target, for a symlink), for completeness rules. */
  mtimeMs?: number;
  /** The `companionSuffixes` for which `<file><suffix>` is in the same directory. */
  companions?: ReadonlySet<string>;
  refused?: { code: string; message: string };
}

export interface WalkOptions {
  /** Files whose names end so are not data, e.g. the metadata sidecar suffix '.meta'. */
  excludeSuffixes?: string[];
  /** For each file, which of these suffixes name a sibling `<file><suffix>` (read off the listing). */
  companionSuffixes?: string[];
}

const byCodeUnits = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

function isInside(realRoot: string, real: string): boolean {
  return real === realRoot || real.startsWith(realRoot.endsWith(path.sep) ? realRoot : realRoot + path.sep);
}

async function realRootOf(root: string): Promise<string> {
  let st: Stats;
  try {
    st = await stat(root);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new Error(
      code === 'ENOENT'
        ? `source directory ${root} does not exist: check the path`
        : `source directory ${root} cannot be read: ${(err as Error).message}`,
    );
  }
  if (!st.isDirectory()) throw new Error(`source ${root} is not a directory: pass the directory that holds the files`);
  return realpath(root);
}

/**
 * Every file under `root`, depth-first, each directory's entries in code-unit order so two listings of the
 * same tree agree. Symlinks are followed only while they stay inside the root; a symlinked directory that
 * leads back to one of its own ancestors is refused, which is what keeps a symlink loop from recursing forever.
 */
export async function* walkDirectory(root: string, opts: WalkOptions = {}): AsyncGenerator<WalkedFile> {
  const realRoot = await realRootOf(root);
  const excluded = (name: string) => (opts.excludeSuffixes ?? []).some((s) => name.endsWith(s));
  const refuse = (absolutePath: string, relativePath: string, code: string, message: string): WalkedFile => ({
    absolutePath,
    relativePath,
    refused: { code, message },
  });

  // `ancestors`: real paths of the directories from the root down to `dir`.
  async function* walk(dir: string, relDir: string, ancestors: ReadonlySet<string>): AsyncGenerator<WalkedFile> {
    let names: string[];
    try {
      names = (await readdir(dir)).sort(byCodeUnits);
    } catch (err) {
      yield refuse(dir, relDir, 'SourceNotReadable', `directory ${dir} cannot be listed: ${(err as Error).message}`);
      return;
    }
    const listed = new Set(opts.companionSuffixes?.length ? names : []);
    for (const name of names) {
      const absolutePath = path.join(dir, name);
      const relativePath = relDir === '' ? name : `${relDir}/${name}`;
      let st: Stats;
      try {
        st = await lstat(absolutePath);
      } catch (err) {
        // Removed between listing and lstat, or not accessible.
        yield refuse(absolutePath, relativePath, 'SourceNotReadable', `${absolutePath}: ${(err as Error).message}`);
        continue;
      }
      let real = absolutePath;
      if (st.isSymbolicLink()) {
        try {
          real = await realpath(absolutePath);
          st = await stat(real);
        } catch {
          yield refuse(absolutePath, relativePath, 'SourceNotReadable', `${absolutePath} is a dangling symlink`);
          continue;
        }
        if (!isInside(realRoot, real)) {
          yield refuse(
            absolutePath,
            relativePath,
            'SymlinkOutsideRoot',
            `${absolutePath} is a symlink to ${real}, outside ${root}: not followed; ingest that directory separately or copy the file in`,
          );
          continue;
        }
      }
      if (st.isDirectory()) {
        if (ancestors.has(real)) {
          yield refuse(
            absolutePath,
            relativePath,
            'SymlinkLoop',
            `${absolutePath} is a symlink to ${real}, which contains it: not followed`,
          );
          continue;
        }
        yield* walk(absolutePath, relativePath, new Set([...ancestors, real]));
      } else if (excluded(name)) {
        continue;
      } else if (st.isFile()) {
        const file: WalkedFile = { absolutePath, relativePath, size: st.size, mtimeMs: st.mtimeMs };
        if (opts.companionSuffixes?.length)
          file.companions = new Set(opts.companionSuffixes.filter((s) => listed.has(name + s)));
        yield file;
      } else {
        yield refuse(absolutePath, relativePath, 'SourceNotReadable', `${absolutePath} is not a regular file`);
      }
    }
  }

  yield* walk(path.resolve(root), '', new Set([realRoot]));
}
