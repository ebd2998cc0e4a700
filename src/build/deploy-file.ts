// `nimbus deploy -f FILE`: an OpenFaaS stack.yml, a Serverless Framework serverless.yml or an AWS SAM
// template.yaml, told apart by what the file holds, read as the same list of functions to build.
import { existsSync, readFileSync } from 'node:fs';
import { NimbusError } from '../errors.js';
import { isSamDoc, readSam } from './sam.js';
import { isServerlessDoc, readServerless } from './serverless.js';
import { type ReadStackOptions, readStack, type StackFunction } from './stack.js';
import { parseCfnYaml } from './yaml-cfn.js';

export type DeployFileKind = 'openfaas' | 'serverless' | 'sam';

/** Which format a deploy file is in (a file that does not parse is left to the stack reader to report). */
export function deployFileKind(file: string): DeployFileKind {
  if (!existsSync(file)) throw new NimbusError('ERR_STACK_INVALID', [file, 'the file does not exist']);
  let doc: unknown;
  try {
    doc = parseCfnYaml(readFileSync(file, 'utf8'));
  } catch {
    return 'openfaas';
  }
  if (isSamDoc(doc)) return 'sam';
  if (isServerlessDoc(doc)) return 'serverless';
  return 'openfaas';
}

/** Reads a deploy file of any of the three formats. */
export function readDeployFile(
  file: string,
  options: ReadStackOptions = {},
): { kind: DeployFileKind; functions: StackFunction[] } {
  const kind = deployFileKind(file);
  const read = { openfaas: readStack, serverless: readServerless, sam: readSam }[kind];
  return { kind, functions: read(file, options) };
}
