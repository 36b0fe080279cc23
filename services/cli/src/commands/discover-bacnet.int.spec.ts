// `voltimax discover --bacnet`: BACnet/IP Who-Is to simulated devices on loopback (127.83.0.x, port 47808).
import { readFile } from 'node:fs/promises';
import { SimulatedBacnetDevice } from '@voltimax/driver-bacnet/testing';
import { Command } from 'commander';
import { CliExit, type CliIo } from '../io';
import { defaultArbiterCliDeps } from './arbiter-nats';
import { registerDiscoverCommand, type DiscoverDeps } from './discover';

jest.setTimeout(30_000);

const devices: SimulatedBacnetDevice[] = [];

beforeAll(async () => {
  devices.push(
    await SimulatedBacnetDevice.start({
      host: '127.83.0.2',
      deviceInstance: 1201,
      name: 'BESS-1',
      vendorName: 'Acme Storage',
      modelName: 'ESS 50',
      objects: [{ object: 'analog-input:3', presentValue: 0 }],
    }),
    await SimulatedBacnetDevice.start({
      host: '127.83.0.3',
      deviceInstance: 3001,
      name: 'AHU-1',
      vendorName: 'Distech Controls',
      modelName: 'ECY-303',
      objects: [{ object: 'analog-value:1', presentValue: 21 }],
    }),
  );
});

afterAll(async () => {
  for (const d of devices.splice(0)) await d.close();
});

const deps: DiscoverDeps = {
  ...defaultArbiterCliDeps(),
  env: {},
  isTty: () => false,
  onSignal: () => () => undefined,
};

async function cli(argv: readonly string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const io: CliIo = {
    stdout: (t) => void out.push(t),
    stderr: (t) => void err.push(t),
    readFile: (p) => readFile(p, 'utf8'),
  };
  const program = new Command('voltimax').exitOverride();
  registerDiscoverCommand(program, io, deps);
  let code = 0;
  try {
    await program.parseAsync(['discover', ...argv], { from: 'user' });
  } catch (e) {
    if (e instanceof CliExit) code = e.exitCode;
    else throw e;
  }
  return { code, out: out.join(''), err: err.join('') };
}

const flags = ['--bacnet', '127.83.0.0/29', '--bacnet-interface', '127.83.0.1', '--listen-ms', '1500'];

describe('voltimax discover --bacnet', () => {
  it('lists the devices that answered Who-Is with their BACnet address and instance, and the driver the site needs', async () => {
    const { code, out } = await cli(flags);
    expect(code).toBe(0);
    expect(out).toMatch(
      /^d-[0-9a-f]{6} +bacnet +battery +— +bacnet 127\.83\.0\.2:47808 device 1201 +Acme Storage ESS 50 +50 %$/m,
    );
    expect(out).toMatch(
      /^d-[0-9a-f]{6} +bacnet +load +— +bacnet 127\.83\.0\.3:47808 device 3001 +Distech Controls ECY-303 +40 %$/m,
    );
    expect(out).toContain(
      'hint: the site needs "drivers": [{ "name": "bacnet", "module": "@voltimax/driver-bacnet" }] for the bacnet findings',
    );
    expect(out).toContain('bacnet: 6 Who-Is from 127.83.0.1:47808, 2 devices answered');
  });

  it('--json carries the candidates with their plugin connection and the BACnet summary', async () => {
    const { code, out } = await cli([...flags, '--json']);
    expect(code).toBe(0);
    const json = JSON.parse(out) as {
      candidates: { connection: unknown; drivers: unknown }[];
      bacnet: { whoIsSent: number; devices: { iAm: { deviceInstance: number } }[] };
    };
    expect(json.candidates.map((c) => c.connection)).toEqual(
      expect.arrayContaining([
        { protocol: 'plugin', driver: 'bacnet', options: { address: '127.83.0.2:47808', deviceInstance: 1201 } },
        { protocol: 'plugin', driver: 'bacnet', options: { address: '127.83.0.3:47808', deviceInstance: 3001 } },
      ]),
    );
    expect(json.bacnet.devices.map((d) => d.iAm.deviceInstance)).toEqual([1201, 3001]);
  });

  it.each([
    [['--bacnet', '10.0.0.0/8'], "cannot scan '10.0.0.0/8'"],
    [
      ['--bacnet-broadcast', 'everyone'],
      "--bacnet-broadcast must be an IPv4 address with an optional port, got 'everyone'",
    ],
    [
      ['--bacnet', '127.83.0.2', '--bacnet-interface', 'eth0'],
      "--bacnet-interface must be an IPv4 address, got 'eth0'",
    ],
    [['--bacnet', '127.83.0.2', '--bacnet-ports', '0'], '--bacnet-ports must be an integer from 1 to 65535'],
    [
      ['--mdns', '--bacnet-ports', '47808'],
      '--bacnet-ports and --bacnet-interface need --bacnet <range> or --bacnet-broadcast <address>',
    ],
  ])('usage error for %j', async (argv, message) => {
    const { code, err } = await cli(argv);
    expect(code).toBe(2);
    expect(err).toContain(message);
  });
});
