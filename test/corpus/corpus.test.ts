// The migration corpus: one folder per shape of real-world function code (test/corpus/README.md), each
// deployed through the real `nimbus deploy` CLI (npm and pip dependencies installed from the registries)
// against a real platform and invoked as its manifest (corpus.yml) says. Table-driven: adding a shape is
// adding a folder.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { LOCKFILES } from '../../src/build/npm-install.js';
import { findExecutable, pathWithNode } from '../../src/runtimes/runtime.js';
import { startTestPlatform, type TestPlatform } from '../helpers/platform.js';

const CORPUS = new URL('./', import.meta.url).pathname;
const BIN = new URL('../../bin/nimbus.js', import.meta.url).pathname;
/** npm's cache and installed node_modules kept between runs (node_modules/ is not in git). */
const CACHE =
  process.env.NIMBUS_CORPUS_CACHE ??
  new URL('../../node_modules/.cache/nimbus-corpus/', import.meta.url).pathname;
const ENTRY_TIMEOUT_MS = 15 * 60_000;
/** NIMBUS_CORPUS=a,b runs only those folders (while working on them). */
const ONLY = process.env.NIMBUS_CORPUS?.split(',').filter(Boolean);
/** The python3 instances run, which `nimbus deploy` runs pip with too. */
const PYTHON = findExecutable('python3', pathWithNode()) ?? 'python3';

const expectSchema = z.strictObject({
  status: z.number().int().default(200),
  /** The body, exactly. */
  text: z.string().optional(),
  /** Strings the body holds. */
  contains: z.array(z.string()).default([]),
  /** JSON whose every key (recursively) the body's JSON has with the same value. */
  json: z.unknown().optional(),
  /** Headers whose values hold these strings. */
  headers: z.record(z.string(), z.string()).default({}),
});

const invokeSchema = z.strictObject({
  /** The deployed function's name. Default: the entry's `name`. */
  function: z.string().optional(),
  method: z.string().default('GET'),
  /** Below /function/NAME. */
  path: z.string().startsWith('/').default('/'),
  headers: z.record(z.string(), z.string()).default({}),
  body: z.string().optional(),
  bodyBase64: z.string().optional(),
  expect: expectSchema,
});

const manifestSchema = z.strictObject({
  title: z.string(),
  /** What real code this stands for (the docs/compat.md row). */
  shape: z.string(),
  /** `folder` (nimbus deploy DIR), or `-f FILE` inside the folder (stack.yml, serverless.yml, template.yaml). */
  deploy: z
    .string()
    .regex(/^(folder|-f \S+)$/)
    .default('folder'),
  /** The function name for `folder`. Default: the folder's name. */
  name: z.string().optional(),
  /** Registries the entry installs from: skipped, saying so, when one is unreachable. */
  needs: z.array(z.enum(['npm', 'pip'])).default([]),
  /** Reuse node_modules from an earlier run (keyed by package.json, lockfile and Node ABI). false: npm always runs. */
  cacheNodeModules: z.boolean().default(true),
  /** Sandboxes to run it under. */
  sandbox: z.array(z.enum(['off', 'auto'])).default(['off']),
  /** When pip cannot reach an index: Python modules the system's python3 may have instead (Debian's packages), and the requirements.txt to use then. */
  pipFallback: z
    .strictObject({
      modules: z.array(z.string()),
      requirements: z.string(),
      /** The requirements.txt replaced, inside the folder. */
      file: z.string().default('requirements.txt'),
    })
    .optional(),
  /** Strings the deploy's progress output (stderr) holds. */
  deployOutput: z.array(z.string()).default([]),
  /** Secrets made with `nimbus secret create NAME --from-literal VALUE` before the deploy (faas-cli secret create). */
  secrets: z.record(z.string(), z.string()).default({}),
  invoke: z.array(invokeSchema).min(1),
});

type Manifest = z.output<typeof manifestSchema>;

function allEntries(): { folder: string; manifest: Manifest }[] {
  return readdirSync(CORPUS, { withFileTypes: true })
    .filter((e) => e.isDirectory() && existsSync(join(CORPUS, e.name, 'corpus.yml')))
    .map((e) => ({
      folder: e.name,
      manifest: manifestSchema.parse(parseYaml(readFileSync(join(CORPUS, e.name, 'corpus.yml'), 'utf8'))),
    }))
    .sort((a, b) => a.folder.localeCompare(b.folder));
}

function entries(): { folder: string; manifest: Manifest }[] {
  return allEntries().filter((e) => !ONLY || ONLY.includes(e.folder));
}

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function run(
  command: string,
  args: string[],
  cwd: string,
  env: NodeJS.ProcessEnv,
  timeoutMs: number,
): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      command,
      args,
      { cwd, env, timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => {
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
      },
    );
  });
}

/**
 * The CLI's environment: npm's cache shared between runs, nothing fetched but from the npm registry, and
 * pip without retries, so an index in pip's config that this machine cannot reach (pypi.org behind a
 * local mirror) costs one failed lookup, not a back-off per package.
 */
const cliEnv = (): NodeJS.ProcessEnv => ({
  PIP_RETRIES: '0',
  ...process.env,
  npm_config_cache: join(CACHE, 'npm'),
  // better-sqlite3's prebuild-install would try GitHub first: compile with node-gyp straight away.
  npm_config_build_from_source: 'better-sqlite3',
});

/** Why a registry cannot be used here, or undefined when it can (asked once per run). */
const reachability = new Map<string, Promise<string | undefined>>();
function unreachable(registry: 'npm' | 'pip'): Promise<string | undefined> {
  let known = reachability.get(registry);
  if (!known) {
    known = (async () => {
      const probe = mkdtempSync(join(tmpdir(), 'nimbus-corpus-probe-'));
      try {
        const result =
          registry === 'npm'
            ? await run('npm', ['view', 'cows@2.1.1', 'version'], probe, cliEnv(), 60_000)
            : await run(
                PYTHON,
                // With their dependencies: an index that has some packages but not all of them (a partial
                // local mirror) is as good as none for the corpus.
                ['-m', 'pip', 'download', '--dest', probe, 'fastapi', 'uvicorn', 'requests'],
                probe,
                cliEnv(),
                180_000,
              );
        return result.code === 0
          ? undefined
          : `the ${registry} registry is unreachable from here (${result.stderr.trim().split('\n').at(-1)})`;
      } finally {
        rmSync(probe, { recursive: true, force: true });
      }
    })();
    reachability.set(registry, known);
  }
  return known;
}

function nodeModulesKey(dir: string): string | undefined {
  if (!existsSync(join(dir, 'package.json'))) return undefined;
  const hash = createHash('sha256').update(readFileSync(join(dir, 'package.json')));
  for (const lock of LOCKFILES) if (existsSync(join(dir, lock))) hash.update(readFileSync(join(dir, lock)));
  hash.update(`${process.platform}-${process.arch}-${process.versions.modules}`);
  return hash.digest('hex').slice(0, 24);
}

/** Every key of `want` is in `have` with the same value (arrays element by element). */
function assertSubset(have: unknown, want: unknown, path = 'body'): void {
  if (want !== null && typeof want === 'object') {
    assert.ok(
      have !== null && typeof have === 'object',
      `${path} is an object or array: ${JSON.stringify(have)}`,
    );
    for (const [key, value] of Object.entries(want))
      assertSubset((have as Record<string, unknown>)[key], value, `${path}.${key}`);
    return;
  }
  assert.deepEqual(have, want, path);
}

async function deployEntry(
  t: TestContext,
  folder: string,
  manifest: Manifest,
  platform: TestPlatform,
): Promise<Run | undefined> {
  for (const registry of manifest.needs) {
    const why = await unreachable(registry);
    if (why && !(registry === 'pip' && manifest.pipFallback)) {
      t.skip(why);
      return undefined;
    }
  }
  const work = mkdtempSync(join(tmpdir(), `nimbus-corpus-${folder}-`));
  t.after(() => rmSync(work, { recursive: true, force: true }));
  const dir = join(work, folder);
  cpSync(join(CORPUS, folder), dir, { recursive: true, filter: (src) => !src.endsWith('/corpus.yml') });
  if (manifest.needs.includes('pip') && manifest.pipFallback && (await unreachable('pip'))) {
    const check = await run(
      PYTHON,
      ['-c', `import ${manifest.pipFallback.modules.join(', ')}`],
      dir,
      process.env,
      60_000,
    );
    if (check.code !== 0) {
      t.skip(`${await unreachable('pip')}, and python3 lacks ${manifest.pipFallback.modules.join(', ')}`);
      return undefined;
    }
    writeFileSync(join(dir, manifest.pipFallback.file), manifest.pipFallback.requirements);
  }
  const key = manifest.cacheNodeModules ? nodeModulesKey(dir) : undefined;
  const cached = key ? join(CACHE, 'modules', key) : undefined;
  if (cached && existsSync(cached))
    cpSync(cached, join(dir, 'node_modules'), { recursive: true, verbatimSymlinks: true });
  for (const [name, value] of Object.entries(manifest.secrets)) {
    const secret = ['secret', 'create', name, '--from-literal', value];
    const made = await run(
      process.execPath,
      [BIN, ...secret, '--url', platform.url, '--token', platform.platform.token],
      dir,
      cliEnv(),
      60_000,
    );
    assert.equal(made.code, 0, `nimbus secret create ${name} failed:\n${made.stderr}`);
  }
  const args =
    manifest.deploy === 'folder'
      ? ['deploy', dir, '--name', manifest.name ?? folder]
      : ['deploy', '-f', join(dir, manifest.deploy.slice(3))];
  const result = await run(
    process.execPath,
    [BIN, ...args, '--url', platform.url, '--token', platform.platform.token],
    dir,
    cliEnv(),
    ENTRY_TIMEOUT_MS,
  );
  assert.equal(result.code, 0, `nimbus ${args.join(' ')} failed:\n${result.stderr}`);
  for (const text of manifest.deployOutput)
    assert.ok(result.stderr.includes(text), `deploy output holds "${text}":\n${result.stderr}`);
  if (cached && !existsSync(cached) && existsSync(join(dir, 'node_modules'))) {
    mkdirSync(join(CACHE, 'modules'), { recursive: true });
    cpSync(join(dir, 'node_modules'), cached, { recursive: true, verbatimSymlinks: true });
  }
  return result;
}

async function invokeEntry(manifest: Manifest, folder: string, url: string): Promise<void> {
  for (const call of manifest.invoke) {
    const name = call.function ?? manifest.name ?? folder;
    const body =
      call.bodyBase64 !== undefined
        ? Buffer.from(call.bodyBase64, 'base64')
        : call.body !== undefined
          ? call.body
          : undefined;
    const res = await fetch(`${url}/function/${name}${call.path === '/' ? '' : call.path}`, {
      method: call.method,
      headers: call.headers,
      ...(body === undefined ? {} : { body }),
    });
    const text = await res.text();
    const what = `${call.method} /function/${name}${call.path}`;
    assert.equal(res.status, call.expect.status, `${what} answered ${res.status}: ${text.slice(0, 2000)}`);
    if (call.expect.text !== undefined) assert.equal(text, call.expect.text, what);
    for (const part of call.expect.contains)
      assert.ok(text.includes(part), `${what} holds "${part}": ${text.slice(0, 2000)}`);
    if (call.expect.json !== undefined) assertSubset(JSON.parse(text) as unknown, call.expect.json);
    for (const [header, value] of Object.entries(call.expect.headers))
      assert.ok((res.headers.get(header) ?? '').includes(value), `${what}: ${header} holds "${value}"`);
  }
}

test('docs/compat.md lists every corpus entry once, with the sandboxes it runs under, and counts them right', () => {
  const doc = readFileSync(new URL('../../docs/compat.md', import.meta.url), 'utf8');
  const section = doc.split('\n## What runs unchanged\n')[1]?.split('\n## ')[0] ?? '';
  const rows = new Map<string, string>();
  for (const line of section.split('\n')) {
    const cells = /^\| (.+) \| `([a-z0-9-]+)` \| (.+) \|$/.exec(line);
    if (!cells) continue;
    assert.ok(!rows.has(cells[2]!), `${cells[2]} has one row`);
    rows.set(cells[2]!, cells[3]!);
  }
  const all = allEntries();
  assert.deepEqual([...rows.keys()].sort(), all.map((e) => e.folder).sort(), 'one row per corpus folder');
  for (const { folder, manifest } of all) {
    const runs = rows.get(folder)!;
    assert.match(runs, /^yes\b/, `${folder}: the table says how it runs`);
    assert.equal(
      /\bauto\b/.test(runs),
      manifest.sandbox.includes('auto'),
      `${folder}: its sandboxes (${runs})`,
    );
  }
  const unchanged = [...rows.values()].filter((runs) => !runs.startsWith('yes, with')).length;
  assert.ok(
    section.includes(`**${unchanged} of the ${rows.size} shapes run unchanged**`),
    `the section counts ${unchanged} of ${rows.size}`,
  );
});

test('corpus: real-world function shapes deploy through nimbus deploy and answer as they would elsewhere', async (t) => {
  const all = entries();
  assert.ok(all.length > 0, 'the corpus has entries');
  const platforms = new Map<string, TestPlatform>();
  const platformFor = async (sandbox: 'off' | 'auto'): Promise<TestPlatform> => {
    let platform = platforms.get(sandbox);
    if (!platform) {
      platform = await startTestPlatform(t, { sandbox, startTimeoutMs: 30_000 });
      platforms.set(sandbox, platform);
    }
    return platform;
  };
  for (const { folder, manifest } of all) {
    for (const sandbox of manifest.sandbox) {
      await t.test(
        `${folder} (sandbox ${sandbox}): ${manifest.title}`,
        { timeout: ENTRY_TIMEOUT_MS },
        async (t) => {
          const platform = await platformFor(sandbox);
          const deployed = await deployEntry(t, folder, manifest, platform);
          if (!deployed) return;
          await invokeEntry(manifest, folder, platform.url);
        },
      );
    }
  }
});
