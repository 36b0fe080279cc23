// The control API of the whole service over real sockets: service-kit wiring against a real nats-server, the Modbus
// listeners and the Peblar REST API it controls, and the event log. The scheduler is manual: the test takes the steps.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ModbusRTU from 'modbus-serial';
import type { CapturedLine } from '@voltimax/bus/testing';
import { SiteConfigSchema, type SiteConfig } from '@voltimax/contracts';
import { runService, type ServiceRuntime } from '@voltimax/service-kit';
import { NATS_CONFIG_PATH, NATS_DEV_PASSWORDS, startNats, waitFor, type NatsTestServer } from '@voltimax/testing';
import type { SimState } from './control';
import { simulatorService } from './service';
import { simSite } from './testing/site';

const LOAD_W = 1_000;
const PV_W = 2_000;

/** The test site: the Modbus devices of simSite, its charger as a Peblar on HTTP, and a disabled sub-meter. */
function controlSite() {
  const site = simSite();
  return {
    ...site,
    assets: [
      ...(site.assets ?? []).map((a) => (a.id === 'ev-1' ? { ...a, profile: 'peblar.rest' } : a)),
      {
        id: 'meter-9',
        name: 'Disabled load meter',
        kind: 'meter' as const,
        measures: 'load' as const,
        profile: 'eastron.sdm630',
        enabled: false,
        connection: { protocol: 'simulated' as const },
      },
    ],
  };
}

const portOpen = (port: number) =>
  new Promise<boolean>((resolve) => {
    const socket = connect({ host: '127.0.0.1', port }, () => {
      socket.destroy();
      resolve(true);
    });
    socket.on('error', () => resolve(false));
  });

/** The SDM630's total power (input 0x0034, float32 high word first), W. */
async function meterPowerW(client: ModbusRTU): Promise<number> {
  const words = (await client.readInputRegisters(0x0034, 2)).data;
  return Buffer.from(words.flatMap((w) => [w >> 8, w & 0xff])).readFloatBE(0);
}

describe('simulator control API (SIM_CONTROL_PORT)', () => {
  let nats: NatsTestServer;
  let dir: string;
  let runtime: ServiceRuntime | undefined;
  let tick: (() => void) | undefined;
  let base = '';
  const lines: CapturedLine[] = [];
  const clients: ModbusRTU[] = [];

  const step = (n = 1) => {
    for (let i = 0; i < n; i += 1) tick?.();
  };
  const call = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${base}${path}`, {
      method,
      ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
    });
    return { status: res.status, json: (await res.json()) as Record<string, unknown> };
  };
  const post = (path: string, body?: unknown) => call('POST', path, body);
  const state = async () => (await call('GET', '/state')).json as unknown as SimState;
  const resolved = (): SiteConfig => SiteConfigSchema.parse(JSON.parse(readFileSync(join(dir, 'sim-assets.json'), 'utf8')));
  const modbusPort = (assetId: string): number => {
    const connection = resolved().assets.find((a) => a.id === assetId)?.connection;
    if (connection?.protocol !== 'modbus-tcp') throw new Error(`${assetId} has no Modbus endpoint`);
    return connection.port;
  };
  const peblarUrl = (): string => {
    const connection = resolved().assets.find((a) => a.id === 'ev-1')?.connection;
    if (connection?.protocol !== 'http') throw new Error('ev-1 has no HTTP endpoint');
    return `${connection.baseUrl}/api/wlac/v1`;
  };
  const client = async (assetId: string) => {
    const c = new ModbusRTU();
    await c.connectTCP('127.0.0.1', { port: modbusPort(assetId) });
    c.setID(1);
    c.setTimeout(2_000);
    clients.push(c);
    return c;
  };
  const events = (): Record<string, unknown>[] =>
    readFileSync(join(dir, 'events.jsonl'), 'utf8')
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as Record<string, unknown>);

  beforeAll(async () => {
    nats = await startNats({ config: NATS_CONFIG_PATH });
    dir = mkdtempSync(join(tmpdir(), 'simulator-control-'));
    writeFileSync(join(dir, 'site.json'), JSON.stringify(controlSite()));
    const csvStart = Date.parse('2024-04-10T10:00:00Z');
    writeFileSync(
      join(dir, 'flat.csv'),
      ['timestamp,load_w,pv_w,price_eur_per_mwh', ...[0, 1].map((i) => `${new Date(csvStart + i * 1_800_000).toISOString()},${LOAD_W},${PV_W},100`), ''].join('\n'),
    );
    runtime = await runService(
      simulatorService({
        scheduler: (_everyMs, fn) => {
          tick = fn;
          return () => (tick = undefined);
        },
      }),
      {
        env: {
          NATS_URL: nats.url,
          NATS_USER: 'simulator',
          NATS_PASS: NATS_DEV_PASSWORDS.simulator,
          SITE_FILE: join(dir, 'site.json'),
          SIM_PROFILE: join(dir, 'flat.csv'),
          STATE_DIR: dir,
          SIM_EVENTS_FILE: join(dir, 'events.jsonl'),
          SIM_CONTROL_PORT: '0',
          HEARTBEAT_MS: '60000',
          HEALTH_PORT: 'off',
          LOG_LEVEL: 'info',
        },
        exit: () => undefined,
        onSignal: () => () => undefined,
        onFatal: () => () => undefined,
        logDestination: { write: (line: string) => void lines.push(JSON.parse(line) as CapturedLine) },
      },
    );
    const ready = lines.find((l) => l.msg === 'simulated site ready');
    base = `http://127.0.0.1:${String(ready?.['controlPort'])}`;
    step();
  });

  afterAll(async () => {
    await Promise.all(clients.map((c) => new Promise<void>((resolve) => (c.isOpen ? c.close(() => resolve()) : resolve()))));
    await runtime?.shutdown('test done');
    await nats?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('logs the control port and answers GET /state with the sim time, the site flows and every simulated asset', async () => {
    expect(lines.find((l) => l.msg === 'control api listening')).toMatchObject({ host: '127.0.0.1' });
    const s = await state();
    expect(s).toMatchObject({
      v: 1,
      step: 1,
      simAt: '2024-04-10T10:00:01.000Z',
      speed: 1,
      site: { loadW: LOAD_W, pvW: PV_W },
      controls: { extraLoadW: 0, pvScale: 1 },
    });
    expect(Object.fromEntries(Object.entries(s.assets).map(([id, a]) => [id, [a.servedAs, a.port, a.connected, a.frozen]]))).toEqual({
      'bat-1': ['modbus', modbusPort('bat-1'), true, false],
      'inv-1': ['modbus', modbusPort('inv-1'), true, false],
      'grid-1': ['modbus', modbusPort('grid-1'), true, false],
      'ev-1': ['peblar-http', Number(new URL(peblarUrl()).port), true, false],
    });
    expect(s.assets['grid-1']?.values['powerW']).toBeCloseTo(s.site.gridPowerW, 6);
    expect(s.assets['ev-1']?.values).toMatchObject({ plugged: true, limitA: 16 });
  });

  it('adds a load step from the next step on: the load and the grid meter rise by it', async () => {
    const meter = await client('grid-1');
    const beforeW = await meterPowerW(meter);
    expect(await post('/load', { extraW: 2_500 })).toEqual({ status: 200, json: { ok: true, action: 'load', extraW: 2_500 } });
    step();
    const s = await state();
    expect(s.site.loadW).toBe(LOAD_W + 2_500);
    expect(s.controls.extraLoadW).toBe(2_500);
    expect((await meterPowerW(meter)) - beforeW).toBeCloseTo(2_500, 0);
    expect((await post('/load', { extraW: 0 })).status).toBe(200);
    step();
    expect((await state()).site.loadW).toBe(LOAD_W);
  });

  it('scales the PV', async () => {
    expect((await post('/pv', { scale: 0.5 })).status).toBe(200);
    step();
    expect((await state()).site.pvW).toBe(PV_W / 2);
    expect((await post('/pv', { scale: 1 })).status).toBe(200);
    step();
    expect((await state()).site.pvW).toBe(PV_W);
  });

  it('freezes the grid meter: it keeps answering the same value while the site changes, until unfrozen', async () => {
    const meter = await client('grid-1');
    const frozenW = await meterPowerW(meter);
    const frozen = await post('/assets/grid-1/freeze');
    expect(frozen).toMatchObject({ status: 200, json: { ok: true, action: 'freeze', assetId: 'grid-1' } });
    expect(await post('/load', { extraW: 3_000 })).toMatchObject({ status: 200 });
    step(3);
    const s = await state();
    expect(s.site.gridPowerW - frozenW).toBeCloseTo(3_000, 0);
    expect(await meterPowerW(meter)).toBe(frozenW);
    expect(s.assets['grid-1']).toMatchObject({ frozen: true, connected: true });
    expect(s.assets['grid-1']?.values['powerW']).toBeCloseTo(frozenW, 3);

    expect((await post('/assets/grid-1/unfreeze')).status).toBe(200);
    step();
    expect((await meterPowerW(meter)) - frozenW).toBeCloseTo(3_000, 0);
    expect((await state()).assets['grid-1']?.frozen).toBe(false);
    await post('/load', { extraW: 0 });
    step();
  });

  it('disconnects the grid meter (its connections close, new ones are refused) and brings it back on the same port', async () => {
    const port = modbusPort('grid-1');
    const meter = await client('grid-1');
    await meterPowerW(meter);
    expect(await post('/assets/grid-1/disconnect')).toMatchObject({ status: 200, json: { port } });
    await waitFor(() => !meter.isOpen, { timeoutMs: 5_000, message: 'the client connection closed by the device' });
    expect(await portOpen(port)).toBe(false);
    expect((await state()).assets['grid-1']?.connected).toBe(false);
    // The rest of the site keeps running.
    expect(await portOpen(modbusPort('bat-1'))).toBe(true);

    expect(await post('/assets/grid-1/reconnect')).toMatchObject({ status: 200, json: { port } });
    const again = await client('grid-1');
    step();
    expect(Math.abs((await meterPowerW(again)) - (await state()).site.gridPowerW)).toBeLessThan(1);
    expect((await state()).assets['grid-1']?.connected).toBe(true);
  });

  it('unplugs and plugs the car at the Peblar charger: the EV power and the CP state follow', async () => {
    const evInterface = async () => (await (await fetch(`${peblarUrl()}/evinterface`)).json()) as Record<string, unknown>;
    expect((await state()).site.evW).toBeGreaterThan(0);
    expect(await post('/ev/ev-1/unplug')).toMatchObject({ status: 200, json: { action: 'unplug', assetId: 'ev-1' } });
    step();
    expect((await state()).site.evW).toBe(0);
    expect(await evInterface()).toMatchObject({ CpState: 'State A' });
    expect((await state()).assets['ev-1']?.values['plugged']).toBe(false);

    expect((await post('/ev/ev-1/plug')).status).toBe(200);
    step();
    expect((await state()).site.evW).toBeCloseTo(16 * 230 * 3, 0);
    expect(await evInterface()).toMatchObject({ CpState: 'State C' });
  });

  it('disconnects the Peblar charger and brings it back on the same port; a frozen charger answers its old meter', async () => {
    const url = peblarUrl();
    expect((await post('/assets/ev-1/disconnect')).status).toBe(200);
    await expect(fetch(`${url}/meter`)).rejects.toThrow();
    expect((await post('/assets/ev-1/reconnect')).status).toBe(200);
    const before = (await (await fetch(`${url}/meter`)).json()) as Record<string, unknown>;
    expect(before['PowerTotal']).toBeGreaterThan(0);

    expect((await post('/assets/ev-1/freeze')).status).toBe(200);
    await post('/ev/ev-1/unplug');
    step(2);
    expect((await state()).site.evW).toBe(0);
    expect(await (await fetch(`${url}/meter`)).json()).toEqual(before);
    expect((await post('/assets/ev-1/unfreeze')).status).toBe(200);
    expect(await (await fetch(`${url}/meter`)).json()).toMatchObject({ PowerTotal: 0 });
    await post('/ev/ev-1/plug');
    step();
  });

  it('refuses bad requests with the reason: 400 bad body, 404 unknown asset or path, 405 method, 409 not simulated', async () => {
    expect(await post('/load', { extraW: 'lots' })).toMatchObject({ status: 400, json: { error: expect.stringMatching(/extraW/) } });
    expect(await post('/pv', 'scale')).toEqual({ status: 400, json: { error: 'body is not JSON' } });
    expect(await post('/assets/grid-1/freeze', { forever: true })).toMatchObject({ status: 400 });
    expect(await post('/assets/nope-1/freeze')).toEqual({ status: 404, json: { error: 'no asset nope-1 in the simulated site' } });
    expect(await post('/ev/grid-1/plug')).toMatchObject({ status: 409, json: { error: expect.stringMatching(/not a simulated EV charger/) } });
    expect(await post('/assets/meter-9/disconnect')).toMatchObject({ status: 409, json: { error: expect.stringMatching(/not simulated/) } });
    expect(await post('/faults')).toMatchObject({ status: 404 });
    expect(await call('GET', '/load')).toMatchObject({ status: 405 });
    expect(lines.filter((l) => l.msg === 'control request refused')).toHaveLength(8);
    // Nothing changed.
    expect((await state()).controls).toEqual({ extraLoadW: 0, pvScale: 1 });
  });

  it('records every accepted action, and the Peblar PATCHes, in the event log', async () => {
    const res = await fetch(`${peblarUrl()}/evinterface`, { method: 'PATCH', body: JSON.stringify({ ChargeCurrentLimit: 8_000 }) });
    expect(res.status).toBe(200);
    await waitFor(() => events().some((e) => e['t'] === 'http-write'), { timeoutMs: 5_000, message: 'the PATCH in the event log' });
    const log = events();
    expect(log.filter((e) => e['t'] === 'control').map((e) => `${String(e['action'])} ${String(e['assetId'] ?? e['extraW'] ?? e['scale'])}`)).toEqual([
      'load 2500',
      'load 0',
      'pv 0.5',
      'pv 1',
      'freeze grid-1',
      'load 3000',
      'unfreeze grid-1',
      'load 0',
      'disconnect grid-1',
      'reconnect grid-1',
      'unplug ev-1',
      'plug ev-1',
      'disconnect ev-1',
      'reconnect ev-1',
      'freeze ev-1',
      'unplug ev-1',
      'unfreeze ev-1',
      'plug ev-1',
    ]);
    expect(log.find((e) => e['t'] === 'http-write')).toMatchObject({ assetId: 'ev-1', body: { ChargeCurrentLimit: 8_000 } });
    expect(log.every((e) => typeof e['atMs'] === 'number')).toBe(true);
  });

  it('closes the control port on shutdown', async () => {
    const port = Number(new URL(base).port);
    expect(await portOpen(port)).toBe(true);
    expect(await runtime?.shutdown('test')).toBe(0);
    runtime = undefined;
    expect(await portOpen(port)).toBe(false);
  });
});
