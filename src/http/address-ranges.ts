/**
 * Client address ranges (`127.0.0.0/8`, `::1`, `10.1.2.3`): ROSTER_METRICS_ALLOW says which
 * clients may read /metrics without a token, ROSTER_TRUSTED_PROXIES which peers' X-Forwarded-For
 * Roster believes. Without a trusted proxy the address is the TCP peer's: a client cannot claim
 * another one.
 */
import { BlockList, isIP } from 'node:net';

/** One range: an address and how many leading bits must match. */
export interface AddressRange {
  readonly address: string;
  readonly prefix: number;
  readonly family: 'ipv4' | 'ipv6';
}

/** Loopback, IPv4 and IPv6: the default of ROSTER_METRICS_ALLOW. */
export const LOOPBACK: readonly AddressRange[] = [
  { address: '127.0.0.0', prefix: 8, family: 'ipv4' },
  { address: '::1', prefix: 128, family: 'ipv6' },
];

/** Parses one `address` or `address/prefix`; a message saying what is wrong otherwise. */
export function parseAddressRange(text: string): AddressRange | string {
  const [address = '', prefixText, extra] = text.split('/');
  const version = isIP(address);
  if (version === 0 || extra !== undefined) return `"${text}" is not an IP address or a CIDR range such as 10.0.0.0/8`;
  const family = version === 4 ? 'ipv4' : 'ipv6';
  const bits = version === 4 ? 32 : 128;
  if (prefixText === undefined) return { address, prefix: bits, family };
  const prefix = /^\d{1,3}$/.test(prefixText) ? Number(prefixText) : NaN;
  if (!(prefix >= 0 && prefix <= bits)) return `"${text}" has a prefix length outside 0–${bits}`;
  return { address, prefix, family };
}

/** A test of client addresses against `ranges`; an IPv4 client seen as `::ffff:a.b.c.d` is tested as IPv4. */
export function addressMatcher(ranges: readonly AddressRange[]): (address: string) => boolean {
  const list = new BlockList();
  for (const range of ranges) list.addSubnet(range.address, range.prefix, range.family);
  return (address) => {
    const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(address)?.[1];
    const plain = mapped ?? address;
    const version = isIP(plain);
    if (version === 0) return false;
    return list.check(plain, version === 4 ? 'ipv4' : 'ipv6');
  };
}
