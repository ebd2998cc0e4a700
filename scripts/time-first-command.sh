#!/usr/bin/env bash
# Times the README's first command as a new user meets it: a fresh clone of this checkout, an empty npm
# cache (every package comes from the registry), `npm ci`, then `npm start` until the hello example answers.
# Usage: scripts/time-first-command.sh [workdir]   (needs port 8080 free; removes what it made)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
work=${1:-$(mktemp -d /var/tmp/nimbus-first-XXXXXX)}
if curl -s -m 2 -o /dev/null http://127.0.0.1:8080/; then
  echo "something already answers on 127.0.0.1:8080: stop it first" >&2
  exit 1
fi
git clone -q "$repo" "$work/nimbus"
cd "$work/nimbus"
export npm_config_cache="$work/npm-cache"
t0=$(date +%s.%N)
npm ci > "$work/npm-ci.log" 2>&1
t1=$(date +%s.%N)
setsid npm start > "$work/npm-start.log" 2>&1 &
for _ in $(seq 1 3000); do
  if curl -s -m 2 -d world http://127.0.0.1:8080/function/hello | grep -q Hello; then break; fi
  sleep 0.1
done
t2=$(date +%s.%N)
printf 'npm ci %.1f s, npm start to the first answer %.1f s, in all %.1f s (load average now %s)\n' \
  "$(echo "$t1 - $t0" | bc)" "$(echo "$t2 - $t1" | bc)" "$(echo "$t2 - $t0" | bc)" "$(cut -d' ' -f1 /proc/loadavg)"
# Stop the Nimbus this script started: the `nimbus up` processes whose working directory is this clone.
for pid in $(pgrep -f 'bin/nimbus.js up' || true); do
  if [ "$(readlink "/proc/$pid/cwd")" = "$work/nimbus" ]; then kill "$pid"; fi
done
sleep 2
rm -rf "$work"
