// One request inside the adapter runner: the runners' shared stream (head, body as it arrives, answer
// sent as the gateway's credit allows), under the name the adapter modes know it by.
export { RunnerStream as AdapterStream } from '../gateway-link.js';
