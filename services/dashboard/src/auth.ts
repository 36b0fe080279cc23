import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** Name of the session cookie. */
export const SESSION_COOKIE = 'voltimax_session';

/** A logged-in browser. The cookie carries a random token; the store keeps only its SHA-256. */
export interface Session {
  /** SHA-256 of the token, hex (also a safe id for logs). */
  readonly id: string;
  /** Sent by the UI in `X-CSRF-Token` with every POST. */
  readonly csrfToken: string;
  readonly createdAtMs: number;
  lastSeenAtMs: number;
  /** Client address at login, for the audit log. */
  readonly clientAddress: string;
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** Constant-time equality of two strings (false when the lengths differ). */
export function safeEqual(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}

/** In-memory sessions with an idle and an absolute timeout (a restart logs everybody out). */
export class SessionStore {
  private readonly sessions = new Map<string, Session>();

  constructor(
    private readonly idleMs: number,
    private readonly maxMs: number,
    private readonly random: (bytes: number) => Buffer = randomBytes,
  ) {}

  /** A new session; returns the cookie token (never stored) and the session. */
  create(nowMs: number, clientAddress: string): { readonly token: string; readonly session: Session } {
    const token = this.random(32).toString('base64url');
    const session: Session = {
      id: sha256(token),
      csrfToken: this.random(32).toString('base64url'),
      createdAtMs: nowMs,
      lastSeenAtMs: nowMs,
      clientAddress,
    };
    this.sessions.set(session.id, session);
    return { token, session };
  }

  /** The live session of a cookie token, touched (idle timer restarted) when `touch`; expired ones are removed. */
  get(token: string | undefined, nowMs: number, touch = true): Session | undefined {
    if (token === undefined || token.length < 16 || token.length > 128) return undefined;
    const id = sha256(token);
    const session = this.sessions.get(id);
    if (session === undefined) return undefined;
    if (!this.isLive(session, nowMs)) {
      this.sessions.delete(id);
      return undefined;
    }
    if (touch) session.lastSeenAtMs = nowMs;
    return session;
  }

  /** Whether a session is within both timeouts at `nowMs`. */
  isLive(session: Session, nowMs: number): boolean {
    return (
      this.sessions.get(session.id) === session &&
      nowMs - session.lastSeenAtMs <= this.idleMs &&
      nowMs - session.createdAtMs <= this.maxMs
    );
  }

  /** When the session ends if it stays idle, epoch ms. */
  expiresAtMs(session: Session): number {
    return Math.min(session.lastSeenAtMs + this.idleMs, session.createdAtMs + this.maxMs);
  }

  destroy(session: Session): void {
    this.sessions.delete(session.id);
  }

  /** Removes expired sessions; returns how many are live. */
  sweep(nowMs: number): number {
    for (const session of this.sessions.values()) if (!this.isLive(session, nowMs)) this.sessions.delete(session.id);
    return this.sessions.size;
  }
}

/** What the limiter says about a login attempt. */
export type LoginGate =
  | { readonly allowed: true }
  | { readonly allowed: false; readonly reason: 'locked' | 'rate-limited'; readonly retryAfterMs: number };

/** Options of {@link LoginLimiter}. */
export interface LoginLimiterOptions {
  /** Wrong passwords in a row from one address before it is locked out. */
  readonly maxFailures: number;
  /** How long a lockout lasts, ms. */
  readonly lockoutMs: number;
  /** Attempts per minute from all addresses together. */
  readonly maxPerMinute: number;
}

interface Failures {
  count: number;
  lastAtMs: number;
  lockedUntilMs: number;
}

/**
 * Login throttling: per client address, `maxFailures` wrong passwords in a row lock it out for `lockoutMs` (even the
 * right password is refused then); all addresses together get `maxPerMinute` attempts (a sliding minute), so guessing
 * from many addresses stays slow. A right password clears its address's count. In memory.
 */
export class LoginLimiter {
  private readonly failures = new Map<string, Failures>();
  private attempts: number[] = [];

  constructor(private readonly opts: LoginLimiterOptions) {}

  /** Call before checking a password; a refused attempt is not counted as an attempt. */
  check(address: string, nowMs: number): LoginGate {
    const entry = this.failures.get(address);
    if (entry !== undefined && entry.lockedUntilMs > nowMs) {
      return { allowed: false, reason: 'locked', retryAfterMs: entry.lockedUntilMs - nowMs };
    }
    this.attempts = this.attempts.filter((t) => nowMs - t < 60_000);
    if (this.attempts.length >= this.opts.maxPerMinute) {
      const oldest = this.attempts[0] ?? nowMs;
      return { allowed: false, reason: 'rate-limited', retryAfterMs: Math.max(1, oldest + 60_000 - nowMs) };
    }
    this.attempts.push(nowMs);
    return { allowed: true };
  }

  /** A wrong password: returns whether the address is now locked, and how many tries it has left. */
  recordFailure(address: string, nowMs: number): { readonly isLocked: boolean; readonly remaining: number } {
    const entry = this.failures.get(address);
    // A count from before an expired lockout, or older than a lockout period, starts over.
    const stale = entry === undefined || entry.lockedUntilMs !== 0 || nowMs - entry.lastAtMs > this.opts.lockoutMs;
    const next: Failures = stale
      ? { count: 1, lastAtMs: nowMs, lockedUntilMs: 0 }
      : { ...entry, count: entry.count + 1, lastAtMs: nowMs };
    if (next.count >= this.opts.maxFailures) next.lockedUntilMs = nowMs + this.opts.lockoutMs;
    this.failures.set(address, next);
    this.prune(nowMs);
    return { isLocked: next.lockedUntilMs > nowMs, remaining: Math.max(0, this.opts.maxFailures - next.count) };
  }

  recordSuccess(address: string): void {
    this.failures.delete(address);
  }

  /** Addresses locked out at `nowMs`. */
  lockedCount(nowMs: number): number {
    return [...this.failures.values()].filter((f) => f.lockedUntilMs > nowMs).length;
  }

  private prune(nowMs: number): void {
    if (this.failures.size < 10_000) return;
    for (const [address, f] of this.failures) {
      if (f.lockedUntilMs <= nowMs && nowMs - f.lastAtMs > this.opts.lockoutMs) this.failures.delete(address);
    }
  }
}

/** Cookie attributes of the session. */
export interface CookieOptions {
  readonly isSecure: boolean;
  /** Max-Age, ms. */
  readonly maxAgeMs: number;
}

/** `Set-Cookie` for a new session: HttpOnly, SameSite=Strict, Path=/, Max-Age, and Secure over TLS. */
export function sessionCookie(token: string, opts: CookieOptions): string {
  return [
    `${SESSION_COOKIE}=${token}`,
    'Path=/',
    'HttpOnly',
    'SameSite=Strict',
    `Max-Age=${Math.floor(opts.maxAgeMs / 1000)}`,
    ...(opts.isSecure ? ['Secure'] : []),
  ].join('; ');
}

/** `Set-Cookie` that deletes the session cookie. */
export function clearedSessionCookie(isSecure: boolean): string {
  return [
    `${SESSION_COOKIE}=`,
    'Path=/',
    'HttpOnly',
    'SameSite=Strict',
    'Max-Age=0',
    ...(isSecure ? ['Secure'] : []),
  ].join('; ');
}

/** The cookies of a `Cookie` header (first value of each name wins). */
export function parseCookies(header: string | undefined): Map<string, string> {
  const cookies = new Map<string, string>();
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq <= 0) continue;
    const name = part.slice(0, eq).trim();
    const value = part.slice(eq + 1).trim();
    if (name !== '' && !cookies.has(name)) cookies.set(name, value);
  }
  return cookies;
}

/**
 * Whether a state-changing request may come from `origin` (the `Origin` header): the page's own origin (scheme and
 * the `Host` the browser used) or one of `allowed`. A missing Origin passes only when `Sec-Fetch-Site` is absent or
 * `same-origin` (a non-browser client); the CSRF token is checked as well in any case.
 */
export function isSameOrigin(req: {
  readonly origin: string | undefined;
  readonly host: string | undefined;
  readonly secFetchSite: string | undefined;
  readonly isTls: boolean;
  readonly allowed: readonly string[];
}): boolean {
  if (req.origin === undefined) return req.secFetchSite === undefined || req.secFetchSite === 'same-origin';
  if (req.origin === 'null') return false;
  const own = req.host === undefined ? undefined : `${req.isTls ? 'https' : 'http'}://${req.host.toLowerCase()}`;
  const origin = req.origin.toLowerCase();
  return origin === own || req.allowed.some((a) => a.toLowerCase().replace(/\/$/, '') === origin);
}
