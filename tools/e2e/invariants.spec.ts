import type { ArbiterDecision, DeviceWrite, Setpoint } from '@voltimax/contracts';
import {
  checkBusWrites,
  checkDeviceWrites,
  checkGridSteps,
  CNTE_WSET_ADDRESS,
  deviceValueOf,
  type BusWrite,
  type SimEvent,
  type SiteLimits,
} from './invariants';

const LIMITS: SiteLimits = {
  battery: { assetId: 'bat-1', maxChargeW: 5_000, maxDischargeW: 5_000, minSocPct: 10 },
  ev: { assetId: 'ev-1', minCurrentA: 6, maxCurrentA: 16 },
  grid: { maxImportW: 12_000, maxExportW: 6_000 },
};

/** WSet words typed by hand: int32 high word first. */
const wset = (atMs: number, words: [number, number]): SimEvent => ({ t: 'write', atMs, assetId: 'bat-1', address: CNTE_WSET_ADDRESS, words });
const patch = (atMs: number, mA: number): SimEvent => ({ t: 'http-write', atMs, assetId: 'ev-1', body: { ChargeCurrentLimit: mA } });
const busWrite = (receivedAtMs: number, assetId: string, setpoint: Setpoint, commandId = `cmd-${receivedAtMs}`): BusWrite => ({
  receivedAtMs,
  write: { v: 1, commandId, assetId, setpoint, issuedAtMs: receivedAtMs, expiresAtMs: receivedAtMs + 15_000 } satisfies DeviceWrite,
});
const ctx = (busWrites: BusWrite[], socPct = 50) => ({ limits: LIMITS, busWrites, socAt: () => socPct, slackMs: 3_000 });

describe('deviceValueOf', () => {
  it.each([
    { words: [0x0000, 0x07d0] as [number, number], powerW: 2_000 },
    { words: [0xffff, 0xfc18] as [number, number], powerW: -1_000 },
    { words: [0x0000, 0x0000] as [number, number], powerW: 0 },
  ])('reads WSet $words as $powerW W', ({ words, powerW }) => {
    expect(deviceValueOf(wset(0, words), LIMITS)).toEqual({ kind: 'battery-power', powerW });
  });

  it('reads WSet inside a longer write, a PATCH as amperes, and other registers as other', () => {
    expect(deviceValueOf({ t: 'write', atMs: 0, assetId: 'bat-1', address: 40156, words: [1, 1, 0x0000, 0x03e8] }, LIMITS)).toEqual({
      kind: 'battery-power',
      powerW: 1_000,
    });
    expect(deviceValueOf(patch(0, 8_000), LIMITS)).toEqual({ kind: 'ev-current', currentA: 8 });
    expect(deviceValueOf({ t: 'write', atMs: 0, assetId: 'bat-1', address: 40156, words: [1] }, LIMITS)).toMatchObject({ kind: 'other' });
    expect(deviceValueOf({ t: 'step', atMs: 0, step: 1, gridW: 0, loadW: 0, batteryW: 0 }, LIMITS)).toBeUndefined();
  });
});

describe('checkDeviceWrites', () => {
  it('passes writes inside the limits that a live DeviceWrite asked for', () => {
    const writes = [busWrite(1_000, 'bat-1', { kind: 'battery-power', powerW: 2_000 }), busWrite(1_000, 'ev-1', { kind: 'ev-current', currentA: 8 })];
    expect(checkDeviceWrites([wset(1_050, [0, 2_000]), patch(1_060, 8_000)], ctx(writes))).toEqual([]);
  });

  it.each([
    { name: 'discharge above the limit', event: wset(1_000, [0, 6_000]), setpoint: { kind: 'battery-power', powerW: 6_000 } as Setpoint, detail: /discharge 6000 W above/ },
    { name: 'charge above the limit', event: wset(1_000, [0xffff, 0xe890]), setpoint: { kind: 'battery-power', powerW: -6_000 } as Setpoint, detail: /charge 6000 W above/ },
    { name: 'an EV current below the minimum', event: patch(1_000, 3_000), setpoint: { kind: 'ev-current', currentA: 3 } as Setpoint, detail: /outside 6…16 A/ },
    { name: 'an EV current above the maximum', event: patch(1_000, 20_000), setpoint: { kind: 'ev-current', currentA: 20 } as Setpoint, detail: /outside 6…16 A/ },
  ])('flags $name even when the arbiter asked for it', ({ event, setpoint, detail }) => {
    const assetId = event.t === 'http-write' ? 'ev-1' : 'bat-1';
    const violations = checkDeviceWrites([event], ctx([busWrite(900, assetId, setpoint)]));
    expect(violations).toEqual([expect.objectContaining({ invariant: 'limits', detail: expect.stringMatching(detail) })]);
  });

  it('flags a discharge below the minimum SoC', () => {
    const violations = checkDeviceWrites([wset(1_000, [0, 1_000])], ctx([busWrite(900, 'bat-1', { kind: 'battery-power', powerW: 1_000 })], 5));
    expect(violations).toEqual([expect.objectContaining({ invariant: 'limits', detail: expect.stringMatching(/SoC 5 %/) })]);
  });

  it.each([
    { name: 'no DeviceWrite at all', writes: [] as BusWrite[] },
    { name: 'a DeviceWrite of another value', writes: [busWrite(900, 'bat-1', { kind: 'battery-power', powerW: 1_500 })] },
    { name: 'a DeviceWrite of another asset', writes: [busWrite(900, 'ev-1', { kind: 'battery-power', powerW: 2_000 })] },
    { name: 'a DeviceWrite received long after the device write', writes: [busWrite(10_000, 'bat-1', { kind: 'battery-power', powerW: 2_000 })] },
    { name: 'an expired DeviceWrite', writes: [busWrite(-30_000, 'bat-1', { kind: 'battery-power', powerW: 2_000 })] },
  ])('flags a write with $name as not attributable', ({ writes }) => {
    expect(checkDeviceWrites([wset(1_000, [0, 2_000])], ctx(writes))).toEqual([expect.objectContaining({ invariant: 'attribution' })]);
  });

  it('takes the safe set-point the driver falls back to once the last DeviceWrite expired, and nothing else', () => {
    const expired = [busWrite(-20_000, 'bat-1', { kind: 'battery-power', powerW: 2_000 })]; // expires at −5 000
    expect(checkDeviceWrites([wset(-1_000, [0, 0])], ctx(expired))).toEqual([]);
    expect(checkDeviceWrites([patch(-1_000, 0)], ctx([busWrite(-20_000, 'ev-1', { kind: 'ev-current', currentA: 8 })]))).toEqual([]);
    expect(checkDeviceWrites([wset(-1_000, [0, 2_000])], ctx(expired))).toEqual([expect.objectContaining({ invariant: 'attribution' })]);
    // Not while the last DeviceWrite is live: then 0 W must be asked for.
    expect(checkDeviceWrites([wset(1_000, [0, 0])], ctx([busWrite(900, 'bat-1', { kind: 'battery-power', powerW: 2_000 })]))).toEqual([
      expect.objectContaining({ invariant: 'attribution' }),
    ]);
  });

  it('takes 0 W for a safe DeviceWrite, but no other power', () => {
    const safe = [busWrite(900, 'bat-1', { kind: 'safe' })];
    expect(checkDeviceWrites([wset(1_000, [0, 0])], ctx(safe))).toEqual([]);
    expect(checkDeviceWrites([wset(1_000, [0, 500])], ctx(safe))).toEqual([expect.objectContaining({ invariant: 'attribution' })]);
  });
});

describe('checkGridSteps', () => {
  const step = (n: number, gridW: number, batteryW: number): SimEvent => ({ t: 'step', atMs: n * 1_000, step: n, gridW, loadW: 0, batteryW });

  it('allows one step for the battery to follow, flags two in a row that make an over-limit import worse', () => {
    expect(checkGridSteps([step(1, 13_000, -1_000), step(2, 11_000, 1_000)], LIMITS)).toEqual([]);
    expect(checkGridSteps([step(1, 13_000, -1_000), step(2, 13_500, -1_000)], LIMITS)).toEqual([
      expect.objectContaining({ invariant: 'grid-connection', detail: expect.stringMatching(/step 2: grid 13500 W/) }),
    ]);
  });

  it('flags discharging into an over-limit export, not charging from it', () => {
    expect(checkGridSteps([step(1, -7_000, -2_000), step(2, -7_000, -2_000)], LIMITS)).toEqual([]);
    expect(checkGridSteps([step(1, -7_000, 2_000), step(2, -7_000, 2_000)], LIMITS)).toHaveLength(1);
  });
});

describe('checkBusWrites', () => {
  const decision = (commandId: string): ArbiterDecision =>
    ({ commandId }) as unknown as ArbiterDecision;

  it('passes writes with a decision, safe writes and re-assertions of a vouched set-point; flags the rest', () => {
    const writes = [
      busWrite(1, 'bat-1', { kind: 'battery-power', powerW: 2_000 }, 'cmd-a'),
      busWrite(2, 'bat-1', { kind: 'battery-power', powerW: 2_000 }, 'cmd-b'),
      busWrite(3, 'bat-1', { kind: 'safe' }, 'cmd-c'),
      busWrite(4, 'bat-1', { kind: 'battery-power', powerW: 3_000 }, 'cmd-d'),
    ];
    expect(checkBusWrites(writes, [decision('cmd-a')])).toEqual([
      expect.objectContaining({ invariant: 'bus-attribution', detail: expect.stringMatching(/cmd-d/) }),
    ]);
  });
});
