// Functions cannot reach each other: what an instance or its adapter listens on (the Lambda Runtime API, an
// `http` function's own server) is reachable from no other instance, with the network on or off, nor
// from the host's loopback alias; a private function is reachable only through the gateway.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { describe, it } from 'node:test';
import { SANDBOX_GATEWAY_PORT } from '../../src/sandbox/bwrap.js';
import { features, json, noSandbox, startSecurePlatform } from './helpers.js';

/** Host pids of `root` and every process below it. */
function descendants(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(name)]);
    } catch {}
  }
  const out: number[] = [];
  const walk = (pid: number): void => {
    out.push(pid);
    for (const child of children.get(pid) ?? []) walk(child);
  };
  walk(root);
  return out;
}

/** TCP ports in LISTEN state inside the network namespace of an instance (seen from the host, as root may). */
function listeningInside(instancePid: number): { namespace: string; ports: number[] } {
  const ours = readlinkSync('/proc/self/ns/net');
  for (const pid of descendants(instancePid)) {
    let namespace: string;
    try {
      namespace = readlinkSync(`/proc/${pid}/ns/net`);
    } catch {
      continue;
    }
    if (namespace === ours) continue;
    const ports: number[] = [];
    for (const file of ['tcp', 'tcp6']) {
      for (const line of readFileSync(`/proc/${pid}/net/${file}`, 'utf8').split('\n').slice(1)) {
        const [, local, , state] = line.trim().split(/\s+/);
        if (state === '0A' && local) ports.push(Number.parseInt(local.split(':')[1]!, 16));
      }
    }
    return { namespace, ports };
  }
  throw new Error(`no process of instance ${instancePid} is in a network namespace of its own`);
}

/** The host's addresses besides loopback (what slirp4netns would connect out to). */
function hostAddresses(): string[] {
  return Object.values(networkInterfaces())
    .flat()
    .filter((a) => a !== undefined && !a.internal && a.family === 'IPv4')
    .map((a) => a!.address);
}

describe('functions cannot reach each other', { skip: noSandbox ?? false }, () => {
  it('no instance reaches another’s Runtime API or http server, network on or off; a private function is reached only through the gateway', async (t) => {
    const nimbus = await startSecurePlatform(t);
    const { platform } = nimbus;
    await Promise.all([
      nimbus.deploy('lambda-custom', 'victim', { private: true }),
      nimbus.deploy('http-node', 'privweb', { private: true, unixSocket: false }),
      nimbus.deploy('hostile', 'online', { network: true }),
      nimbus.deploy('hostile', 'offline', { network: false }),
    ]);
    // One instance of each private function, started without any request reaching it.
    await Promise.all(['victim', 'privweb'].map((name) => platform.dispatcher.get(name)!.pool.warm()));
    const namespaces = new Set<string>();
    const targets: { host: string; port: number }[] = [];
    const gatewayPort = Number(new URL(nimbus.url).port);
    for (const host of ['127.0.0.1', '10.0.2.2', ...hostAddresses()])
      targets.push({ host, port: gatewayPort });
    for (const name of ['victim', 'privweb']) {
      const [instance] = platform.dispatcher.get(name)!.pool.processes();
      const inside = listeningInside(instance!.pid!);
      assert.ok(inside.ports.length > 0, `${name} listens inside its namespace (the test sees its ports)`);
      namespaces.add(inside.namespace);
      for (const port of inside.ports) {
        for (const host of ['127.0.0.1', '10.0.2.2', ...hostAddresses()]) {
          // The same port on an attacker's own loopback is its own runner's forwarder to the gateway.
          if (!(port === SANDBOX_GATEWAY_PORT && host === '127.0.0.1')) targets.push({ host, port });
        }
      }
    }
    assert.equal(namespaces.size, 2, 'each instance has a network namespace of its own');

    type Reach = { reached: Record<string, string>; listening: number[] };
    for (const attacker of ['online', 'offline']) {
      const seen = await json<Reach>(
        await fetch(`${nimbus.url}/function/${attacker}/neighbours`, {
          method: 'POST',
          body: JSON.stringify({ targets }),
        }),
      );
      // Its own runner's forwarder to the gateway's socket is the only listener it sees (none offline).
      assert.deepEqual(
        seen.listening,
        attacker === 'online' ? [SANDBOX_GATEWAY_PORT] : [],
        `${attacker}: nobody else's sockets in its /proc/net/tcp`,
      );
      for (const [what, outcome] of Object.entries(seen.reached)) {
        assert.ok(
          !/^(connected|status )/.test(outcome),
          `${attacker} must not reach ${what}, got: ${outcome}`,
        );
      }
    }

    // The private functions answer through the gateway as before, and only with the credential.
    const anonymous = await fetch(`${nimbus.url}/function/privweb/x`);
    await anonymous.arrayBuffer();
    assert.ok(anonymous.status === 401 || anonymous.status === 403, `anonymous: ${anonymous.status}`);
    const auth = { authorization: `Bearer ${platform.token}` };
    const web = await fetch(`${nimbus.url}/function/privweb/x`, { headers: auth });
    assert.equal(web.status, 200, await web.clone().text());
    assert.equal(((await web.json()) as { url: string }).url, '/x');
    const victim = await fetch(`${nimbus.url}/function/victim`, {
      method: 'POST',
      headers: auth,
      body: '{}',
    });
    assert.equal(victim.status, 200);
    assert.deepEqual(await victim.json(), { ok: true });
    await nimbus.assertServing();
  });

  it('a function with network reaches the gateway at NIMBUS_URL whatever address it listens on; without network it does not', async (t) => {
    for (const host of ['0.0.0.0', '127.0.0.1']) {
      const nimbus = await startSecurePlatform(t, { host });
      await nimbus.deploy('hostile', 'online', { network: true });
      await nimbus.deploy('hostile', 'offline', { network: false });
      const via = async (name: string): Promise<string> =>
        (await fetch(`${nimbus.url.replace('0.0.0.0', '127.0.0.1')}/function/${name}/gateway`)).text();
      // Through its runner's forwarder to the gateway's Unix socket bound into its sandbox.
      assert.equal(await via('online'), 'status 200', `gateway on ${host}`);
      assert.match(await via('offline'), /^(ENETUNREACH|EHOSTUNREACH|ECONNREFUSED|TimeoutError)$/);
    }
  });

  it('network on reaches the outside world through its own namespace; its DNS goes to the forwarder', async (t) => {
    if (!features.egress) return t.skip(`no egress here: ${features.egressProblem}`);
    const nimbus = await startSecurePlatform(t);
    await nimbus.deploy('hostile', 'online', { network: true });
    const { createServer } = await import('node:net');
    const server = createServer((socket) => socket.end());
    await new Promise<void>((resolve) => server.listen(0, '0.0.0.0', resolve));
    t.after(() => server.close());
    const port = (server.address() as { port: number }).port;
    const [address] = hostAddresses();
    assert.ok(address, 'the host has an address besides loopback');
    const seen = await json<{ reached: Record<string, string> }>(
      await fetch(`${nimbus.url}/function/online/neighbours`, {
        method: 'POST',
        body: JSON.stringify({ targets: [{ host: address, port }] }),
      }),
    );
    assert.equal(seen.reached[`tcp ${address}:${port}`], 'connected');
    const resolv = await fetch(`${nimbus.url}/function/online/read?path=/etc/resolv.conf`);
    assert.match(await resolv.text(), /^read: nameserver 10\.0\.2\.3\n/);
  });
});
