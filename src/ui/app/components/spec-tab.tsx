// A function's spec as deployed (defaults filled in), its labels and annotations, and the commands that
// act on it.
import { functionCommands } from '../cli.js';
import type { FunctionView } from '../schemas.js';
import { CopyText, Panel } from './common.js';

function Pairs({ title, pairs }: { title: string; pairs: Record<string, string> | undefined }) {
  const entries = Object.entries(pairs ?? {});
  return (
    <Panel title={title}>
      {entries.length === 0 ? (
        <p class="muted">none</p>
      ) : (
        <div class="table-wrap">
          <table>
            <tbody>
              {entries.map(([k, v]) => (
                <tr key={k}>
                  <td class="mono">{k}</td>
                  <td class="mono wrap">{v}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </Panel>
  );
}

export function SpecTab({ fn }: { fn: FunctionView }) {
  const { labels, annotations, environment, ...rest } = fn.spec;
  return (
    <>
      <Panel title="Endpoint">
        <CopyText text={fn.url} />
        <p class="muted">
          {fn.spec.private
            ? 'Private: callers need a key that may invoke it.'
            : 'Public: anyone who reaches Nimbus may call it.'}{' '}
          Deployed {fn.createdAt}; this version {fn.updatedAt}.
          {fn.nextRun ? ` Next scheduled run ${fn.nextRun}.` : ''}
        </p>
      </Panel>
      <div class="grid">
        <Pairs title="Labels" pairs={labels} />
        <Pairs title="Annotations" pairs={annotations} />
        <Pairs title="Environment" pairs={environment} />
      </div>
      <Panel title="Spec">
        <pre class="spec">{JSON.stringify(rest, null, 2)}</pre>
      </Panel>
      <Panel title="From the command line">
        <CopyText label="commands" text={functionCommands(fn.name, fn.namespace).join('\n')} />
      </Panel>
    </>
  );
}
