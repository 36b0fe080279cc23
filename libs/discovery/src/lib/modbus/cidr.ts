import { isIPv4 } from 'node:net';

/** The largest range one scan accepts (a /20): scanning is opt-in and must stay small. */
export const MAX_SCAN_HOSTS = 4_096;

/** A CIDR range that cannot be scanned (malformed, IPv6, or too large). */
export class CidrError extends Error {
  override readonly name = 'CidrError';
  constructor(
    readonly cidr: string,
    reason: string,
  ) {
    super(`cannot scan '${cidr}': ${reason}`);
  }
}

function toInt(ip: string): number {
  return ip.split('.').reduce((acc, part) => acc * 256 + Number(part), 0);
}

function toIp(n: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(n / 2 ** shift) % 256).join('.');
}

/**
 * The host addresses of an IPv4 range, in order: `a.b.c.d/n` without its network and broadcast addresses (a /31
 * or /32 keeps all), or one address. Throws {@link CidrError} beyond `maxHosts` (default {@link MAX_SCAN_HOSTS}).
 */
export function cidrHosts(cidr: string, maxHosts: number = MAX_SCAN_HOSTS): string[] {
  const match = /^\s*([0-9.]+)(?:\/(\d{1,2}))?\s*$/.exec(cidr);
  const ip = match?.[1];
  if (!match || ip === undefined || !isIPv4(ip))
    throw new CidrError(cidr, 'expected an IPv4 address or range like 192.168.1.0/24');
  const prefix = match[2] === undefined ? 32 : Number(match[2]);
  if (prefix > 32) throw new CidrError(cidr, 'prefix length must be 0..32');
  const size = 2 ** (32 - prefix);
  const network = Math.floor(toInt(ip) / size) * size;
  const first = prefix >= 31 ? network : network + 1;
  const last = prefix >= 31 ? network + size - 1 : network + size - 2;
  const count = last - first + 1;
  if (count > maxHosts)
    throw new CidrError(cidr, `${count} hosts; at most ${maxHosts} per scan (a /${32 - Math.log2(maxHosts)})`);
  return Array.from({ length: count }, (_, i) => toIp(first + i));
}
