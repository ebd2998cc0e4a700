// Parsing JSON a client sent, with its nesting bounded: JSON.parse takes any depth, but what walks the value
// afterwards (JSON.stringify, zod's recursive schemas) recurses and overflows the stack a few thousand levels down.

/** Deepest nesting of arrays and objects accepted in a client's JSON body. */
export const MAX_JSON_DEPTH = 128;

/**
 * JSON.parse of `text`, refusing nesting deeper than `maxDepth` with a SyntaxError (each caller answers it as
 * its API's "not valid JSON" error, as for any other parse failure).
 */
export function parseClientJson(text: string, maxDepth = MAX_JSON_DEPTH): unknown {
  if (nestingExceeds(text, maxDepth))
    throw new SyntaxError(`JSON nested deeper than ${maxDepth} levels of arrays and objects`);
  return JSON.parse(text);
}

/** Whether brackets outside strings nest deeper than `maxDepth` (one pass, stops at the first too deep). */
function nestingExceeds(text: string, maxDepth: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92 /* \ */) i++;
      else if (c === 34 /* " */) inString = false;
    } else if (c === 34) {
      inString = true;
    } else if (c === 91 /* [ */ || c === 123 /* { */) {
      if (++depth > maxDepth) return true;
    } else if (c === 93 /* ] */ || c === 125 /* } */) {
      depth--;
    }
  }
  return false;
}
