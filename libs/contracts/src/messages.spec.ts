import {
  AssetReadingSchema,
  ControlIntentSchema,
  DeviceWriteSchema,
  HeartbeatSchema,
  TelemetryFrameSchema,
  CloudCommandEnvelopeSchema,
  cloudMessages,
  formatIssues,
  PriceSeriesSchema,
} from './index';
import {
  cloudExamples,
  exampleCloudEnvelope,
  exampleDeviceWrite,
  exampleHeartbeat,
  examplePriceSeries,
  exampleIntent,
  exampleReadings,
  exampleTelemetryFrame,
} from './testing';

function problems(result: { success: boolean; error?: { issues: Parameters<typeof formatIssues>[0] } }) {
  return result.error ? formatIssues(result.error.issues) : [];
}

describe('ControlIntent', () => {
  it.each([
    ['NaN power', { setpoint: { kind: 'battery-power', powerW: Number.NaN } }, '$.setpoint.powerW'],
    ['Infinity power', { setpoint: { kind: 'battery-power', powerW: Number.POSITIVE_INFINITY } }, '$.setpoint.powerW'],
    ['unknown setpoint kind', { setpoint: { kind: 'battery-kw', powerKw: 3 } }, '$.setpoint.kind'],
    ['wrong unit field', { setpoint: { kind: 'battery-power', powerKw: 3 } }, '$.setpoint'],
    ['unknown source', { source: 'cloud' }, '$.source'],
    ['asset id with a dot', { assetId: 'bat.1' }, '$.assetId'],
    ['zero ttl', { ttlMs: 0 }, '$.ttlMs'],
    ['ttl over a day', { ttlMs: 25 * 3600_000 }, '$.ttlMs'],
    ['negative EV current', { setpoint: { kind: 'ev-current', currentA: -6 } }, '$.setpoint.currentA'],
    ['float timestamp', { issuedAtMs: 1.5 }, '$.issuedAtMs'],
    ['unknown key', { powerW: 5 }, '$'],
    ['missing version', { v: undefined }, '$.v'],
  ])('rejects %s and names the field', (_name, patch, path) => {
    const result = ControlIntentSchema.safeParse({ ...exampleIntent, ...patch });
    expect(result.success).toBe(false);
    expect(problems(result).map((p) => p.path)).toContain(path);
  });

  it('accepts every setpoint kind', () => {
    for (const setpoint of [
      { kind: 'battery-power', powerW: 1000 },
      { kind: 'ev-current', currentA: 16, phases: 1 },
      { kind: 'pv-limit', maxPowerW: 0 },
      { kind: 'safe' },
    ]) {
      expect(ControlIntentSchema.safeParse({ ...exampleIntent, setpoint }).success).toBe(true);
    }
  });
});

describe('AssetReading', () => {
  it('rejects a SoC above 100 %', () => {
    const result = AssetReadingSchema.safeParse({ ...exampleReadings.battery, values: { socPct: 101 } });
    expect(problems(result)).toEqual([{ path: '$.values.socPct', message: expect.stringContaining('100') }]);
  });

  it('rejects a measurement without a unit-bearing name', () => {
    const result = AssetReadingSchema.safeParse({ ...exampleReadings.battery, values: { power: 5 } });
    expect(result.success).toBe(false);
  });

  it('rejects an unknown quality', () => {
    expect(AssetReadingSchema.safeParse({ ...exampleReadings.battery, quality: 'ok' }).success).toBe(false);
  });
});

describe('DeviceWrite and Heartbeat', () => {
  it('a safe write needs no intent', () => {
    const { intentId: _unused, ...rest } = exampleDeviceWrite;
    expect(DeviceWriteSchema.parse({ ...rest, setpoint: { kind: 'safe' } }).setpoint).toEqual({ kind: 'safe' });
  });

  it('a heartbeat names a service that is one subject token', () => {
    expect(HeartbeatSchema.safeParse({ ...exampleHeartbeat, service: 'modbus.poller' }).success).toBe(false);
  });
});

describe('cloud contracts', () => {
  it.each(Object.keys(cloudMessages) as (keyof typeof cloudMessages)[])('%s examples parse', (type) => {
    expect(cloudMessages[type].request.safeParse(cloudExamples[type].request).error).toBeUndefined();
    expect(cloudMessages[type].response.safeParse(cloudExamples[type].response).error).toBeUndefined();
  });

  it('the envelope refuses an unknown message type', () => {
    expect(CloudCommandEnvelopeSchema.safeParse(exampleCloudEnvelope).success).toBe(true);
    expect(CloudCommandEnvelopeSchema.safeParse({ ...exampleCloudEnvelope, messageType: 'RebootGateway' }).success).toBe(false);
  });

  it('SetBatterySetpoint refuses NaN and missing operator', () => {
    const bad = { ...cloudExamples.SetBatterySetpoint.request, powerW: Number.NaN, operator: undefined };
    const paths = problems(cloudMessages.SetBatterySetpoint.request.safeParse(bad)).map((p) => p.path);
    expect(paths).toEqual(expect.arrayContaining(['$.powerW', '$.operator']));
  });

  it('a telemetry frame carries at least one valid reading', () => {
    expect(TelemetryFrameSchema.safeParse(exampleTelemetryFrame).success).toBe(true);
    expect(TelemetryFrameSchema.safeParse({ ...exampleTelemetryFrame, readings: [] }).success).toBe(false);
  });
});

describe('PriceSeries (KV prices)', () => {
  it('parses the example, negative prices included', () => {
    expect(PriceSeriesSchema.safeParse(examplePriceSeries).success).toBe(true);
  });

  it('refuses an interval that ends before it starts', () => {
    const bad = { ...examplePriceSeries, series: [{ startMs: 10, endMs: 5, eurPerMwh: 1 }] };
    expect(problems(PriceSeriesSchema.safeParse(bad)).map((p) => p.path)).toContain('$.series[0]');
  });
});
