import {
  clearedSessionCookie,
  isSameOrigin,
  LoginLimiter,
  parseCookies,
  safeEqual,
  sessionCookie,
  SessionStore,
} from './auth';

const T0 = 1_750_000_000_000;

describe('SessionStore', () => {
  it('keeps only the SHA-256 of the cookie token, and finds the session by the token', () => {
    const store = new SessionStore(60_000, 3_600_000);
    const { token, session } = store.create(T0, '192.168.1.20');

    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(session.id).toMatch(/^[0-9a-f]{64}$/);
    expect(session.id).not.toContain(token);
    expect(session.csrfToken).not.toBe(token);
    expect(store.get(token, T0 + 1)).toBe(session);
    expect(store.get(`${token.slice(0, -1)}x`, T0 + 1)).toBeUndefined();
    expect(store.get(undefined, T0)).toBeUndefined();
  });

  it('expires after the idle timeout, restarted by each use, and after the absolute timeout in any case', () => {
    const store = new SessionStore(60_000, 150_000);
    const { token } = store.create(T0, 'a');

    expect(store.get(token, T0 + 60_000)).toBeDefined();
    expect(store.get(token, T0 + 120_000)).toBeDefined();
    expect(store.get(token, T0 + 150_001)).toBeUndefined(); // absolute, although used 30 s ago
    expect(store.sweep(T0 + 150_001)).toBe(0);

    const idle = store.create(T0, 'b');
    expect(store.get(idle.token, T0 + 60_001)).toBeUndefined();
  });

  it('forgets a destroyed session', () => {
    const store = new SessionStore(60_000, 3_600_000);
    const { token, session } = store.create(T0, 'a');
    store.destroy(session);
    expect(store.get(token, T0)).toBeUndefined();
    expect(store.isLive(session, T0)).toBe(false);
  });
});

describe('LoginLimiter', () => {
  const opts = { maxFailures: 3, lockoutMs: 600_000, maxPerMinute: 100 };

  it('locks an address out after maxFailures wrong passwords in a row, for lockoutMs', () => {
    const limiter = new LoginLimiter(opts);
    expect(limiter.recordFailure('a', T0)).toEqual({ isLocked: false, remaining: 2 });
    expect(limiter.recordFailure('a', T0 + 1)).toEqual({ isLocked: false, remaining: 1 });
    expect(limiter.recordFailure('a', T0 + 2)).toEqual({ isLocked: true, remaining: 0 });

    expect(limiter.check('a', T0 + 3)).toEqual({ allowed: false, reason: 'locked', retryAfterMs: 599_999 });
    expect(limiter.check('b', T0 + 3)).toEqual({ allowed: true });
    expect(limiter.lockedCount(T0 + 3)).toBe(1);
    expect(limiter.check('a', T0 + 600_002)).toEqual({ allowed: true });
  });

  it('starts counting again after a lockout ended, and after a right password', () => {
    const limiter = new LoginLimiter(opts);
    for (let i = 0; i < 3; i += 1) limiter.recordFailure('a', T0);
    expect(limiter.recordFailure('a', T0 + 600_001)).toEqual({ isLocked: false, remaining: 2 });

    limiter.recordFailure('b', T0);
    limiter.recordFailure('b', T0);
    limiter.recordSuccess('b');
    expect(limiter.recordFailure('b', T0)).toEqual({ isLocked: false, remaining: 2 });
  });

  it('forgets failures older than a lockout period', () => {
    const limiter = new LoginLimiter(opts);
    limiter.recordFailure('a', T0);
    limiter.recordFailure('a', T0 + 1);
    expect(limiter.recordFailure('a', T0 + 600_002)).toEqual({ isLocked: false, remaining: 2 });
  });

  it('allows maxPerMinute attempts from all addresses in a sliding minute', () => {
    const limiter = new LoginLimiter({ ...opts, maxPerMinute: 2 });
    expect(limiter.check('a', T0).allowed).toBe(true);
    expect(limiter.check('b', T0 + 10_000).allowed).toBe(true);
    expect(limiter.check('c', T0 + 20_000)).toEqual({ allowed: false, reason: 'rate-limited', retryAfterMs: 40_000 });
    expect(limiter.check('c', T0 + 60_000).allowed).toBe(true);
  });
});

describe('cookies', () => {
  it('builds the session cookie with HttpOnly, SameSite=Strict, Path and Max-Age; Secure only when asked', () => {
    expect(sessionCookie('tok', { isSecure: false, maxAgeMs: 3_600_000 })).toBe(
      'voltimax_session=tok; Path=/; HttpOnly; SameSite=Strict; Max-Age=3600',
    );
    expect(sessionCookie('tok', { isSecure: true, maxAgeMs: 3_600_000 })).toMatch(/; Secure$/);
    expect(clearedSessionCookie(true)).toBe('voltimax_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0; Secure');
  });

  it('parses a Cookie header; the first of two equal names wins', () => {
    const cookies = parseCookies('a=1; voltimax_session=xyz=; a=2;  junk; =x');
    expect([...cookies]).toEqual([
      ['a', '1'],
      ['voltimax_session', 'xyz='],
    ]);
    expect(parseCookies(undefined).size).toBe(0);
  });

  it('compares tokens in constant time, false on different lengths', () => {
    expect(safeEqual('abc', 'abc')).toBe(true);
    expect(safeEqual('abc', 'abd')).toBe(false);
    expect(safeEqual('abc', 'abcd')).toBe(false);
  });
});

describe('isSameOrigin', () => {
  const base = { host: '192.168.1.5:8080', secFetchSite: undefined, isTls: false, allowed: [] };

  it.each([
    ['the page itself', true, { origin: 'http://192.168.1.5:8080' }],
    ['the page itself, another case', true, { origin: 'HTTP://192.168.1.5:8080' }],
    ['another port', false, { origin: 'http://192.168.1.5:9999' }],
    ['https while served over http', false, { origin: 'https://192.168.1.5:8080' }],
    ['an opaque origin', false, { origin: 'null' }],
    ['a listed proxy origin', true, { origin: 'https://gw.example', allowed: ['https://gw.example/'] }],
    ['no Origin from a non-browser client', true, { origin: undefined }],
    ['no Origin, same-origin fetch', true, { origin: undefined, secFetchSite: 'same-origin' }],
    ['no Origin, cross-site', false, { origin: undefined, secFetchSite: 'cross-site' }],
  ])('%s → allowed: %s', (_name, expected, req) => {
    expect(isSameOrigin({ ...base, ...req })).toBe(expected);
  });
});
