import fc from 'fast-check';
import { batteryPowerOf, buildBattery, buildSiteState, runScenario } from '../../testing';
import { batteryPower } from '../battery';
import type { SiteState } from '../site-state';
import { backupPowerStrategy, BackupPowerConfigSchema, type BackupPowerConfig, type BackupPowerMemory } from './backup-power';

describe('backup-power strategy', () => {
  const config = BackupPowerConfigSchema.parse({ reserveSocPct: 30 });
  const fresh: BackupPowerMemory = { restoring: [] };
  const constrain = (proposedW: number, state: SiteState, cfg: BackupPowerConfig = config, memory = fresh) => {
    const fn = backupPowerStrategy.constrain;
    if (!fn) throw new Error('backup-power must be a layer');
    return fn({ 'bat-1': batteryPower(proposedW) }, state, cfg, { nowMs: 0 }, memory);
  };

  it.each([
    { name: 'above reserve: discharge passes', socPct: 60, proposedW: 3_000, expectedW: 3_000, reason: 'above-reserve' },
    { name: 'at reserve: discharge removed', socPct: 30, proposedW: 3_000, expectedW: 0, reason: 'holding-reserve' },
    { name: 'at reserve: charging passes', socPct: 30, proposedW: -2_000, expectedW: -2_000, reason: 'above-reserve' },
  ])('$name', ({ socPct, proposedW, expectedW, reason }) => {
    const result = constrain(proposedW, buildSiteState({ loadPowerW: 3_000, batteries: [buildBattery({ socPct })] }));
    expect(batteryPowerOf(result)).toBe(expectedW);
    expect(result.metrics.reason).toBe(reason);
  });

  it('below reserve restores from PV surplus only (default)', () => {
    const noSun = constrain(0, buildSiteState({ loadPowerW: 500, batteries: [buildBattery({ socPct: 20 })] }));
    expect(batteryPowerOf(noSun)).toBe(0);
    const sun = constrain(0, buildSiteState({ loadPowerW: 500, pvPowerW: 2_000, batteries: [buildBattery({ socPct: 20 })] }));
    expect(batteryPowerOf(sun)).toBe(-1_500);
    expect(sun.metrics.reason).toBe('restoring-reserve');
  });

  it('below reserve restores from the grid when configured, and overrides a primary that wants to discharge', () => {
    const cfg = BackupPowerConfigSchema.parse({ reserveSocPct: 30, restoreFrom: 'grid', restorePowerW: 2_000 });
    const result = constrain(3_000, buildSiteState({ loadPowerW: 3_000, batteries: [buildBattery({ socPct: 20 })] }), cfg);
    expect(batteryPowerOf(result)).toBe(-2_000);
  });

  it('counts the charge the proposal already plans once: PV only stays PV only, the grid stays under its limit', () => {
    // 1 kW of PV surplus, already planned into the battery by the primary (self-consumption). Before, it counted once
    // in the surplus and again as energy flowing in: −2 kW, 1 kW of it from the grid.
    const sun = constrain(-1_000, buildSiteState({ loadPowerW: 500, pvPowerW: 1_500, batteries: [buildBattery({ socPct: 20 })] }));
    expect(batteryPowerOf(sun)).toBe(-1_000);
    expect(sun.metrics.reason).toBe('restoring-reserve');
    // 8 kW of load on a 10 kW connection, the primary charging 1.5 kW: the restore adds 500 W (before: 2 kW, 11.5 kW).
    const cfg = BackupPowerConfigSchema.parse({ reserveSocPct: 30, restoreFrom: 'grid' });
    const limits = { maxImportW: 10_000, maxExportW: 10_000, phases: 3 as const, nominalVoltageV: 230 };
    const grid = constrain(-1_500, buildSiteState({ loadPowerW: 8_000, limits, batteries: [buildBattery({ socPct: 20 })] }), cfg);
    expect(batteryPowerOf(grid)).toBe(-2_000);
  });

  it('below the reserve with nothing to restore from, it says it holds the reserve', () => {
    const noSun = constrain(0, buildSiteState({ loadPowerW: 500, batteries: [buildBattery({ socPct: 20 })] }));
    expect(noSun.metrics.reason).toBe('holding-reserve');
    const none = BackupPowerConfigSchema.parse({ reserveSocPct: 30, restoreFrom: 'none' });
    const sunNone = constrain(0, buildSiteState({ pvPowerW: 3_000, batteries: [buildBattery({ socPct: 20 })] }), none);
    expect(batteryPowerOf(sunNone)).toBe(0);
    expect(sunNone.metrics.reason).toBe('holding-reserve');
  });

  it('a restore never imports beyond the limit (grid) or at all (pv) unless the proposal already did', () => {
    fc.assert(
      fc.property(
        fc.record({
          loadW: fc.integer({ min: 0, max: 15_000 }),
          pvW: fc.integer({ min: 0, max: 10_000 }),
          socPct: fc.integer({ min: 5, max: 95 }),
          proposedW: fc.integer({ min: -5_000, max: 5_000 }),
          maxImportW: fc.integer({ min: 1_000, max: 20_000 }),
          restoreFrom: fc.constantFrom('pv' as const, 'grid' as const),
          stepW: fc.constantFrom(1, 10, 100),
        }),
        ({ loadW, pvW, socPct, proposedW, maxImportW, restoreFrom, stepW }) => {
          const cfg = BackupPowerConfigSchema.parse({ reserveSocPct: 30, restoreFrom });
          const limits = { maxImportW, maxExportW: 10_000, phases: 3 as const, nominalVoltageV: 230 };
          const state = buildSiteState({ loadPowerW: loadW, pvPowerW: pvW, limits, batteries: [buildBattery({ socPct, powerStepW: stepW })] });
          const resultW = batteryPowerOf(constrain(proposedW, state, cfg)) ?? 0;
          expect(resultW).toBeLessThanOrEqual(proposedW);
          const demandW = loadW - pvW;
          const ceilingW = restoreFrom === 'grid' ? maxImportW : 0;
          // grid after = demand − battery: what the restore adds keeps it under the ceiling, or where the proposal had it.
          if (resultW < Math.min(proposedW, 0)) expect(demandW - resultW).toBeLessThanOrEqual(Math.max(ceilingW, demandW - Math.min(proposedW, 0)));
        },
      ),
    );
  });

  it('restores up to reserve + hysteresis, then lets go', () => {
    const cfg = BackupPowerConfigSchema.parse({ reserveSocPct: 30, restoreFrom: 'grid', restorePowerW: 1_000 });
    const state = (socPct: number) => buildSiteState({ batteries: [buildBattery({ socPct })] });
    const results = runScenario(backupPowerStrategy, cfg, fresh, [
      { atMs: 0, state: state(29) },
      { atMs: 1_000, state: state(31) },
      { atMs: 2_000, state: state(32) },
    ]);
    expect(results.map((r) => batteryPowerOf(r))).toEqual([-1_000, -1_000, 0]);
    expect(results.map((r) => r.memory.restoring)).toEqual([['bat-1'], ['bat-1'], []]);
  });

  it('uses the battery’s own reserve when it is higher than the configured one', () => {
    const result = constrain(2_000, buildSiteState({ batteries: [buildBattery({ socPct: 40, reserveSocPct: 45 })] }));
    expect(batteryPowerOf(result)).toBe(0);
  });

  it('never raises a setpoint (only narrows or adds a charge floor)', () => {
    for (const proposedW of [-5_000, -1_000, 0, 1_000, 5_000]) {
      for (const socPct of [5, 20, 29, 30, 31, 50, 95]) {
        const result = constrain(proposedW, buildSiteState({ pvPowerW: 3_000, batteries: [buildBattery({ socPct })] }));
        expect(batteryPowerOf(result)).toBeLessThanOrEqual(proposedW);
      }
    }
  });

  it('alone it idles above the reserve', () => {
    const result = backupPowerStrategy.decide(buildSiteState(), config, { nowMs: 0 }, fresh);
    expect(batteryPowerOf(result)).toBe(0);
    expect(result.metrics.reason).toBe('above-reserve');
  });

  it('holds a stale battery at 0 W (its SoC cannot be checked)', () => {
    const result = constrain(2_000, buildSiteState({ batteries: [buildBattery({ quality: 'stale' })] }));
    expect(batteryPowerOf(result)).toBe(0);
    expect(result.metrics.reason).toBe('stale-data');
  });
});
