// An in-memory cgroup filesystem for tests: directories, files, and the kernel's habit of filling new cgroups.
import { dirname } from 'node:path';
import type { CgroupFs } from '../../src/sandbox/cgroups.js';

function errno(code: string, path: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: ${path}`), { code });
}

export class MemCgroupFs implements CgroupFs {
  readonly files = new Map<string, string>();
  readonly dirs = new Set<string>();
  /** Every write, in order, as [path, data]. */
  readonly writes: [string, string][] = [];
  /** Files the "kernel" puts into each new directory under the given root. */
  populate: (dir: string) => Record<string, string> = () => ({});
  /** Makes writes to a path fail with an errno code. */
  readonly failWrites = new Map<string, string>();
  readonly failMkdir = new Map<string, string>();

  constructor(dirs: string[] = [], files: Record<string, string> = {}) {
    for (const dir of dirs) this.dirs.add(dir);
    for (const [path, data] of Object.entries(files)) this.files.set(path, data);
  }

  read(path: string): string | null {
    return this.files.get(path) ?? null;
  }

  write(path: string, data: string): void {
    const failure = this.failWrites.get(path);
    if (failure) throw errno(failure, path);
    if (!this.dirs.has(dirname(path))) throw errno('ENOENT', path);
    this.writes.push([path, data]);
    this.files.set(path, data);
  }

  mkdir(path: string): void {
    const failure = this.failMkdir.get(path);
    if (failure) throw errno(failure, path);
    if (!this.dirs.has(dirname(path))) throw errno('ENOENT', path);
    if (this.dirs.has(path)) return;
    this.dirs.add(path);
    for (const [name, data] of Object.entries(this.populate(path))) this.files.set(`${path}/${name}`, data);
  }

  rmdir(path: string): void {
    if (!this.dirs.has(path)) throw errno('ENOENT', path);
    if ([...this.dirs].some((d) => dirname(d) === path)) throw errno('EBUSY', path);
    const procs = this.files.get(`${path}/cgroup.procs`);
    if (procs?.trim()) throw errno('EBUSY', path);
    this.dirs.delete(path);
    for (const file of [...this.files.keys()]) if (dirname(file) === path) this.files.delete(file);
  }

  listDirs(path: string): string[] {
    return [...this.dirs].filter((d) => dirname(d) === path).map((d) => d.slice(path.length + 1));
  }
}
