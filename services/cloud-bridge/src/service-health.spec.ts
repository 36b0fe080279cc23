import type { Heartbeat } from '@voltimax/contracts';
import { exampleHeartbeat } from '@voltimax/contracts/testing';
import { createServiceHealthTracker } from './service-health';

describe('service health from health.* heartbeats', () => {
  let nowMs = 1_000_000;
  const tracker = createServiceHealthTracker(() => nowMs);
  const beat = (service: string, instanceId: string, status: Heartbeat['status'] = 'ok', intervalMs = 1000): void =>
    tracker.update({ ...exampleHeartbeat, service, instanceId, status, intervalMs, assets: [] });

  it('reports each service with its live instances, sorted by name', () => {
    beat('safety-arbiter', 'a-1');
    beat('modbus-poller', 'p-1');
    beat('modbus-poller', 'p-2', 'degraded');
    expect(tracker.snapshot()).toEqual([
      { service: 'modbus-poller', status: 'degraded', lastSeenAtMs: nowMs, instances: 2 },
      { service: 'safety-arbiter', status: 'ok', lastSeenAtMs: nowMs, instances: 1 },
    ]);
  });

  it('calls a service lost once silent for more than three of its intervals', () => {
    const seenAt = nowMs;
    nowMs += 3000;
    expect(tracker.snapshot().find((s) => s.service === 'safety-arbiter')?.status).toBe('ok');
    nowMs += 1;
    expect(tracker.snapshot().find((s) => s.service === 'safety-arbiter')).toEqual({
      service: 'safety-arbiter',
      status: 'lost',
      lastSeenAtMs: seenAt,
      instances: 0,
    });
  });

  it('a heartbeat brings it back', () => {
    beat('safety-arbiter', 'a-2');
    expect(tracker.snapshot().find((s) => s.service === 'safety-arbiter')).toMatchObject({
      status: 'ok',
      instances: 1,
    });
  });
});
