// YAML as CloudFormation writes it: the short-form intrinsic tags (`!Ref X`, `!Sub "..."`, `!GetAtt A.B`)
// read as their long forms ({"Ref": "X"}, {"Fn::Sub": "..."}), so SAM templates and the `resources:` of a
// serverless.yml parse without warnings, and a value that is an intrinsic can be told apart.
import { isAlias, isMap, isScalar, isSeq, type Node, parseDocument } from 'yaml';

const MAX_NODES = 1_000_000;
const MAX_ALIASES = 1000;

/** Parses YAML with CloudFormation's tags; throws the parser's first error. */
export function parseCfnYaml(text: string): unknown {
  const doc = parseDocument(text, { uniqueKeys: false });
  const [error] = doc.errors;
  if (error) throw new Error(error.message);
  // Aliases are expanded: a few nested ones can stand for billions of nodes.
  let nodes = 0;
  let aliases = 0;
  const convert = (node: unknown, depth: number): unknown => {
    if (depth > 200) throw new Error('the document nests too deeply');
    if (++nodes > MAX_NODES) throw new Error(`the document expands to more than ${MAX_NODES} values`);
    if (isAlias(node)) {
      if (++aliases > MAX_ALIASES)
        throw new Error(`the document uses aliases more than ${MAX_ALIASES} times`);
      return convert(node.resolve(doc), depth + 1);
    }
    let value: unknown;
    if (isScalar(node)) value = node.value;
    else if (isSeq(node)) value = node.items.map((item) => convert(item, depth + 1));
    else if (isMap(node)) {
      const out: Record<string, unknown> = {};
      for (const pair of node.items) {
        const key = convert(pair.key, depth + 1);
        out[String(key)] = convert(pair.value, depth + 1);
      }
      value = out;
    } else return node ?? null;
    const tag = (node as Node).tag;
    return tag?.startsWith('!') && !tag.startsWith('!!') ? intrinsic(tag.slice(1), value) : value;
  };
  return convert(doc.contents, 0);
}

function intrinsic(name: string, value: unknown): Record<string, unknown> {
  if (name === 'Ref' || name === 'Condition') return { [name]: value };
  if (name === 'GetAtt' && typeof value === 'string') {
    const dot = value.indexOf('.');
    return { 'Fn::GetAtt': dot < 0 ? [value] : [value.slice(0, dot), value.slice(dot + 1)] };
  }
  return { [`Fn::${name}`]: value };
}

/** True for a CloudFormation intrinsic ({"Ref": ...} or {"Fn::...": ...}). */
export function isIntrinsic(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  const keys = Object.keys(value);
  return keys.length === 1 && (keys[0] === 'Ref' || keys[0]!.startsWith('Fn::'));
}
