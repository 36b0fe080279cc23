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
