// Preloaded (`--import`) into a process to profile: samples its CPU from start and writes the profile to
// $NIMBUS_PROFILE_DIR/<role>-<pid>.cpuprofile on SIGUSR2 (a process killed later cannot write one itself).
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { join } from 'node:path';

const dir = process.env.NIMBUS_PROFILE_DIR;
const role = process.argv[1]?.includes('runner') ? 'runner' : 'gateway';
if (dir) {
  const session = new Session();
  session.connect();
  session.post('Profiler.enable');
  session.post('Profiler.setSamplingInterval', {
    interval: Number(process.env.NIMBUS_PROFILE_INTERVAL_US ?? 100),
  });
  session.post('Profiler.start');
  process.on('SIGUSR2', () => {
    session.post('Profiler.stop', (err, result) => {
      if (!err) writeFileSync(join(dir, `${role}-${process.pid}.cpuprofile`), JSON.stringify(result.profile));
    });
  });
}
