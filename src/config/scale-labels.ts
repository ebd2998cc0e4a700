// OpenFaaS scaling labels (com.openfaas.scale.*) mapped onto Nimbus's `scale` keys.

/** A Go-style duration ("90s", "15m", "1h30m", "500ms") in ms; undefined when it does not parse. */
export function parseDurationMs(text: string): number | undefined {
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h)/gy;
  const units: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  let total = 0;
  let matched = 0;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    total += Number(m[1]) * units[m[2]!]!;
    matched = re.lastIndex;
  }
  return matched === text.length && matched > 0 ? Math.round(total) : undefined;
}

export interface LabelScale {
  min?: number;
  max?: number;
  target?: number;
  idleTimeoutMs?: number;
}

/**
 * Reads the scale settings OpenFaaS keeps in labels. Returns the settings and a list of problems, each
 * naming the label.
 */
export function scaleFromLabels(labels: Readonly<Record<string, string>>): {
  scale: LabelScale;
  problems: string[];
} {
  const scale: LabelScale = {};
  const problems: string[] = [];
  const int = (key: string, min: number): number | undefined => {
    const raw = labels[key];
    if (raw === undefined) return undefined;
    const n = Number(raw);
    if (!/^\d+$/.test(raw.trim()) || n < min) {
      problems.push(`labels.${key}: must be a whole number ≥ ${min}, got "${raw}"`);
      return undefined;
    }
    return n;
  };
  const min = int('com.openfaas.scale.min', 0);
  const max = int('com.openfaas.scale.max', 1);
  const target = int('com.openfaas.scale.target', 1);
  if (min !== undefined) scale.min = min;
  if (max !== undefined) scale.max = max;
  if (target !== undefined) scale.target = target;
  const zero = labels['com.openfaas.scale.zero'];
  if (zero !== undefined) {
    if (zero !== 'true' && zero !== 'false')
      problems.push(`labels.com.openfaas.scale.zero: must be "true" or "false", got "${zero}"`);
    // OpenFaaS keeps one replica unless scale to zero is enabled.
    else if (zero === 'false') scale.min = Math.max(scale.min ?? 1, 1);
  }
  const duration = labels['com.openfaas.scale.zero-duration'];
  if (duration !== undefined) {
    const ms = parseDurationMs(duration);
    if (ms === undefined || ms < 100)
      problems.push(
        `labels.com.openfaas.scale.zero-duration: must be a duration such as "15m", got "${duration}"`,
      );
    else scale.idleTimeoutMs = ms;
  }
  return { scale, problems };
}
