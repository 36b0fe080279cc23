// The feed-in limit over real processes and sockets: a full battery on a sunny site, a Growatt PV string inverter
// (growatt.pv-tl-x, served by the simulator over Modbus TCP) and a grid connection that may export 2 kW only. The
// strategy engine's export limit (libs/strategies § The feed-in limit) curtails the inverter through the arbiter and
// the modbus-poller; the simulator's physics caps the inverter's output at the power limit written to it, and the
// grid meter shows the result. The test watches the bus as user `cli` and shapes the site through the simulator's
// control API (the building load), as in the compressed day.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, waitFor } from '@voltimax/testing';
import { simControl, type SimControl } from './day-sim';
import { CONTROL_LOOP_SERVICES, GatewayWatch } from './gateway-watch';
import { ROOT } from './processes';

const GRID = 'grid-1';
const BATTERY = 'bat-1';
const PV = 'pv-1';

/** The connection may export this much (site `grid.maxExportW`), W. */
const MAX_EXPORT_W = 2_000;
/** The inverter's rating (`pv.ratedPowerW`), W: 1 % of it is the register step of its power limit. */
const PV_RATED_W = 6_000;
/** The sunshine (the profile's PV, all of it the inverter's) and the house load, W. */
const SUN_W = 5_000;
const HOUSE_W = 400;
/**
 * Under the limit, but not curtailed by more than one rise of the limit (10 % of the rating a tick) below the
 * controller's target (`maxExportW − 50 W`): the export it holds once settled, W.
 */
const SETTLED_EXPORT_W = { min: MAX_EXPORT_W - 50 - 0.1 * PV_RATED_W, max: MAX_EXPORT_W };
/** How long the export may take to settle after a change (measured 5–8 s), and how long it must then hold. */
const SETTLE_WITHIN_MS = 30_000;
const HOLD_MS = 10_000;

/** Grid meter, a full CNTE cabinet and the PV inverter; self-consumption only, no rules, every device polled at 1 s. */
function exportSite(): Record<string, unknown> {
  const sim = JSON.parse(readFileSync(join(ROOT, 'docker', 'config', 'assets.sim.json'), 'utf8')) as Record<
    string,
    unknown
  >;
  const assets = (sim['assets'] as Record<string, unknown>[])
    .filter((asset) => asset['kind'] !== 'hybrid-inverter')
    .map((asset) => ({ ...asset, pollIntervalMs: 1_000 }));
  return {
    ...sim,
    // Own Redis keys, also when REDIS_URL points at a shared server.
    gatewayId: `gw-e2e-export-${process.pid}`,
    siteName: 'Feed-in limit: full battery, 6 kW PV, 2 kW export',
    grid: { ...(sim['grid'] as Record<string, unknown>), maxExportW: MAX_EXPORT_W },
    assets: [
      ...assets,
      {
        id: PV,
        name: 'Growatt PV string inverter (roof)',
        kind: 'pv-inverter',
        profile: 'growatt.pv-tl-x',
        connection: { protocol: 'simulated' },
        pollIntervalMs: 1_000,
        pv: { ratedPowerW: PV_RATED_W },
      },
    ],
    strategy: { active: ['self-consumption'], tickMs: 1_000, config: { 'self-consumption': {} } },
    rules: [],
  };
}

/** libs/sim's CSV: the same sun and house load in two hourly rows (the profile repeats them): flat all along. */
function sunnyCsv(): string {
  const rows = ['10:00', '11:00'].map((hhmm) => `2024-06-01T${hhmm}:00Z,${HOUSE_W},${SUN_W},100`);
  return ['timestamp,load_w,pv_w,price_eur_per_mwh', ...rows, ''].join('\n');
}

describe('the feed-in limit as processes: a full battery, the PV curtailed to keep the export under maxExportW', () => {
  let sim: SimControl | undefined;
  const watch: GatewayWatch = new GatewayWatch((): string => busRecord());
  const { intents, decisions } = watch;
  const reported = (body: () => Promise<void>) => watch.reported(body);
  const rel = (atMs: number) => watch.rel(atMs);

  const readingsOf = (assetId: string) => watch.readingsOf(assetId);
  const good = (assetId: string, key: 'powerW' | 'powerLimitPct') =>
    readingsOf(assetId).flatMap((r) =>
      r.quality === 'good' && r.values[key] !== undefined ? [{ atMs: r.atMs, value: r.values[key] }] : [],
    );
  /** Export as a positive number (the grid meter's + = import), W. */
  const exportSamples = () => good(GRID, 'powerW').map((s) => ({ atMs: s.atMs, exportW: -s.value }));
  const pvDecisions = () => decisions.filter((d) => d.payload.assetId === PV);
  const simulator = (): SimControl => {
    if (!sim) throw new Error('the simulator is not running');
    return sim;
  };

  /** What the bus showed, in seconds since the test started: enough to see where the loop broke. */
  const busRecord = () =>
    [
      `export W:   ${exportSamples()
        .map((s) => `${rel(s.atMs)}:${Math.round(s.exportW)}`)
        .join(' ')}`,
      `pv W:       ${good(PV, 'powerW')
        .map((s) => `${rel(s.atMs)}:${Math.round(s.value)}`)
        .join(' ')}`,
      `pv limit %: ${good(PV, 'powerLimitPct')
        .map((s) => `${rel(s.atMs)}:${s.value}`)
        .join(' ')}`,
      `intents:    ${intents
        .filter((i) => i.payload.assetId === PV)
        .map(
          (i) =>
            `${rel(i.receivedAtMs)}:${i.payload.setpoint.kind === 'pv-limit' ? i.payload.setpoint.maxPowerW : i.payload.setpoint.kind}:${i.payload.reason}`,
        )
        .join(' ')}`,
      `decisions:  ${pvDecisions()
        .filter((d) => d.payload.outcome !== 'superseded')
        .map(
          (d) =>
            `${rel(d.receivedAtMs)}:${d.payload.outcome}:${d.payload.applied?.kind === 'pv-limit' ? d.payload.applied.maxPowerW : (d.payload.applied?.kind ?? '-')}`,
        )
        .join(' ')}`,
    ].join('\n');

  /**
   * Waits until the export, from `sinceMs` on, has stayed inside SETTLED_EXPORT_W for HOLD_MS (and `also` holds at
   * its end); fails when that has not happened SETTLE_WITHIN_MS + HOLD_MS after `sinceMs`. Returns when it settled.
   */
  async function exportSettles(sinceMs: number, what: string, also: () => boolean = () => true): Promise<number> {
    return waitFor(
      () => {
        const samples = exportSamples().filter((s) => s.atMs >= sinceMs);
        const last = samples.at(-1);
        if (last === undefined || !also()) return undefined;
        // The start of the run of in-band samples that ends with the latest one.
        let runStart: number | undefined;
        for (const s of samples) {
          const inside = s.exportW >= SETTLED_EXPORT_W.min && s.exportW <= SETTLED_EXPORT_W.max;
          runStart = inside ? (runStart ?? s.atMs) : undefined;
        }
        return runStart !== undefined && last.atMs - runStart >= HOLD_MS ? runStart : undefined;
      },
      { timeoutMs: SETTLE_WITHIN_MS + HOLD_MS + 5_000, intervalMs: 250, message: what },
    );
  }

  beforeAll(
    reported(async () => {
      await watch.open('e2e-export-observer');

      const controlPort = await freePort();
      await watch.startControlLoop({
        site: exportSite(),
        profileCsv: sunnyCsv(),
        // Full: the battery cannot take the surplus, only the PV limit can keep the export down.
        simEnv: { SIM_INITIAL_SOC_PCT: '95', SIM_CONTROL_PORT: String(controlPort) },
      });
      sim = simControl(controlPort);
    }),
    60_000,
  );

  afterAll(async () => {
    await watch.stop();
  }, 30_000);

  it(
    'reads the simulated PV inverter with the growatt.pv-tl-x profile, unlimited at first, and the battery full',
    reported(async () => {
      const first = await waitFor(() => readingsOf(PV).find((r) => r.quality === 'good'), {
        timeoutMs: 15_000,
        message: 'a good reading of pv-1',
      });
      expect(first.values.powerLimitPct).toBe(100);
      const battery = await waitFor(() => readingsOf(BATTERY).find((r) => r.quality === 'good'), {
        timeoutMs: 15_000,
        message: 'a good reading of bat-1',
      });
      expect(battery.values.socPct).toBeCloseTo(95, 0);
    }),
    20_000,
  );

  it(
    `curtails the PV through the arbiter until the export holds under ${MAX_EXPORT_W} W`,
    reported(async () => {
      const firstIntent = await waitFor(() => intents.find((i) => i.payload.assetId === PV)?.payload, {
        timeoutMs: 20_000,
        message: 'a pv-limit intent for pv-1',
      });
      expect(firstIntent).toMatchObject({ source: 'optimization', setpoint: { kind: 'pv-limit' } });
      expect(firstIntent.reason).toMatch(/^export-limit:/);
      const applied = await waitFor(
        () =>
          pvDecisions()
            .map((d) => d.payload)
            .find((d) => (d.outcome === 'applied' || d.outcome === 'clamped') && d.commandId !== undefined),
        { timeoutMs: 15_000, message: 'an applied pv-limit decision with a command' },
      );
      expect(applied.applied?.kind).toBe('pv-limit');

      await exportSettles(applied.atMs, `the export to hold in ${JSON.stringify(SETTLED_EXPORT_W)} W`);
      // The inverter runs at the limit written to it: whole percent of its rating, well under the sunshine.
      const limitPct = good(PV, 'powerLimitPct').at(-1)?.value ?? 100;
      const pvW = good(PV, 'powerW').at(-1)?.value ?? SUN_W;
      expect(limitPct).toBeLessThan(50);
      expect(pvW).toBeLessThanOrEqual((limitPct / 100) * PV_RATED_W + 1);
      // The engine explains it on strategy.decision.export-limit: the limit its last intent carried, and why.
      const lastIntent = intents.filter((i) => i.payload.assetId === PV).at(-1)?.payload;
      const explained = await waitFor(
        () =>
          watch.strategyDecisions
            .filter((d) => d.payload.strategy === 'export-limit' && d.payload.atMs === lastIntent?.issuedAtMs)
            .at(-1)?.payload,
        { timeoutMs: 5_000, message: 'the export-limit decision of the tick that sent the last pv-limit' },
      );
      expect(explained).toMatchObject({
        reason: expect.stringMatching(/^curtail-(start|fall|cut|rise|hold)$/),
        inputs: { maxExportW: MAX_EXPORT_W, ratedW: PV_RATED_W },
      });
      expect(lastIntent?.setpoint).toEqual({
        kind: 'pv-limit',
        maxPowerW: Math.floor(explained.outputs['limitW'] ?? NaN),
      });
    }),
    90_000,
  );

  it(
    'raises the limit when the house takes more, so the extra load is met by PV, not by the grid',
    reported(async () => {
      const before = good(PV, 'powerW').at(-1)?.value ?? 0;
      const changedAtMs = Date.now();
      await simulator().post('/load', { extraW: 2_500 });
      // 400 + 2 500 W of load: the PV may rise to about 2 900 + 1 950 W.
      const pvAbove = () => (good(PV, 'powerW').at(-1)?.value ?? 0) >= before + 2_000;
      const settledAtMs = await exportSettles(
        changedAtMs + 2_000,
        'the PV to rise and the export to hold under the limit again',
        pvAbove,
      );
      expect(good(PV, 'powerLimitPct').at(-1)?.value).toBeLessThan(100);
      // It rose, and only rose: never released and curtailed again on the way.
      const limits = good(PV, 'powerLimitPct')
        .filter((s) => s.atMs >= changedAtMs && s.atMs <= settledAtMs + HOLD_MS)
        .map((s) => s.value);
      expect(limits).toEqual([...limits].sort((a, b) => a - b));
      expect(pvDecisions().filter((d) => d.payload.outcome === 'safe' && d.payload.atMs >= changedAtMs)).toEqual([]);
    }),
    90_000,
  );

  it(
    'releases the inverter (the arbiter writes its safe state, unlimited) once all of the PV stays under the limit',
    reported(async () => {
      const changedAtMs = Date.now();
      // 4 400 W of load: the whole 5 kW of sunshine exports 600 W only.
      await simulator().post('/load', { extraW: 4_000 });
      const safe = await waitFor(
        () => pvDecisions().find((d) => d.payload.outcome === 'safe' && d.payload.atMs >= changedAtMs),
        {
          timeoutMs: 45_000,
          message: 'a safe decision for pv-1 (its intent expired)',
        },
      );
      // Readings taken well after the release (longer than an intent lives: a curtailment started again would show)
      // still show the inverter free and the whole sunshine …
      const afterMs = safe.payload.atMs + 5_000;
      await waitFor(
        () => {
          const limit = good(PV, 'powerLimitPct')
            .filter((s) => s.atMs > afterMs)
            .at(-1)?.value;
          const pvW =
            good(PV, 'powerW')
              .filter((s) => s.atMs > afterMs)
              .at(-1)?.value ?? 0;
          return limit === 100 && pvW >= SUN_W - 50;
        },
        { timeoutMs: 20_000, message: 'pv-1 at 100 % and the whole sunshine 5 s after the release' },
      );
      // … and the engine sent no pv-limit since, and says why.
      expect(intents.filter((i) => i.payload.assetId === PV && i.receivedAtMs > safe.receivedAtMs)).toEqual([]);
      expect(watch.strategyDecisions.filter((d) => d.payload.strategy === 'export-limit').at(-1)?.payload.reason).toBe(
        'within-limit',
      );
    }),
    75_000,
  );

  it(
    'keeps every service running throughout',
    reported(async () => {
      expect(watch.states()).toEqual(CONTROL_LOOP_SERVICES.map((name) => `${name}: running`));
    }),
  );
});
