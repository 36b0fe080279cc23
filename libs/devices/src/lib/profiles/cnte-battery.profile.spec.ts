import { decodeProfile, type BlockWords } from '../decode-profile';
import { encodeSetpoint } from '../encode-setpoint';
import type { ModbusProfile } from '../profile-schema';
import { getProfile } from '../registry';
import { getSunSpecModel, type SunSpecModelDef } from '../sunspec/models';

const profile = getProfile('cnte.ess-cabinet') as ModbusProfile;
const holding = (start: number, words: number[]): BlockWords => ({ table: 'holding', start, words });
const writesOf = (outcome: ReturnType<typeof encodeSetpoint>) =>
  outcome.kind === 'writes' ? outcome.writes.map((w) => [w.address, ...w.words]) : outcome;

/** Where each model of the assumed chain starts (its ID register). */
const MODEL_START: Readonly<Record<number, number>> = { 1: 40002, 802: 40070, 704: 40134, 803: 40201 };

/** Offset of a top-level point in a SunSpec model, from the shipped definition. */
function offsetOf(model: SunSpecModelDef, name: string): number | undefined {
  let offset = 0;
  for (const point of model.group.points) {
    if (point.name === name) return offset;
    offset += point.size;
  }
  return undefined;
}

describe('cnte.ess-cabinet follows the SunSpec model definitions', () => {
  it.each(profile.points.map((p) => [p.key, p] as const))(
    '%s sits at the offset its SunSpec point has',
    (_key, point) => {
      const [, modelId, name] = /^(\d+)\.(\w+)/.exec(point.note ?? '') ?? [];
      const model = getSunSpecModel(Number(modelId));
      const start = MODEL_START[Number(modelId)];
      expect(model && start !== undefined ? start + (offsetOf(model, name ?? '') ?? NaN) : undefined).toBe(
        point.address,
      );
      const definition = model?.group.points.find((p) => p.name === name);
      expect(definition?.sf ?? undefined).toBe(point.scaleFrom);
    },
  );

  it.each(profile.scaleFactors.map((sf) => [sf.name, sf] as const))(
    'scale factor %s sits at its SunSpec offset',
    (name, sf) => {
      const found = [802, 704, 803].flatMap((id) => {
        const model = getSunSpecModel(id);
        const offset = model ? offsetOf(model, name) : undefined;
        return offset === undefined ? [] : [(MODEL_START[id] ?? NaN) + offset];
      });
      expect(found).toContain(sf.address);
    },
  );

  it('probes the model ids and lengths of the shipped definitions', () => {
    for (const probe of profile.modbus.probe.filter((p) => p.count === 2 && p.address !== 40000)) {
      const [id, length] = probe.expect ?? [];
      const model = getSunSpecModel(id ?? 0);
      const size = model?.group.points.reduce((sum, p) => sum + p.size, 0) ?? 0;
      const groups = model?.group.groups?.reduce((sum, g) => sum + g.points.reduce((s, p) => s + p.size, 0), 0) ?? 0;
      expect(length).toBe(size + groups - 2);
    }
  });
});

// Golden words typed by hand: SunSpec integers with scale-factor registers (raw × 10^SF).
describe('cnte.ess-cabinet golden registers', () => {
  it('decodes SoC 85.3 % (40081 = 853, SoC_SF 40126 = −1) and −10 kW charging (40117 = 0xFC18, W_SF 40133 = +1)', () => {
    const reading = decodeProfile(profile, [
      holding(40081, [0x0355]),
      holding(40126, [0xffff]),
      holding(40117, [0xfc18]),
      holding(40133, [0x0001]),
    ]);
    expect(reading.measurements).toEqual({ socPct: 85.3, powerW: -10_000 });
    expect(reading.scaleFactors).toEqual({ SoC_SF: -1, W_SF: 1 });
  });

  it('decodes battery voltage, current (+ = discharge) and module temperature', () => {
    const reading = decodeProfile(profile, [
      holding(40104, [0x1e00]),
      holding(40114, [0xff38]),
      holding(40129, [0xffff, 0x0000, 0xffff]),
      holding(40211, [0x00fa]),
      holding(40224, [0xffff]),
    ]);
    expect(reading.measurements).toEqual({ batteryVoltageV: 768, batteryCurrentA: -20, temperatureC: 25 });
  });

  it('treats 0xFFFF and a 0x8000 scale factor as not implemented', () => {
    const reading = decodeProfile(profile, [
      holding(40081, [0x0355]),
      holding(40083, [0xffff]),
      holding(40126, [0x8000]),
      holding(40128, [0x0000]),
    ]);
    expect(reading.measurements).toEqual({});
    expect(reading.issues).toEqual(
      expect.arrayContaining([
        { key: 'socPct', outcome: { kind: 'not-implemented', sentinel: 'scale-factor' } },
        { key: 'sohPct', outcome: { kind: 'not-implemented', sentinel: 'all-ones' } },
      ]),
    );
  });

  it('reads the identity strings of model 1', () => {
    const reading = decodeProfile(profile, [holding(40004, [0x434e, 0x5445, ...new Array<number>(14).fill(0)])]);
    expect(reading.values.manufacturer).toBe('CNTE');
  });
});

describe('cnte.ess-cabinet battery set-point (model 704 WSet)', () => {
  it('writes mode, reversion, then WSet (WSet_SF = 0) and enable, with a keep-alive', () => {
    const outcome = encodeSetpoint(
      profile,
      { kind: 'battery-power', powerW: -50_000 },
      { scaleFactors: { WSet_SF: 0 } },
    );
    expect(writesOf(outcome)).toEqual([
      [40157, 0x0001],
      [40160, 0x0000, 0x0000],
      [40165, 0x0000, 0x001e],
      [40164, 0x0001],
      [40158, 0xffff, 0x3cb0],
      [40156, 0x0001],
    ]);
    expect(outcome).toMatchObject({ exact: true, keepAliveMs: 10_000, value: -50_000 });
  });

  it('scales WSet by WSet_SF: +50 kW with WSet_SF = 1 is raw 5000 (0x1388)', () => {
    const outcome = encodeSetpoint(
      profile,
      { kind: 'battery-power', powerW: 50_000 },
      { scaleFactors: { WSet_SF: 1 } },
    );
    expect(writesOf(outcome)).toContainEqual([40158, 0x0000, 0x1388]);
  });

  it('refuses to write without the scale factor, and beyond ±125 kW', () => {
    expect(encodeSetpoint(profile, { kind: 'battery-power', powerW: 1_000 })).toMatchObject({
      kind: 'rejected',
      reason: 'missing-scale-factor',
    });
    expect(
      encodeSetpoint(profile, { kind: 'battery-power', powerW: 130_000 }, { scaleFactors: { WSet_SF: 0 } }),
    ).toMatchObject({
      kind: 'rejected',
      reason: 'out-of-range',
    });
  });

  it('writes 0 W for the safe set-point', () => {
    expect(writesOf(encodeSetpoint(profile, { kind: 'safe' }, { scaleFactors: { WSet_SF: 0 } }))).toEqual([
      [40157, 0x0001],
      [40158, 0x0000, 0x0000],
      [40156, 0x0001],
    ]);
  });
});
