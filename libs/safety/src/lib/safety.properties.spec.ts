import fc from 'fast-check';
import { ArbiterDecisionSchema, type AssetReading, type Setpoint } from '@voltimax/contracts';
import { arbitrationInputArb, catalogueLimitsArb, siteBatteryLimitsArb } from '../testing/arbitraries';
import { ensure, within } from '../testing/ensure';
import { BATTERY_LIMITS, EV_LIMITS, NOW_MS } from '../testing/fixtures';
import { ensureNarrowing, ensureWithinLimits, hasFault, isValidRequest, valueOf } from '../testing/oracle';
import { arbitrate, arbitrateSite, arbitrateWith, type AssetArbitrationRequest } from './arbitrate';
import { SAFE_SETPOINT } from './codes';
import { ESTOP_RELEASED } from './estop';
import type { GridLimits } from './grid';
import { effectiveLimits, type TemperatureWindow } from './limits';
import { RULES } from './rules';
import { PROPERTY_RUNS } from '../testing/property-runs';

/** Grid limits no setpoint comes near. */
const FAR = { maxImportW: 1e9, maxExportW: 1e9, maxPhaseCurrentA: 1e7 };

/** A good reading taken 100 ms ago. */
function fresh(assetId: string, kind: AssetReading['kind'], values: AssetReading['values']): AssetReading {
  return { v: 1, assetId, kind, atMs: NOW_MS - 100, sequence: 1, quality: 'good', values };
}

describe('safety properties', () => {
  it(`(d) gives the safe setpoint whenever telemetry is stale or missing, the driver is lost or the e-stop is latched (${PROPERTY_RUNS.safeOnFault} runs)`, () => {
    fc.assert(
      fc.property(arbitrationInputArb({ healthyWeight: 4 }), (input) => {
        const result = arbitrate(input);
        if (input.requested === undefined) {
          ensure(result.outcome === 'safe' && result.setpoint === SAFE_SETPOINT, () => 'no request but not safe');
        } else if (hasFault(input)) {
          ensure(
            result.outcome === 'safe' && result.setpoint.kind === 'safe',
            () => `fault but ${result.outcome} ${JSON.stringify(result.setpoint)}`,
          );
          ensure(result.violations.length === 1, () => `fault reported as ${JSON.stringify(result.violations)}`);
        } else if (isValidRequest(input)) {
          ensure(
            result.outcome === 'applied' || result.outcome === 'clamped',
            () => `healthy and valid but ${result.outcome}: ${JSON.stringify(result.violations)}`,
          );
        } else {
          ensure(
            result.outcome === 'rejected' && result.setpoint.kind === 'safe',
            () => `invalid request but ${result.outcome}`,
          );
        }
      }),
      { numRuns: PROPERTY_RUNS.safeOnFault },
    );
  });

  it(`(b) every rule alone only narrows (${PROPERTY_RUNS.eachRuleAlone} runs × ${RULES.length} rules)`, () => {
    fc.assert(
      fc.property(arbitrationInputArb({ healthyWeight: 20 }), (input) => {
        for (const rule of RULES) {
          const result = arbitrateWith([rule], input);
          ensureNarrowing(input, result);
          ensure(Number.isFinite(valueOf(result.setpoint)), () => `${rule.name}: non-finite output`);
        }
      }),
      { numRuns: PROPERTY_RUNS.eachRuleAlone },
    );
  });

  const GATES = RULES.slice(0, 4);
  const LIMIT_RULES = RULES.slice(4);

  it(`the setpoint does not depend on the order of the limit rules (${PROPERTY_RUNS.orderIndependent} runs)`, () => {
    fc.assert(
      fc.property(
        arbitrationInputArb(),
        fc.shuffledSubarray([...LIMIT_RULES], { minLength: LIMIT_RULES.length, maxLength: LIMIT_RULES.length }),
        (input, shuffled) => {
          const reference = arbitrate(input);
          const reordered = arbitrateWith([...GATES, ...shuffled], input);
          ensure(
            reordered.outcome === reference.outcome &&
              JSON.stringify(reordered.setpoint) === JSON.stringify(reference.setpoint),
            () =>
              `${shuffled.map((r) => r.name).join(',')}: ${JSON.stringify(reordered)} vs ${JSON.stringify(reference)}`,
          );
        },
      ),
      { numRuns: PROPERTY_RUNS.orderIndependent },
    );
  });

  it(`(e) effectiveLimits never loosens the catalogue or the site (${PROPERTY_RUNS.effectiveLimits} runs)`, () => {
    const noLooserMax = (eff: number | undefined, input: number | undefined, name: string) => {
      if (input === undefined) return;
      ensure(eff !== undefined && Number.isFinite(eff) && eff >= 0, () => `${name}: ${eff} is not a sane maximum`);
      if (eff !== undefined && Number.isFinite(input))
        ensure(eff <= input || eff === 0, () => `${name}: ${eff} looser than ${input}`);
    };
    const admits = (w: TemperatureWindow | readonly [number, number], t: number) => t >= w[0] && t <= w[1];
    const noLooserWindow = (
      eff: TemperatureWindow | undefined,
      input: readonly [number, number] | undefined,
      name: string,
    ) => {
      if (input === undefined) return;
      ensure(eff !== undefined, () => `${name}: window dropped`);
      if (eff === undefined) return;
      for (const t of [eff[0], eff[1], (eff[0] + eff[1]) / 2, input[0] - 1, input[1] + 1, input[0], input[1]]) {
        if (admits(eff, t))
          ensure(
            admits(input, t),
            () => `${name}: ${t} °C admitted by [${eff.join(', ')}] but not by [${input.join(', ')}]`,
          );
      }
    };
    fc.assert(
      fc.property(catalogueLimitsArb, siteBatteryLimitsArb, (catalogue, site) => {
        const eff = effectiveLimits(catalogue, site);
        for (const source of [site, catalogue ?? {}]) {
          noLooserMax(eff.maxChargePowerW, source.maxChargePowerW, 'maxChargePowerW');
          noLooserMax(eff.maxDischargePowerW, source.maxDischargePowerW, 'maxDischargePowerW');
          noLooserMax(eff.maxChargeCurrentA, source.maxChargeCurrentA, 'maxChargeCurrentA');
          noLooserMax(eff.maxDischargeCurrentA, source.maxDischargeCurrentA, 'maxDischargeCurrentA');
          noLooserMax(eff.maxRampWPerS, source.maxRampWPerS, 'maxRampWPerS');
          // A non-finite SoC bound counts as the blocking end: no discharge (min 100 %) or no charge (max 0 %).
          const minSoc =
            source.minSocPct === undefined ? undefined : Number.isFinite(source.minSocPct) ? source.minSocPct : 100;
          const maxSoc =
            source.maxSocPct === undefined ? undefined : Number.isFinite(source.maxSocPct) ? source.maxSocPct : 0;
          if (minSoc !== undefined)
            ensure(eff.minSocPct >= minSoc, () => `minSocPct ${eff.minSocPct} < ${source.minSocPct}`);
          if (maxSoc !== undefined)
            ensure(eff.maxSocPct <= maxSoc, () => `maxSocPct ${eff.maxSocPct} > ${source.maxSocPct}`);
          noLooserWindow(eff.chargeTemperatureC, source.chargeTemperatureC, 'chargeTemperatureC');
          noLooserWindow(eff.dischargeTemperatureC, source.dischargeTemperatureC, 'dischargeTemperatureC');
        }
        ensure(
          Number.isFinite(eff.minSocPct) && Number.isFinite(eff.maxSocPct) && eff.reserveSocPct === site.reserveSocPct,
          () => 'SoC limits not finite',
        );
      }),
      { numRuns: PROPERTY_RUNS.effectiveLimits },
    );
  });

  it(`battery and EV chargers together never push the grid beyond its limits, except by moving towards 0 (${PROPERTY_RUNS.siteGrid} runs)`, () => {
    const V = 230;
    const siteArb = fc.record({
      maxImportW: fc.integer({ min: 0, max: 25_000 }),
      maxExportW: fc.integer({ min: 0, max: 25_000 }),
      gridPowerW: fc.integer({ min: -30_000, max: 30_000 }),
      batteries: fc.array(
        fc.record({
          measuredW: fc.integer({ min: -5_000, max: 6_000 }),
          lastW: fc.integer({ min: -5_000, max: 6_000 }),
          requestW: fc.integer({ min: -8_000, max: 8_000 }),
          socPct: fc.integer({ min: 0, max: 100 }),
        }),
        { minLength: 1, maxLength: 2 },
      ),
      evs: fc.array(
        fc.record({
          measuredW: fc.integer({ min: 0, max: 11_040 }),
          lastA: fc.integer({ min: 0, max: 16 }),
          requestA: fc.integer({ min: 0, max: 20 }),
          phases: fc.constantFrom<1 | 3>(1, 3),
        }),
        { minLength: 0, maxLength: 2 },
      ),
      evFirst: fc.boolean(),
    });
    fc.assert(
      fc.property(siteArb, (site) => {
        const limits: GridLimits = {
          maxImportW: site.maxImportW,
          maxExportW: site.maxExportW,
          phases: 3,
          nominalVoltageV: V,
        };
        const driver = { lastSeenAtMs: NOW_MS, intervalMs: 5_000 };
        const batteries: AssetArbitrationRequest[] = site.batteries.map((b, i) => ({
          asset: { assetId: `bat-${i}`, battery: { ...BATTERY_LIMITS, maxRampWPerS: undefined } },
          requested: { kind: 'battery-power', powerW: b.requestW },
          reading: fresh(`bat-${i}`, 'battery', { powerW: b.measuredW, socPct: b.socPct, temperatureC: 20 }),
          lastApplied: { setpoint: { kind: 'battery-power', powerW: b.lastW }, atMs: NOW_MS - 1_000 },
          driver,
        }));
        const evs: AssetArbitrationRequest[] = site.evs.map((e, i) => ({
          asset: { assetId: `ev-${i}`, evCharger: EV_LIMITS },
          requested: { kind: 'ev-current', currentA: e.requestA, phases: e.phases },
          reading: fresh(`ev-${i}`, 'ev-charger', { powerW: e.measuredW }),
          lastApplied: { setpoint: { kind: 'ev-current', currentA: e.lastA }, atMs: NOW_MS - 1_000 },
          driver,
        }));
        const assets = site.evFirst ? [...evs, ...batteries] : [...batteries, ...evs];
        const results = arbitrateSite({
          assets,
          grid: { limits, reading: fresh('grid', 'grid-meter', { powerW: site.gridPowerW }) },
          estop: ESTOP_RELEASED,
          nowMs: NOW_MS,
        });
        // ΔP per asset from the physics: grid = load + ev − pv − battery.
        let maxW = site.gridPowerW;
        let minW = site.gridPowerW;
        // Moves towards 0 from where an asset is: asked for (0, or a battery's request towards 0 from its last
        // setpoint and its measured power), or the arbiter's fallback. Both may take the grid past a limit. The other assets must leave room
        // for the asked-for ones (they are decided first), but cannot foresee a fallback.
        const towards = { askedUpW: 0, askedDownW: 0, fallbackUpW: 0, fallbackDownW: 0 };
        results.forEach((result, i) => {
          const request = assets[i];
          const measured = request?.reading?.values.powerW ?? 0;
          const setpoint: Setpoint = result.setpoint;
          const value = valueOf(setpoint);
          const phases = setpoint.kind === 'ev-current' ? Math.min(setpoint.phases ?? 3, 3) : 3;
          const isBattery = request?.asset.battery !== undefined;
          const deltaW = isBattery ? measured - value : value * V * phases - measured;
          maxW += Math.max(0, deltaW);
          minW += Math.min(0, deltaW);
          const nowW = isBattery ? measured : measured / (V * phases);
          if (value === 0 || (Math.sign(value) === Math.sign(nowW) && Math.abs(value) < Math.abs(nowW))) {
            const asked = request?.requested === undefined ? 0 : valueOf(request.requested);
            const last = request?.lastApplied === undefined ? 0 : valueOf(request.lastApplied.setpoint);
            const askedTowards =
              asked === 0 ||
              (isBattery &&
                [last, measured].every((f) => Math.sign(asked) === Math.sign(f) && Math.abs(asked) < Math.abs(f)));
            if (askedTowards) {
              towards.askedUpW += Math.max(0, deltaW);
              towards.askedDownW += Math.min(0, deltaW);
            } else {
              towards.fallbackUpW += Math.max(0, deltaW);
              towards.fallbackDownW += Math.min(0, deltaW);
            }
          }
        });
        ensure(
          within(maxW, Math.max(site.maxImportW, site.gridPowerW + towards.askedUpW) + towards.fallbackUpW),
          () => `import ${maxW} W (limit ${site.maxImportW}, towards 0: ${JSON.stringify(towards)})`,
        );
        ensure(
          within(-minW, Math.max(site.maxExportW, -(site.gridPowerW + towards.askedDownW)) - towards.fallbackDownW),
          () => `export ${-minW} W (limit ${site.maxExportW}, towards 0: ${JSON.stringify(towards)})`,
        );
      }),
      { numRuns: PROPERTY_RUNS.siteGrid },
    );
  });

  it(`a battery asked to move part-way towards 0 W from where it is, with only the grid in the way, gets its request, or less only to bring back the limit its power feeds (${PROPERTY_RUNS.partWayToZero} runs)`, () => {
    // Going the rest of the way to 0 W would take the grid further than the request in the same direction: a
    // discharge that holds the import under the fuse, or charging that holds the export, asked for a little less.
    const caseArb = fc.record({
      measuredW: fc.integer({ min: -5_000, max: 6_000 }),
      fraction: fc.double({ min: 0, max: 1, noNaN: true }),
      gridPowerW: fc.integer({ min: -30_000, max: 30_000 }),
      maxImportW: fc.integer({ min: 0, max: 25_000 }),
      maxExportW: fc.integer({ min: 0, max: 25_000 }),
    });
    fc.assert(
      fc.property(caseArb, (c) => {
        const requestW = Math.round(c.measuredW * c.fraction);
        const result = arbitrate({
          asset: { assetId: 'bat-1', battery: { ...BATTERY_LIMITS, maxRampWPerS: undefined } },
          requested: { kind: 'battery-power', powerW: requestW },
          reading: fresh('bat-1', 'battery', { powerW: c.measuredW, socPct: 50, temperatureC: 20 }),
          grid: {
            limits: { maxImportW: c.maxImportW, maxExportW: c.maxExportW, phases: 3, nominalVoltageV: 230 },
            reading: fresh('grid', 'grid-meter', { powerW: c.gridPowerW }),
          },
          estop: ESTOP_RELEASED,
          driver: { lastSeenAtMs: NOW_MS, intervalMs: 5_000 },
          nowMs: NOW_MS,
        });
        const value = valueOf(result.setpoint);
        // Cut further only to bring back the limit its remaining power feeds: export for a discharge, import for a
        // charge (grid = … − battery).
        const afterW = c.gridPowerW + c.measuredW - requestW;
        const feedsBeyond = requestW > 0 ? -afterW > c.maxExportW : requestW < 0 && afterW > c.maxImportW;
        ensure(
          value === requestW || (feedsBeyond && Math.abs(value) < Math.abs(requestW) && value * requestW >= 0),
          () => `asked for ${requestW} W from ${c.measuredW} W, got ${value} W`,
        );
      }),
      { numRuns: PROPERTY_RUNS.partWayToZero },
    );
  });

  it(`an EV current held below a limit is the last applied one, inside every limit, less than evLimitHoldA below the value without the hold (${PROPERTY_RUNS.evLimitHold} runs)`, () => {
    fc.assert(
      fc.property(
        arbitrationInputArb(),
        fc.constantFrom(0.1, 0.5, 1, 4),
        fc.integer({ min: -5, max: 15 }),
        (generated, holdA, tenths) => {
          const below = tenths / 10;
          // Mostly a last current near where the limit holds the value (`below` × the hold beneath it), so the hold is
          // tried on both sides of its edges; the generated last setpoint otherwise.
          const first = arbitrate({ ...generated, options: { ...generated.options, evLimitHoldA: 0 } });
          const input =
            first.setpoint.kind === 'ev-current' && below <= 1.2
              ? {
                  ...generated,
                  lastApplied: {
                    setpoint: { ...first.setpoint, currentA: Math.max(0, first.setpoint.currentA - below * holdA) },
                    atMs: generated.nowMs - 1_000,
                    // Mostly answering the same request (a hold under an unclamped request needs that).
                    ...(generated.requested === undefined || tenths % 4 === 0
                      ? {}
                      : { requested: generated.requested }),
                  },
                }
              : generated;
          const held = arbitrate({ ...input, options: { ...input.options, evLimitHoldA: holdA } });
          const plain = arbitrate({ ...input, options: { ...input.options, evLimitHoldA: 0 } });
          ensureWithinLimits(input, held);
          ensureNarrowing(input, held);
          const heldA = held.setpoint.kind === 'ev-current' ? held.setpoint.currentA : undefined;
          const plainA = plain.setpoint.kind === 'ev-current' ? plain.setpoint.currentA : undefined;
          if (heldA === undefined || plainA === undefined || heldA === plainA) {
            ensure(
              JSON.stringify(held) === JSON.stringify(plain),
              () => `${JSON.stringify(held)} differs from ${JSON.stringify(plain)} without a hold`,
            );
            return;
          }
          const last = input.lastApplied?.setpoint;
          const charger = input.asset.evCharger;
          ensure(
            last?.kind === 'ev-current' && last.currentA === heldA,
            () => `${heldA} A is not the last applied ${JSON.stringify(last)}`,
          );
          ensure(
            heldA > 0 && heldA < plainA && plainA - heldA < holdA,
            () => `${heldA} A held for ${plainA} A with a ${holdA} A hold`,
          );
          // Under a request nothing held down, only while it is the one the last write answered.
          const requestedA = input.requested?.kind === 'ev-current' ? input.requested.currentA : Number.NaN;
          const before = input.lastApplied?.requested;
          ensure(
            plainA < requestedA || (before?.kind === 'ev-current' && before.currentA === requestedA),
            () =>
              `${heldA} A held under an unclamped request ${requestedA} A that changed from ${JSON.stringify(before)}`,
          );
          // Only near the grid's moving end: with the grid's limits out of reach, nothing is held.
          const open = { ...input, grid: { ...input.grid, limits: { ...input.grid.limits, ...FAR } } };
          const openHeld = arbitrate({ ...open, options: { ...input.options, evLimitHoldA: holdA } });
          const openPlain = arbitrate({ ...open, options: { ...input.options, evLimitHoldA: 0 } });
          ensure(
            JSON.stringify(openHeld) === JSON.stringify(openPlain),
            () => `held with the grid out of reach: ${JSON.stringify(openHeld)} vs ${JSON.stringify(openPlain)}`,
          );
          ensure(
            charger !== undefined && heldA >= charger.minCurrentA && heldA >= (plain.bounds?.min ?? 0),
            () => `${heldA} A below the minimum ${JSON.stringify(charger)} or bounds ${JSON.stringify(plain.bounds)}`,
          );
          // Said in the decision: the rules' violations, and the hold's.
          ensure(
            held.outcome === 'clamped' &&
              JSON.stringify(held.violations.slice(0, -1)) === JSON.stringify(plain.violations) &&
              held.violations.at(-1)?.code === 'ev-limit-hold',
            () => `${held.outcome} ${JSON.stringify(held.violations)}`,
          );
        },
      ),
      { numRuns: PROPERTY_RUNS.evLimitHold },
    );
  });

  it(`every decision fits the audit schema (${PROPERTY_RUNS.auditSchema} runs)`, () => {
    fc.assert(
      fc.property(arbitrationInputArb({ healthyWeight: 20 }), (input) => {
        const result = arbitrate(input);
        const parsed = ArbiterDecisionSchema.safeParse({
          v: 1,
          assetId: input.asset.assetId,
          outcome: result.outcome,
          applied: result.setpoint,
          violations: result.violations,
          atMs: NOW_MS,
        });
        ensure(parsed.success, () => `${JSON.stringify(result)}: ${JSON.stringify(parsed.error?.issues)}`);
      }),
      { numRuns: PROPERTY_RUNS.auditSchema },
    );
  });

  it(`(c) a deep copy of the input gives the same result, and the input is not mutated (${PROPERTY_RUNS.clonedInput} runs)`, () => {
    fc.assert(
      fc.property(arbitrationInputArb(), (input) => {
        const copy = structuredClone(input);
        const before = JSON.stringify(input);
        const result = JSON.stringify(arbitrate(input));
        ensure(JSON.stringify(arbitrate(copy)) === result, () => 'clone gives another result');
        ensure(JSON.stringify(input) === before, () => 'input mutated');
      }),
      { numRuns: PROPERTY_RUNS.clonedInput },
    );
  });
});
