// A closed-loop load with a step: `from` clients for `beforeSeconds`, then `to` clients for `stepSeconds`,
// each sending one GET after the other over kept-alive connections. Every request is recorded (start and
// end relative to the step, status) so the bench can draw throughput and latency around the step.
import { Agent, request } from 'node:http';
import { serveIpc } from './ipc.mjs';

const REQUEST_TIMEOUT_MS = 30_000;

function get(agent, url) {
  return new Promise((resolve) => {
    const req = request(url, { agent }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
      res.on('error', () => resolve(0));
    });
    req.setTimeout(REQUEST_TIMEOUT_MS, () => req.destroy(new Error('timeout')));
    req.on('error', () => resolve(0));
    req.end();
  });
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));

/**
 * @param {{ url: string, from: number, to: number, beforeSeconds: number, stepSeconds: number }} args
 * @returns {Promise<{ stepAtEpochMs: number, records: number[] }>} records: [startMs, endMs, status, ...]
 */
async function step({ url, from, to, beforeSeconds, stepSeconds }) {
  const agent = new Agent({ keepAlive: true, maxSockets: to });
  const records = [];
  const stepAt = performance.now() + beforeSeconds * 1000;
  const endAt = stepAt + stepSeconds * 1000;
  const client = async () => {
    for (;;) {
      const startedAt = performance.now();
      if (startedAt >= endAt) return;
      const status = await get(agent, url);
      const endedAt = performance.now();
      records.push(startedAt - stepAt, endedAt - stepAt, status);
      // A refused connection must not become a busy loop.
      if (status === 0) await sleep(10);
    }
  };
  const clients = [];
  for (let i = 0; i < from; i++) clients.push(client());
  await sleep(stepAt - performance.now());
  for (let i = from; i < to; i++) clients.push(client());
  await Promise.all(clients);
  agent.destroy();
  return { stepAtEpochMs: performance.timeOrigin + stepAt, records };
}

serveIpc({ ready: {}, handlers: { step } });
