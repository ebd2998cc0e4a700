// The packages `nimbus deploy` installed from requirements.txt sit at the bundle's root (pip --target) with
// their scripts in bin/: an exec, http or lambda program finds them through PYTHONPATH and PATH, whether it
// is `python3 app.py`, `python3 -m uvicorn app:app` or `uvicorn app:app`.
import { existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';

/** `env` with the bundle's Python packages and scripts added, when the bundle has a requirements.txt. */
export function withBundlePython(env: Record<string, string>, bundleDir: string): Record<string, string> {
  if (!existsSync(join(bundleDir, 'requirements.txt'))) return env;
  const out: Record<string, string> = {
    ...env,
    PYTHONPATH: env.PYTHONPATH ? `${bundleDir}${delimiter}${env.PYTHONPATH}` : bundleDir,
  };
  const bin = join(bundleDir, 'bin');
  if (existsSync(bin)) out.PATH = env.PATH ? `${bin}${delimiter}${env.PATH}` : bin;
  return out;
}
