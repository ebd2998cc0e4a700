// Watches a folder tree for changes to source files, skipping installed packages, VCS data and build
// outputs; many events in a burst (an editor's save, a git checkout) become one call after a quiet spell.
import { type FSWatcher, readdirSync, statSync, watch } from 'node:fs';
import { join, relative, sep } from 'node:path';

/** Folders whose changes are never a source change. */
export const IGNORED_DIRS: ReadonlySet<string> = new Set([
  'node_modules',
  '.git',
  '.hg',
  '.svn',
  'dist',
  '.nimbus',
  '__pycache__',
  '.venv',
  'venv',
  '.serverless',
  '.aws-sam',
  '.pytest_cache',
  '.mypy_cache',
]);

/** Editors' swap and backup files. */
const IGNORED_FILE = /(^|\/)(\.#.*|.*~|.*\.sw[a-p]|4913|\.DS_Store)$/;

export interface WatchTreeOptions {
  /** Quiet time after the last event before `onChange` is called, in ms. Default 150. */
  debounceMs?: number;
  /** More paths (absolute) to ignore with everything under them: a data dir inside the folder. */
  ignore?: string[];
  /** A watcher failed (the folder was removed, a limit was reached). */
  onError?: (err: Error) => void;
}

/** Whether a path (relative to the watched root) is ignored. */
export function isIgnored(path: string): boolean {
  const parts = path.split(/[\\/]/);
  if (parts.some((p) => IGNORED_DIRS.has(p))) return true;
  return IGNORED_FILE.test(parts.join('/'));
}

/**
 * Calls `onChange` with the changed paths (relative to `root`) after each burst of changes. On Linux a
 * watcher per folder (Node's recursive mode there watches every file, node_modules included); elsewhere
 * the platform's recursive watch. Returns the function that stops watching.
 */
export function watchTree(
  root: string,
  onChange: (paths: string[]) => void,
  options: WatchTreeOptions = {},
): () => void {
  const debounceMs = options.debounceMs ?? 150;
  const ignoredRoots = (options.ignore ?? [])
    .map((p) => relative(root, p))
    .filter((p) => p && !p.startsWith('..'));
  const ignored = (path: string): boolean =>
    isIgnored(path) || ignoredRoots.some((p) => path === p || path.startsWith(`${p}${sep}`));
  const watchers = new Map<string, FSWatcher>();
  let changed = new Set<string>();
  let timer: NodeJS.Timeout | undefined;
  let closed = false;

  const fire = (): void => {
    timer = undefined;
    const paths = [...changed];
    changed = new Set();
    if (paths.length > 0 && !closed) onChange(paths);
  };
  const note = (path: string): void => {
    if (closed || ignored(path)) return;
    changed.add(path);
    clearTimeout(timer);
    timer = setTimeout(fire, debounceMs);
  };
  const onError = (err: Error): void => {
    if (!closed) options.onError?.(err);
  };

  if (process.platform === 'darwin' || process.platform === 'win32') {
    const watcher = watch(root, { recursive: true }, (_event, file) => {
      if (file) note(file.toString());
    });
    watcher.on('error', onError);
    watchers.set('', watcher);
  } else {
    const add = (dir: string): void => {
      const rel = relative(root, dir);
      if (watchers.has(rel) || (rel !== '' && ignored(rel))) return;
      let watcher: FSWatcher;
      try {
        watcher = watch(dir, (_event, file) => {
          if (!file) return;
          const path = rel === '' ? file.toString() : join(rel, file.toString());
          note(path);
          // A folder created (or moved in) gets its own watcher, and what it holds counts as changed.
          const full = join(root, path);
          if (!ignored(path) && isDirectory(full)) add(full);
        });
      } catch (err) {
        // Gone between the listing and now.
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
        throw err;
      }
      watcher.on('error', (err) => {
        watcher.close();
        watchers.delete(rel);
        // A watched folder that is removed ends its watcher: not an error of the tree.
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT' && rel === '') onError(err);
      });
      watchers.set(rel, watcher);
      for (const entry of readdirSafe(dir)) if (entry.isDirectory()) add(join(dir, entry.name));
    };
    add(root);
  }

  return () => {
    closed = true;
    clearTimeout(timer);
    for (const watcher of watchers.values()) watcher.close();
    watchers.clear();
  };
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

function readdirSafe(dir: string) {
  try {
    return readdirSync(dir, { withFileTypes: true });
  } catch {
    return [];
  }
}
