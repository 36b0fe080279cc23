import { Backoff, LinkStatusTracker } from './link-status';
import { PendingReplies } from './pending-replies';

describe('PendingReplies', () => {
  const entry = (id: string, queuedAtMs: number) => ({
    correlationId: id,
    messageType: 'PingGateway',
    queuedAtMs,
    item: id,
  });

  it('drains fresh replies oldest first and separates the expired ones', () => {
    const pending = new PendingReplies<string>(1_000);
    pending.add(entry('old', 0));
    pending.add(entry('new', 500));
    const { fresh, expired } = pending.drain(1_200);
    expect(fresh.map((r) => r.item)).toEqual(['new']);
    expect(expired.map((r) => r.item)).toEqual(['old']);
    expect(pending.size).toBe(0);
  });

  it('expires in place, keeping the fresh ones queued', () => {
    const pending = new PendingReplies<string>(1_000);
    pending.add(entry('a', 0));
    pending.add(entry('b', 900));
    expect(pending.expire(1_000).map((r) => r.item)).toEqual(['a']);
    expect(pending.size).toBe(1);
  });

  it('pushes the oldest out when full', () => {
    const pending = new PendingReplies<string>(1_000, 2);
    pending.add(entry('a', 0));
    pending.add(entry('b', 1));
    expect(pending.add(entry('c', 2)).map((r) => r.item)).toEqual(['a']);
    expect(pending.size).toBe(2);
  });
});

describe('Backoff', () => {
  it('grows up to the ceiling and starts over after reset', () => {
    const top = new Backoff(100, 1_000, () => 1);
    expect([top.next(), top.next(), top.next(), top.next(), top.next()]).toEqual([100, 200, 400, 800, 1_000]);
    top.reset();
    expect(top.next()).toBe(100);
  });

  it('never waits less than half the first delay', () => {
    const bottom = new Backoff(100, 1_000, () => 0);
    expect([bottom.next(), bottom.next()]).toEqual([50, 50]);
  });
});

describe('LinkStatusTracker', () => {
  it('tells listeners about changes of state only, and stays closed', () => {
    let now = 10;
    const tracker = new LinkStatusTracker(() => now, 'connecting');
    const seen: string[] = [];
    tracker.onStatus((s) => seen.push(`${s.state}@${s.sinceMs}${s.reason ? `:${s.reason}` : ''}`));
    now = 20;
    tracker.set('online');
    tracker.set('online');
    now = 30;
    tracker.set('offline', 'ECONNREFUSED');
    tracker.set('offline', 'still refused');
    tracker.set('closed');
    tracker.set('online');
    expect(seen).toEqual(['online@20', 'offline@30:ECONNREFUSED', 'closed@30']);
    expect(tracker.status().state).toBe('closed');
  });
});
