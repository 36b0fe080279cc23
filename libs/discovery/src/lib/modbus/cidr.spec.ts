import { CidrError, cidrHosts } from './cidr';

describe('cidrHosts', () => {
  it('lists the hosts of a /24 without network and broadcast addresses', () => {
    const hosts = cidrHosts('192.168.1.0/24');
    expect(hosts).toHaveLength(254);
    expect(hosts[0]).toBe('192.168.1.1');
    expect(hosts.at(-1)).toBe('192.168.1.254');
  });

  it.each([
    ['127.0.0.5', ['127.0.0.5']],
    ['127.0.0.5/32', ['127.0.0.5']],
    ['10.0.0.7/31', ['10.0.0.6', '10.0.0.7']],
    ['10.0.0.9/30', ['10.0.0.9', '10.0.0.10']],
    ['10.0.0.200/29', ['10.0.0.201', '10.0.0.202', '10.0.0.203', '10.0.0.204', '10.0.0.205', '10.0.0.206']],
  ])('%s → %j', (cidr, hosts) => expect(cidrHosts(cidr)).toEqual(hosts));

  it.each([['192.168.1.0/16'], ['10.0.0.0/8'], ['fe80::1/64'], ['192.168.1.300/24'], ['192.168.1.0/33'], ['nonsense']])(
    'refuses %s',
    (cidr) => expect(() => cidrHosts(cidr)).toThrow(CidrError),
  );
});
