// Runs the parts of `npm run bench` beyond the warm path, in order — cold start from zero, scale-up
// reaction, idle cost, keep-alive replay, instance protocol — printing each one's section and writing it
// to docs/benchmarks.md as soon as it is done (a later failure does not lose it).
import { coldVerdict, measureColdFromZero, renderColdFromZero } from './cold-from-zero.js';
import { writeSection } from './doc-sections.js';
import { idleVerdict, measureIdleCost, renderIdleCost } from './idle-cost.js';
import { keepAliveVerdict, measureKeepAlive, renderKeepAlive } from './keepalive/bench.js';
import type { PartContext } from './part-context.js';
import { measureProtocol, protocolChoice, renderProtocol } from './protocol/bench.js';
import { FAIRNESS_FLOOR, measureSandbox, renderSandbox, sandboxVerdict } from './sandbox.js';
import { measureScaleUp, renderScaleUp, scaleVerdict } from './scale-up.js';

export async function runParts(ctx: PartContext, docPath: string, writeDoc: boolean): Promise<void> {
  const { parts } = ctx.parts;
  const publish = (section: string, verdict: string): void => {
    process.stdout.write(`\n${section}\n${verdict}\n`);
    if (writeDoc) {
      writeSection(docPath, section);
      ctx.progress(`wrote "${section.split('\n', 1)[0]}" in docs/benchmarks.md`);
    }
  };
  const yes = (ok: boolean): string => (ok ? 'met' : 'NOT met');

  if (parts.has('cold')) {
    ctx.progress('cold start from zero, with and without stem cells');
    const r = await measureColdFromZero(ctx);
    const v = coldVerdict(r);
    publish(
      renderColdFromZero(ctx, r),
      `target: with stem cells p50 ≤ 10 ms, p99 ≤ 25 ms: ${v.p50.toFixed(1)} / ${v.p99.toFixed(1)} ms (${yes(v.met)})`,
    );
  }
  if (parts.has('scale')) {
    ctx.progress('scale-up reaction, 1 → 64 clients');
    const r = await measureScaleUp(ctx);
    const v = scaleVerdict(r);
    publish(
      renderScaleUp(ctx, r),
      `target: panic within 2 s: ${v.panicMs === undefined ? 'never' : `${(v.panicMs / 1000).toFixed(2)} s`} (${yes(v.met)})`,
    );
  }
  if (parts.has('idle')) {
    ctx.progress(`idle cost of ${ctx.parts.idleFunctions} functions at zero`);
    const r = await measureIdleCost(ctx);
    const v = idleVerdict(r);
    publish(
      renderIdleCost(ctx, r),
      `target: RSS increase ≤ 10 MB and warm latency unchanged: +${v.rssIncreaseMb.toFixed(1)} MB ` +
        `(+${v.netRssIncreaseMb.toFixed(1)} MB less the control's drift), c1 p50 ${(v.p50VsControl * 100).toFixed(1)} % ` +
        `against the control platform (${yes(v.met)})`,
    );
  }
  if (parts.has('keepalive')) {
    ctx.progress('keep-alive replay');
    const r = measureKeepAlive(ctx.parts, ctx.progress);
    const v = keepAliveVerdict(r);
    publish(
      renderKeepAlive(ctx, r),
      `target: hybrid ≥ 2× fewer cold starts at no more memory-time: ${v.coldReduction.toFixed(2)}× fewer at ` +
        `${v.memoryRatio.toFixed(2)}× the memory (${yes(v.met)})`,
    );
  }
  if (parts.has('protocol')) {
    ctx.progress('instance protocol hop');
    const r = await measureProtocol(ctx);
    const choice = protocolChoice(r);
    publish(
      renderProtocol(ctx, r),
      `protocol: most c32 throughput: ${choice.fastest}; least CPU per request: ${choice.leanest}`,
    );
  }
  if (parts.has('sandbox')) {
    ctx.progress('sandbox on against sandbox: off');
    const r = await measureSandbox(ctx);
    const v = sandboxVerdict(r);
    publish(
      renderSandbox(ctx, r),
      `sandbox: cold +${v.spawnAddedMs.toFixed(1)} ms without stem cells, ${v.stemAddedMs.toFixed(1)} ms with ` +
        `(egress ${v.egressSpawnAddedMs.toFixed(1)} / ${v.egressStemAddedMs.toFixed(1)} ms); c32 ${v.c32Ratio.toFixed(2)}× of sandbox: off; ` +
        `fair CPU: ${v.fairnessRatio.toFixed(2)}× beside spinning neighbours (floor ${FAIRNESS_FLOOR}×)`,
    );
  }
}
