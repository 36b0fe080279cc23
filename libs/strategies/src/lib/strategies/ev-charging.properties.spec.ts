/**
 * Properties of EVCharging's rise limit over sequences of ticks with arbitrary spacing: the current offered from the
 * surplus never rises faster than maxRiseAPerS (one current step of quantization aside; the start at the minimum is
 * allowed at once), never exceeds the charger's maximum or the grid's import and phase headroom, and never stays
 * above its target — a fall is taken on the tick it appears.
 */
import fc from 'fast-check';
import { buildBattery, buildEvCharger, buildSiteState } from '../../testing';
import type { SiteState } from '../site-state';
import { evChargingStrategy, EvChargingConfigSchema, type EvChargingConfig, type EvChargingMemory } from './ev-charging';

const V = 230;
const EPS = 1e-6;

interface ChargerSpec {
  readonly assetId: string;
  readonly minCurrentA: number;
  readonly maxCurrentA: number;
  readonly phases: 1 | 3;
}

interface ChargerTick {
  readonly connected: boolean;
  readonly good: boolean;
  /** The car draws this share of what was offered on the tick before (a car never draws more than its offer). */
  readonly drawShare: number;
  /** The charger reports the offer as its current limit (else 0 = unknown). */
  readonly reportsLimit: boolean;
}

interface Tick {
  readonly gapMs: number;
  readonly pvW: number;
  readonly loadW: number;
  readonly batteryW: number;
  readonly batteryAgeMs: number;
  readonly gridAgeMs: number;
  /** The grid reading off the balance by this much (readings of different polls). */
  readonly gridSkewW: number;
  readonly gridGood: boolean;
  readonly maxImportW: number;
  readonly fuse: { readonly maxPhaseCurrentA: number; readonly phasePowersW: readonly number[] } | undefined;
  readonly chargers: readonly ChargerTick[];
}

const chargerSpec = (assetId: string): fc.Arbitrary<ChargerSpec> =>
  fc
    .record({ minCurrentA: fc.constantFrom(6, 6.5, 8), maxCurrentA: fc.integer({ min: 8, max: 32 }), phases: fc.constantFrom<1 | 3>(1, 3) })
    .map((c) => ({ assetId, ...c }));

const chargerTick: fc.Arbitrary<ChargerTick> = fc.record({
  connected: fc.constantFrom(true, true, true, true, false),
  good: fc.constantFrom(true, true, true, true, true, false),
  drawShare: fc.oneof(fc.constant(1), fc.double({ min: 0, max: 1, noNaN: true })),
  reportsLimit: fc.boolean(),
});

const tick = (chargers: number): fc.Arbitrary<Tick> =>
  fc.record({
    gapMs: fc.oneof(fc.integer({ min: 0, max: 300 }), fc.integer({ min: 0, max: 3_000 }), fc.integer({ min: 0, max: 40_000 })),
    pvW: fc.integer({ min: 0, max: 25_000 }),
    loadW: fc.integer({ min: 0, max: 6_000 }),
    batteryW: fc.integer({ min: -8_000, max: 8_000 }),
    batteryAgeMs: fc.integer({ min: 0, max: 3_000 }),
    gridAgeMs: fc.integer({ min: 0, max: 2_000 }),
    gridSkewW: fc.oneof(fc.constant(0), fc.integer({ min: -4_000, max: 4_000 })),
    gridGood: fc.constantFrom(true, true, true, true, true, true, true, false),
    maxImportW: fc.integer({ min: 0, max: 30_000 }),
    fuse: fc.option(
      fc.record({
        maxPhaseCurrentA: fc.integer({ min: 16, max: 63 }),
        phasePowersW: fc.array(fc.integer({ min: -5_000, max: 12_000 }), { minLength: 3, maxLength: 3 }),
      }),
      { nil: undefined },
    ),
    chargers: fc.array(chargerTick, { minLength: chargers, maxLength: chargers }),
  });

const scenario = fc
  .oneof(
    chargerSpec('ev-1').map((c) => [c]),
    fc.tuple(chargerSpec('ev-1'), chargerSpec('ev-2')).map(([a, b]) => [a, b]),
  )
  .chain((specs) =>
    fc.record({
      specs: fc.constant(specs),
      ticks: fc.array(tick(specs.length), { minLength: 1, maxLength: 30 }),
      raw: fc.record({
        mode: fc.constantFrom('solar', 'min+solar', 'fast', 'scheduled'),
        surplusPriority: fc.constantFrom('battery', 'ev'),
        startDelayMs: fc.constantFrom(0, 2_000),
        stopDelayMs: fc.constantFrom(0, 5_000),
        currentStepA: fc.constantFrom(1, 0.5, 0.1),
        maxRiseAPerS: fc.constantFrom(0.5, 1, 3),
      }),
    }),
  );

interface Decided {
  readonly atMs: number;
  readonly gapMs: number;
  readonly state: SiteState;
  /** Per charger: the current offered and its target before the rise limit (no target: the charger is paused). */
  readonly chargers: readonly { readonly currentA: number; readonly targetA: number | undefined }[];
}

/** Runs the sequence; each tick's charger readings follow what was offered on the tick before. */
function run(specs: readonly ChargerSpec[], ticks: readonly Tick[], config: EvChargingConfig): Decided[] {
  let memory: EvChargingMemory = evChargingStrategy.initialMemory(config);
  let atMs = 1_000_000;
  const offered = specs.map(() => 0);
  const decided: Decided[] = [];
  for (const t of ticks) {
    atMs += t.gapMs;
    const evChargers = specs.map((spec, i) => {
      const c = t.chargers[i] ?? { connected: true, good: true, drawShare: 1, reportsLimit: true };
      const previousA = offered[i] ?? 0;
      return buildEvCharger({
        ...spec,
        connected: c.connected,
        quality: c.good ? 'good' : 'stale',
        powerW: c.connected ? previousA * c.drawShare * spec.phases * V : 0,
        currentLimitA: c.reportsLimit ? previousA : 0,
      });
    });
    const balanced = buildSiteState({
      pvPowerW: t.pvW,
      loadPowerW: t.loadW,
      batteries: [buildBattery({ powerW: t.batteryW, maxChargePowerW: 10_000, maxDischargePowerW: 10_000, ageMs: t.batteryAgeMs })],
      evChargers,
    });
    const state: SiteState = {
      ...balanced,
      gridPowerW: balanced.gridPowerW + t.gridSkewW,
      gridAgeMs: t.gridAgeMs,
      gridQuality: t.gridGood ? 'good' : 'stale',
      limits: { maxImportW: t.maxImportW, maxExportW: 30_000, phases: 3, nominalVoltageV: V, ...(t.fuse ? { maxPhaseCurrentA: t.fuse.maxPhaseCurrentA } : {}) },
      ...(t.fuse ? { gridPhasePowersW: t.fuse.phasePowersW } : {}),
    };
    const result = evChargingStrategy.decide(state, config, { nowMs: atMs }, memory);
    memory = result.memory;
    const chargers = outcome(specs, result);
    chargers.forEach((c, i) => (offered[i] = c.currentA));
    decided.push({ atMs, gapMs: t.gapMs, state, chargers });
  }
  return decided;
}

function outcome(specs: readonly ChargerSpec[], result: ReturnType<typeof evChargingStrategy.decide>): Decided['chargers'] {
  return specs.map((spec, i) => {
    const sp = result.setpoints[spec.assetId];
    return { currentA: sp?.kind === 'ev-current' ? sp.currentA : NaN, targetA: result.metrics.terms[`ev${i}TargetA`] };
  });
}

/** The same states (as `run` built them), decided with another config. */
function replay(specs: readonly ChargerSpec[], decided: readonly Decided[], config: EvChargingConfig): Decided['chargers'][] {
  let memory: EvChargingMemory = evChargingStrategy.initialMemory(config);
  return decided.map(({ state, atMs }) => {
    const result = evChargingStrategy.decide(state, config, { nowMs: atMs }, memory);
    memory = result.memory;
    return outcome(specs, result);
  });
}

const parse = (raw: Record<string, unknown>): EvChargingConfig => EvChargingConfigSchema.parse(raw);
const ceilToStep = (value: number, step: number): number => Math.ceil(value / step - 1e-9) * step;

describe('ev-charging rise limit properties', () => {
  it('never rises faster than maxRiseAPerS over any span of ticks (surplus modes, arbitrary spacing, restarts)', () => {
    fc.assert(
      fc.property(scenario, ({ specs, ticks, raw }) => {
        const config = parse({ ...raw, mode: raw.mode === 'fast' || raw.mode === 'scheduled' ? 'solar' : raw.mode });
        const decided = run(specs, ticks, config);
        specs.forEach((spec, c) => {
          const startA = ceilToStep(spec.minCurrentA, config.currentStepA);
          for (let i = 0; i < decided.length; i++) {
            for (let j = i + 1; j < decided.length; j++) {
              const a = decided[i];
              const b = decided[j];
              if (!a || !b) continue;
              const fromA = a.chargers[c]?.currentA ?? 0;
              const toA = b.chargers[c]?.currentA ?? 0;
              const allowedA = Math.max(fromA, startA) + (config.maxRiseAPerS * (b.atMs - a.atMs)) / 1_000 + config.currentStepA;
              expect(toA).toBeLessThanOrEqual(allowedA + EPS);
            }
          }
        });
      }),
      { numRuns: 300 },
    );
  }, 60_000);

  it('never exceeds the charger’s maximum, the import headroom or the main fuse (every mode)', () => {
    fc.assert(
      fc.property(scenario, ({ specs, ticks, raw }) => {
        const config = parse(raw);
        for (const { state, chargers } of run(specs, ticks, config)) {
          let powerW = 0;
          let currentA = 0;
          specs.forEach((spec, c) => {
            const a = chargers[c]?.currentA ?? NaN;
            expect(a === 0 || (a >= spec.minCurrentA - EPS && a <= spec.maxCurrentA + EPS)).toBe(true);
            powerW += a * spec.phases * V;
            currentA += a;
          });
          const evW = state.evChargers.filter((c) => c.quality === 'good').reduce((s, c) => s + c.powerW, 0);
          expect(powerW).toBeLessThanOrEqual(Math.max(0, state.limits.maxImportW - state.gridPowerW + evW) + EPS);
          if (state.limits.maxPhaseCurrentA !== undefined && state.gridPhasePowersW) {
            const worstA = Math.max(...state.gridPhasePowersW.map((w) => Math.max(0, w) / V));
            const evA = state.evChargers.filter((c) => c.quality === 'good').reduce((s, c) => s + c.powerW / (c.phases * V), 0);
            expect(currentA).toBeLessThanOrEqual(Math.max(0, state.limits.maxPhaseCurrentA - worstA + evA) + EPS);
          }
        }
      }),
      { numRuns: 300 },
    );
  }, 60_000);

  it('never delays a fall: the offer is never above its target, the target does not depend on the limit, and a lower target is taken at once', () => {
    fc.assert(
      fc.property(scenario, ({ specs, ticks, raw }) => {
        const config = parse(raw);
        const limited = run(specs, ticks, config);
        const unlimited = replay(specs, limited, parse({ ...raw, maxRiseAPerS: 1e9 }));
        limited.forEach((tickResult, k) => {
          specs.forEach((_, c) => {
            const now = tickResult.chargers[c];
            if (!now) return;
            const targetA = now.targetA ?? 0; // no target term: the charger is paused (stale, not connected)
            expect(now.currentA).toBeLessThanOrEqual(targetA + EPS);
            expect(unlimited[k]?.[c]?.targetA).toBe(now.targetA);
            const before = limited[k - 1]?.chargers[c];
            // After a gap longer than a stale reading the limit restarts from the charger's readings (it may then
            // start lower still); otherwise a target at or below the last offer is the offer.
            if (before && targetA <= before.currentA && tickResult.gapMs <= config.maxReadingAgeMs) expect(now.currentA).toBe(targetA);
          });
        });
      }),
      { numRuns: 300 },
    );
  }, 60_000);
});
