// Where an X-Callback-Url may point. Anyone who may enqueue a call names a URL the gateway then POSTs to, so
// the target is checked twice: when the call is queued (the URL's form, and its host when it is an address or
// listed) and when it is delivered (every address the name resolves to, so a name cannot rebind to a
// forbidden address in between). Never allowed, whatever the list says: link-local addresses (cloud metadata
// at 169.254.169.254), unspecified, multicast and broadcast addresses, and the gateway's own listening
// address. With `callbackAllow` set, only the hosts, addresses and CIDR ranges it lists are allowed.
import { BlockList, isIP } from 'node:net';
import { networkInterfaces } from 'node:os';
import { NimbusError } from '../errors.js';

export interface CallbackPolicyOptions {
  /** Hosts (`hooks.example.com`, `.example.com` for its subdomains), addresses or CIDRs; empty: any host. */
  allow: readonly string[];
  /** The gateway's own address and port, once it listens. */
  gateway: () => { address: string; port: number } | undefined;
}

/** Why a callback target is refused, or undefined when it is allowed. */
export type Verdict = string | undefined;

export class CallbackPolicy {
  readonly #denied = new BlockList();
  readonly #allowedNets = new BlockList();
  readonly #allowedHosts: string[] = [];
  readonly #anyHost: boolean;
  readonly #gateway: CallbackPolicyOptions['gateway'];

  constructor(options: CallbackPolicyOptions) {
    this.#gateway = options.gateway;
    this.#denied.addSubnet('169.254.0.0', 16, 'ipv4');
    this.#denied.addSubnet('0.0.0.0', 8, 'ipv4');
    this.#denied.addSubnet('224.0.0.0', 4, 'ipv4');
    this.#denied.addAddress('255.255.255.255', 'ipv4');
    this.#denied.addSubnet('fe80::', 10, 'ipv6');
    this.#denied.addSubnet('ff00::', 8, 'ipv6');
    this.#denied.addAddress('::', 'ipv6');
    this.#anyHost = options.allow.length === 0;
    for (const entry of options.allow) {
      const [net = '', bits] = entry.split('/');
      const family = isIP(net);
      const prefix = Number(bits);
      if (family !== 0 && bits === undefined)
        this.#allowedNets.addAddress(net, family === 4 ? 'ipv4' : 'ipv6');
      else if (family !== 0 && Number.isInteger(prefix) && prefix >= 0 && prefix <= (family === 4 ? 32 : 128))
        this.#allowedNets.addSubnet(net, prefix, family === 4 ? 'ipv4' : 'ipv6');
      else if (
        bits === undefined &&
        /^\.?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/i.test(net)
      )
        this.#allowedHosts.push(entry.toLowerCase());
      else
        throw new NimbusError('ERR_CONFIG_INVALID', [
          `callbackAllow: "${entry}" is not a host name, an address or a CIDR range`,
        ]);
    }
  }

  /** Checks a URL when the call is queued: its form, and its host when the host is an address. */
  checkUrl(value: string): Verdict {
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      return 'it is not an absolute URL';
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') return 'only http:// and https:// are allowed';
    if (url.hostname === '') return 'it names no host';
    if (url.username || url.password) return 'credentials in the URL are not allowed';
    const host = url.hostname.replace(/^\[|\]$/g, '');
    const port = Number(url.port || (url.protocol === 'https:' ? 443 : 80));
    if (isIP(host) !== 0) return this.checkConnect(host, host, port);
    if (!this.#anyHost && !this.#hostListed(host.toLowerCase()))
      return `host "${host}" is not in callbackAllow`;
    return undefined;
  }

  /** Checks an address a callback to `host` (a name, or the address itself) is about to connect to. */
  checkConnect(host: string, address: string, port: number): Verdict {
    if (isIP(address) === 0) return `"${address}" is not an address`;
    const plain = unmapped(address);
    const type = isIP(plain) === 4 ? 'ipv4' : 'ipv6';
    if (this.#denied.check(plain, type)) return `${plain} is link-local, multicast or unspecified`;
    if (this.#isGateway(plain, port)) return 'it is the gateway itself';
    if (this.#anyHost || this.#allowedNets.check(plain, type) || this.#hostListed(host.toLowerCase()))
      return undefined;
    return `${plain} is not in callbackAllow`;
  }

  #hostListed(host: string): boolean {
    return this.#allowedHosts.some((h) => (h.startsWith('.') ? host.endsWith(h) : host === h));
  }

  #isGateway(address: string, port: number): boolean {
    const gateway = this.#gateway();
    if (!gateway || gateway.port !== port) return false;
    const listen = unmapped(gateway.address);
    if (listen === address) return true;
    if (listen === '0.0.0.0' || listen === '::') return isLocalAddress(address);
    return isLoopback(listen) && isLoopback(address);
  }
}

/**
 * The IPv4 address an IPv6 address carries where a connection to it can reach that IPv4 host, else the
 * address as it is: IPv4-mapped (`::ffff:a.b.c.d`, which the URL parser writes `::ffff:a9fe:a9fe`), the
 * deprecated IPv4-compatible form (`::a.b.c.d`) and NAT64's well-known prefix (`64:ff9b::a.b.c.d`). Every
 * check (link-local, the gateway itself, callbackAllow) then sees the IPv4 host.
 */
function unmapped(address: string): string {
  const dotted = /^(?:::ffff:|::|64:ff9b::)(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (dotted) return dotted[1]!;
  const hex = /^(?:::ffff:|::|64:ff9b::)([0-9a-f]{1,4}):([0-9a-f]{1,4})$/i.exec(address);
  if (!hex) return address;
  const high = Number.parseInt(hex[1]!, 16);
  const low = Number.parseInt(hex[2]!, 16);
  return `${high >> 8}.${high & 255}.${low >> 8}.${low & 255}`;
}

function isLoopback(address: string): boolean {
  return address === '::1' || address.startsWith('127.');
}

function isLocalAddress(address: string): boolean {
  if (isLoopback(address)) return true;
  for (const list of Object.values(networkInterfaces()))
    for (const i of list ?? []) if (i.address === address) return true;
  return false;
}
