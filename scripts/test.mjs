// Runs every test file under test/ with node:test through tsx (Node 20 has no test-file globs).
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const only = process.argv.slice(2);

function testFiles(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (name === 'fixtures') return [];
    if (statSync(path).isDirectory()) return testFiles(path);
    return path.endsWith('.test.ts') ? [relative(root, path)] : [];
  });
}

const files = testFiles(join(root, 'test'))
  .filter((f) => only.length === 0 || only.some((o) => f.includes(o)))
  .sort();
// Test-only native packages (test/packages/) are installed before the run when a file needs them, so a
// failure to install is one clear error up front, not a test timing out (scripts/test-packages.ts).
if (files.some((f) => readFileSync(join(root, f), 'utf8').includes('testPackageDir('))) {
  const install = spawnSync(process.execPath, ['--import', 'tsx', 'scripts/test-packages.ts'], {
    cwd: root,
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  if (install.status !== 0) {
    process.stderr.write('the test packages could not be installed (above); no test ran\n');
    process.exit(1);
  }
}

const result = spawnSync(
  process.execPath,
  ['--import', 'tsx', '--test', '--test-concurrency=2', '--test-reporter=spec', ...files],
  { cwd: root, stdio: 'inherit' },
);
process.exit(result.status ?? 1);
