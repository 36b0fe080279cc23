import { HealthState } from './heartbeat';
import { escapeLabel, renderMetrics, type MetricsInput } from './metrics';

const zero = {
  published: 0,
  publishRejected: 0,
  delivered: 0,
  droppedInvalidJson: 0,
  droppedInvalidSchema: 0,
  droppedInvalidSubject: 0,
  droppedFromStream: 0,
  droppedForeignReply: 0,
  handlerErrors: 0,
  requestsRejected: 0,
  invalidReplies: 0,
};

function input(overrides: Partial<MetricsInput> = {}): MetricsInput {
  const state = new HealthState();
  state.status = 'degraded';
  state.assets = ['bat-1', 'grid-1'];
  state.counters.set('writes.bat-1.setpointW', 12);
  state.counters.set('breaker.grid-1', 2);
  return {
    service: 'modbus-poller',
    instanceId: 'gw-1',
    version: '0.1.0',
    state,
    bus: {
      subjects: { 'telemetry.{assetId}': { ...zero, published: 40, droppedInvalidSchema: 1 } },
      totals: { ...zero, published: 40, droppedInvalidSchema: 1 },
    },
    process: { rssBytes: 50_000_000, heapUsedBytes: 20_000_000, cpuUserMicros: 1_500_000, cpuSystemMicros: 250_000, uptimeSeconds: 12.5 },
    ...overrides,
  };
}

/** A minimal parser of the exposition format: `name{labels} value` lines, every family declared with TYPE. */
function parse(text: string): { samples: Map<string, number>; types: Map<string, string> } {
  const samples = new Map<string, number>();
  const types = new Map<string, string>();
  for (const line of text.trimEnd().split('\n')) {
    const type = /^# TYPE (\S+) (gauge|counter)$/.exec(line);
    if (type) {
      types.set(type[1] ?? '', type[2] ?? '');
      continue;
    }
    if (line.startsWith('# HELP ')) continue;
    const sample = /^([a-z_]+)(\{(?:[a-z_]+="(?:[^"\\]|\\.)*",?)*\})? (\S+)$/.exec(line);
    if (!sample) throw new Error(`not a sample line: ${line}`);
    if (!types.has(sample[1] ?? '')) throw new Error(`sample before its TYPE: ${line}`);
    samples.set(`${sample[1]}${sample[2] ?? ''}`, Number(sample[3]));
  }
  return { samples, types };
}

describe('renderMetrics', () => {
  it('exports status, assets, heartbeat counters, bus counters and process figures in valid exposition format', () => {
    const { samples, types } = parse(renderMetrics(input()));
    expect(samples.get('voltimax_service_status{service="modbus-poller",status="degraded"}')).toBe(1);
    expect(samples.get('voltimax_service_status{service="modbus-poller",status="ok"}')).toBe(0);
    expect(samples.get('voltimax_service_assets{service="modbus-poller"}')).toBe(2);
    expect(samples.get('voltimax_service_counter{service="modbus-poller",counter="writes.bat-1.setpointW"}')).toBe(12);
    expect(samples.get('voltimax_service_counter{service="modbus-poller",counter="breaker.grid-1"}')).toBe(2);
    expect(
      samples.get('voltimax_bus_messages_total{service="modbus-poller",subject="telemetry.{assetId}",event="droppedInvalidSchema"}'),
    ).toBe(1);
    expect(samples.get('process_cpu_seconds_total{service="modbus-poller",mode="user"}')).toBe(1.5);
    expect(samples.get('process_resident_memory_bytes{service="modbus-poller"}')).toBe(50_000_000);
    expect(types.get('voltimax_bus_messages_total')).toBe('counter');
  });

  it('leaves out the bus family before the service is connected', () => {
    expect(renderMetrics(input({ bus: undefined }))).not.toContain('voltimax_bus_messages_total');
  });

  it('escapes label values and spells non-finite values the Prometheus way', () => {
    expect(escapeLabel('a"b\\c\nd')).toBe('a\\"b\\\\c\\nd');
    const state = new HealthState();
    state.counters.set('weird "name"', Number.NaN);
    const text = renderMetrics(input({ state }));
    expect(text).toContain('voltimax_service_counter{service="modbus-poller",counter="weird \\"name\\""} NaN');
    expect(() => parse(text)).not.toThrow();
  });
});
