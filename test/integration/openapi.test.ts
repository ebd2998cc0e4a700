// /openapi.json against the gateway's router: every control route (compat APIs aside: docs/compat.md) is a
// documented operation, every documented operation is a route (or the invoke paths served before the
// router), public routes say so, path parameters are declared, and the error codes named exist with the
// status they are listed under.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RUNTIME_NAMES } from '../../src/config/function-spec.js';
import { ERRORS } from '../../src/errors.js';
import type { RouteInfo } from '../../src/gateway/router.js';
import { ASYNC_PREFIX, INVOKE_PREFIX } from '../../src/platform.js';
import { startTestPlatform } from '../helpers/platform.js';

interface Parameter {
  name: string;
  in: string;
}
interface Operation {
  parameters?: Parameter[];
  security?: unknown[];
  responses: Record<string, { description: string }>;
}
interface Document {
  openapi: string;
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, { properties?: Record<string, unknown> }> };
}

const HTTP_METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

/** find-my-way's `/a/:b/c` as OpenAPI writes it: `/a/{b}/c`. A wildcard has no OpenAPI form. */
function openApiPath(route: RouteInfo): string {
  assert.ok(
    !route.path.includes('*'),
    `${route.method} ${route.path}: a wildcard route cannot be described in OpenAPI; give it named parameters or mark it compat`,
  );
  return route.path.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
}

function operations(doc: Document): [string, string, Operation][] {
  return Object.entries(doc.paths).flatMap(([path, item]) =>
    Object.entries(item)
      .filter(([method]) => HTTP_METHODS.includes(method))
      .map(([method, op]): [string, string, Operation] => [path, method, op]),
  );
}

/** Paths served before the router: invoke and async invoke (platform.ts). */
const servedBeforeRouter = (path: string): boolean =>
  path.startsWith(INVOKE_PREFIX) || path.startsWith(ASYNC_PREFIX);

test('/openapi.json describes the routes the gateway serves', async (t) => {
  const { url, platform } = await startTestPlatform(t);
  const res = await fetch(`${url}/openapi.json`);
  assert.equal(res.status, 200);
  const doc = (await res.json()) as Document;
  assert.equal(doc.openapi, '3.1.0');
  const routes = platform.routes;
  // What the drift check stands on: the router reports what it serves, compat APIs tagged.
  assert.ok(routes.length > 40, `only ${routes.length} routes reported`);
  for (const api of ['openfaas', 'lambda', 'openwhisk'])
    assert.ok(
      routes.some((r) => r.compat === api),
      `no ${api} route is tagged compat`,
    );

  await t.test('every control route is documented, and nothing else is', () => {
    const own = routes.filter((r) => r.compat === undefined);
    const served = new Map(own.map((r) => [`${r.method} ${openApiPath(r)}`, r]));
    const documented = new Set(
      operations(doc)
        .filter(([path]) => !servedBeforeRouter(path))
        .map(([path, method]) => `${method.toUpperCase()} ${path}`),
    );
    const missing = [...served.keys()].filter((k) => !documented.has(k)).sort();
    const stale = [...documented].filter((k) => !served.has(k)).sort();
    assert.deepEqual(
      { missing, stale },
      { missing: [], stale: [] },
      'missing: routes not in /openapi.json; stale: operations in /openapi.json with no route',
    );
  });

  await t.test('the invoke paths are documented for every method they take', () => {
    for (const prefix of [INVOKE_PREFIX, ASYNC_PREFIX]) {
      for (const path of [`${prefix}{name}`, `${prefix}{name}/{path}`]) {
        const item = doc.paths[path];
        assert.ok(item, `${path} is not documented`);
        for (const method of ['get', 'post', 'put', 'patch', 'delete'])
          assert.ok(item[method], `${method.toUpperCase()} ${path} is not documented`);
      }
    }
  });

  await t.test('public routes are documented as public, the others as needing a credential', () => {
    for (const route of routes.filter((r) => r.compat === undefined)) {
      const op = doc.paths[openApiPath(route)]?.[route.method.toLowerCase()];
      assert.ok(op, `${route.method} ${route.path}`);
      if (route.access === 'public')
        assert.deepEqual(op.security, [], `${route.method} ${route.path} is public: security: []`);
      else
        assert.ok(
          op.security === undefined || op.security.length > 0,
          `${route.method} ${route.path} needs ${route.access} credentials, documented as public`,
        );
    }
  });

  await t.test('path parameters are declared; error codes exist with the status they are under', () => {
    for (const [path, method, op] of operations(doc)) {
      const where = `${method.toUpperCase()} ${path}`;
      const inPath = [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]);
      const declared = (op.parameters ?? []).filter((p) => p.in === 'path').map((p) => p.name);
      assert.deepEqual([...declared].sort(), [...inPath].sort(), `${where}: path parameters`);
      for (const [status, response] of Object.entries(op.responses)) {
        for (const code of response.description.match(/ERR_[A-Z0-9_]+/g) ?? []) {
          const known = ERRORS[code as keyof typeof ERRORS];
          assert.ok(known, `${where} ${status}: ${code} is not in src/errors.ts`);
          assert.equal(String(known.status), status, `${where}: ${code} answers ${known.status}`);
        }
      }
    }
  });

  await t.test('the function spec is the zod schema: every key a deploy accepts', () => {
    const spec = doc.components.schemas.FunctionSpec!;
    for (const key of ['runtime', 'handler', 'scale', 'schedule', 'async', 'topics', 'azure'])
      assert.ok(spec.properties?.[key], `FunctionSpec.${key}`);
    assert.deepEqual((spec.properties!.runtime as { enum: string[] }).enum, [...RUNTIME_NAMES]);
  });
});
