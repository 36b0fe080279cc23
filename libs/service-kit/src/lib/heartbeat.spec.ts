import { captureLogger, createMemoryBus } from '@voltimax/bus/testing';
import { HeartbeatSchema, subjects } from '@voltimax/contracts';
import { healthControl, HealthState, startHeartbeat, type HeartbeatLoop } from './heartbeat';

describe('heartbeat', () => {
  let loop: HeartbeatLoop | undefined;
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => {
    loop?.stop();
    jest.useRealTimers();
  });

  function start(intervalMs = 1000) {
    const bus = createMemoryBus();
    const { log, lines } = captureLogger();
    const state = new HealthState();
    const beats = () => bus.published(subjects.health).map((m) => m.payload);
    let nowMs = 1_767_225_600_000;
    loop = startHeartbeat({
      bus,
      log,
      state,
      service: 'modbus-poller',
      instanceId: 'gw-1',
      version: '1.2.3',
      intervalMs,
      startedAtMs: nowMs,
      now: () => (nowMs += 1),
    });
    return { bus, state, beats, lines, control: healthControl(state, () => loop?.beat()) };
  }

  it('publishes a valid heartbeat on health.<service> at once and then every interval', () => {
    const { beats } = start(1000);
    expect(beats()).toHaveLength(1);
    jest.advanceTimersByTime(3000);
    expect(beats()).toHaveLength(4);
    for (const beat of beats()) expect(HeartbeatSchema.safeParse(beat).success).toBe(true);
    expect(beats()[0]).toMatchObject({
      service: 'modbus-poller',
      instanceId: 'gw-1',
      status: 'starting',
      intervalMs: 1000,
    });
  });

  it('carries the status, assets and counters the service set, plus the bus counters', () => {
    const { beats, control, state, bus } = start();
    state.started = true;
    control.setAssets(['bat-1']);
    control.incrementCounter('pollErrors');
    control.incrementCounter('pollErrors', 2);
    bus.publishRaw('telemetry.bat-1', 'junk');
    bus.subscribe(subjects.telemetry, () => undefined);
    bus.publishRaw('telemetry.bat-1', 'junk');
    control.setStatus('degraded', 'meter grid-1 not answering');

    expect(beats().at(-1)).toMatchObject({
      status: 'degraded',
      detail: 'meter grid-1 not answering',
      assets: ['bat-1'],
      counters: { pollErrors: 3, busDropped: 1, busHandlerErrors: 0 },
    });
  });

  it('logs instead of throwing when a counter makes the heartbeat invalid', () => {
    const { control, lines } = start();
    control.setCounter('broken', Number.NaN);
    expect(() => jest.advanceTimersByTime(1000)).not.toThrow();
    expect(lines.some((l) => l.msg === 'heartbeat not published')).toBe(true);
  });
});
