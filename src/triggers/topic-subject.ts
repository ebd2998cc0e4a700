// Where a namespace's topics live on the bus. The default namespace's topics are the subjects as written, so
// other NATS clients publish to them unchanged (as to OpenFaaS's connectors); another namespace's are under
// `nimbus.ns.<namespace>.`, so tenants neither see nor feed each other's topics. Subjects the platform uses
// itself (its queue, JetStream's API and buckets, request inboxes) are nobody's topic: a topic's first token
// is a literal that is not reserved (topicProblem, config/function-spec.ts), so no pattern of any namespace
// can match them.
import { DEFAULT_NAMESPACE } from '../config/namespace.js';

const NAMESPACE_PREFIX = 'nimbus.ns.';

/** The subject (or pattern) on the bus of `topic` in `namespace`. */
export function busSubject(namespace: string, topic: string): string {
  return namespace === DEFAULT_NAMESPACE ? topic : `${NAMESPACE_PREFIX}${namespace}.${topic}`;
}

/** The topic a message on the bus has in `namespace` (the function sees its own namespace's names). */
export function topicOf(namespace: string, subject: string): string {
  const prefix = `${NAMESPACE_PREFIX}${namespace}.`;
  return namespace !== DEFAULT_NAMESPACE && subject.startsWith(prefix)
    ? subject.slice(prefix.length)
    : subject;
}
