// The write path on a real nats-server with docker/nats/nats.conf: two drivers (as the modbus-poller and the
// http-devices users) each answer only for their own assets, and the arbiter's writes reach the right one.
import { randomBytes } from 'node:crypto';
import {
  BusRequestFailedError,
  connectBus,
  createBus,
  natsTransport,
  type Bus,
  type BusConnection,
} from '@voltimax/bus';
import { captureLogger, type CapturedLine } from '@voltimax/bus/testing';
import { subjects, type DeviceWrite, type Setpoint, type WriteResult } from '@voltimax/contracts';
import {
  NATS_CONFIG_PATH,
  NATS_DEV_PASSWORDS,
  startNats,
  waitFor,
  type NatsTestServer,
  type NatsUser,
} from '@voltimax/testing';
import { RecordingHealth } from '../testing';
import { startWritePath, type ApplyContext, type WritePath } from './write-path';

const run = randomBytes(3).toString('hex');
const id = (name: string): string => `${name}-${run}`;

interface Applied {
  readonly assetId: string;
  readonly setpoint: Setpoint;
  readonly origin: ApplyContext['origin'];
  readonly atMs: number;
}

describe('write path over a real nats-server', () => {
  let server: NatsTestServer;
  const connections: BusConnection[] = [];
  let arbiter: Bus;

  /** A driver connected as `user`, owning `assets`, whose device records every apply. */
  async function driver(user: NatsUser, assets: readonly string[]) {
    const connection = await connectBus({
      servers: server.url,
      name: `write-path-${user}`,
      user,
      pass: NATS_DEV_PASSWORDS[user],
      log: captureLogger('warn').log,
    });
    connections.push(connection);
    const health = new RecordingHealth();
    const captured = captureLogger('debug');
    const applied: Applied[] = [];
    const path = startWritePath({
      transport: natsTransport(connection.nc),
      log: captured.log,
      health,
      assets: assets.map((assetId) => ({ id: assetId, pollIntervalMs: 200 })),
      now: () => Date.now(),
      apply: (asset, setpoint, _signal, context) => {
        applied.push({ assetId: asset.id, setpoint, origin: context.origin, atMs: Date.now() });
        return Promise.resolve({
          status: 'applied',
          ...(setpoint.kind === 'ev-current' ? { readBack: setpoint.currentA } : {}),
        });
      },
    });
    await connection.nc.flush();
    return { path, health, applied, lines: captured.lines as CapturedLine[] };
  }

  let commands = 0;
  function write(assetId: string, setpoint: Setpoint, validForMs: number): DeviceWrite {
    commands += 1;
    const nowMs = Date.now();
    return {
      v: 1,
      commandId: `cmd-${run}-${commands}`,
      assetId,
      setpoint,
      issuedAtMs: nowMs,
      expiresAtMs: nowMs + validForMs,
    };
  }

  const send = (w: DeviceWrite, timeoutMs = 5_000): Promise<WriteResult> =>
    arbiter.request(subjects.deviceWrite, { assetId: w.assetId }, w, { timeoutMs });

  let modbus: Awaited<ReturnType<typeof driver>>;
  let http: Awaited<ReturnType<typeof driver>>;
  const paths: WritePath[] = [];

  beforeAll(async () => {
    server = await startNats({ config: NATS_CONFIG_PATH });
    const connection = await connectBus({
      servers: server.url,
      name: 'write-path-arbiter',
      user: 'safety-arbiter',
      pass: NATS_DEV_PASSWORDS['safety-arbiter'],
      log: captureLogger('warn').log,
    });
    connections.push(connection);
    arbiter = createBus(connection.nc, captureLogger('warn').log);
    modbus = await driver('modbus-poller', [id('bat-1')]);
    http = await driver('http-devices', [id('ev-1')]);
    paths.push(modbus.path, http.path);
  }, 30_000);

  afterAll(async () => {
    for (const path of paths) await path.stop();
    await Promise.allSettled(connections.map((c) => c.nc.close()));
    await server?.stop();
  });

  it("answers a write only from the asset's owner; the other driver neither parses nor answers it", async () => {
    const w = write(id('ev-1'), { kind: 'ev-current', currentA: 10 }, 60_000);
    await expect(send(w)).resolves.toMatchObject({
      commandId: w.commandId,
      assetId: id('ev-1'),
      status: 'applied',
      readBack: 10,
    });
    expect(http.applied).toMatchObject([{ assetId: id('ev-1'), origin: 'write' }]);
    expect(modbus.applied).toEqual([]);
    await waitFor(() => modbus.health.counter('foreignWrites') === 1, {
      timeoutMs: 5_000,
      message: 'the foreign write counted',
    });
    expect(modbus.health.counter('writeCommands')).toBe(0);
    expect(http.health.counter('writeCommands')).toBe(1);
    expect(http.health.counter('foreignWrites')).toBe(0);
  });

  it('leaves a write for an asset nobody owns unanswered (the arbiter sees a timeout, not a reply)', async () => {
    const before = { modbus: modbus.health.counter('foreignWrites'), http: http.health.counter('foreignWrites') };
    const w = write(id('pv-9'), { kind: 'pv-limit', maxPowerW: 1_000 }, 60_000);
    const error = await send(w, 1_000).catch((err: unknown) => err);
    expect(error).toBeInstanceOf(BusRequestFailedError);
    expect(error).toMatchObject({ reason: 'timeout' });
    expect(modbus.health.counter('foreignWrites')).toBe(before.modbus + 1);
    expect(http.health.counter('foreignWrites')).toBe(before.http + 1);
  });

  it('writes the safe set-point once a write expires without a newer one', async () => {
    const w = write(id('bat-1'), { kind: 'battery-power', powerW: -2_000 }, 2_000);
    await expect(send(w)).resolves.toMatchObject({ status: 'applied' });
    const safe = await waitFor(() => modbus.applied.find((a) => a.origin === 'watchdog'), {
      timeoutMs: 10_000,
      message: 'the safe set-point after the expiry',
    });
    expect(safe).toMatchObject({ assetId: id('bat-1'), setpoint: { kind: 'safe' } });
    expect(safe.atMs).toBeGreaterThanOrEqual(w.expiresAtMs);
    expect(modbus.health.counter('watchdogSafe')).toBe(1);
    expect(
      modbus.lines.find((l) => l.msg === 'write expired without a newer one; safe set-point applied'),
    ).toMatchObject({
      assetId: id('bat-1'),
      commandId: w.commandId,
    });
  });
});
