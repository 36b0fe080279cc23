// The package as the driver host loads it from built JavaScript: build.js bundles src/index.ts into one CommonJS
// file; that file alone (no TypeScript, no workspace aliases) starts the driver and reads a simulated device.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DriverDefinition } from '@voltimax/driver-sdk';
import { bacnetAssetConfig, SimulatedBacnetDevice } from './testing';

jest.setTimeout(60_000);

let dir: string;
let device: SimulatedBacnetDevice;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'driver-bacnet-bundle-'));
  execFileSync(process.execPath, [join(__dirname, '..', 'build.js'), '--out', dir], { stdio: 'pipe' });
  device = await SimulatedBacnetDevice.start({
    host: '127.81.40.2',
    port: 0,
    deviceInstance: 40,
    objects: [{ object: 'analog-input:1', presentValue: 230.5 }],
  });
});

afterAll(async () => {
  await device?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

it('the bundle exports the definition as default and as `driver`, and it works on its own', async () => {
  const loaded = require(join(dir, 'index.js')) as { default: DriverDefinition; driver: DriverDefinition };
  expect(loaded.default).toBe(loaded.driver);
  expect(loaded.default).toMatchObject({ name: 'bacnet', setpoints: ['battery-power', 'ev-current', 'pv-limit'] });

  const raw = { address: device.address, points: { voltageL1V: 'ai:1' } };
  const options = loaded.default.assetOptions.safeParse(raw);
  const host = loaded.default.hostOptions?.safeParse({ interface: '127.81.40.1', port: 0 });
  if (!options.success || !host?.success) throw new Error('options refused');
  const controller = new AbortController();
  const instance = await loaded.default.start(
    {
      options: host.data,
      log: { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined },
      now: () => 1,
      push: () => undefined,
      signal: controller.signal,
    },
    [],
  );
  try {
    const asset = { id: 'meter-1', config: bacnetAssetConfig('meter-1', raw, 'grid-meter'), options: options.data };
    await expect(instance.read?.(asset, controller.signal)).resolves.toEqual({
      values: { voltageL1V: 230.5 },
      atMs: 1,
    });
  } finally {
    await instance.close();
    controller.abort();
  }
});
