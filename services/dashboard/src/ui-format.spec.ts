// The page's number and text formatting (ui/src/format.ts is DOM-free, so it is tested here).
import { formatAge, formatMetric, formatPct, formatPower, formatSetpoint, formatViolation } from '../ui/src/format';

describe('page formatting', () => {
  it.each([
    [0, '0 W'],
    [999.4, '999 W'],
    [-640, '-640 W'],
    [1_000, '1.00 kW'],
    [-4_526.7, '-4.53 kW'],
    [null, '—'],
    [Number.NaN, '—'],
  ])('formatPower(%p) = %s', (w, shown) => {
    expect(formatPower(w)).toBe(shown);
  });

  it('formats SoC and ages', () => {
    expect(formatPct(55.25)).toBe('55.3 %');
    expect(formatPct(null)).toBe('—');
    expect(formatAge(1_000, 1_500)).toBe('now');
    expect(formatAge(0, 45_000)).toBe('45 s ago');
    expect(formatAge(0, 30 * 60_000)).toBe('30 min ago');
    expect(formatAge(0, 3 * 3_600_000)).toBe('3.0 h ago');
    expect(formatAge(null, 0)).toBe('never');
  });

  it('says what a setpoint does, with the battery sign convention (+ discharge)', () => {
    expect(formatSetpoint({ kind: 'battery-power', powerW: 2_500 })).toBe('discharge 2.50 kW');
    expect(formatSetpoint({ kind: 'battery-power', powerW: -800 })).toBe('charge 800 W');
    expect(formatSetpoint({ kind: 'battery-power', powerW: 0 })).toBe('battery 0 W');
    expect(formatSetpoint({ kind: 'ev-current', currentA: 16, phases: 3 })).toBe('EV 16 A × 3');
    expect(formatSetpoint({ kind: 'pv-limit', maxPowerW: 3_000 })).toBe('PV ≤ 3.00 kW');
    expect(formatSetpoint({ kind: 'safe' })).toBe('safe setpoint');
    expect(formatSetpoint(undefined)).toBe('—');
  });

  it('shows a violation with value, limit, unit and detail, numbers rounded for reading', () => {
    expect(
      formatViolation({
        code: 'grid-export-limit',
        value: 8_212.98593878746,
        limit: 6_000,
        unit: 'W',
        detail: 'worst case',
      }),
    ).toBe('grid-export-limit: 8213 W → limit 6000 W (worst case)');
    expect(formatViolation({ code: 'soc-min', limit: 10, unit: '%' })).toBe('soc-min: limit 10 %');
    expect(formatViolation({ code: 'emergency-stop' })).toBe('emergency-stop');
    expect([formatMetric(1.23456), formatMetric(0.012345), formatMetric(-87.97), formatMetric(123.4)]).toEqual([
      '1.23',
      '0.0123',
      '-87.97',
      '123',
    ]);
  });
});
