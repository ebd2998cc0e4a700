// An action's `exec` ({kind, code, main, binary}) turned into a Nimbus bundle: a code string or a base64
// .zip (recognised by its content, as OpenWhisk does, whether or not `binary` says so), laid out so the
// Node or Python runner calls `main(params)` in OpenWhisk's style.
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { NimbusError } from '../../errors.js';
import type { Artifacts } from '../../store/artifacts.js';
import { unzipInto } from '../lambda/zip.js';

/** The kinds Nimbus runs, and the runtime each runs on (every Node kind runs on Nimbus's own Node). */
export const KINDS: Readonly<Record<string, 'node' | 'python'>> = {
  'nodejs:default': 'node',
  'nodejs:20': 'node',
  'nodejs:18': 'node',
  'python:default': 'python',
  'python:3': 'python',
  'python:3.11': 'python',
};

/** The kind an action deployed some other way is shown with. */
export const DEFAULT_KIND = { node: 'nodejs:20', python: 'python:3' } as const;

/** File names inside an action's bundle. */
export const CODE_FILES = {
  /** A Node code string as it was sent (what GET returns). */
  nodeSource: 'action.js',
  /** What the runner loads for a CommonJS code string: the code, then a line exporting its main. */
  nodeEntry: 'index.cjs',
  /** An ES module code string, loaded as it is. */
  nodeModule: 'index.mjs',
  /** A Python code string, and the file of a Python zip's entry point (OpenWhisk's name). */
  pythonSource: '__main__.py',
  /** What the runner imports: `__main__` cannot be imported by that name, so it is copied as `main__`. */
  pythonModule: 'main__.py',
} as const;

/** The export the runner calls in a CommonJS code string (set by the line Nimbus appends). */
export const NODE_MAIN_EXPORT = '__nimbus_ow_main';

export interface ExecInput {
  kind: string;
  code: string;
  main?: string | undefined;
  binary?: boolean | undefined;
}

export interface ActionCode {
  runtime: 'node' | 'python';
  kind: string;
  /** The code was a .zip. */
  binary: boolean;
  /** The name of the function to call (exec.main, default `main`). */
  main: string;
  bundle: string;
  /** Node: the bundle entry, `file#export`. */
  entry?: string;
  /** Python: the spec's handler, `module.function`. */
  handler?: string;
}

const ZIP_MAGIC = Buffer.from([0x50, 0x4b, 0x03, 0x04]);
const BASE64_RE = /^[A-Za-z0-9+/\r\n]+={0,2}\s*$/;
const JS_IDENTIFIER = /^[A-Za-z_$][\w$]*$/;
const PY_IDENTIFIER = /^[A-Za-z_]\w*$/;

const invalid = (why: string) => new NimbusError('ERR_OPENWHISK_REQUEST_INVALID', [why]);

/** The runtime of a kind, or ERR_OPENWHISK_KIND_UNSUPPORTED. */
export function runtimeOfKind(kind: string): 'node' | 'python' {
  const runtime = KINDS[kind];
  if (!runtime) throw new NimbusError('ERR_OPENWHISK_KIND_UNSUPPORTED', [kind.slice(0, 60)]);
  return runtime;
}

/** The .zip a code string holds, when it is one: base64 whose bytes start as a zip file does. */
export function zipOf(code: string, binary: boolean): Buffer | undefined {
  const looksBase64 = code.length >= 8 && BASE64_RE.test(code.slice(0, 4096));
  if (!looksBase64) {
    if (binary) throw invalid('exec.binary is true, but exec.code is not base64');
    return undefined;
  }
  const bytes = Buffer.from(code, 'base64');
  if (bytes.subarray(0, 4).equals(ZIP_MAGIC)) return bytes;
  if (binary) throw invalid('exec.binary is true, but exec.code is not a base64 .zip file');
  return undefined;
}

/** Unpacks or writes the code into a new bundle; checks the entry point is there. */
export async function storeActionCode(artifacts: Artifacts, exec: ExecInput): Promise<ActionCode> {
  const runtime = runtimeOfKind(exec.kind);
  if (exec.code.length === 0) throw invalid('exec.code is empty');
  const main = exec.main ?? 'main';
  const zip = zipOf(exec.code, exec.binary === true);
  const tmp = artifacts.tempDir();
  let layout: { entry?: string; handler?: string };
  try {
    if (zip) await unzipInto(zip, tmp);
    layout =
      runtime === 'node'
        ? nodeLayout(tmp, exec.code, main, zip !== undefined)
        : pythonLayout(tmp, exec.code, main, zip !== undefined);
  } catch (err) {
    rmSync(tmp, { recursive: true, force: true });
    throw err;
  }
  const { hash } = await artifacts.putDirectory(tmp);
  return { runtime, kind: exec.kind, binary: zip !== undefined, main, bundle: hash, ...layout };
}

/**
 * Node, as OpenWhisk's runtime: a code string defines `main` at its top level or exports it; an ES module
 * (`export function main`) is loaded as one. A zip names its file in package.json `main`, else index.js
 * (or index.mjs); `exec.main` may be `file.function`.
 */
function nodeLayout(dir: string, code: string, main: string, zipped: boolean): { entry: string } {
  if (!zipped) {
    if (!JS_IDENTIFIER.test(main)) throw invalid(`exec.main "${main.slice(0, 60)}" is not a JavaScript name`);
    if (isEsModule(code)) {
      writeFileSync(join(dir, CODE_FILES.nodeModule), code);
      return { entry: `${CODE_FILES.nodeModule}#${main}` };
    }
    writeFileSync(join(dir, CODE_FILES.nodeSource), code);
    // The code runs as a CommonJS module; a line after it exports the function OpenWhisk would call: a
    // top-level `main` (a declaration, not an export, is enough there), else the module's export of that name.
    const footer = `\n;module.exports.${NODE_MAIN_EXPORT} = typeof ${main} === 'function' ? ${main} : module.exports.${main} || exports.${main};\n`;
    writeFileSync(join(dir, CODE_FILES.nodeEntry), code + footer);
    return { entry: `${CODE_FILES.nodeEntry}#${NODE_MAIN_EXPORT}` };
  }
  const dot = main.indexOf('.');
  const file = dot === -1 ? undefined : main.slice(0, dot);
  const fn = dot === -1 ? main : main.slice(dot + 1);
  if (!JS_IDENTIFIER.test(fn))
    throw invalid(`exec.main "${main.slice(0, 60)}" does not name a JavaScript function`);
  let mainFile: string | undefined;
  if (file !== undefined) {
    mainFile = ['.js', '.mjs', '.cjs'].map((ext) => file + ext).find((f) => existsSync(join(dir, f)));
    if (!mainFile) throw invalid(`exec.main names ${file}.js, which the zip file does not hold`);
  } else if (existsSync(join(dir, 'package.json'))) {
    mainFile = packageMain(dir);
  } else if (existsSync(join(dir, 'index.mjs'))) {
    mainFile = 'index.mjs';
  } else if (existsSync(join(dir, 'index.js'))) {
    mainFile = 'index.js';
  }
  if (!mainFile) throw invalid('Zipped actions must contain either package.json or index.js at the root.');
  if (!existsSync(join(dir, mainFile)))
    throw invalid(`package.json names "${mainFile}", which the zip file does not hold`);
  return { entry: `${mainFile}#${fn}` };
}

function packageMain(dir: string): string {
  let pkg: unknown;
  try {
    pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
  } catch (err) {
    throw invalid(`the zip file's package.json does not parse: ${(err as Error).message}`);
  }
  const main = pkg && typeof pkg === 'object' ? (pkg as { main?: unknown }).main : undefined;
  if (main === undefined) return 'index.js';
  if (typeof main !== 'string' || main === '' || main.includes('\0'))
    throw invalid('package.json "main" must be a file name');
  const file = main.replace(/^\.\//, '');
  // A main without an extension names file.js, as require() would find it.
  return existsSync(join(dir, file)) || !existsSync(join(dir, `${file}.js`)) ? file : `${file}.js`;
}

/** An ES module: the code imports or exports with ESM syntax at the start of a line. */
function isEsModule(code: string): boolean {
  return (
    /^\s*export\s+(?:default\b|async\s+function\b|function\b|const\b|let\b|var\b|\{)/m.test(code) ||
    /^\s*import\s+(?:[\w*{][^;]*\s+from\s+)?['"][^'"]+['"]/m.test(code)
  );
}

/** Python, as OpenWhisk's runtime: the code string or the zip's `__main__.py` defines `main(args)`. */
function pythonLayout(dir: string, code: string, main: string, zipped: boolean): { handler: string } {
  if (!PY_IDENTIFIER.test(main)) throw invalid(`exec.main "${main.slice(0, 60)}" is not a Python name`);
  const source = join(dir, CODE_FILES.pythonSource);
  if (zipped) {
    if (!existsSync(source)) throw invalid('Zipped Python actions must contain __main__.py at the root.');
    writeFileSync(join(dir, CODE_FILES.pythonModule), readFileSync(source));
  } else {
    writeFileSync(source, code);
    writeFileSync(join(dir, CODE_FILES.pythonModule), code);
  }
  return { handler: `${CODE_FILES.pythonModule.slice(0, -3)}.${main}` };
}

/** The code string of an action made from one (what GET returns), or undefined for a zip or another function. */
export function readActionCode(bundleDir: string, runtime: string): string | undefined {
  const files =
    runtime === 'python' ? [CODE_FILES.pythonSource] : [CODE_FILES.nodeSource, CODE_FILES.nodeModule];
  for (const file of files) {
    const path = join(bundleDir, file);
    if (existsSync(path)) return readFileSync(path, 'utf8');
  }
  return undefined;
}
