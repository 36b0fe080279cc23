import { decodeProfile, type BlockWords } from '../decode-profile';
import { encodeSetpoint } from '../encode-setpoint';
import type { ModbusProfile } from '../profile-schema';
import { planProfileReads } from '../read-planner';
import { getProfile } from '../registry';

const profile = getProfile('peblar.home') as ModbusProfile;
const input = (start: number, words: number[]): BlockWords => ({ table: 'input', start, words });
const writesOf = (outcome: ReturnType<typeof encodeSetpoint>) =>
  outcome.kind === 'writes' ? outcome.writes.map((w) => [w.address, ...w.words]) : outcome;

// Golden words typed by hand from the Peblar Modbus facts (W, V, mA, Wh as int64, ASCII strings).
describe('peblar.home golden registers', () => {
  it('decodes 7360 W (30014), 16 A from 16 000 mA (30022) and 4 937 323 Wh lifetime energy (30000)', () => {
    const reading = decodeProfile(profile, [
      input(30000, [0x0000, 0x0000, 0x004b, 0x566b]),
      input(30014, [0x0000, 0x1cc0]),
      input(30022, [0x0000, 0x3e80]),
    ]);
    expect(reading.measurements).toEqual({ importEnergyWh: 4_937_323, powerW: 7_360, currentL1A: 16 });
  });

  it('decodes the applied limit (30113, mA), phase count and CP state', () => {
    const reading = decodeProfile(profile, [
      input(30092, [0x0003]),
      input(30110, [0x0043, 0x0000, 0x0000, 0x0000, 0x2ee0]),
    ]);
    expect(reading.measurements).toEqual({ phases: 3, currentLimitA: 12 });
    expect(reading.values.cpState).toBe(0x43);
  });

  it('decodes the serial number on connect and treats an all-zero string as absent', () => {
    const serial = [0x5042, 0x2d31, 0x3233, 0x3400, 0, 0, 0, 0, 0, 0, 0, 0];
    expect(decodeProfile(profile, [input(30050, serial)]).values.serialNumber).toBe('PB-1234');
    expect(decodeProfile(profile, [input(30050, new Array<number>(12).fill(0))]).issues).toContainEqual({
      key: 'serialNumber',
      outcome: { kind: 'not-implemented', sentinel: 'zero' },
    });
  });

  it('reads identity strings only on connect', () => {
    const covers = (phase: 'poll' | 'connect') => planProfileReads(profile, phase).flatMap((b) => b.covers);
    expect(covers('poll')).not.toContain('serialNumber');
    expect(covers('connect')).toContain('serialNumber');
  });
});

describe('peblar.home current limit', () => {
  it('writes 16 A as 16 000 mA (0x0000 0x3E80) to 40000, the phase switch first when asked', () => {
    expect(writesOf(encodeSetpoint(profile, { kind: 'ev-current', currentA: 16, phases: 3 }))).toEqual([
      [40002, 0x0000],
      [40000, 0x0000, 0x3e80],
    ]);
    expect(writesOf(encodeSetpoint(profile, { kind: 'ev-current', currentA: 6, phases: 1 }))).toEqual([
      [40002, 0x0001],
      [40000, 0x0000, 0x1770],
    ]);
  });

  it('leaves the phase switch alone when the set-point names no phases', () => {
    expect(writesOf(encodeSetpoint(profile, { kind: 'ev-current', currentA: 10 }))).toEqual([[40000, 0x0000, 0x2710]]);
  });

  it('pauses with 0 A for the safe set-point, and rejects more than 32 A', () => {
    expect(writesOf(encodeSetpoint(profile, { kind: 'safe' }))).toEqual([[40000, 0x0000, 0x0000]]);
    expect(encodeSetpoint(profile, { kind: 'ev-current', currentA: 40 })).toMatchObject({
      kind: 'rejected',
      reason: 'out-of-range',
    });
  });

  it('refuses set-points it cannot execute', () => {
    expect(encodeSetpoint(profile, { kind: 'battery-power', powerW: 1_000 })).toMatchObject({
      kind: 'rejected',
      reason: 'unsupported-setpoint',
    });
  });
});
