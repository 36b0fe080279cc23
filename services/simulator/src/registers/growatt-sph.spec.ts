import { growattBatteryRequestW, GrowattPv, GrowattSph, type GrowattEnergies, type GrowattState } from './growatt-sph';
import { ModbusException } from './words';

const ZERO: GrowattEnergies = {
  pvWh: 0,
  acOutWh: 0,
  gridImportWh: 0,
  gridExportWh: 0,
  batteryDischargeWh: 0,
  batteryChargeWh: 0,
  loadWh: 0,
};

const STATE: GrowattState = {
  pvW: 3_456.7,
  batteryPowerW: 1_500,
  socPct: 57,
  hasBattery: true,
  gridPowerW: -1_234.5,
  loadW: 3_722.2,
  frequencyHz: 50.01,
  phases: 3,
  voltagesV: [230, 230, 230],
  total: { ...ZERO, gridImportWh: 123_456, batteryChargeWh: 98_700 },
  today: ZERO,
  operatingS: 3_600,
};

function codeOf(action: () => unknown): number | undefined {
  try {
    action();
  } catch (err) {
    return err instanceof ModbusException ? err.modbusErrorCode : -1;
  }
  return undefined;
}

// Golden words typed by hand from growatt-inverter.md: 0.1 W, 0.01 Hz, 1 %, 0.1 kWh, u32 high word first.
describe('simulated Growatt SPH register image', () => {
  const inverter = new GrowattSph();
  inverter.update(STATE);
  const input = (address: number, count: number) => inverter.read('input', address, count);

  it('serves PV power 3456.7 W at input 1 as 34567 = 0x0000 0x8707', () => {
    expect(input(1, 2)).toEqual([0x0000, 0x8707]);
  });

  it('serves SoC 57 % at input 1014 and frequency 50.01 Hz at input 37 (5001)', () => {
    expect(input(1014, 1)).toEqual([57]);
    expect(input(37, 1)).toEqual([0x1389]);
  });

  it('serves +1500 W battery discharge at 1009 (15000 = 0x3A98) and 0 W charge at 1011', () => {
    expect(input(1009, 4)).toEqual([0x0000, 0x3a98, 0x0000, 0x0000]);
  });

  it('serves charging as a magnitude at 1011: −2000 W is 20000 = 0x4E20', () => {
    const charging = new GrowattSph();
    charging.update({ ...STATE, batteryPowerW: -2_000 });
    expect(charging.read('input', 1009, 4)).toEqual([0x0000, 0x0000, 0x0000, 0x4e20]);
  });

  it('serves export 1234.5 W at 1029 (12345 = 0x3039) and no import at 1021', () => {
    expect(input(1021, 2)).toEqual([0x0000, 0x0000]);
    expect(input(1029, 2)).toEqual([0x0000, 0x3039]);
  });

  it('serves energy totals in 0.1 kWh: import 123.456 kWh → 1235 at 1046, charge 98.7 kWh → 987 at 1058', () => {
    expect(input(1046, 2)).toEqual([0x0000, 0x04d3]);
    expect(input(1058, 2)).toEqual([0x0000, 0x03db]);
  });

  it.each([
    { what: 'an input read in the refused range 125–999', action: () => inverter.read('input', 500, 1), code: 2 },
    { what: 'an input read across 124/125', action: () => inverter.read('input', 120, 10), code: 2 },
    { what: 'a write to read-only holding 1014', action: () => inverter.write(1014, [1]), code: 2 },
    { what: 'AC charge enable = 2', action: () => inverter.write(1092, [2]), code: 3 },
    { what: 'a slot end of 24:00 (0x1800)', action: () => inverter.write(1101, [0x1800]), code: 3 },
    { what: 'a write outside the holding ranges', action: () => inverter.write(2000, [1]), code: 2 },
  ])('refuses $what with exception $code', ({ action, code }) => {
    expect(codeOf(action)).toBe(code);
  });
});

describe('Growatt SPH battery control (the evcc recipe)', () => {
  it('runs load first by factory default', () => {
    expect(new GrowattSph().batteryMode(12 * 60)).toEqual({ kind: 'load-first' });
  });

  it('force-charges at the charge rate once battery-first slot 1 covers the day and AC charge is on', () => {
    const inverter = new GrowattSph();
    inverter.write(1100, [0x0000, 0x173b, 0x0001]);
    inverter.write(1090, [40]);
    inverter.write(1092, [1]);
    expect(inverter.batteryMode(12 * 60)).toEqual({ kind: 'force-charge', ratePct: 40, stopSocPct: 100 });
  });

  it('holds with AC charge off, and returns to load first when slot 1 is disabled', () => {
    const inverter = new GrowattSph();
    inverter.write(1100, [0x0000, 0x173b, 0x0001]);
    expect(inverter.batteryMode(0)).toEqual({ kind: 'hold' });
    inverter.write(1102, [0]);
    expect(inverter.batteryMode(0)).toEqual({ kind: 'load-first' });
  });

  it('applies a battery-first slot only inside its times (08:00–10:30)', () => {
    const inverter = new GrowattSph();
    inverter.write(1100, [0x0800, 0x0a1e, 0x0001]);
    expect(inverter.batteryMode(8 * 60 + 15).kind).toBe('hold');
    expect(inverter.batteryMode(11 * 60).kind).toBe('load-first');
  });

  it('curtails PV by the active power limit (holding 3) and switches off with holding 0', () => {
    const inverter = new GrowattSph();
    inverter.write(3, [60]);
    expect(inverter.pvLimitFraction()).toBe(0.6);
    inverter.write(0, [0]);
    expect(inverter.pvLimitFraction()).toBe(0);
    expect(inverter.batteryMode(0)).toEqual({ kind: 'off' });
  });

  const ratings = { maxChargePowerW: 3_000, maxDischargePowerW: 3_000 };
  it.each([
    { mode: { kind: 'load-first' } as const, loadW: 1_200, pvW: 200, expectedW: 1_000 },
    { mode: { kind: 'load-first' } as const, loadW: 500, pvW: 2_500, expectedW: -2_000 },
    { mode: { kind: 'load-first' } as const, loadW: 9_000, pvW: 0, expectedW: 3_000 },
    { mode: { kind: 'hold' } as const, loadW: 1_200, pvW: 200, expectedW: 0 },
    { mode: { kind: 'hold' } as const, loadW: 500, pvW: 2_500, expectedW: -2_000 },
    { mode: { kind: 'force-charge', ratePct: 50, stopSocPct: 90 } as const, loadW: 500, pvW: 0, expectedW: -1_500 },
    { mode: { kind: 'off' } as const, loadW: 500, pvW: 0, expectedW: 0 },
  ])(
    '$mode.kind with load $loadW W and PV $pvW W asks the battery for $expectedW W',
    ({ mode, loadW, pvW, expectedW }) => {
      expect(growattBatteryRequestW(mode, { loadW, pvW, socPct: 50 }, ratings)).toBe(expectedW);
    },
  );

  it('stops force-charging at the stop SoC', () => {
    expect(
      growattBatteryRequestW(
        { kind: 'force-charge', ratePct: 100, stopSocPct: 90 },
        { loadW: 0, pvW: 0, socPct: 90 },
        ratings,
      ),
    ).toBe(0);
  });
});

// The PV string inverter family (MIC / MIN TL-X / MOD TL3-X): the first range of each table only.
describe('simulated Growatt PV string inverter register image', () => {
  const pvOnly: GrowattState = { ...STATE, batteryPowerW: 0, socPct: 0, hasBattery: false, pvW: 2_340 };

  it('serves status 1 and PV 2340 W at input 1 (23400 = 0x5B68) and as AC power at input 35', () => {
    const inverter = new GrowattPv();
    inverter.update(pvOnly);
    expect(inverter.profileId).toBe('growatt.pv-tl-x');
    expect(inverter.read('input', 0, 3)).toEqual([1, 0x0000, 0x5b68]);
    expect(inverter.read('input', 35, 2)).toEqual([0x0000, 0x5b68]);
  });

  it('reports waiting (status 0) without sun', () => {
    const inverter = new GrowattPv();
    inverter.update({ ...pvOnly, pvW: 0 });
    expect(inverter.read('input', 0, 1)).toEqual([0]);
  });

  it('answers 02 for the storage range, in both tables, and for the storage settings', () => {
    const inverter = new GrowattPv();
    expect(codeOf(() => inverter.read('input', 1000, 1))).toBe(2);
    expect(codeOf(() => inverter.read('holding', 1044, 1))).toBe(2);
    expect(codeOf(() => inverter.write(1092, [1]))).toBe(2);
    expect(codeOf(() => inverter.read('input', 124, 2))).toBe(2); // a read across the end of 0–124
  });

  it('takes the power limit at holding 3 (60 % → 0.6 of its rating), refuses 101 %, and switches off with holding 0', () => {
    const inverter = new GrowattPv();
    expect(inverter.read('holding', 0, 4)).toEqual([1, 0, 0, 100]); // factory: on, unlimited
    inverter.write(3, [60]);
    expect(inverter.pvLimitFraction()).toBe(0.6);
    expect(codeOf(() => inverter.write(3, [101]))).toBe(3);
    inverter.write(0, [0]);
    expect(inverter.pvLimitFraction()).toBe(0);
  });
});
