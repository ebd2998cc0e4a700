// Namespaces (tenants): a function's id is its name in the default namespace and `name.namespace` in any
// other, OpenFaaS's own form (`/function/hello.team-a`). A dot is in neither a function name nor a
// namespace, so the id is unambiguous, and everything keyed by id (pools, queue topics, call records, logs,
// cron, metrics) is namespaced without carrying the namespace separately.
import { z } from 'zod';
import { FUNCTION_NAME_RE } from './function-spec.js';

export const DEFAULT_NAMESPACE = 'default';
/** OpenFaaS's name for its function namespace: accepted as the default one on OpenFaaS routes. */
export const OPENFAAS_NAMESPACE = 'openfaas-fn';
/** A DNS label, as a function name. */
export const NAMESPACE_RE = FUNCTION_NAME_RE;

/** The id of function `name` in `namespace`. */
export function functionId(namespace: string, name: string): string {
  return namespace === DEFAULT_NAMESPACE ? name : `${name}.${namespace}`;
}

/** The name and namespace of a function id. */
export function splitFunctionId(id: string): { name: string; namespace: string } {
  const dot = id.indexOf('.');
  return dot === -1
    ? { name: id, namespace: DEFAULT_NAMESPACE }
    : { name: id.slice(0, dot), namespace: id.slice(dot + 1) };
}

/** The namespace a caller named: absent, empty and OpenFaaS's `openfaas-fn` mean the default one. */
export function namespaceParam(value: string | null | undefined): string {
  return value === undefined || value === null || value === '' || value === OPENFAAS_NAMESPACE
    ? DEFAULT_NAMESPACE
    : value;
}

/** Quotas of a namespace; an absent one is no limit. */
export const quotasSchema = z.strictObject({
  /** Functions in the namespace. */
  maxFunctions: z.number().int().min(0).max(1_000_000).optional(),
  /** Instances of its functions running at once. */
  maxInstances: z.number().int().min(0).max(1_000_000).optional(),
  /** Memory (memoryMb) of its instances running at once. */
  maxMemoryMb: z.number().int().min(0).max(100_000_000).optional(),
  /** Invocations per second over its functions (sync and async). */
  maxRps: z.number().min(0).max(10_000_000).optional(),
});

export type NamespaceQuotas = z.output<typeof quotasSchema>;

export interface NamespaceRecord {
  name: string;
  quotas: NamespaceQuotas;
  /** Free-form, kept and shown (OpenFaaS's FunctionNamespace has them). */
  labels: Record<string, string>;
  annotations: Record<string, string>;
  createdAt: number;
}

/** What a namespace holds besides its name. */
export type NamespaceSettings = Pick<NamespaceRecord, 'quotas' | 'labels' | 'annotations'>;
