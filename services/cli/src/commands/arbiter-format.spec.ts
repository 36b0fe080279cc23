import { exampleArbiterDecision } from '@voltimax/contracts/testing';
import type { ArbiterDecision } from '@voltimax/contracts';
import { formatDecision, formatEstopLine, formatNumber, formatSetpoint, formatViolation } from './arbiter-format';

describe('formatSetpoint', () => {
  it.each([
    [{ kind: 'battery-power', powerW: 5_000 }, 'battery +5000 W (discharge)'],
    [{ kind: 'battery-power', powerW: -2_500.12345 }, 'battery -2500.123 W (charge)'],
    [{ kind: 'battery-power', powerW: -0 }, 'battery 0 W'],
    [{ kind: 'ev-current', currentA: 16, phases: 3 }, 'EV 16 A on 3 phases'],
    [{ kind: 'ev-current', currentA: 0 }, 'EV 0 A (paused)'],
    [{ kind: 'ev-current', currentA: 6, phases: 1 }, 'EV 6 A on 1 phase'],
    [{ kind: 'pv-limit', maxPowerW: 3_000 }, 'PV limit 3000 W'],
    [{ kind: 'safe' }, 'safe (device default)'],
    [undefined, '—'],
  ] as const)('%j → %s', (setpoint, text) => {
    expect(formatSetpoint(setpoint)).toBe(text);
  });
});

describe('formatViolation', () => {
  it('names the rule with its limit and value in their unit', () => {
    expect(formatViolation({ code: 'max-discharge-power', limit: 5_000, value: 8_000, unit: 'W' })).toBe(
      'max-discharge-power: limit 5000 W, value 8000 W',
    );
  });
  it('adds the detail and leaves out what is missing', () => {
    expect(
      formatViolation({
        code: 'stale-telemetry',
        limit: 1_500,
        value: 1_501.5,
        unit: 'ms',
        detail: 'asset reading age',
      }),
    ).toBe('stale-telemetry: limit 1500 ms, value 1501.5 ms — asset reading age');
    expect(formatViolation({ code: 'driver-lost', detail: 'no heartbeat received' })).toBe(
      'driver-lost — no heartbeat received',
    );
    expect(formatViolation({ code: 'soc-min', value: 9.5, unit: '%' })).toBe('soc-min: value 9.5 %');
  });
});

describe('formatDecision', () => {
  it('prints requested → applied with each clipping rule', () => {
    expect(formatDecision({ ...exampleArbiterDecision, reason: 'manual intent: peak shaving' })).toBe(
      [
        '2026-01-01T00:00:00.000Z  bat-1  clamped  manual intent int-0002  cmd-0002',
        '  battery +8000 W (discharge) → battery +5000 W (discharge)',
        '  clipped by max-discharge-power: limit 5000 W, value 8000 W',
        '  reason: manual intent: peak shaving',
        '',
      ].join('\n'),
    );
  });

  it('prints a safe decision without an intent, and its cause', () => {
    const decision: ArbiterDecision = {
      v: 1,
      assetId: 'ev-1',
      outcome: 'safe',
      applied: { kind: 'safe' },
      violations: [{ code: 'emergency-stop', detail: 'engaged by operator:alice: smoke' }],
      atMs: 0,
    };
    expect(formatDecision(decision)).toBe(
      [
        '1970-01-01T00:00:00.000Z  ev-1  safe  no intent',
        '  — → safe (device default)',
        '  because of emergency-stop — engaged by operator:alice: smoke',
        '',
      ].join('\n'),
    );
    expect(formatEstopLine({ ...decision, commandId: 'cmd-9' })).toBe(
      '  ev-1  safe  safe (device default)  (emergency-stop)  cmd-9\n',
    );
  });
});

describe('formatNumber', () => {
  it.each([
    [1, '1'],
    [1.23456, '1.235'],
    [1e308, '1e+308'],
    [-0.0004, '0'],
  ])('%d → %s', (value, text) => expect(formatNumber(value)).toBe(text));
});
