// http-devices against the simulator over real sockets: the simulated Peblar REST API (simulator process, token
// auth) and a HomeWizard P1 double (node:http in this test), on a real nats-server with docker/nats/nats.conf's
// users. Writes come from the `safety-arbiter` user, as in production. Faults (a body that is not JSON, wrong JSON
// types, HTTP 500, a hanging device, a refused token) each give a clear error reading, a counter, and no crash.
import type { AssetReading } from '@voltimax/contracts';
import { NATS_CONFIG_PATH, startNats, waitFor, type NatsTestServer } from '@voltimax/testing';
import {
  connectAs,
  newestReading,
  runHttpDevices,
  sendWrite,
  writeSite,
  type BusClient,
  type RunningService,
} from './testing/harness';
import { startP1Double, type P1Double } from './testing/p1-double';
import { startPeblarDouble, type PeblarDouble } from './testing/peblar-double';
import { p1Asset, peblarAsset } from './testing/site';
import { startSimulatorProcess, type SimulatorProcess } from './testing/simulator';

const TOKEN = 'c0ffee'.repeat(10) + 'beef';

describe('http-devices over HTTP', () => {
  let nats: NatsTestServer;
  let sim: SimulatorProcess;
  let p1: P1Double;
  let slowPeblar: PeblarDouble;
  let service: RunningService;
  let observer: BusClient;
  let arbiter: BusClient;
  let site: { remove(): void } | undefined;
  let peblarUrl = '';

  beforeAll(async () => {
    nats = await startNats({ config: NATS_CONFIG_PATH });
    [sim, p1] = await Promise.all([
      startSimulatorProcess(
        nats.url,
        {
          v: 1,
          gatewayId: 'gw-http-test',
          siteName: 'http-devices test site',
          timezone: 'Europe/Paris',
          grid: { maxImportW: 22_000, maxExportW: 6_000, phases: 3 },
          assets: [
            {
              id: 'ev-1',
              name: 'Peblar',
              kind: 'ev-charger',
              profile: 'peblar.rest',
              connection: { protocol: 'simulated' },
              pollIntervalMs: 250,
              evCharger: { minCurrentA: 6, maxCurrentA: 16, phases: 3 },
            },
          ],
          strategy: { active: ['null'] },
          tariff: { kind: 'fixed', fixedEurPerMwh: 250 },
        },
        { SIM_PEBLAR_TOKEN: TOKEN, SIM_EV_CAR_MAX_CURRENT_A: '16', SIM_EV_INITIAL_LIMIT_A: '16' },
      ),
      startP1Double(),
    ]);
    slowPeblar = await startPeblarDouble();
    const ev = sim.site.assets.find((a) => a.id === 'ev-1');
    if (ev?.connection.protocol !== 'http')
      throw new Error(`the simulator did not serve ev-1 over http:\n${sim.tail()}`);
    peblarUrl = ev.connection.baseUrl;
    const assets = [
      ...(sim.raw['assets'] as unknown[]),
      // The same charger with a token the charger does not know: every request is refused with 401.
      peblarAsset('ev-bad-token', peblarUrl, { tokenEnv: 'WRONG_TOKEN' }),
      p1Asset('grid-1', p1.url),
      // A Peblar double whose reads can be made slow (no token: the double does not check it).
      peblarAsset('ev-slow', slowPeblar.url, { pollIntervalMs: 1_000 }),
    ];
    const file = writeSite({ ...sim.raw, assets });
    site = file;
    [observer, arbiter] = await Promise.all([
      connectAs(nats.url, 'dashboard', true),
      connectAs(nats.url, 'safety-arbiter', false),
    ]);
    service = await runHttpDevices({
      natsUrl: nats.url,
      siteFile: file.path,
      env: { PEBLAR_TOKEN: TOKEN, WRONG_TOKEN: 'not-the-token' },
    });
  }, 60_000);

  afterAll(async () => {
    await service?.stop();
    await Promise.all([observer?.close(), arbiter?.close()]);
    await Promise.all([sim?.stop(), p1?.close(), slowPeblar?.close()]);
    site?.remove();
    await nats?.stop();
  });

  const reading = (assetId: string, predicate: (r: AssetReading) => boolean, message: string) =>
    waitFor(() => newestReading(observer.readings, assetId, predicate), { timeoutMs: 8_000, message });
  const heartbeat = (predicate: (counters: Readonly<Record<string, number>>) => boolean, message: string) =>
    waitFor(
      () => observer.heartbeats.filter((h) => h.service === 'http-devices').find((h) => predicate(h.counters ?? {})),
      { timeoutMs: 8_000, message },
    );

  it('publishes the Peblar: 3 × 230 V × 16 A while charging, the limit, the control-pilot state', async () => {
    const good = await reading(
      'ev-1',
      (r) => r.quality === 'good' && r.values.powerW === 11_040,
      'a good Peblar reading at 16 A',
    );
    expect(good).toMatchObject({
      kind: 'ev-charger',
      chargerState: 'charging',
      values: { powerW: 11_040, currentL1A: 16, currentL2A: 16, currentL3A: 16, currentLimitA: 16 },
    });
    expect(good.values.importEnergyWh).toBeGreaterThanOrEqual(1_250_034);
    expect(good.values.voltageL1V).toBeGreaterThan(220);
    const sequences = observer.readings.filter((r) => r.assetId === 'ev-1').map((r) => r.sequence);
    expect(sequences).toEqual(sequences.map((_s, i) => i));
  });

  it('publishes the P1 meter: − = export, kWh → Wh', async () => {
    const good = await reading('grid-1', (r) => r.quality === 'good', 'a good P1 reading');
    expect(good.values).toMatchObject({
      powerW: -543,
      powerL1W: -676,
      importEnergyWh: 13_779_338,
      exportEnergyWh: 2_892_917,
      frequencyHz: 50.02,
    });
  });

  it('names a refused token in the reading and keeps the asset in its heartbeat as degraded', async () => {
    const refused = await reading('ev-bad-token', (r) => r.quality === 'error', 'an error reading for the bad token');
    expect(refused.values).toEqual({});
    expect(refused.error).toMatch(
      /^meter: GET http:\/\/127\.0\.0\.1:\d+\/api\/wlac\/v1\/meter: HTTP 401 Unauthorized \(the API token was refused/,
    );
    const beat = await waitFor(
      () => observer.heartbeats.find((h) => h.service === 'http-devices' && h.status === 'degraded'),
      { message: 'a degraded heartbeat' },
    );
    expect(beat.assets).toEqual(['ev-1', 'ev-bad-token', 'grid-1', 'ev-slow']);
    expect(beat.detail).toContain('ev-bad-token');
    expect((beat.counters ?? {})['httpStatusErrors']).toBeGreaterThan(0);
  });

  it('lowers the charge: an ev-current write from the arbiter → PATCH → read back → lower power in telemetry', async () => {
    const result = await sendWrite(arbiter.bus, 'ev-1', { kind: 'ev-current', currentA: 6 });
    expect(result).toMatchObject({ assetId: 'ev-1', status: 'applied', readBack: 6 });
    expect(result.error).toBeUndefined();
    const slower = await reading('ev-1', (r) => r.quality === 'good' && r.values.powerW === 4_140, 'the Peblar at 6 A');
    expect(slower.values).toMatchObject({ currentL1A: 6, currentLimitA: 6 });
    // The same value again: read first, nothing sent.
    expect(await sendWrite(arbiter.bus, 'ev-1', { kind: 'ev-current', currentA: 6 })).toMatchObject({
      status: 'unchanged',
      readBack: 6,
    });
    await heartbeat((c) => (c['writes'] ?? 0) === 1 && (c['skippedWrites'] ?? 0) >= 1, 'write counters');
  });

  it('switches to one phase when the set-point names it', async () => {
    expect(await sendWrite(arbiter.bus, 'ev-1', { kind: 'ev-current', currentA: 8, phases: 1 })).toMatchObject({
      status: 'applied',
      readBack: 8,
    });
    await reading('ev-1', (r) => r.values.powerW === 1_840 && r.values.currentL2A === 0, 'one phase at 8 A');
    expect(await sendWrite(arbiter.bus, 'ev-1', { kind: 'ev-current', currentA: 16, phases: 3 })).toMatchObject({
      status: 'applied',
    });
    await reading('ev-1', (r) => r.values.powerW === 11_040, 'three phases at 16 A again');
    // The current is already 16 A, but on three phases: the phase switch must still be sent.
    expect(await sendWrite(arbiter.bus, 'ev-1', { kind: 'ev-current', currentA: 16, phases: 1 })).toMatchObject({
      status: 'applied',
      readBack: 16,
    });
    await reading('ev-1', (r) => r.values.powerW === 3_680 && r.values.currentL2A === 0, 'one phase at 16 A');
    expect(await sendWrite(arbiter.bus, 'ev-1', { kind: 'ev-current', currentA: 16, phases: 3 })).toMatchObject({
      status: 'applied',
    });
    await reading('ev-1', (r) => r.values.powerW === 11_040, 'three phases at 16 A again');
  });

  it('rejects what the profile or the device refuses, and names why', async () => {
    expect(await sendWrite(arbiter.bus, 'ev-1', { kind: 'ev-current', currentA: 40 })).toMatchObject({
      status: 'rejected',
      error: 'out-of-range: 40 A is outside [0, 32] A',
    });
    const below = await sendWrite(arbiter.bus, 'ev-1', { kind: 'ev-current', currentA: 3 });
    expect(below.status).toBe('rejected');
    expect(below.error).toMatch(/PATCH \/evinterface: PATCH http:\/\/.*: HTTP 400 Bad Request: .*at least 6000 mA/);
    expect(await sendWrite(arbiter.bus, 'ev-1', { kind: 'battery-power', powerW: 100 })).toMatchObject({
      status: 'rejected',
      error: "unsupported-setpoint: the profile has no write for 'battery-power'",
    });
    expect(await sendWrite(arbiter.bus, 'grid-1', { kind: 'safe' })).toMatchObject({
      status: 'rejected',
      error: "profile 'homewizard.p1' has no writes",
    });
    expect(await sendWrite(arbiter.bus, 'ev-bad-token', { kind: 'ev-current', currentA: 10 })).toMatchObject({
      status: 'rejected',
      error: expect.stringContaining('HTTP 401'),
    });
    expect(
      await sendWrite(arbiter.bus, 'ev-1', { kind: 'ev-current', currentA: 10 }, { expiresAtMs: Date.now() - 1 }),
    ).toMatchObject({
      status: 'rejected',
      error: expect.stringMatching(/^expired at \d+ before it could be applied$/),
    });
  });

  it('stays silent for assets it does not own (their driver answers)', async () => {
    await expect(sendWrite(arbiter.bus, 'bat-9', { kind: 'safe' }, { timeoutMs: 400 })).rejects.toThrow();
    await heartbeat((c) => (c['foreignWrites'] ?? 0) >= 1, 'a foreign write counted');
  });

  describe('faults of the P1 meter', () => {
    afterEach(() => {
      p1.mode = 'ok';
    });

    const errorAfter = async (mode: P1Double['mode'], match: RegExp) => {
      const since = observer.readings.length;
      p1.mode = mode;
      return waitFor(
        () =>
          observer.readings
            .slice(since)
            .find((r) => r.assetId === 'grid-1' && r.quality === 'error' && match.test(r.error ?? '')),
        { timeoutMs: 8_000, message: `an error reading for ${mode}` },
      );
    };

    it('a body that is not JSON: error reading without values', async () => {
      const bad = await errorAfter('not-json', /^data: body not JSON: /);
      expect(bad.values).toEqual({});
      const html = await errorAfter('html-200', /^data: body not JSON: /);
      expect(html.values).toEqual({});
      await heartbeat((c) => (c['malformedBodies'] ?? 0) >= 2, 'malformed bodies counted');
    });

    it('wrong JSON types: the member is dropped and named, the rest is published', async () => {
      const bad = await errorAfter('wrong-type', /malformed/);
      expect(bad.error).toBe(
        'data: malformed: $.active_power_w is string, expected number; $.active_voltage_l1_v is boolean, expected number',
      );
      expect(bad.values).toMatchObject({ importEnergyWh: 13_779_338, powerL1W: -676 });
      expect(bad.values.powerW).toBeUndefined();
      await heartbeat((c) => (c['malformedFields'] ?? 0) >= 2, 'malformed fields counted');
    });

    it('HTTP 500: error reading naming the status', async () => {
      const bad = await errorAfter('status-500', /HTTP 500/);
      expect(bad.error).toMatch(
        /^data: GET http:\/\/127\.0\.0\.1:\d+\/api\/v1\/data: HTTP 500 Internal Server Error: /,
      );
    });

    it('a hanging device: timeouts, then the breaker opens; it recovers when the device answers again', async () => {
      const timedOut = await errorAfter('hang', /no complete answer within 1000 ms/);
      expect(timedOut.values).toEqual({});
      await reading('grid-1', (r) => /circuit open after 3 failures/.test(r.error ?? ''), 'an open breaker');
      await heartbeat(
        (c) => c['breaker.grid-1'] === 2 && (c['httpBreakerOpen'] ?? 0) >= 1,
        'the breaker open in the heartbeat',
      );
      p1.mode = 'ok';
      p1.powerW = 1_234;
      await reading('grid-1', (r) => r.quality === 'good' && r.values.powerW === 1_234, 'recovered readings');
      await heartbeat((c) => c['breaker.grid-1'] === 0 && (c['httpTimeouts'] ?? 0) >= 1, 'the breaker closed again');
    });
  });

  it('writes the safe set-point (0 A) when a write expires without a newer one', async () => {
    expect(
      await sendWrite(arbiter.bus, 'ev-1', { kind: 'ev-current', currentA: 10 }, { validForMs: 4_000 }),
    ).toMatchObject({ status: 'applied' });
    await reading('ev-1', (r) => r.values.powerW === 6_900, 'the Peblar at 10 A');
    const paused = await reading(
      'ev-1',
      (r) => r.quality === 'good' && r.values.powerW === 0,
      'the Peblar paused by the watchdog',
    );
    expect(paused).toMatchObject({ chargerState: 'suspended', values: { currentLimitA: 0 } });
    await heartbeat((c) => (c['watchdogSafe'] ?? 0) >= 1, 'the watchdog counted');
    expect(service.lines.some((l) => l.msg === 'write expired without a newer one; safe set-point applied')).toBe(true);
  });

  it('a write that expires while the device is slow to answer the read before it is not sent', async () => {
    slowPeblar.slowGetMs = 700; // the read before the write takes 0.7 s (within HTTP_TIMEOUT_MS 1000)
    const sent = slowPeblar.patches.length;
    const expiresAtMs = Date.now() + 400;
    const late = await sendWrite(arbiter.bus, 'ev-slow', { kind: 'ev-current', currentA: 12 }, { expiresAtMs });
    slowPeblar.slowGetMs = 0;
    expect(late).toMatchObject({
      status: 'rejected',
      error: `expired at ${expiresAtMs} before it could be applied (PATCH /evinterface not sent)`,
    });
    // The watchdog's safe 0 A may follow; the 12 A never reaches the charger.
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(slowPeblar.patches.slice(sent).map((p) => p.body)).not.toContain('{"ChargeCurrentLimit":12000}');
    expect(slowPeblar.limitMa).not.toBe(12_000);
  });

  it('never crashed: the service still answers and logged nothing fatal', async () => {
    expect(await sendWrite(arbiter.bus, 'ev-1', { kind: 'ev-current', currentA: 16 })).toMatchObject({
      status: 'applied',
    });
    expect(service.lines.filter((l) => l.level >= 60)).toEqual([]);
    expect(service.lines.some((l) => l.msg === 'poll failed' && l['assetId'] === 'grid-1')).toBe(true);
  });
});
