// Deploy files read as functions: serverless.yml (provider defaults, variables, events, names), SAM's
// template.yaml (Globals, parameters, intrinsics, skipped resources), stack.yml entries Nimbus cannot build
// skipped with a warning, and the Lambda shapes they share (runtimes, schedules, names).
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { deployFileKind, readDeployFile } from '../../src/build/deploy-file.js';
import { functionNameFrom, lambdaRuntimeSpec, scheduleToCron } from '../../src/build/lambda-shapes.js';
import { readStack } from '../../src/build/stack.js';
import { parseFunctionSpec } from '../../src/config/function-spec.js';

function project(t: TestContext, files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'nimbus-deployfile-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(join(dir, path, '..'), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  return dir;
}

function code(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    return (err as { code?: string }).code ?? String(err);
  }
  return 'no error';
}

test('Lambda shapes: runtimes, schedules and names', () => {
  assert.deepEqual(lambdaRuntimeSpec('nodejs22.x', 'index.handler'), {
    spec: { runtime: 'node', handlerStyle: 'lambda', nodeVersion: 22, handler: 'index.handler' },
  });
  assert.deepEqual(lambdaRuntimeSpec('python3.12', 'src/app.main'), {
    spec: { runtime: 'python', handlerStyle: 'lambda', handler: 'src.app.main' },
  });
  assert.deepEqual(lambdaRuntimeSpec('provided.al2023', undefined), { spec: { runtime: 'lambda' } });
  assert.match(
    (lambdaRuntimeSpec('java21', 'x') as { unsupported: string }).unsupported,
    /runtime java21 cannot be built/,
  );
  assert.equal(scheduleToCron('rate(1 minute)'), '* * * * *');
  assert.equal(scheduleToCron('rate(5 minutes)'), '*/5 * * * *');
  assert.equal(scheduleToCron('rate(2 hours)'), '0 */2 * * *');
  assert.equal(scheduleToCron('rate(1 day)'), '0 0 * * *');
  assert.equal(scheduleToCron('cron(0 12 * * ? *)'), '0 12 * * *');
  // EventBridge counts weekdays 1-7 from Sunday; cron 0-6.
  assert.equal(scheduleToCron('cron(15 10 ? * 2-6 *)'), '15 10 * * 1-5');
  assert.equal(scheduleToCron('cron(0 8 ? * MON-FRI *)'), '0 8 * * MON-FRI');
  assert.equal(scheduleToCron('cron(0 8 * * ? 2030)'), undefined, 'a year Nimbus cannot express');
  assert.equal(scheduleToCron('rate(90 minutes)'), undefined);
  assert.equal(scheduleToCron('at(2030-01-01T00:00:00)'), undefined);
  assert.equal(functionNameFrom('helloWorld'), 'hello-world');
  assert.equal(functionNameFrom('HelloWorldFunction'), 'hello-world-function');
  assert.equal(functionNameFrom('get_user_by_ID'), 'get-user-by-id');
  assert.equal(functionNameFrom('APIHandler'), 'api-handler');
  assert.equal(functionNameFrom('9lives'), undefined);
});

test('serverless.yml: provider defaults, per-function keys, variables, events; unknown keys warn', (t) => {
  const dir = project(t, {
    'serverless.yml': `service: shop
frameworkVersion: '3'
plugins: [serverless-offline]
custom:
  tableName: orders-\${sls:stage}
provider:
  name: aws
  runtime: nodejs20.x
  stage: \${opt:stage, 'prod'}
  memorySize: 512
  timeout: 10
  environment:
    TABLE: \${self:custom.tableName}
    FROM_ENV: \${env:NIMBUS_TEST_VALUE}
    MISSING_ENV: \${env:NIMBUS_TEST_ABSENT, 'fallback'}
    SECRET: \${ssm:/shop/secret}
    COUNT: 3
  vpc: {securityGroupIds: [sg-1]}
functions:
  createOrder:
    handler: src/orders.create
    memorySize: 1024
    environment: {FN_ONLY: 'yes', TABLE: override}
    reservedConcurrency: 5
    layers: [arn:aws:lambda:us-east-1:1:layer:x:1]
    events:
      - httpApi: {path: /orders, method: post}
      - sqs: {arn: arn:aws:sqs:us-east-1:1:q}
  cleanup:
    handler: handler.cleanup
    runtime: python3.12
    events:
      - schedule: {rate: 'cron(0 3 * * ? *)', input: {full: true}}
      - schedule: rate(1 hour)
  fromImage:
    image: 123.dkr.ecr.us-east-1.amazonaws.com/x:latest
  rubyFn:
    handler: handler.run
    runtime: ruby3.3
`,
  });
  const warnings: string[] = [];
  const file = join(dir, 'serverless.yml');
  assert.equal(deployFileKind(file), 'serverless');
  const { kind, functions } = readDeployFile(file, {
    env: { NIMBUS_TEST_VALUE: 'from-env' },
    warn: (m) => warnings.push(m),
  });
  assert.equal(kind, 'serverless');
  assert.deepEqual(
    functions.map((f) => [f.name, f.lang, f.dir]),
    [
      ['create-order', 'nodejs20.x', dir],
      ['cleanup', 'python3.12', dir],
    ],
  );
  const [create, cleanup] = functions as [(typeof functions)[0], (typeof functions)[0]];
  assert.deepEqual(create.spec, {
    runtime: 'node',
    handlerStyle: 'lambda',
    nodeVersion: 20,
    handler: 'src/orders.create',
    environment: {
      TABLE: 'override',
      FROM_ENV: 'from-env',
      MISSING_ENV: 'fallback',
      COUNT: '3',
      FN_ONLY: 'yes',
    },
    timeoutMs: 10_000,
    memoryMb: 1024,
    scale: { max: 5 },
  });
  assert.equal(cleanup.spec.runtime, 'python');
  assert.equal(cleanup.spec.handler, 'handler.cleanup');
  assert.equal(cleanup.spec.schedule, '0 3 * * *');
  assert.deepEqual(cleanup.spec.payload, { full: true });
  assert.equal(cleanup.spec.memoryMb, 512);
  assert.equal(cleanup.spec.environment?.TABLE, 'orders-prod');
  for (const fn of functions) parseFunctionSpec(fn.spec);
  const all = warnings.join('\n');
  assert.match(all, /^ignored \(Nimbus has no use for them\): plugins$/m);
  assert.match(all, /^provider: ignored \(Nimbus has no use for them\): vpc$/m);
  assert.match(all, /functions.createOrder: ignored .*: layers/);
  assert.match(all, /functions.createOrder.events: sqs events are not wired by Nimbus/);
  assert.match(all, /Nimbus runs one schedule per function/);
  assert.match(all, /skipping functions.fromImage: it is a container image; the others deploy/);
  assert.match(all, /skipping functions.rubyFn: runtime ruby3.3 cannot be built/);
  assert.match(all, /the variable \$\{ssm:\/shop\/secret\} has no value in Nimbus/);
  assert.match(all, /functions.createOrder deploys as "create-order"/);

  assert.deepEqual(
    readDeployFile(file, { only: ['cleanup'] }).functions.map((f) => f.name),
    ['cleanup'],
  );
  assert.equal(
    code(() => readDeployFile(file, { only: ['rubyFn'] })),
    'ERR_STACK_INVALID',
    'a function named explicitly that cannot be built is an error',
  );
  assert.equal(
    code(() => readDeployFile(file, { only: ['nope'] })),
    'ERR_STACK_INVALID',
  );

  writeFileSync(
    file,
    'service: x\nprovider: {name: azure, runtime: nodejs20.x}\nfunctions: {a: {handler: h.a}}\n',
  );
  assert.equal(
    code(() => readDeployFile(file)),
    'ERR_STACK_INVALID',
  );
  writeFileSync(file, 'service: x\nprovider: {name: aws, runtime: go1.x}\nfunctions: {a: {handler: main}}\n');
  assert.equal(
    code(() => readDeployFile(file)),
    'ERR_STACK_INVALID',
    'nothing Nimbus can build',
  );
  writeFileSync(file, 'service: x\nprovider: {name: aws}\nfunctions: {a: {handler: h.a, timeout: soon}}\n');
  assert.equal(
    code(() => readDeployFile(file)),
    'ERR_STACK_INVALID',
    'no runtime anywhere',
  );
  writeFileSync(file, 'service: [\n');
  assert.equal(
    code(() => readDeployFile(file)),
    'ERR_STACK_INVALID',
  );
  writeFileSync(
    file,
    `service: x
custom: {a: '\${self:custom.b}', b: '\${self:custom.a}'}
provider: {name: aws, runtime: nodejs20.x}
functions: {a: {handler: h.a, environment: {S: '\${self:custom.a}', T: '\${sls:stage}'}}}
`,
  );
  const [loop] = readDeployFile(file, { warn: () => {} }).functions;
  assert.deepEqual(loop!.spec.environment, { T: 'dev' }, 'a variable that refers to itself has no value');
});

test('SAM template.yaml: Globals, CodeUri, parameters and intrinsics, events; other resources warn', (t) => {
  const dir = project(t, {
    'template.yaml': `AWSTemplateFormatVersion: '2010-09-09'
Transform: AWS::Serverless-2016-10-31
Parameters:
  Env:
    Type: String
    Default: staging
  NoDefault:
    Type: String
Globals:
  Function:
    Runtime: nodejs20.x
    Timeout: 20
    MemorySize: 512
    Tracing: Active
    Environment:
      Variables:
        SHARED: global
        ENV: !Ref Env
Resources:
  ApiFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src/api/
      Handler: app.handler
      Environment:
        Variables:
          TABLE: !Ref OrdersTable
          URL: !Sub "https://\${AWS::Region}.example.com/\${Env}"
          OWN: mine
      Policies: [AWSLambdaBasicExecutionRole]
      Events:
        Get: {Type: HttpApi, Properties: {Path: /items, Method: get}}
        Queue: {Type: SQS, Properties: {Queue: !GetAtt Queue.Arn}}
  Nightly:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName: nightly-job
      CodeUri: src/jobs
      Handler: jobs.run
      Runtime: python3.11
      Timeout: 900
      MemorySize: 64
      ReservedConcurrentExecutions: 1
      Events:
        Cron: {Type: Schedule, Properties: {Schedule: 'rate(15 minutes)', Input: '{"kind": "nightly"}'}}
  ImageFunction:
    Type: AWS::Serverless::Function
    Properties: {PackageType: Image, ImageUri: x:latest}
  InlineFunction:
    Type: AWS::Serverless::Function
    Properties: {InlineCode: "exports.handler = async () => 1", Handler: index.handler}
  Elsewhere:
    Type: AWS::Serverless::Function
    Properties: {CodeUri: s3://bucket/code.zip, Handler: a.b}
  OrdersTable:
    Type: AWS::DynamoDB::Table
  Queue:
    Type: AWS::SQS::Queue
Outputs:
  Api:
    Value: !Sub "https://\${ServerlessHttpApi}.execute-api.\${AWS::Region}.amazonaws.com"
`,
    'src/api/app.mjs': 'export const handler = async () => ({ statusCode: 200 });\n',
    'src/jobs/jobs.py': 'def run(event, context):\n    return 1\n',
  });
  const warnings: string[] = [];
  const file = join(dir, 'template.yaml');
  assert.equal(deployFileKind(file), 'sam');
  const { functions } = readDeployFile(file, { warn: (m) => warnings.push(m) });
  assert.deepEqual(
    functions.map((f) => [f.name, f.dir]),
    [
      ['api-function', join(dir, 'src/api')],
      ['nightly-job', join(dir, 'src/jobs')],
    ],
  );
  const [api, nightly] = functions as [(typeof functions)[0], (typeof functions)[0]];
  assert.deepEqual(api.spec, {
    runtime: 'node',
    handlerStyle: 'lambda',
    nodeVersion: 20,
    handler: 'app.handler',
    environment: {
      SHARED: 'global',
      ENV: 'staging',
      URL: 'https://us-east-1.example.com/staging',
      OWN: 'mine',
    },
    timeoutMs: 20_000,
    memoryMb: 512,
  });
  assert.deepEqual(nightly.spec, {
    runtime: 'python',
    handlerStyle: 'lambda',
    handler: 'jobs.run',
    environment: { SHARED: 'global', ENV: 'staging' },
    timeoutMs: 900_000,
    memoryMb: 128,
    schedule: '*/15 * * * *',
    payload: { kind: 'nightly' },
    scale: { max: 1 },
  });
  for (const fn of functions) parseFunctionSpec(fn.spec);
  const all = warnings.join('\n');
  assert.match(
    all,
    /Resources not created by Nimbus \(only functions are\): OrdersTable \(AWS::DynamoDB::Table\), Queue/,
  );
  assert.match(
    all,
    /Resources.ApiFunction.Environment.Variables.TABLE: \{"Ref":"OrdersTable"\} has no value/,
  );
  assert.match(all, /Resources.ApiFunction: ignored \(Nimbus has no use for them\): Tracing, Policies/);
  assert.match(all, /Resources.ApiFunction.Events.Queue: SQS events are not wired/);
  assert.match(all, /skipping Resources.ImageFunction: it is a container image/);
  assert.match(all, /skipping Resources.InlineFunction: its code is inline/);
  assert.match(all, /skipping Resources.Elsewhere: CodeUri is not a local folder/);
  assert.equal(
    code(() => readDeployFile(file, { only: ['ImageFunction'] })),
    'ERR_STACK_INVALID',
  );
  assert.deepEqual(
    readDeployFile(file, { only: ['nightly-job'] }).functions.map((f) => f.name),
    ['nightly-job'],
  );
});

test('stack.yml: an entry Nimbus cannot build is skipped with a warning naming it; alone it is an error', (t) => {
  const dir = project(t, {
    'stack.yml': `provider: {name: openfaas}
functions:
  api:
    lang: dockerfile
    handler: ./api
  web:
    lang: node20
    handler: ./web
  classic:
    lang: python3
    handler: ./classic
`,
    'api/Dockerfile': 'FROM alpine\n',
    'web/handler.js': 'module.exports = async () => "hi";\n',
    'classic/handler.py': 'def handle(req):\n    return req\n',
  });
  const warnings: string[] = [];
  const file = join(dir, 'stack.yml');
  assert.equal(deployFileKind(file), 'openfaas');
  const functions = readStack(file, { warn: (m) => warnings.push(m) });
  assert.deepEqual(
    functions.map((f) => f.name),
    ['web', 'classic'],
  );
  assert.deepEqual(warnings, [
    'skipping function "api": lang "dockerfile" cannot be built without Docker; the others deploy',
  ]);
  const classic = functions[1]!;
  assert.deepEqual(classic.spec, {
    runtime: 'exec',
    command: 'python3 index.py',
    environment: {},
    labels: {},
  });
  assert.equal(classic.layout?.into, 'function');
  assert.match(classic.layout?.templateFiles?.['index.py'] ?? '', /handler\.handle\(sys\.stdin\.read\(\)\)/);
  assert.equal(
    code(() => readStack(file, { only: ['api'] })),
    'ERR_STACK_LANG_UNSUPPORTED',
  );
});

test('hostile deploy files: an alias bomb, deep nesting and wrong shapes are coded errors, quickly', (t) => {
  const dir = project(t, { 'x/handler.js': 'module.exports = async () => 1;\n' });
  const file = join(dir, 'template.yaml');
  const levels = ['a: &a ["x","x","x","x","x","x","x","x","x","x"]'];
  for (let i = 1; i < 12; i++) {
    const prev = String.fromCharCode(96 + i);
    const name = String.fromCharCode(97 + i);
    levels.push(`${name}: &${name} [${Array(10).fill(`*${prev}`).join(',')}]`);
  }
  writeFileSync(
    file,
    `Transform: AWS::Serverless-2016-10-31\nMetadata:\n${levels.map((l) => `  ${l}`).join('\n')}\nResources:\n  F: {Type: AWS::Serverless::Function, Properties: {CodeUri: x, Handler: handler.h, Runtime: nodejs20.x}}\n`,
  );
  const started = Date.now();
  assert.equal(
    code(() => readDeployFile(file)),
    'ERR_STACK_INVALID',
  );
  assert.ok(Date.now() - started < 5000, 'refused without expanding it');

  writeFileSync(file, `${'['.repeat(500)}${']'.repeat(500)}\n`);
  assert.equal(
    code(() => readDeployFile(file)),
    'ERR_STACK_INVALID',
  );
  for (const text of [
    'service: x\nprovider: {name: aws}\nfunctions: [a, b]\n',
    'Transform: AWS::Serverless-2016-10-31\nResources: [1]\n',
    'Resources:\n  F: {Type: AWS::Serverless::Function, Properties: [1]}\n',
    'service: x\nprovider: {name: aws, runtime: nodejs20.x}\nfunctions:\n  a: 7\n',
    '',
    'null\n',
  ]) {
    writeFileSync(file, text);
    assert.match(
      code(() => readDeployFile(file)),
      /^ERR_STACK_INVALID$/,
      text,
    );
  }
});
