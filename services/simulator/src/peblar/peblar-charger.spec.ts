// The simulated Peblar's JSON documents against members typed by hand from peblar-ev-charger.md § 1.
import { SimulatedEv } from '../ev';
import type { SiteSnapshot } from '../site';
import { EvInterfacePatchSchema, PeblarCharger } from './peblar-charger';

function charger(
  options: { readonly carMaxCurrentA?: number; readonly installationLimitA?: number; readonly phaseCount?: 1 | 3 } = {},
) {
  const clock = { nowMs: 1_000_000 };
  const ev = new SimulatedEv({
    plugged: true,
    carMaxCurrentA: options.carMaxCurrentA ?? 16,
    phases: 3,
    voltageV: 230,
    minCurrentA: 6,
  });
  const peblar = new PeblarCharger(
    {
      assetId: 'ev-1',
      installationLimitA: options.installationLimitA ?? 16,
      initialLimitA: 16,
      energyTotalStartWh: 1_250_034,
      phaseCount: options.phaseCount ?? 3,
    },
    ev,
    () => clock.nowMs,
  );
  return { peblar, ev, clock };
}

const snapshot = (atMs: number, evW: number): SiteSnapshot =>
  ({ atMs, voltagesV: [230.4, 229.6, 231.2], evLoadsW: { 'ev-1': evW } }) as unknown as SiteSnapshot;

describe('PeblarCharger', () => {
  it('serves the meter of a 3-phase charge at 16 A: W, mA, V, Wh as integers', () => {
    const { peblar } = charger();
    peblar.update(snapshot(0, 0));
    peblar.update(snapshot(3_600_000, 11_040));
    expect(peblar.meter()).toEqual({
      CurrentPhase1: 16_000,
      CurrentPhase2: 16_000,
      CurrentPhase3: 16_000,
      EnergySession: 11_040,
      EnergyTotal: 1_261_074,
      PowerPhase1: 3_680,
      PowerPhase2: 3_680,
      PowerPhase3: 3_680,
      PowerTotal: 11_040,
      VoltagePhase1: 230,
      VoltagePhase2: 230,
      VoltagePhase3: 231,
    });
    expect(peblar.evInterface()).toEqual({
      CpState: 'State C',
      ChargeCurrentLimit: 16_000,
      ChargeCurrentLimitActual: 16_000,
      ChargeCurrentLimitSource: 'Local REST API',
      Force1Phase: false,
    });
  });

  it('follows a PATCHed limit: 6 A → 4 140 W; 0 pauses (State B); above the installation limit it applies that', () => {
    const { peblar } = charger({ installationLimitA: 16, carMaxCurrentA: 32 });
    expect(peblar.patch({ ChargeCurrentLimit: 6_000 })).toBeUndefined();
    expect(peblar.powerW()).toBe(4_140);
    expect(peblar.patch({ ChargeCurrentLimit: 0 })).toBeUndefined();
    expect([peblar.powerW(), peblar.evInterface()['CpState']]).toEqual([0, 'State B']);
    peblar.patch({ ChargeCurrentLimit: 25_000 });
    expect(peblar.evInterface()).toMatchObject({
      ChargeCurrentLimit: 25_000,
      ChargeCurrentLimitActual: 16_000,
      ChargeCurrentLimitSource: 'Installation limit',
    });
    expect(peblar.powerW()).toBe(11_040);
  });

  it('switches to one phase on Force1Phase (phases 2 and 3 carry nothing)', () => {
    const { peblar } = charger();
    peblar.patch({ Force1Phase: true });
    expect(peblar.meter()).toMatchObject({
      PowerTotal: 3_680,
      PowerPhase1: 3_680,
      PowerPhase2: 0,
      CurrentPhase3: 0,
      VoltagePhase3: 230,
    });
    expect(charger({ phaseCount: 1 }).peblar.patch({ Force1Phase: false })).toMatch(/1-phase installation/);
    expect(charger({ phaseCount: 1 }).peblar.meter()).toMatchObject({ VoltagePhase2: null, VoltagePhase3: null });
  });

  it('reports system identity and health', () => {
    const { peblar, clock } = charger();
    clock.nowMs += 4_861_000;
    expect(peblar.system()).toMatchObject({
      ProductSn: 'SIM-ev-1',
      PhaseCount: 3,
      Force1PhaseAllowed: true,
      Uptime: 4_861,
    });
    expect(peblar.health()).toEqual({ AccessMode: 'ReadWrite', ApiVersion: '1.0' });
  });

  it.each([
    [{}, 'give ChargeCurrentLimit'],
    [{ ChargeCurrentLimit: 3_000 }, 'at least 6000 mA'],
    [{ ChargeCurrentLimit: 6.5 }, 'expected int'],
    [{ ChargeCurrentLimit: '6000' }, 'expected number'],
    [{ ChargeCurrentLimit: 6_000, Power: 1 }, 'Unrecognized key'],
  ])('refuses the PATCH body %j', (body, message) => {
    const result = EvInterfacePatchSchema.safeParse(body);
    expect(result.success).toBe(false);
    expect(result.error?.issues.map((i) => i.message).join(' ')).toContain(message);
  });
});
