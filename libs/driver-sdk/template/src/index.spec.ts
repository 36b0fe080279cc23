// The template driver against a stand-in device on a real HTTP server on the loopback.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { AssetConfigSchema } from '@voltimax/contracts';
import type { DriverAsset, DriverInstance } from '@voltimax/driver-sdk';
import { MyProtocolAssetOptions, MyProtocolHostOptions, driver, type MyProtocolAssetOptions as Options } from './index';

let server: Server;
let instance: DriverInstance<Options>;
let asset: DriverAsset<Options>;
const device = { power_kw: 1.5, soc: 62, setpoint_kw: 1.5 };
const signal = new AbortController().signal;

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      if (req.method === 'GET' && req.url === '/status') {
        res.setHeader('content-type', 'application/json').end(JSON.stringify(device));
      } else if (req.method === 'PUT' && req.url === '/setpoint') {
        device.setpoint_kw = (JSON.parse(body) as { setpoint_kw: number }).setpoint_kw;
        res.writeHead(204).end();
      } else {
        res.writeHead(404).end();
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  asset = {
    id: 'bat-1',
    config: AssetConfigSchema.parse({
      id: 'bat-1',
      name: 'battery',
      kind: 'battery',
      profile: 'my-protocol.battery',
      connection: { protocol: 'plugin', driver: 'my-protocol', options: {} },
      battery: { capacityWh: 10_000, maxChargePowerW: 5_000, maxDischargePowerW: 5_000 },
    }),
    options: MyProtocolAssetOptions.parse({ baseUrl: `http://127.0.0.1:${port}` }),
  };
  const log = () => undefined;
  instance = await driver.start(
    {
      options: MyProtocolHostOptions.parse({}),
      log: { debug: log, info: log, warn: log, error: log },
      now: () => 1_700_000_000_000,
      push: () => undefined,
      signal,
    },
    [asset],
  );
});

afterAll(async () => {
  await instance?.close();
  await new Promise((resolve) => server.close(resolve));
});

describe('my-protocol driver (template)', () => {
  it('reads the device in W with the battery sign (+ = discharging) and the time from context.now', async () => {
    await expect(instance.read?.(asset, signal)).resolves.toEqual({
      values: { powerW: -1_500, socPct: 62, setpointW: -1_500 },
      atMs: 1_700_000_000_000,
    });
  });

  it('writes a battery set-point and reads it back', async () => {
    await expect(instance.write?.(asset, { kind: 'battery-power', powerW: 2_000 }, signal)).resolves.toEqual({
      status: 'applied',
      readBack: 2_000,
    });
    expect(device.setpoint_kw).toBe(-2);
    await expect(instance.write?.(asset, { kind: 'safe' }, signal)).resolves.toEqual({
      status: 'applied',
      readBack: 0,
    });
  });

  it('refuses a device answer it does not understand', async () => {
    device.soc = 250;
    await expect(instance.read?.(asset, signal)).rejects.toThrow('/status: unexpected answer');
    device.soc = 62;
  });

  it('reports its own counters for the heartbeat', () => {
    expect(instance.health?.()).toMatchObject({ state: 'ok', counters: { requests: 6, failures: 0 } });
  });
});
