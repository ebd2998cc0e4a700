// Building blocks of the OpenAPI document: JSON schemas from the zod schemas the routes parse with, error
// and JSON responses, the common path parameters.
import { z } from 'zod';
import { FUNCTION_NAME_RE } from '../config/function-spec.js';

/** The JSON schema of what a zod schema accepts (its input: defaults optional), for a request body. */
export function inputSchema(schema: z.ZodType): Record<string, unknown> {
  const { $schema: _, ...rest } = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' });
  return rest;
}

/** The JSON schema of what a zod schema yields (defaults filled in), for a response. */
export function outputSchema(schema: z.ZodType): Record<string, unknown> {
  const { $schema: _, ...rest } = z.toJSONSchema(schema, { io: 'output', unrepresentable: 'any' });
  return rest;
}

export const errorRef = { $ref: '#/components/schemas/Error' };

export const errorResponse = (description: string) => ({
  description,
  content: { 'application/json': { schema: errorRef } },
});

export const json = (schema: unknown, description = 'OK') => ({
  description,
  content: { 'application/json': { schema } },
});

export const jsonBody = (schema: unknown) => ({
  required: true,
  content: { 'application/json': { schema } },
});

export const pathParam = (name: string, schema: Record<string, unknown> = { type: 'string' }) => ({
  name,
  in: 'path',
  required: true,
  schema,
});

/** `{name}` of the function routes. */
export const nameParam = pathParam('name', { type: 'string', pattern: FUNCTION_NAME_RE.source });

/** `?namespace=` of the routes about functions (docs/teams.md). */
export const namespaceQuery = {
  name: 'namespace',
  in: 'query',
  required: false,
  description: 'the namespace acted in (default: the default one)',
  schema: { type: 'string' },
};

/** `{"deleted": …}`, the answer to a removal. */
export const deleted = json({ type: 'object', properties: { deleted: { type: 'string' } } });
