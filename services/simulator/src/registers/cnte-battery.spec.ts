import { getSunSpecModel, type SunSpecGroupDef } from '@voltimax/devices';
import { chainAddresses, CnteBattery, type CnteRatings } from './cnte-battery';
import { ModbusException } from './words';

const RATINGS: CnteRatings = {
  capacityWh: 10_240,
  maxChargePowerW: 5_000,
  maxDischargePowerW: 5_000,
  minSocPct: 10,
  maxSocPct: 95,
};

function cabinet(clock = { nowMs: 1_000_000 }) {
  const device = new CnteBattery(RATINGS, { serialNumber: 'SIM-bat-1', unitId: 1 }, () => clock.nowMs);
  return { device, clock };
}

function codeOf(action: () => unknown): number | undefined {
  try {
    action();
  } catch (err) {
    return err instanceof ModbusException ? err.modbusErrorCode : -1;
  }
  return undefined;
}

// Addresses and words typed by hand: chain 'SunS' @ 40000 → 1 @ 40002 → 802 @ 40070 → 704 @ 40134 → 803 @ 40201
// → end @ 40261 (the layout the cnte.ess-cabinet profile assumes). 802: SoC @ +11 = 40081, W @ +47 = 40117,
// SoC_SF @ +56 = 40126, W_SF @ +63 = 40133. 704: WSetEna @ +22 = 40156, WSetMod 40157, WSet 40158–40159,
// WSetRvrt 40160–40161, WSetEnaRvrt 40164, WSetRvrtTms 40165–40166, WSetRvrtRem 40167–40168.
describe('simulated CNTE cabinet: SunSpec chain', () => {
  const { device } = cabinet();
  const holding = (address: number, count: number) => device.read('holding', address, count);

  it('puts the model headers where the chain expects them', () => {
    expect(chainAddresses().endAddress).toBe(40261);
    expect(holding(40000, 4)).toEqual([0x5375, 0x6e53, 1, 66]);
    expect(holding(40070, 2)).toEqual([802, 62]);
    expect(holding(40134, 2)).toEqual([704, 65]);
    expect(holding(40201, 2)).toEqual([803, 58]);
    expect(holding(40261, 2)).toEqual([0xffff, 0x0000]);
  });

  it('serves model 1 identity: Mn "CNTE", SN "SIM-bat-1", DA 1', () => {
    expect(holding(40004, 3)).toEqual([0x434e, 0x5445, 0x0000]);
    expect(holding(40052, 5)).toEqual([0x5349, 0x4d2d, 0x6261, 0x742d, 0x3100]);
    expect(holding(40068, 2)).toEqual([1, 0x8000]);
  });

  it('serves SoC 85.3 % as 853 with SoC_SF −1, and −1000 W (charging) as 0xFC18 with W_SF 0', () => {
    device.update({ socPct: 85.3, powerW: -1_000, dischargedWh: 0 });
    expect(holding(40081, 1)).toEqual([0x0355]);
    expect(holding(40126, 1)).toEqual([0xffff]);
    expect(holding(40117, 1)).toEqual([0xfc18]);
    expect(holding(40133, 1)).toEqual([0x0000]);
    expect(holding(40086, 1)).toEqual([4]); // ChaSt CHARGING
  });

  it('serves the nameplate: WHRtg 10240 Wh (SF 0), WChaRteMax / WDisChaRteMax 5000 W, SoC window 10–95 %', () => {
    expect(holding(40073, 3)).toEqual([10_240, 5_000, 5_000]);
    expect(holding(40077, 2)).toEqual([950, 100]);
    expect(holding(40123, 2)).toEqual([0x0000, 0x0000]); // WHRtg_SF, WChaDisChaMax_SF
  });

  it('marks points it does not simulate as not implemented (uint16 0xFFFF, int16 0x8000, uint32 0xFFFFFFFF)', () => {
    expect(holding(40076, 1)).toEqual([0xffff]); // 802.DisChaRte
    expect(holding(40119, 1)).toEqual([0x8000]); // 802.ReqW
    expect(holding(40094, 2)).toEqual([0xffff, 0xffff]); // 802.WarrDt
  });

  it('uses the W scale factor a bigger cabinet needs: 100 kW fits int16 with W_SF 1', () => {
    const big = new CnteBattery(
      { ...RATINGS, capacityWh: 215_000, maxChargePowerW: 100_000, maxDischargePowerW: 100_000 },
      { serialNumber: 'X', unitId: 1 },
      () => 0,
    );
    big.update({ socPct: 50, powerW: 100_000, dischargedWh: 0 });
    expect(big.read('holding', 40117, 1)).toEqual([10_000]);
    expect(big.read('holding', 40133, 1)).toEqual([0x0001]);
    expect(big.read('holding', 40073, 1)).toEqual([21_500]); // WHRtg with WHRtg_SF 1
  });
});

/** `model.point` names the definitions mark RW (one instance of each group). */
function rwPoints(modelId: number, group: SunSpecGroupDef | undefined, prefix = ''): string[] {
  if (!group) return [];
  return [
    ...group.points.filter((p) => p.access === 'RW').map((p) => `${modelId}.${prefix}${p.name}`),
    ...(group.groups ?? []).flatMap((g) => rwPoints(modelId, g, `${g.name}_`)),
  ];
}

describe('simulated CNTE cabinet: writes', () => {
  it('lets clients write exactly the points the SunSpec definitions mark RW', () => {
    const expected = [1, 802, 704, 803].flatMap((id) => rwPoints(id, getSunSpecModel(id)?.group));
    expect(cabinet().device.writableNames().sort()).toEqual(expected.sort());
  });

  it('follows a WSet written in watts once WSetEna is on: −5000 W is 0xFFFF 0xEC78', () => {
    const { device } = cabinet();
    expect(device.setpointW()).toBe(0);
    device.write(40157, [0x0001]);
    device.write(40158, [0xffff, 0xec78]);
    expect(device.setpointW()).toBe(0);
    device.write(40156, [0x0001]);
    expect(device.setpointW()).toBe(-5_000);
  });

  it('follows WSetPct in percent mode (WSetMod 0): 40 % of the 5 kW discharge rating', () => {
    const { device } = cabinet();
    device.write(40156, [0x0001, 0x0000]);
    device.write(40162, [40]);
    expect(device.setpointW()).toBe(2_000);
  });

  it('reverts WSet to WSetRvrt (0 W) once WSetRvrtTms (30 s) pass without a set-point, and counts it', () => {
    const { device, clock } = cabinet();
    device.write(40156, [0x0001, 0x0001, 0x0000, 0x0bb8]); // enable, watts, +3000 W
    expect(device.read('holding', 40167, 2)).toEqual([0, 30]);
    clock.nowMs += 29_999;
    device.tick(clock.nowMs);
    expect(device.setpointW()).toBe(3_000);
    expect(device.read('holding', 40167, 2)).toEqual([0, 1]);
    clock.nowMs += 1;
    device.tick(clock.nowMs);
    expect(device.setpointW()).toBe(0);
    expect(device.read('holding', 40158, 2)).toEqual([0, 0]);
    expect(device.counters().reverts).toBe(1);
    device.tick(clock.nowMs + 60_000);
    expect(device.counters().reverts).toBe(1);
  });

  it('restarts the reversion timer on every set-point write (the driver keep-alive)', () => {
    const { device, clock } = cabinet();
    device.write(40156, [0x0001, 0x0001, 0x0000, 0x03e8]);
    clock.nowMs += 20_000;
    device.write(40158, [0x0000, 0x03e8]);
    clock.nowMs += 20_000;
    device.tick(clock.nowMs);
    expect(device.setpointW()).toBe(1_000);
  });

  it('never reverts when WSetEnaRvrt is off', () => {
    const { device, clock } = cabinet();
    device.write(40164, [0x0000]);
    device.write(40156, [0x0001, 0x0001, 0x0000, 0x03e8]);
    device.tick(clock.nowMs + 3_600_000);
    expect(device.setpointW()).toBe(1_000);
  });

  it('stops following set-points while SetOp says disconnect', () => {
    const { device } = cabinet();
    device.write(40156, [0x0001, 0x0001, 0x0000, 0x03e8]);
    device.write(40120, [2]);
    expect(device.setpointW()).toBe(0);
  });

  it.each([
    { what: 'a write to read-only SoC (40081)', address: 40081, words: [500], code: 2 },
    { what: 'a write to the marker', address: 40000, words: [0], code: 2 },
    { what: 'half of WSet (40158 alone)', address: 40158, words: [0x0000], code: 2 },
    { what: 'the low word of WSet (40159)', address: 40159, words: [0x0000], code: 2 },
    { what: 'a block running into read-only WSetRvrtRem', address: 40165, words: [0, 30, 0, 0], code: 2 },
    { what: 'WSetEna = 2', address: 40156, words: [0x0002], code: 3 },
    { what: 'WSet beyond the 5 kW rating (+6000 W)', address: 40158, words: [0x0000, 0x1770], code: 3 },
    { what: 'a write outside the image', address: 40300, words: [1], code: 2 },
  ])('refuses $what with exception $code, changing nothing', ({ address, words, code }) => {
    const { device } = cabinet();
    const before = device.read('holding', 40156, 13);
    expect(codeOf(() => device.write(address, words))).toBe(code);
    expect(device.read('holding', 40156, 13)).toEqual(before);
  });

  it.each([
    { what: 'a read past the end model', action: (d: CnteBattery) => d.read('holding', 40262, 2), code: 2 },
    { what: 'a read below the marker', action: (d: CnteBattery) => d.read('holding', 39999, 2), code: 2 },
    { what: 'an input-register read', action: (d: CnteBattery) => d.read('input', 40000, 2), code: 2 },
  ])('refuses $what with exception $code', ({ action, code }) => {
    expect(codeOf(() => action(cabinet().device))).toBe(code);
  });
});
