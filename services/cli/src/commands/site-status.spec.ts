import type { AssetReading } from '@voltimax/contracts';
import { emptyMonitorState } from './monitor-view';
import { renderSiteStatus, siteFlows, STATUS_STALE_MS } from './site-status';

const NOW = 1_790_000_000_000;

function reading(assetId: string, kind: AssetReading['kind'], values: AssetReading['values'], extra: Partial<AssetReading> = {}): AssetReading {
  return { v: 1, assetId, kind, atMs: NOW - 500, sequence: 1, quality: 'good', values, ...extra };
}

const byId = (...readings: AssetReading[]) => new Map(readings.map((r) => [r.assetId, r]));

describe('siteFlows', () => {
  it('takes the grid from the meter and the load from the balance grid = load + ev − pv − battery', () => {
    const flows = siteFlows(
      byId(
        reading('grid-1', 'grid-meter', { powerW: 500 }),
        reading('pv-1', 'pv-inverter', { powerW: 3_000 }),
        reading('bat-1', 'battery', { powerW: -1_000, socPct: 40 }),
        reading('bat-2', 'battery', { powerW: -500, socPct: 60 }),
        reading('ev-1', 'ev-charger', { powerW: 1_400 }),
      ),
      NOW,
    );
    expect(flows).toEqual({ gridW: 500, pvW: 3_000, batteryW: -1_500, socPct: 50, evW: 1_400, loadW: 600, staleAssets: [] });
  });

  it('uses what a hybrid inverter reports when there is no grid meter', () => {
    const flows = siteFlows(byId(reading('inv-1', 'hybrid-inverter', { pvPowerW: 2_000, gridPowerW: -300, loadPowerW: 700 })), NOW);
    expect(flows).toMatchObject({ gridW: -300, pvW: 2_000, loadW: 700 });
  });

  it('leaves out stale and failed readings and names them', () => {
    const flows = siteFlows(
      byId(
        reading('grid-1', 'grid-meter', { powerW: 500 }, { atMs: NOW - STATUS_STALE_MS - 1 }),
        reading('bat-1', 'battery', { powerW: 100 }, { quality: 'error', error: 'timeout' }),
      ),
      NOW,
    );
    expect(flows).toEqual({ staleAssets: ['bat-1', 'grid-1'] });
  });

  it('never shows a negative load from a balance of inconsistent readings', () => {
    const flows = siteFlows(byId(reading('grid-1', 'grid-meter', { powerW: -5_000 })), NOW);
    expect(flows.loadW).toBe(0);
  });
});

describe('renderSiteStatus', () => {
  it('says so when nothing has been seen yet', () => {
    const text = renderSiteStatus(emptyMonitorState(), [], NOW);
    expect(text).toContain('services 0/0 running');
    expect(text).toContain('site  grid — · PV — · battery — · load —');
    expect(text).toContain('strategy  no decision yet');
    expect(text).toContain('arbiter   no decision yet');
  });
});
