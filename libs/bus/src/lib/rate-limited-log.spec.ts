import { pino } from 'pino';
import { RateLimitedLog } from './rate-limited-log';

describe('RateLimitedLog', () => {
  it('lets one line per key through per interval and counts the rest', () => {
    const lines: { msg: string; key?: string; suppressed?: number }[] = [];
    const log = pino({}, { write: (s: string) => lines.push(JSON.parse(s) as { msg: string }) });
    let nowMs = 0;
    const limited = new RateLimitedLog(log, { intervalMs: 1000, now: () => nowMs });

    limited.write('a', 'warn', { key: 'a' }, 'line');
    limited.write('a', 'warn', { key: 'a' }, 'line');
    limited.write('b', 'warn', { key: 'b' }, 'line');
    nowMs = 999;
    limited.write('a', 'warn', { key: 'a' }, 'line');
    nowMs = 1000;
    limited.write('a', 'warn', { key: 'a' }, 'line');
    nowMs = 5000;
    limited.write('a', 'warn', { key: 'a' }, 'line');

    expect(lines.map((l) => [l.key, l.suppressed])).toEqual([
      ['a', undefined],
      ['b', undefined],
      ['a', 2],
      ['a', undefined],
    ]);
  });
});
