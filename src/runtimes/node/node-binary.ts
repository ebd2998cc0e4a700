// Which node binary runs a function that asks for a Node.js major (`nodeVersion`, Lambda's nodejs22.x):
// the platform's own when the majors match, else one named in the config, else one found where version
// managers and packages install them, each checked with `--version`.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';
import { findExecutable } from '../runtime.js';

const VERSION_TIMEOUT_MS = 5000;
const HOST_MAJOR = Number(process.versions.node.split('.')[0]);
const versions = new Map<string, number | undefined>();

export interface NodeLookup {
  /** Config `nodeBinaries`: a major's binary by absolute path (`{22: /opt/node22/bin/node}`). */
  binaries?: Readonly<Record<string, string>>;
  /** Directories searched for `node<major>`, `nodejs<major>`, `node-<major>`. Default: the instances' PATH. */
  path?: string;
  /** Home directory whose version managers (nvm, fnm, volta, asdf, n) are searched. Default: the platform user's. */
  home?: string;
}

/** The major of a node binary (`v22.4.1` → 22), asked once per path; undefined when it does not run. */
export function nodeMajor(binary: string): number | undefined {
  if (versions.has(binary)) return versions.get(binary);
  let major: number | undefined;
  try {
    const out = spawnSync(binary, ['--version'], { encoding: 'utf8', timeout: VERSION_TIMEOUT_MS });
    const m = /^v(\d+)\./.exec(out.stdout?.trim() ?? '');
    major = m ? Number(m[1]) : undefined;
  } catch {}
  versions.set(binary, major);
  return major;
}

/** `<dir>/<prefix><major>.*<suffix>` paths under `dir`, newest version first. */
function versionDirs(dir: string, prefix: string, major: number, suffix: string): string[] {
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return [];
  }
  return entries
    .filter((e) => e === `${prefix}${major}` || e.startsWith(`${prefix}${major}.`))
    .sort((a, b) => b.localeCompare(a, undefined, { numeric: true }))
    .map((e) => join(dir, e, suffix));
}

/** Where a node of `major` may be installed, in the order they are tried. */
export function nodeCandidates(major: number, lookup: NodeLookup = {}): string[] {
  const home = lookup.home ?? homedir();
  const path = lookup.path ?? '/usr/local/bin:/usr/bin:/bin';
  const named = [`node${major}`, `nodejs${major}`, `node-${major}`]
    .map((name) => findExecutable(name, path))
    .filter((p): p is string => p !== undefined);
  return [
    ...(lookup.binaries?.[String(major)] ? [lookup.binaries[String(major)]!] : []),
    ...named,
    `/opt/node${major}/bin/node`,
    `/opt/nodejs${major}/bin/node`,
    `/usr/lib/nodejs${major}/bin/node`,
    `/opt/homebrew/opt/node@${major}/bin/node`,
    `/usr/local/opt/node@${major}/bin/node`,
    ...versionDirs('/usr/local/lib/nodejs', 'node-v', major, 'bin/node'),
    ...versionDirs(join(home, '.nvm/versions/node'), 'v', major, 'bin/node'),
    ...versionDirs('/usr/local/nvm/versions/node', 'v', major, 'bin/node'),
    ...versionDirs('/usr/local/n/versions/node', '', major, 'bin/node'),
    ...versionDirs(join(home, '.local/share/fnm/node-versions'), 'v', major, 'installation/bin/node'),
    ...versionDirs(join(home, '.volta/tools/image/node'), '', major, 'bin/node'),
    ...versionDirs(join(home, '.asdf/installs/nodejs'), '', major, 'bin/node'),
  ];
}

/** The node binary of `major` on this host, or undefined. The platform's own node serves its own major. */
export function findNode(major: number | undefined, lookup: NodeLookup = {}): string | undefined {
  if (major === undefined || major === HOST_MAJOR) return process.execPath;
  for (const candidate of nodeCandidates(major, lookup)) {
    if (findExecutable(candidate, '') !== undefined && nodeMajor(candidate) === major) return candidate;
  }
  return undefined;
}

/** Where findNode looked, for an error message. */
export function nodeSearchDescription(major: number, lookup: NodeLookup = {}): string {
  const path = lookup.path ?? '/usr/local/bin:/usr/bin:/bin';
  return `nodeBinaries in the config, node${major}/nodejs${major} on ${path.split(delimiter).join(':')}, /opt/node${major}, /usr/local/lib/nodejs, nvm, n, fnm, volta and asdf directories`;
}

export { HOST_MAJOR };
